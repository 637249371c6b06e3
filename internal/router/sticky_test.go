package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func canaryTable(stable, canary string, canaryWeight int, sticky Sticky) *Table {
	return &Table{Routes: []Route{{Name: "web", Sticky: sticky, Groups: []TargetGroup{
		{Name: "web@1", Release: 1, Weight: 100 - canaryWeight, Targets: []Target{{ID: "s", Addr: stable}}},
		{Name: "web@2", Release: 2, Weight: canaryWeight, Targets: []Target{{ID: "c", Addr: canary}}},
	}}}}
}

func TestStickyCanaryByHeader(t *testing.T) {
	stable, canary := backend(t, "v1", nil), backend(t, "v2", nil)
	r, base := startRouter(t, Config{})
	r.Publish(canaryTable(stable, canary, 30, Sticky{Header: "x-user"}))
	first := map[string]string{}
	onCanary := 0
	for u := range 200 {
		user := fmt.Sprintf("user-%d", u)
		for i := range 5 {
			_, body, _ := get(t, base+"/", "X-User", user)
			if i == 0 {
				first[user] = body
				if body == "v2" {
					onCanary++
				}
			} else if body != first[user] {
				t.Fatalf("%s saw %s then %s", user, first[user], body)
			}
		}
	}
	if onCanary < 30 || onCanary > 90 { // 30% of 200 = 60, loosely
		t.Errorf("%d of 200 users on the 30%% canary", onCanary)
	}
	// The canary grows: every user it had stays on it.
	r.Publish(canaryTable(stable, canary, 60, Sticky{Header: "X-User"}))
	grown := 0
	for user, was := range first {
		_, body, _ := get(t, base+"/", "X-User", user)
		if was == "v2" && body != "v2" {
			t.Fatalf("%s left the canary when it grew", user)
		}
		if body == "v2" {
			grown++
		}
	}
	if grown <= onCanary {
		t.Errorf("canary at 60%% has %d users, at 30%% it had %d", grown, onCanary)
	}
	// Without the header, requests are spread by weight as before.
	seen := map[string]bool{}
	for range 50 {
		_, body, _ := get(t, base+"/")
		seen[body] = true
	}
	if !seen["v1"] || !seen["v2"] {
		t.Errorf("without a key requests went only to %v", seen)
	}
}

func TestStickyCanaryByCookie(t *testing.T) {
	stable, canary := backend(t, "v1", nil), backend(t, "v2", nil)
	r, base := startRouter(t, Config{})
	r.Publish(canaryTable(stable, canary, 50, Sticky{Cookie: "berth_sticky"}))
	for range 20 {
		_, body, hdr := get(t, base+"/")
		cookie := hdr.Get("Set-Cookie")
		if !strings.HasPrefix(cookie, "berth_sticky=") || !strings.Contains(cookie, "HttpOnly") {
			t.Fatalf("Set-Cookie %q", cookie)
		}
		value := strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], "berth_sticky=")
		for range 5 {
			_, again, hdr := get(t, base+"/", "Cookie", "berth_sticky="+value)
			if again != body {
				t.Fatalf("cookie %s saw %s then %s", value, body, again)
			}
			if hdr.Get("Set-Cookie") != "" {
				t.Fatalf("cookie set again: %q", hdr.Get("Set-Cookie"))
			}
		}
	}
}

func TestDrainClosesUpgradedConnectionsAtWindowEnd(t *testing.T) {
	b := backend(t, "", func(w http.ResponseWriter, req *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		_ = brw.Flush()
		_, _ = io.Copy(io.Discard, brw) // holds the connection until the router closes it
	})
	r, base := startRouter(t, Config{})
	r.Publish(&Table{Routes: []Route{one("ws", "", b)}})
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	r.Publish(&Table{Routes: []Route{one("ws", "")}}) // the task is being replaced
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := r.WaitDrained(ctx, b); err == nil {
		t.Fatal("drained while a websocket was open")
	}
	// The window is over: the websocket is closed, the target released.
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("client read %v, want EOF", err)
	}
	if err := r.WaitDrained(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}
