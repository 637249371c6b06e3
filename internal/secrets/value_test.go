package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestValue_NeverPrintsPlaintext(t *testing.T) {
	v := Value(plaintext)
	type wrapper struct {
		Secret Value
		Ptr    *Value
	}
	outs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outs["Sprintf "+verb] = fmt.Sprintf(verb, v)
		outs["struct "+verb] = fmt.Sprintf(verb, wrapper{Secret: v, Ptr: &v})
		outs["slice "+verb] = fmt.Sprintf(verb, []Value{v})
		outs["map "+verb] = fmt.Sprintf(verb, map[string]Value{"k": v})
	}
	outs["Sprint"] = fmt.Sprint(v)
	outs["Errorf %v"] = fmt.Errorf("wrap %v", v).Error()
	js, err := json.Marshal(wrapper{Secret: v, Ptr: &v})
	if err != nil {
		t.Fatal(err)
	}
	outs["json"] = string(js)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "secret", v, "group", map[string]any{"v": v})
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secret", v)
	outs["slog"] = buf.String()

	forms := []string{plaintext, fmt.Sprintf("%x", []byte(plaintext)), fmt.Sprint([]byte(plaintext)[:4])}
	for what, out := range outs {
		for _, f := range forms {
			if strings.Contains(out, f) || strings.Contains(strings.ToLower(out), strings.ToLower(f)) {
				t.Errorf("%s leaks the value: %s", what, out)
			}
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("%s = %s, want [redacted]", what, out)
		}
	}
	if string(v) != plaintext {
		t.Fatal("explicit conversion must still give the plaintext")
	}
}

func TestErrors_NeverContainValues(t *testing.T) {
	b := newMemBackend()
	s := New(b, testKey(t))
	ctx := context.Background()
	mustSet(t, s, "prod/A", plaintext)
	ct := b.ciphertext("prod/A", 1)
	ct[len(ct)-3] ^= 1
	b.put("prod/A", 1, ct)
	var errs []error
	_, _, err := s.Get(ctx, "prod/A", 0)
	errs = append(errs, err)
	_, _, err = New(b, testKey(t)).Get(ctx, "prod/A", 0)
	errs = append(errs, err)
	_, _, err = s.Resolve(ctx, "prod", map[string]string{"A": "A", "B": "B"}, nil)
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		assertNoLeak(t, err, plaintext)
		var nf *NotFoundError
		if errors.As(err, &nf) && nf.Name == "" {
			t.Fatal("NotFoundError without a name")
		}
	}
}
