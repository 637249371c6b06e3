package control

import (
	"sync"

	"github.com/berth-dev/berth/internal/store"
)

// broadcaster wakes event-stream subscribers when a new event is recorded.
// Subscribers read events from the store; the broadcast only says "look".
type broadcaster struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

func newBroadcaster() *broadcaster {
	return &broadcaster{subs: map[chan struct{}]struct{}{}}
}

func (b *broadcaster) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

func (b *broadcaster) publish(store.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Subscribe returns a channel that receives a value (coalesced, never
// blocking the control plane) whenever an event is recorded, and a func
// that ends the subscription. Read the events themselves from the store
// or the API: the channel only says "look".
func (s *Server) Subscribe() (<-chan struct{}, func()) { return s.events.subscribe() }
