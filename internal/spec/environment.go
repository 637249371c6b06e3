package spec

import (
	"encoding/json"
	"fmt"
	"maps"
	"sort"
)

// ForEnvironment returns a copy of s with environment name's overrides
// applied: its engine, registry and listen address replace the spec's, and
// its env is merged into every service's env (the environment's values
// win). The name "" returns an unchanged copy. A name the spec does not
// define is an error matching ErrUnknownEnvironment.
func (s *Spec) ForEnvironment(name string) (*Spec, error) {
	out, err := s.Clone()
	if err != nil {
		return nil, err
	}
	if name == "" {
		return out, nil
	}
	env, ok := s.Environments[name]
	if !ok {
		known := make([]string, 0, len(s.Environments))
		for n := range s.Environments {
			known = append(known, n)
		}
		sort.Strings(known)
		hint := Suggest(name, known)
		if hint == "" && len(known) > 0 {
			hint = fmt.Sprintf("defined: %v", known)
		}
		if hint == "" {
			hint = "the spec defines no environments"
		}
		return nil, fmt.Errorf("environment %q (%s): %w", name, hint, ErrUnknownEnvironment)
	}
	out.Env = name
	if env == nil {
		return out, nil
	}
	if env.AWS != nil {
		a := *env.AWS
		out.AWS = &a
	}
	if env.Engine != "" {
		out.Engine = env.Engine
	}
	if env.Registry != "" {
		out.Registry = env.Registry
	}
	if env.Listen != "" {
		out.Listen = env.Listen
	}
	if env.ListenTLS != "" {
		out.ListenTLS = env.ListenTLS
	}
	if len(env.Env) > 0 {
		for _, svc := range out.Services {
			if svc.Env == nil {
				svc.Env = map[string]string{}
			}
			maps.Copy(svc.Env, env.Env)
		}
	}
	return out, nil
}

// Clone returns a deep copy of s, including the fields JSON leaves out
// (Path, Root, each service's Line and Deploy.StepsDefaulted).
func (s *Spec) Clone() (*Spec, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("clone spec %s: %w", s.Project, err)
	}
	var out Spec
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("clone spec %s: %w", s.Project, err)
	}
	out.Path, out.Root = s.Path, s.Root
	for name, svc := range s.Services {
		if c := out.Services[name]; c != nil && svc != nil {
			c.Line = svc.Line
			if c.Deploy != nil && svc.Deploy != nil {
				c.Deploy.StepsDefaulted = svc.Deploy.StepsDefaulted
			}
		}
	}
	return &out, nil
}
