package entry

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestEncodeDecode(t *testing.T) {
	vars := map[string]string{"DB_PASSWORD": "p=ss word\nline2", "EMPTY": "", "TOKEN": "t"}
	b, err := Encode(vars)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	back := map[string]string{}
	for _, kv := range got {
		k, v, _ := strings.Cut(kv, "=")
		back[k] = v
	}
	if !maps.Equal(back, vars) {
		t.Errorf("round trip = %q, want %q", back, vars)
	}
	for _, bad := range []map[string]string{{"": "x"}, {"A=B": "x"}, {"A": "x\x00y"}} {
		if _, err := Encode(bad); err == nil {
			t.Errorf("Encode(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"A=1", "A=1\x00\x00", "=1\x00", "noequals\x00"} {
		if _, err := Decode([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to
// the same bytes, entry for entry (a differential check against the
// standard library's splitting of NUL-ended records).
func FuzzDecode(f *testing.F) {
	f.Add([]byte("A=1\x00B=\x00"))
	f.Add([]byte(""))
	f.Add([]byte("=\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data)
		if err != nil {
			return
		}
		var b bytes.Buffer
		for _, kv := range got {
			b.WriteString(kv)
			b.WriteByte(0)
		}
		if !bytes.Equal(b.Bytes(), data) {
			t.Fatalf("Decode(%q) = %q, which does not re-encode to the input", data, got)
		}
		fields := strings.FieldsFunc(string(data), func(r rune) bool { return r == 0 })
		if len(fields) != len(got) {
			t.Fatalf("Decode(%q) found %d entries, strings.FieldsFunc %d", data, len(got), len(fields))
		}
	})
}
