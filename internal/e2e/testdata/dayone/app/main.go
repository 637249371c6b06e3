// Command app is the web service, the API and the worker of the day-one
// demo (its first argument says which), built FROM scratch like a user's
// own services. web and api listen on $PORT and answer /health; web's /
// calls the API through $API_URL; the API is healthy while it reaches the
// database ($DATABASE_URL) and redis ($REDIS_URL, given by berth for
// depends_on); the worker serves nothing and keeps reaching redis.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: app web|api|worker")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "web":
		err = serve(ctx, web())
	case "api":
		err = serve(ctx, api())
	case "worker":
		err = worker(ctx)
	default:
		err = fmt.Errorf("unknown role %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, h http.Handler) error {
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT"), Handler: h}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	fmt.Println(os.Args[1], "listening on", srv.Addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func web() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(os.Getenv("API_URL") + "/ping")
		if err != nil {
			http.Error(w, "api: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Fprintf(w, "web -> api: %d %s", resp.StatusCode, b)
	})
	return mux
}

func api() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		for _, name := range []string{"DATABASE_URL", "REDIS_URL"} {
			if err := reach(os.Getenv(name)); err != nil {
				http.Error(w, name+": "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
	})
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "pong") })
	return mux
}

// reach connects to the host:port of a URL.
func reach(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("no address in %q", raw)
	}
	c, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

func worker(ctx context.Context) error {
	last := ""
	for {
		state := "worker reached redis"
		if err := reach(os.Getenv("REDIS_URL")); err != nil {
			state = "worker cannot reach redis: " + err.Error()
		}
		if state != last {
			fmt.Println(state)
			last = state
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}
