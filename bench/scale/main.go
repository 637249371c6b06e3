// Command scale measures berth holding many tasks: it builds berth and a
// tiny HTTP service, runs `berth serve` on a temp project, deploys the
// service, scales it to -tasks tasks, waits until every one is healthy and
// reports berth's resident memory and threads and how long GET /v1/status
// (and the `berth status` command) take. Everything listens on loopback;
// the run is bounded by -timeout and stops every task at the end.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

func main() {
	tasks := flag.Int("tasks", 500, "tasks to scale the service to")
	samples := flag.Int("samples", 50, "GET /v1/status samples")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *tasks, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, tasks, samples int) error {
	dir, err := os.MkdirTemp("", "berth-bench-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	berth, tiny := filepath.Join(dir, "berth"), filepath.Join(dir, "tiny")
	for _, b := range [][2]string{{berth, "./cmd/berth"}, {tiny, "./bench/scale/tiny"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b[0], b[1])
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", b[1], err, out)
		}
	}
	listen, err := freeAddr()
	if err != nil {
		return err
	}
	project, state := filepath.Join(dir, "project"), filepath.Join(dir, "state")
	spec := fmt.Sprintf(`project: scalebench
listen: %s
engine: process
services:
  tiny:
    run: %s
    route: {path: /}
    count: 1
    max_count: %d
    health: {path: /health, interval: 5s, timeout: 2s, deadline: 120s}
    deploy: {max_surge: 50, drain: 1s}
`, listen, tiny, max(tasks, 1))
	if err := os.MkdirAll(project, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(project, "berth.yaml"), []byte(spec), 0o644); err != nil {
		return err
	}
	base := []string{"-f", filepath.Join(project, "berth.yaml"), "--state", state}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") {
			env = append(env, kv)
		}
	}
	berthCmd := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, berth, append(base, args...)...)
		cmd.Dir, cmd.Env = project, env
		return cmd
	}
	serve := berthCmd("serve", "--max-count", strconv.Itoa(max(tasks, 100)))
	var serveOut bytes.Buffer
	serve.Stdout, serve.Stderr = &serveOut, &serveOut
	if err := serve.Start(); err != nil {
		return err
	}
	defer func() {
		_ = serve.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = serve.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			_ = serve.Process.Kill()
		}
	}()
	sock := filepath.Join(state, "berth.sock")
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	status := func() (api.Status, time.Duration, error) {
		start := time.Now()
		resp, err := client.Get("http://berth/v1/status")
		if err != nil {
			return api.Status{}, 0, err
		}
		defer resp.Body.Close()
		var st api.Status
		err = json.NewDecoder(resp.Body).Decode(&st)
		return st, time.Since(start), err
	}
	if err := waitFor(ctx, "berth serve answers", func() bool { _, _, err := status(); return err == nil }); err != nil {
		return fmt.Errorf("%w\n%s", err, serveOut.String())
	}
	if out, err := berthCmd("deploy", "--allow-dirty").CombinedOutput(); err != nil {
		return fmt.Errorf("deploy: %v\n%s", err, out)
	}
	start := time.Now()
	if out, err := berthCmd("scale", fmt.Sprintf("tiny=%d", tasks)).CombinedOutput(); err != nil {
		return fmt.Errorf("scale: %v\n%s", err, out)
	}
	healthy := 0
	if err := waitFor(ctx, fmt.Sprintf("%d healthy tasks", tasks), func() bool {
		st, _, err := status()
		if err != nil || len(st.Services) == 0 {
			return false
		}
		healthy = st.Services[0].Healthy
		return healthy == tasks && len(st.Services[0].Tasks) == tasks
	}); err != nil {
		return fmt.Errorf("%w (%d healthy)", err, healthy)
	}
	rampUp := time.Since(start)
	// Let the steady state settle: probes, usage sampling, the router's checks.
	time.Sleep(15 * time.Second)
	var lat []time.Duration
	for range samples {
		_, d, err := status()
		if err != nil {
			return err
		}
		lat = append(lat, d)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	var cli []time.Duration
	for range 5 {
		t0 := time.Now()
		if out, err := berthCmd("status").CombinedOutput(); err != nil {
			return fmt.Errorf("berth status: %v\n%s", err, out)
		}
		cli = append(cli, time.Since(t0))
	}
	sort.Slice(cli, func(i, j int) bool { return cli[i] < cli[j] })
	rss, hwm, threads, err := procStatus(serve.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("| tasks | healthy after | berth RSS | berth peak RSS | berth threads | GET /v1/status median | p95 | max | `berth status` median |\n")
	fmt.Printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Printf("| %d | %s | %.1f MB | %.1f MB | %d | %s | %s | %s | %s |\n", tasks, rampUp.Round(100*time.Millisecond),
		float64(rss)/1e6, float64(hwm)/1e6, threads, ms(lat[len(lat)/2]), ms(lat[len(lat)*95/100]), ms(lat[len(lat)-1]), ms(cli[len(cli)/2]))
	ctxDown, cancelDown := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelDown()
	down := exec.CommandContext(ctxDown, berth, append(base, "down")...)
	down.Dir, down.Env = project, env
	if out, err := down.CombinedOutput(); err != nil {
		return fmt.Errorf("down: %v\n%s", err, out)
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

// procStatus reads VmRSS, VmHWM (bytes) and Threads of a process.
func procStatus(pid int) (rss, hwm uint64, threads int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseUint(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n * 1024
		case "VmHWM":
			hwm = n * 1024
		case "Threads":
			threads = int(n)
		}
	}
	if rss == 0 {
		return 0, 0, 0, errors.New("no VmRSS in /proc status")
	}
	return rss, hwm, threads, nil
}

func waitFor(ctx context.Context, what string, cond func() bool) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
