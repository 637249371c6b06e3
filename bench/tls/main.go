// Command tls benchmarks HTTPS through berth's router beside nginx, with
// the same certificate, in one run, over HTTP/1.1 and HTTP/2.
//
// It makes a certificate for 127.0.0.1 and localhost with berth's local CA
// (internal/certs), starts a Go backend on loopback, then in turn berth's
// router (its TLS listener, certificate from the same files through
// certs.Manager) and nginx (1 worker, keep-alive upstream pool, HTTP/1.1 to
// the backend, the same certificate and TLS settings), and drives each with
// h2load pinned to one core while the proxy and the backend share the
// other. It prints requests/s side by side with ratios.
//
//	go run ./bench/tls [-c 64] [-m 10] [-d 10s]
//
// Needs nginx (with http_v2 and ssl), h2load and taskset:
//
//	apt-get update && apt-get install -y nginx nghttp2-client
package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/bench/internal/child"
	"github.com/berth-dev/berth/internal/certs"
	"github.com/berth-dev/berth/internal/router"
)

func main() {
	role := flag.String("role", "", "internal: run as a child (backend or router)")
	listen := flag.String("listen", "", "internal: child listen address")
	upstream := flag.String("upstream", "", "internal: router child's backend address")
	certFile := flag.String("cert", "", "internal: router child's certificate")
	keyFile := flag.String("key", "", "internal: router child's key")
	conns := flag.Int("c", 64, "h2load connections")
	streams := flag.Int("m", 10, "h2load concurrent streams per HTTP/2 connection")
	dur := flag.Duration("d", 10*time.Second, "h2load duration per target and protocol")
	loadCore := flag.String("load-cpu", "0", "CPU list h2load is pinned to (taskset -c)")
	srvCore := flag.String("server-cpu", "1", "CPU list the proxies and the backend are pinned to")
	flag.Parse()

	var err error
	switch *role {
	case "backend":
		err = runBackend(*listen)
	case "router":
		err = runRouter(*listen, *upstream, *certFile, *keyFile)
	default:
		err = run(*conns, *streams, *dur, *loadCore, *srvCore)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/tls:", err)
		os.Exit(1)
	}
}

type result struct {
	target, proto string
	rps           float64
}

func run(conns, streams int, dur time.Duration, loadCore, srvCore string) error {
	for _, bin := range []string{"nginx", "h2load", "taskset"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("missing %s on PATH; install with: apt-get update && apt-get install -y nginx nghttp2-client util-linux", bin)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "berth-bench-tls-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	certFile, keyFile, err := writeCert(dir)
	if err != nil {
		return err
	}
	backend := child.FreeAddr()
	stopBackend, err := child.Start(srvCore, backend, self, "-role=backend", "-listen="+backend)
	if err != nil {
		return fmt.Errorf("start backend: %w", err)
	}
	defer stopBackend()

	starts := []struct {
		name  string
		start func(addr string) (func(), error)
	}{
		{"berth", func(a string) (func(), error) {
			return child.Start(srvCore, a, self, "-role=router", "-listen="+a, "-upstream="+backend, "-cert="+certFile, "-key="+keyFile)
		}},
		{"nginx", func(a string) (func(), error) {
			conf := filepath.Join(dir, "nginx.conf")
			if err := os.WriteFile(conf, []byte(nginxConf(dir, a, backend, certFile, keyFile)), 0o644); err != nil {
				return nil, err
			}
			return child.Start(srvCore, a, "nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "nginx-error.log"))
		}},
	}
	var rs []result
	for _, proto := range []string{"http/1.1", "h2"} {
		for _, s := range starts {
			addr := child.FreeAddr()
			stop, err := s.start(addr)
			if err != nil {
				return fmt.Errorf("start %s: %w", s.name, err)
			}
			rps, err := h2load(loadCore, addr, proto, conns, streams, dur)
			stop()
			if err != nil {
				return fmt.Errorf("%s over %s: %w", s.name, proto, err)
			}
			rs = append(rs, result{s.name, proto, rps})
			fmt.Fprintf(os.Stderr, "%s %s: %.0f req/s\n", s.name, proto, rps)
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "protocol\ttarget\treq/s\tvs nginx\n")
	for _, r := range rs {
		var ng float64
		for _, o := range rs {
			if o.proto == r.proto && o.target == "nginx" {
				ng = o.rps
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%.0f\t%.2f×\n", r.proto, r.target, r.rps, r.rps/ng)
	}
	return w.Flush()
}

var rpsRE = regexp.MustCompile(`finished in [^,]+, ([0-9.]+) req/s`)
var failedRE = regexp.MustCompile(`requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored`)

// h2load drives https://addr/ for d and returns requests/s. Connections
// are opened (and TLS handshakes made) once, before the measured time.
func h2load(cpus, addr, proto string, conns, streams int, d time.Duration) (float64, error) {
	args := []string{"-c", cpus, "h2load", "-c", strconv.Itoa(conns), "-t", "1", "-D", strconv.Itoa(int(d.Seconds())), "--warm-up-time=1"}
	if proto == "h2" {
		args = append(args, "-m", strconv.Itoa(streams))
	} else {
		args = append(args, "--h1", "-m", "1")
	}
	args = append(args, "https://"+addr+"/")
	out, err := exec.Command("taskset", args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("h2load: %v\n%s", err, out)
	}
	if m := failedRE.FindStringSubmatch(string(out)); m != nil && (m[3] != "0" || m[4] != "0") {
		return 0, fmt.Errorf("h2load saw failed requests:\n%s", out)
	}
	m := rpsRE.FindStringSubmatch(string(out))
	if m == nil {
		return 0, fmt.Errorf("no req/s in h2load output:\n%s", out)
	}
	return strconv.ParseFloat(m[1], 64)
}

// writeCert writes a certificate for 127.0.0.1 and localhost, from a
// local CA made in dir, and its key.
func writeCert(dir string) (certFile, keyFile string, err error) {
	ca, err := certs.OpenLocalCA(filepath.Join(dir, "ca"))
	if err != nil {
		return "", "", err
	}
	c, err := ca.Leaf("127.0.0.1", "localhost")
	if err != nil {
		return "", "", err
	}
	var certPEM []byte
	for _, der := range c.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	k, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k}), 0o600)
}

var body = []byte("hello from the berth bench backend\n")

func runBackend(addr string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// runRouter serves berth's router over TLS on addr, with the certificate
// files as the default certificate of a certs.Manager (as listen_tls with
// tls: {cert, key} does), until SIGTERM.
func runRouter(addr, upstream, certFile, keyFile string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir, err := os.MkdirTemp("", "berth-bench-tls-router-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	m, err := certs.New(certs.Options{Dir: dir, Default: &certs.FilePair{Cert: certFile, Key: keyFile}, Logger: log})
	if err != nil {
		return err
	}
	defer m.Close()
	r := router.New(router.Config{Logger: log, MaxConns: 8192})
	defer r.Close()
	r.Publish(&router.Table{Version: 1, Routes: []router.Route{{
		Name: "bench", Default: true,
		Groups: []router.TargetGroup{{Name: "bench@1", Release: 1, Weight: 100, Targets: []router.Target{{ID: "backend", Addr: upstream}}}},
	}}})
	m.SetHosts([]string{"localhost"})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return r.ServeWith(ctx, ln, router.ServeOptions{TLS: m.TLSConfig()})
}

func nginxConf(dir, listen, upstream, cert, key string) string {
	return fmt.Sprintf(`worker_processes 1;
daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  keepalive_requests 1000000;
  upstream backend {
    server %[3]s;
    keepalive 256;
    keepalive_requests 1000000;
  }
  server {
    listen %[2]s ssl http2;
    ssl_certificate %[4]s;
    ssl_certificate_key %[5]s;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`, dir, listen, upstream, cert, key)
}
