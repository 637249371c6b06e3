package awsfake

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestParseQueryFormBuildsListsAndStructs(t *testing.T) {
	form, err := url.ParseQuery("Action=CreateRule&Priority=10" +
		"&Actions.member.1.Type=forward&Actions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn=b" +
		"&Actions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn=a&Actions.member.1.ForwardConfig.TargetGroups.member.1.Weight=100" +
		"&Conditions.member.1.PathPatternConfig.Values.member.1=%2Fapi&Conditions.member.1.PathPatternConfig.Values.member.2=%2Fapi%2F*" +
		"&Tags.member.1.Key=k&Tags.member.1.Value=v")
	if err != nil {
		t.Fatal(err)
	}
	q := parseQueryForm(form)
	if q.str("Action") != "CreateRule" || q.str("Priority") != "10" {
		t.Fatalf("scalars = %v", q)
	}
	tgs := q.list("Actions")[0].m("ForwardConfig").list("TargetGroups")
	if len(tgs) != 2 || tgs[0].str("TargetGroupArn") != "a" || tgs[0].str("Weight") != "100" || tgs[1].str("TargetGroupArn") != "b" {
		t.Fatalf("target groups = %v, want a (100) then b, ordered by member index", tgs)
	}
	if got := q.list("Conditions")[0].m("PathPatternConfig").strs("Values"); !reflect.DeepEqual(got, []string{"/api", "/api/*"}) {
		t.Fatalf("values = %v", got)
	}
	if tags := queryTags(q); len(tags) != 1 || tags[0] != (tag{"k", "v"}) {
		t.Fatalf("tags = %v", tags)
	}
}

// encodeQuery renders a qmap as awsQuery form fields, the way the SDK's
// serializer names them.
func encodeQuery(prefix string, v any, out url.Values) {
	switch t := v.(type) {
	case string:
		out.Set(prefix, t)
	case []any:
		for i, it := range t {
			encodeQuery(fmt.Sprintf("%s.member.%d", prefix, i+1), it, out)
		}
	case qmap:
		for k, it := range t {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			encodeQuery(p, it, out)
		}
	}
}

func FuzzParseQueryForm(f *testing.F) {
	f.Add("Action=CreateRule&Actions.member.1.Type=forward&Actions.member.2.Type=redirect")
	f.Add("a.member.1.b.member.1=x&a.member.1.b.member.2=y&c=z")
	f.Add("..=x&a..b=y&a.member.0=z&a.member.99999=w&a=1&a.b=2")
	f.Add("Tags.member.1.Key=k&Tags.member.1.Value=v&Tags.member.1=oops")
	f.Add("member.")         // once panicked: a root that looked like a list
	f.Add("a.member.0&a.0.") // index 0 and a bare number
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q := parseQueryForm(form) // must not panic on any input
		// Differential against net/url: a key without dots reads back as
		// url.Values.Get gives it, unless a dotted key made it a subtree.
		for k := range form {
			if k == "" || strings.Contains(k, ".") {
				continue
			}
			if _, isTree := q[k].(qmap); isTree {
				continue
			}
			if _, isList := q[k].([]any); isList {
				continue
			}
			if got := q.str(k); got != form.Get(k) {
				t.Fatalf("key %q: parsed %q, url.Values.Get %q", k, got, form.Get(k))
			}
		}
		// Round trip: a well-formed request (every key as the SDK would
		// name it) encodes back to fields that parse the same.
		for k := range form {
			if !wellFormed(k) {
				return
			}
		}
		again := url.Values{}
		encodeQuery("", q, again)
		if q2 := parseQueryForm(again); !reflect.DeepEqual(normalizeEmpty(q), normalizeEmpty(q2)) {
			t.Fatalf("round trip changed the tree:\n%v\n%v", q, q2)
		}
	})
}

// normalizeEmpty drops empty lists and maps, which encode to no fields.
func normalizeEmpty(v any) any {
	switch t := v.(type) {
	case []any:
		var out []any
		for _, it := range t {
			if n := normalizeEmpty(it); n != nil {
				out = append(out, n)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case qmap:
		out := qmap{}
		for k, it := range t {
			if n := normalizeEmpty(it); n != nil {
				out[k] = n
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return v
}

// wellFormed reports whether key is a field name the SDK could send:
// non-empty segments, "member" always followed by an index 1..10000 and
// indexes only after "member", and no key both a leaf and a parent.
func wellFormed(key string) bool {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		if p == "" {
			return false
		}
		isIndex := true
		n := 0
		for _, r := range p {
			if r < '0' || r > '9' {
				isIndex = false
				break
			}
			n = n*10 + int(r-'0')
			if n > 10000 {
				return false
			}
		}
		prevMember := i > 0 && parts[i-1] == "member"
		if isIndex != prevMember || (isIndex && (n < 1 || p[0] == '0')) {
			return false
		}
		if (p == "member" || p == "entry") && i == len(parts)-1 {
			return false
		}
		if p == "entry" {
			return false
		}
	}
	return true
}

func TestMalformedCBORGetsACBORError(t *testing.T) {
	srv := New(Options{})
	t.Cleanup(srv.Close)
	for _, body := range [][]byte{{0x9b, 0x7f, 0xff}, {0xa1, 0x01}, {0xff}} {
		req := httptest.NewRequest(http.MethodPost, cborPrefix+"DescribeAlarms", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || rec.Header().Get("Content-Type") != "application/cbor" {
			t.Errorf("body %x: status %d, content type %q; want a 400 in CBOR", body, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
}
