package router

import (
	"encoding/json"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// tableSeeds are routing tables as the control socket receives them
// (routerproc decodes PUT /v1/table into a Table and publishes it).
var tableSeeds = []string{
	`{"Version":1,"Routes":[{"Name":"a","PathPrefix":"/a","Groups":[{"Name":"a@1","Release":1,"Weight":100,"Targets":[{"ID":"t1","Addr":"x"}]}]}]}`,
	`{"Version":2,"Routes":[{"Name":"a","Default":true,"Groups":[{"Name":"a@1","Weight":-5,"Targets":[]},{"Name":"a@2","Weight":0,"Targets":[{"ID":"t","Addr":"y"}]}]}]}`,
	`{"Version":3,"Routes":[{"Name":"a","Host":"A.example","PathPrefix":"","Priority":-1,"StripPrefix":true,"Groups":null,"Preview":[{"Name":"p","Targets":[{"Addr":""}]}]}]}`,
	`{"Version":4,"Routes":[{"Name":"s","PathPrefix":"/s/","Sticky":{"Cookie":"c","Header":"h"},"Groups":[{"Name":"s@1","Release":1,"Weight":1,"Targets":[{"ID":"1","Addr":"a"}]},{"Name":"s@2","Release":2,"Weight":1,"Targets":[{"ID":"1","Addr":"a"}]}]}]}`,
	`{"Version":5,"Routes":[{"Name":"h","PathPrefix":"/","Health":{"Path":"/h","Interval":-1,"Timeout":-1,"HealthyThreshold":-3,"UnhealthyThreshold":0},"Groups":[{"Name":"g","Weight":9223372036854775807,"Targets":[{"ID":"t","Addr":"b"}]}]},{"Name":"h","PathPrefix":"/","Groups":[]}]}`,
	`{"Version":0,"Routes":[]}`,
}

// FuzzPublishTable publishes arbitrary routing tables, as the router
// process's control socket would hand them over, and sends requests
// through them: whatever the table holds (negative or huge weights,
// duplicate names and targets, empty groups, odd health settings), the
// router neither panics nor answers outside 200–599. Target addresses
// are mapped onto a loopback backend or a dead loopback port, so nothing
// dials beyond this machine.
func FuzzPublishTable(f *testing.F) {
	for _, s := range tableSeeds {
		f.Add([]byte(s), "a.example", "/a/b", true)
	}
	live := backend(f, "live", nil)
	dead := deadAddr(f)
	f.Fuzz(func(t *testing.T, js []byte, host, path string, preview bool) {
		var tab Table
		if json.Unmarshal(js, &tab) != nil {
			return
		}
		for i := range tab.Routes {
			rt := &tab.Routes[i]
			remap(rt.Groups, live, dead)
			remap(rt.Preview, live, dead)
			// Checks may not spin: the control plane sends intervals of a
			// second or more, and a zero or negative one takes the default.
			if rt.Health.Interval > 0 && rt.Health.Interval < 50*time.Millisecond {
				rt.Health.Interval = 50 * time.Millisecond
			}
		}
		r := New(Config{Logger: quietLogger(t)})
		defer r.Close()
		r.Publish(&tab)
		if len(path) == 0 || path[0] != '/' {
			path = "/" + path
		}
		for range 3 {
			req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
			req.URL.Path = path
			req.Host = host
			if preview {
				req.Header.Set(PreviewHeader, "1")
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code < 200 || w.Code > 599 {
				t.Fatalf("status %d for %s %s", w.Code, host, path)
			}
		}
		// A second, empty table takes every target out again.
		tab.Version++
		r.Publish(&Table{Version: tab.Version})
	})
}

// remap points every target at live or dead, chosen by its address.
func remap(groups []TargetGroup, live, dead string) {
	for i := range groups {
		for j := range groups[i].Targets {
			h := fnv.New32a()
			_, _ = h.Write([]byte(groups[i].Targets[j].Addr))
			if h.Sum32()%2 == 0 {
				groups[i].Targets[j].Addr = live
			} else {
				groups[i].Targets[j].Addr = dead
			}
		}
	}
}
