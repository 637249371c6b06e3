package spec

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseValues(t *testing.T) {
	durations := []struct {
		in   string
		want time.Duration
		ok   bool
		out  string
	}{
		{"30s", 30 * time.Second, true, "30s"},
		{"1m", time.Minute, true, "1m"},
		{"1h30m", 90 * time.Minute, true, "1h30m"},
		{"2h", 2 * time.Hour, true, "2h"},
		{"500ms", 500 * time.Millisecond, true, "500ms"},
		{"0", 0, true, "0s"},
		{"10", 0, false, ""},
		{"-1s", 0, false, ""},
		{"soon", 0, false, ""},
	}
	for _, tt := range durations {
		d, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || d.Std() != tt.want || (tt.ok && d.String() != tt.out) {
			t.Errorf("ParseDuration(%q) = %v (%q), %v", tt.in, d.Std(), d.String(), err)
		}
	}
	percents := []struct {
		in   string
		want Percent
		ok   bool
	}{
		{"10%", 10, true}, {"0.5%", 0.5, true}, {"10", 10, true}, {"100%", 100, true},
		{"101%", 0, false}, {"-1%", 0, false}, {"ten", 0, false}, {"NaN", 0, false},
	}
	for _, tt := range percents {
		p, err := ParsePercent(tt.in)
		if (err == nil) != tt.ok || p != tt.want {
			t.Errorf("ParsePercent(%q) = %v, %v", tt.in, p, err)
		}
	}
	steps := []struct {
		in   string
		want Step
		ok   bool
	}{
		{"10%", Step{Percent: 10}, true}, {"100", Step{Percent: 100}, true}, {"pause", Step{Gate: true}, true},
		{"0%", Step{}, false}, {"12.5%", Step{}, false}, {"wait", Step{}, false},
	}
	for _, tt := range steps {
		s, err := ParseStep(tt.in)
		if (err == nil) != tt.ok || s != tt.want {
			t.Errorf("ParseStep(%q) = %+v, %v", tt.in, s, err)
		}
	}
}

func TestValuesJSON(t *testing.T) {
	type doc struct {
		D     Duration `json:"d"`
		P     Percent  `json:"p"`
		Steps []Step   `json:"steps"`
	}
	in := doc{D: Duration(90 * time.Second), P: 2.5, Steps: []Step{{Percent: 10}, {Gate: true}, {Percent: 100}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"d":"1m30s","p":"2.5%","steps":["10%","pause","100%"]}`; string(b) != want {
		t.Errorf("JSON = %s, want %s", b, want)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil || out.D != in.D || out.P != in.P || len(out.Steps) != 3 || out.Steps[1] != (Step{Gate: true}) {
		t.Errorf("round trip = %+v, %v", out, err)
	}
	// Numbers are accepted too: nanoseconds, percent, percent.
	if err := json.Unmarshal([]byte(`{"d":1000000000,"p":5,"steps":[50]}`), &out); err != nil ||
		out.D.Std() != time.Second || out.P != 5 || out.Steps[0] != (Step{Percent: 50}) {
		t.Errorf("numbers = %+v, %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"d":"soon"}`), &out); err == nil {
		t.Error("bad duration accepted")
	}
}
