// Package loadgen is the HTTP load the benchmarks send through berth's
// router while they break or replace tasks: every request is recorded with
// when it was sent, when it ended and its status, so a benchmark can count
// the failures of any time window.
package loadgen

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Request is one request as the client saw it.
type Request struct {
	Start, End time.Time
	// Status is the HTTP status; 0 for a transport error.
	Status int
}

// Failed reports whether the request got no 2xx answer.
func (r Request) Failed() bool { return r.Status/100 != 2 }

// Load is GET traffic to one URL, recorded until Halt.
type Load struct {
	mu   sync.Mutex
	reqs []Request
	stop chan struct{}
	wg   sync.WaitGroup
}

// OpenLoop sends rps requests a second to url, each on its own goroutine:
// a request that hangs holds no other back, so traffic keeps flowing at
// the same rate whatever a task does.
func OpenLoop(url string, rps int) *Load {
	l := &Load{stop: make(chan struct{})}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	tick := time.NewTicker(time.Second / time.Duration(rps))
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer tick.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			l.wg.Go(func() { l.get(client, url) })
		}
	}()
	return l
}

// Closed runs workers clients against url, each sending its next request
// when the last one is answered; with rps > 0 they send about rps
// requests a second together, else as fast as answers come.
func Closed(url string, workers int, rps float64) *Load {
	l := &Load{stop: make(chan struct{})}
	var pace <-chan time.Time
	if rps > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / rps))
		pace = t.C
		go func() { <-l.stop; t.Stop() }()
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for range workers {
		l.wg.Go(func() {
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
				l.get(client, url)
			}
		})
	}
	return l
}

// get sends one request and records it.
func (l *Load) get(client *http.Client, url string) {
	r := Request{Start: time.Now()}
	if resp, err := client.Get(url); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		r.Status = resp.StatusCode
	}
	r.End = time.Now()
	l.mu.Lock()
	l.reqs = append(l.reqs, r)
	l.mu.Unlock()
}

// Halt stops sending and waits for the requests in flight.
func (l *Load) Halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// Between returns the requests that started in [from, to).
func (l *Load) Between(from, to time.Time) []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Request
	for _, r := range l.reqs {
		if !r.Start.Before(from) && r.Start.Before(to) {
			out = append(out, r)
		}
	}
	return out
}

// Since returns the requests that started at or after t.
func (l *Load) Since(t time.Time) []Request {
	return l.Between(t, time.Unix(1<<62, 0))
}

// WaitStartedAfter waits until the last request to end started after t.
func (l *Load) WaitStartedAfter(t time.Time, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for !l.latestStartedAfter(t) {
		if time.Now().After(deadline) {
			return fmt.Errorf("no request through the router for %s", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func (l *Load) latestStartedAfter(t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs) > 0 && l.reqs[len(l.reqs)-1].Start.After(t)
}
