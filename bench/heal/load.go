package main

import (
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

// startLoad sends rps GET requests a second to url, each on its own
// (open loop): a request that hangs holds no other back, so traffic keeps
// flowing at the same rate whatever a task does.
func startLoad(url string, rps int) *load {
	l := &load{stop: make(chan struct{})}
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
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
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
			}()
		}
	}()
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

// between returns the requests that started in [from, to).
func (l *load) between(from, to time.Time) []req {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []req
	for _, r := range l.reqs {
		if !r.start.Before(from) && r.start.Before(to) {
			out = append(out, r)
		}
	}
	return out
}
