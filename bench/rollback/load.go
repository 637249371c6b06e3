package main

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// load sends GET requests through the router from several clients until
// halted, and records every one.
type load struct {
	mu   sync.Mutex
	reqs []req
	stop chan struct{}
	wg   sync.WaitGroup
}

// req is one request as the client saw it.
type req struct {
	start, end time.Time
	status     int // 0 for a transport error
}

func (r req) failed() bool { return r.status/100 != 2 }

// startLoad runs workers clients against url; with rps > 0 they send
// about rps requests a second together, else as fast as answers come.
func startLoad(url string, workers int, rps float64) *load {
	l := &load{stop: make(chan struct{})}
	var pace <-chan time.Time
	if rps > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / rps))
		pace = t.C
		go func() { <-l.stop; t.Stop() }()
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				if pace != nil {
					select {
					case <-l.stop:
						return
					case <-pace:
					}
				}
				select {
				case <-l.stop:
					return
				default:
				}
				r := req{start: time.Now()}
				if resp, err := client.Get(url); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					r.status = resp.StatusCode
				}
				r.end = time.Now()
				l.mu.Lock()
				l.reqs = append(l.reqs, r)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// since returns the requests that started at or after t.
func (l *load) since(t time.Time) []req {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []req
	for _, r := range l.reqs {
		if !r.start.Before(t) {
			out = append(out, r)
		}
	}
	return out
}

// waitStartedAfter waits until a request that started after t has ended.
func (l *load) waitStartedAfter(t time.Time, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for !l.latestStartedAfter(t) {
		if time.Now().After(deadline) {
			return fmt.Errorf("no request through the router for %s", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// latestStartedAfter reports whether the last request to end started
// after t.
func (l *load) latestStartedAfter(t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs) > 0 && l.reqs[len(l.reqs)-1].start.After(t)
}
