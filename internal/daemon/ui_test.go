package daemon

import (
	"errors"
	"net"
	"testing"
)

// TestListenUI: off loopback the dashboard needs a token; a taken
// address fails unless it is the default (fallback to a free port).
func TestListenUI(t *testing.T) {
	if ln, err := listenUI(Options{}); ln != nil || err != nil {
		t.Fatalf("no UIListen: %v %v, want nothing", ln, err)
	}
	var ue *UsageError
	if _, err := listenUI(Options{UIListen: "0.0.0.0:0"}); !errors.As(err, &ue) {
		t.Errorf("0.0.0.0 without a token: err = %v, want a usage error", err)
	}
	ln, err := listenUI(Options{UIListen: "0.0.0.0:0", Token: "t"})
	if err != nil {
		t.Fatalf("0.0.0.0 with a token: %v", err)
	}
	ln.Close()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := listenUI(Options{UIListen: busy.Addr().String()}); !errors.As(err, &ue) {
		t.Errorf("taken address: err = %v, want a usage error", err)
	}
	ln, err = listenUI(Options{UIListen: busy.Addr().String(), UIFallback: true})
	if err != nil {
		t.Fatalf("taken default address: %v, want a free port", err)
	}
	defer ln.Close()
	if ln.Addr().String() == busy.Addr().String() || !isLoopbackAddr(ln.Addr()) {
		t.Errorf("fallback listens on %s", ln.Addr())
	}
}

func isLoopbackAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}
