package router

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Signals summarises the traffic of one target group (or release) over a
// recent window, for canary analysis. Errors5xx includes the 502/503/504
// the router itself answered. Latencies are bucketed (about 20% resolution)
// and report the bucket's upper bound.
type Signals struct {
	Requests     int
	Errors5xx    int
	P50          time.Duration
	P99          time.Duration
	FirstErrorAt time.Time // zero when the window holds no 5xx
}

const (
	ringSeconds = 60
	// Latency buckets: 0..7µs exact, then 4 sub-buckets per power of two up
	// to 2^40µs.
	latExact   = 8
	latMaxExp  = 40
	latBuckets = latExact + (latMaxExp-3)*4
)

// series is a ring of one-second buckets covering the last 60 seconds.
// Recording is atomic adds; a bucket is reset under its own small lock the
// first time a new second lands in it.
type series struct {
	buckets [ringSeconds]secBucket
}

type secBucket struct {
	mu       sync.Mutex
	sec      atomic.Int64
	requests atomic.Int64
	errors   atomic.Int64
	firstErr atomic.Int64 // unix nanos of the first 5xx in this second, 0 if none
	lat      [latBuckets]atomic.Int64
}

func latIndex(d time.Duration) int {
	us := uint64(max(d.Microseconds(), 0))
	if us < latExact {
		return int(us)
	}
	e := bits.Len64(us) // >= 4
	if e > latMaxExp {
		return latBuckets - 1
	}
	q := int(us>>(e-3)) & 3
	return latExact + (e-4)*4 + q
}

// latUpper is the upper bound of bucket i.
func latUpper(i int) time.Duration {
	if i < latExact {
		return time.Duration(i+1) * time.Microsecond
	}
	e := (i-latExact)/4 + 4
	q := (i - latExact) % 4
	return time.Duration(uint64(5+q)<<(e-3)) * time.Microsecond
}

func (s *series) record(now time.Time, d time.Duration, is5xx bool) {
	sec := now.Unix()
	b := &s.buckets[uint64(sec)%ringSeconds]
	if b.sec.Load() != sec {
		b.mu.Lock()
		if b.sec.Load() != sec {
			b.requests.Store(0)
			b.errors.Store(0)
			b.firstErr.Store(0)
			for i := range b.lat {
				b.lat[i].Store(0)
			}
			b.sec.Store(sec)
		}
		b.mu.Unlock()
	}
	b.requests.Add(1)
	b.lat[latIndex(d)].Add(1)
	if is5xx {
		b.errors.Add(1)
		ns := now.UnixNano()
		for {
			cur := b.firstErr.Load()
			if (cur != 0 && cur <= ns) || b.firstErr.CompareAndSwap(cur, ns) {
				break
			}
		}
	}
}

// read sums the buckets of the seconds in (now-window, now].
func (s *series) read(now time.Time, window time.Duration) Signals {
	secs := int64(window / time.Second)
	secs = min(max(secs, 1), ringSeconds)
	nowSec := now.Unix()
	var out Signals
	var hist [latBuckets]int64
	var first int64
	for i := range s.buckets {
		b := &s.buckets[i]
		sec := b.sec.Load()
		if sec <= nowSec-secs || sec > nowSec {
			continue
		}
		out.Requests += int(b.requests.Load())
		out.Errors5xx += int(b.errors.Load())
		if fe := b.firstErr.Load(); fe != 0 && (first == 0 || fe < first) {
			first = fe
		}
		for j := range hist {
			hist[j] += b.lat[j].Load()
		}
	}
	if first != 0 {
		out.FirstErrorAt = time.Unix(0, first)
	}
	out.P50 = quantile(&hist, 0.50)
	out.P99 = quantile(&hist, 0.99)
	return out
}

func quantile(hist *[latBuckets]int64, q float64) time.Duration {
	var n int64
	for _, c := range hist {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.999999)
	rank = max(rank, 1)
	var seen int64
	for i, c := range hist {
		seen += c
		if seen >= rank {
			return latUpper(i)
		}
	}
	return latUpper(latBuckets - 1)
}

// signalStore holds series by key; series live as long as the router so a
// new table does not reset them.
type signalStore struct {
	mu     sync.RWMutex
	series map[string]*series
}

func (s *signalStore) get(key string) *series {
	s.mu.RLock()
	se := s.series[key]
	s.mu.RUnlock()
	if se != nil {
		return se
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.series == nil {
		s.series = map[string]*series{}
	}
	if se = s.series[key]; se == nil {
		se = &series{}
		s.series[key] = se
	}
	return se
}

// forget drops a series; a group that comes back starts a new one.
func (s *signalStore) forget(key string) {
	s.mu.Lock()
	delete(s.series, key)
	s.mu.Unlock()
}

func (s *signalStore) lookup(key string) *series {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.series[key]
}
