// Command testserver is the small HTTP program the driver conformance suite
// runs as a task. It listens on $HOST:$PORT (HOST defaults to 127.0.0.1; a
// container harness sets HOST=0.0.0.0) and serves:
//
//	GET /health       200 "ok"
//	GET /env/NAME     200 with the value of NAME, 404 when NAME is unset
//	GET /sleep?d=DUR  sends the headers at once, then after DUR the body "done"
//	GET /log?msg=TEXT prints TEXT as a line on stdout
//
// On start it prints "testserver: stderr line" on stderr, then LOG_LINES
// numbered lines "line 1".."line N" and "testserver: listening on ADDR" on
// stdout. On SIGTERM it finishes in-flight requests and exits 0.
// IGNORE_TERM=1 makes it ignore SIGTERM; EXIT_CODE=n makes it exit at once
// with n.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if code := os.Getenv("EXIT_CODE"); code != "" {
		n, err := strconv.Atoi(code)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testserver: EXIT_CODE %q: %v\n", code, err)
			os.Exit(2)
		}
		os.Exit(n)
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "testserver: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	term := make(chan os.Signal, 1)
	if os.Getenv("IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(term, syscall.SIGTERM)
	}

	host := os.Getenv("HOST")
	if host == "" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, os.Getenv("PORT"))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "testserver: stderr line")
	lines, _ := strconv.Atoi(os.Getenv("LOG_LINES"))
	for i := 1; i <= lines; i++ {
		fmt.Printf("line %d\n", i)
	}
	fmt.Printf("testserver: listening on %s\n", addr)

	srv := &http.Server{Handler: routes(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-term:
	}
	fmt.Println("testserver: SIGTERM, draining")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Println("testserver: stopped")
	return nil
}

func routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET /env/{name}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := os.LookupEnv(r.PathValue("name"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, v)
	})
	mux.HandleFunc("GET /sleep", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		time.Sleep(d)
		fmt.Fprint(w, "done")
	})
	mux.HandleFunc("GET /log", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.URL.Query().Get("msg"))
		fmt.Fprint(w, "ok")
	})
	return mux
}
