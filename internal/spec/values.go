package spec

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d the way berth.yaml writes it ("30s", "1m", "1h30m").
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ParseDuration reads a duration as written in berth.yaml: a Go duration
// such as "30s", "1m30s" or "500ms", or a bare 0. Negative durations are
// rejected.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return 0, fmt.Errorf("duration %q has no unit (write e.g. %ss)", s, s)
		}
		return 0, fmt.Errorf("invalid duration %q (write e.g. 30s, 1m, 500ms)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return Duration(d), nil
}

// MarshalJSON writes d as a string such as "30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a string such as "30s", or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if nerr := json.Unmarshal(b, &n); nerr != nil {
			return fmt.Errorf("duration: want a string like \"30s\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes d as a string such as "30s".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration such as "30s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Fraction returns p as a share of one (10% → 0.1).
func (p Percent) Fraction() float64 { return float64(p) / 100 }

// String formats p as in berth.yaml ("10%", "0.5%").
func (p Percent) String() string {
	return strconv.FormatFloat(float64(p), 'f', -1, 64) + "%"
}

// ParsePercent reads a percentage: "10%", "0.5%" or a bare number (10
// means 10%). It must lie within 0..100.
func ParsePercent(s string) (Percent, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSpace(strings.TrimSuffix(t, "%"))
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid percentage %q (write e.g. 10%%)", s)
	}
	if f < 0 || f > 100 {
		return 0, fmt.Errorf("percentage %q is outside 0%%..100%%", s)
	}
	return Percent(f), nil
}

// MarshalJSON writes p as a string such as "10%".
func (p Percent) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

// UnmarshalJSON reads "10%" or a bare number.
func (p *Percent) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var f float64
		if ferr := json.Unmarshal(b, &f); ferr != nil {
			return fmt.Errorf("percent: want a string like \"10%%\" or a number: %w", err)
		}
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	v, err := ParsePercent(s)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MarshalYAML writes p as a string such as "10%".
func (p Percent) MarshalYAML() (any, error) { return p.String(), nil }

// UnmarshalYAML reads "10%" or a bare number.
func (p *Percent) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParsePercent(n.Value)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// stepPause is how a manual gate is written in berth.yaml.
const stepPause = "pause"

// String formats s as in berth.yaml: "10%" or "pause".
func (s Step) String() string {
	if s.Gate {
		return stepPause
	}
	return strconv.Itoa(s.Percent) + "%"
}

// ParseStep reads a canary step: a whole percentage from 1% to 100%
// ("10%" or 10), or the word "pause" for a manual gate.
func ParseStep(s string) (Step, error) {
	if strings.TrimSpace(s) == stepPause {
		return Step{Gate: true}, nil
	}
	p, err := ParsePercent(s)
	if err != nil {
		return Step{}, fmt.Errorf("invalid canary step %q (write a percentage like 10%% or the word pause)", s)
	}
	if p != Percent(math.Trunc(float64(p))) || p < 1 {
		return Step{}, fmt.Errorf("canary step %q must be a whole percentage from 1%% to 100%%", s)
	}
	return Step{Percent: int(p)}, nil
}

// MarshalJSON writes s as "10%" or "pause".
func (s Step) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads "10%", "pause" or a bare number.
func (s *Step) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		var f float64
		if ferr := json.Unmarshal(b, &f); ferr != nil {
			return fmt.Errorf("step: want \"10%%\" or \"pause\": %w", err)
		}
		str = strconv.FormatFloat(f, 'f', -1, 64)
	}
	v, err := ParseStep(str)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalYAML writes s as "10%" or "pause".
func (s Step) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalYAML reads "10%", "pause" or a bare number.
func (s *Step) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseStep(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Docker reports whether b is a docker build (a mapping without command)
// rather than a shell command producing an artifact.
func (b *Build) Docker() bool { return b != nil && b.Command == "" }

// UnmarshalYAML reads a scalar as a shell command and a mapping as a
// docker build, so plain yaml.Unmarshal agrees with Load.
func (b *Build) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*b = Build{Command: n.Value}
		return nil
	}
	type plain Build
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*b = Build(p)
	return nil
}
