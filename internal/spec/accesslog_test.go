package spec

import "testing"

func TestAccessLogRate(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{"", 0, false}, {"off", 0, false}, {"on", 1, false}, {"10%", 0.1, false}, {"100%", 1, false},
		{"0%", 0, true}, {"150%", 0, true}, {"10", 0, true}, {"sometimes", 0, true}, {"-5%", 0, true},
	}
	for _, tt := range tests {
		got, err := (&Router{AccessLog: tt.in}).AccessLogRate()
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("AccessLogRate(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if got, err := (*Router)(nil).AccessLogRate(); got != 0 || err != nil {
		t.Errorf("no router section: %v, %v", got, err)
	}
}

// FuzzAccessLogRate: any access_log value is a rate in [0, 1] or an
// error, never a panic.
func FuzzAccessLogRate(f *testing.F) {
	for _, s := range []string{"on", "off", "10%", "1e2%", "NaN%", "0x10%", " 5% "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := (&Router{AccessLog: s}).AccessLogRate()
		if err == nil && !(r >= 0 && r <= 1) {
			t.Fatalf("AccessLogRate(%q) = %v, outside [0, 1]", s, r)
		}
	})
}
