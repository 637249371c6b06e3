// Command router benchmarks berth's router against nginx and haproxy.
//
// It starts a Go backend on loopback, then in turn berth's router, nginx
// and haproxy in front of it (each with a keep-alive upstream pool, same
// settings), and drives each — and the backend directly — with wrk pinned
// to one core while the proxy and backend share the other. It prints
// requests/s and p50/p99 side by side with ratios.
//
//	go run ./bench/router [-c 64] [-d 10s] [-cpuprofile router.pprof]
//
// Needs nginx, haproxy, wrk and taskset:
//
//	apt-get update && apt-get install -y nginx haproxy wrk
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/bench/internal/child"
	"github.com/berth-dev/berth/internal/router"
)

func main() {
	role := flag.String("role", "", "internal: run as a child (backend or router)")
	listen := flag.String("listen", "", "internal: child listen address")
	upstream := flag.String("upstream", "", "internal: router child's backend address")
	conns := flag.Int("c", 64, "wrk connections")
	dur := flag.Duration("d", 10*time.Second, "wrk duration per target")
	threads := flag.Int("t", 1, "wrk threads")
	wrkCore := flag.String("wrk-cpu", "0", "CPU list wrk is pinned to (taskset -c)")
	srvCore := flag.String("server-cpu", "1", "CPU list the proxies and the backend are pinned to")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of berth's router under load to this file")
	only := flag.String("only", "direct,berth,nginx,haproxy", "comma-separated targets to run")
	flag.Parse()

	var err error
	switch *role {
	case "backend":
		err = runBackend(*listen)
	case "router":
		err = runRouter(*listen, *upstream, *cpuprofile)
	default:
		err = run(opts{conns: *conns, dur: *dur, threads: *threads, wrkCore: *wrkCore, srvCore: *srvCore,
			cpuprofile: *cpuprofile, only: strings.Split(*only, ",")})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/router:", err)
		os.Exit(1)
	}
}

type opts struct {
	conns, threads   int
	dur              time.Duration
	wrkCore, srvCore string
	cpuprofile       string
	only             []string
}

// result is one wrk run.
type result struct {
	name     string
	rps      float64
	p50, p99 time.Duration
}

func run(o opts) error {
	var missing []string
	for _, bin := range []string{"nginx", "haproxy", "wrk", "taskset"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s on PATH; install with: apt-get update && apt-get install -y nginx haproxy wrk util-linux", strings.Join(missing, ", "))
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	dir, err := os.MkdirTemp("", "berth-bench-router-")
	if err != nil {
		return fmt.Errorf("make temp dir: %w", err)
	}
	defer os.RemoveAll(dir)

	backendAddr := child.FreeAddr()
	stopBackend, err := child.Start(o.srvCore, backendAddr, self, "-role=backend", "-listen="+backendAddr)
	if err != nil {
		return fmt.Errorf("start backend: %w", err)
	}
	defer stopBackend()

	targets := map[string]func() (addr string, stop func(), err error){
		"direct": func() (string, func(), error) { return backendAddr, func() {}, nil },
		"berth": func() (string, func(), error) {
			a := child.FreeAddr()
			args := []string{"-role=router", "-listen=" + a, "-upstream=" + backendAddr}
			if o.cpuprofile != "" {
				p, _ := filepath.Abs(o.cpuprofile)
				args = append(args, "-cpuprofile="+p)
			}
			stop, err := child.Start(o.srvCore, a, self, args...)
			return a, stop, err
		},
		"nginx": func() (string, func(), error) {
			a := child.FreeAddr()
			conf := filepath.Join(dir, "nginx.conf")
			if err := os.WriteFile(conf, []byte(nginxConf(dir, a, backendAddr)), 0o644); err != nil {
				return "", nil, err
			}
			stop, err := child.Start(o.srvCore, a, "nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "nginx-error.log"))
			return a, stop, err
		},
		"haproxy": func() (string, func(), error) {
			a := child.FreeAddr()
			conf := filepath.Join(dir, "haproxy.cfg")
			if err := os.WriteFile(conf, []byte(haproxyConf(a, backendAddr)), 0o644); err != nil {
				return "", nil, err
			}
			stop, err := child.Start(o.srvCore, a, "haproxy", "-f", conf, "-db")
			return a, stop, err
		},
	}
	fmt.Printf("wrk -t%d -c%d -d%s --latency, wrk on CPU %s, proxy+backend on CPU %s\n\n", o.threads, o.conns, o.dur, o.wrkCore, o.srvCore)
	var results []result
	for _, name := range o.only {
		start, ok := targets[name]
		if !ok {
			return fmt.Errorf("unknown target %q (want direct, berth, nginx, haproxy)", name)
		}
		addr, stop, err := start()
		if err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		url := "http://" + addr + "/"
		if _, err := runWrk(o, url, 2*time.Second); err != nil { // warm pools and caches
			stop()
			return fmt.Errorf("warm up %s: %w", name, err)
		}
		res, err := runWrk(o, url, o.dur)
		stop()
		if err != nil {
			return fmt.Errorf("run wrk against %s: %w", name, err)
		}
		res.name = name
		results = append(results, res)
		fmt.Fprintf(os.Stderr, "%-8s %10.0f req/s  p50 %-9v p99 %v\n", name, res.rps, res.p50, res.p99)
	}
	fmt.Println()
	printTable(os.Stdout, results)
	if o.cpuprofile != "" {
		fmt.Printf("\nCPU profile of berth's router: %s (go tool pprof -top %s)\n", o.cpuprofile, o.cpuprofile)
	}
	return nil
}

func printTable(w io.Writer, rs []result) {
	find := func(n string) *result {
		for i := range rs {
			if rs[i].name == n {
				return &rs[i]
			}
		}
		return nil
	}
	direct, nginx := find("direct"), find("nginx")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\treq/s\tp50\tp99\treq/s vs direct\treq/s vs nginx\tp99 vs nginx\t")
	ratio := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", a/b)
	}
	for _, r := range rs {
		vd, vn, pn := "-", "-", "-"
		if direct != nil {
			vd = ratio(r.rps, direct.rps)
		}
		if nginx != nil {
			vn = ratio(r.rps, nginx.rps)
			pn = ratio(float64(r.p99), float64(nginx.p99))
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%v\t%v\t%s\t%s\t%s\t\n", r.name, r.rps, r.p50, r.p99, vd, vn, pn)
	}
	_ = tw.Flush()
}

// runWrk runs wrk pinned to o.wrkCore and parses its summary.
func runWrk(o opts, url string, d time.Duration) (result, error) {
	cmd := exec.Command("taskset", "-c", o.wrkCore, "wrk",
		"-t"+strconv.Itoa(o.threads), "-c"+strconv.Itoa(o.conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s", "--latency", url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	return parseWrk(string(out))
}

var (
	rpsRe = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p50Re = regexp.MustCompile(`(?m)^\s+50%\s+([0-9.]+)(us|ms|s)`)
	p99Re = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)`)
	errRe = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: .*`)
)

func parseWrk(out string) (result, error) {
	var r result
	m := rpsRe.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output: %s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	var err error
	if r.p50, err = wrkDuration(p50Re.FindStringSubmatch(out)); err != nil {
		return r, err
	}
	if r.p99, err = wrkDuration(p99Re.FindStringSubmatch(out)); err != nil {
		return r, err
	}
	if e := errRe.FindString(out); e != "" {
		fmt.Fprintf(os.Stderr, "warning: wrk reported %q\n", e)
	}
	return r, nil
}

func wrkDuration(m []string) (time.Duration, error) {
	if m == nil {
		return 0, errors.New("no latency distribution in wrk output")
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("parse wrk latency %q: %w", m[1], err)
	}
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
	return time.Duration(v * float64(unit)).Round(time.Microsecond), nil
}

var body = []byte("hello from the berth bench backend\n")

// runBackend is the origin server every target forwards to.
func runBackend(addr string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{strconv.Itoa(len(body))}
		_, _ = w.Write(body)
	})}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// runRouter runs berth's router in front of upstream until SIGTERM.
func runRouter(addr, upstream, cpuprofile string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return fmt.Errorf("create profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start profile: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	r := router.New(router.Config{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	defer r.Close()
	r.Publish(&router.Table{Version: 1, Routes: []router.Route{{
		Name: "bench", Default: true,
		Groups: []router.TargetGroup{{Name: "bench@1", Release: 1, Weight: 100, Targets: []router.Target{{ID: "backend", Addr: upstream}}}},
	}}})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return r.Serve(ctx, ln)
}

func nginxConf(dir, listen, upstream string) string {
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
    listen %[2]s;
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
`, dir, listen, upstream)
}

func haproxyConf(listen, upstream string) string {
	return fmt.Sprintf(`global
  nbthread 1
  maxconn 8192
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
  option http-keep-alive
  http-reuse always
frontend fe
  bind %s
  option forwardfor
  default_backend be
backend be
  server b1 %s
`, listen, upstream)
}
