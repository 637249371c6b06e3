package awsfake

import (
	"strings"
	"time"
)

type ssmState struct {
	params map[string]*ssmParam
}

type ssmParam struct {
	name, typ, value, dataType string
	version                    int
	modified                   time.Time
	tags                       []tag
}

func newSSMState() *ssmState { return &ssmState{params: map[string]*ssmParam{}} }

// SetParameter creates or overwrites an SSM parameter (type String,
// StringList or SecureString), as infrastructure a test expects to exist.
func (s *Server) SetParameter(name, typ, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putParam(name, typ, value)
}

func (s *Server) putParam(name, typ, value string) *ssmParam {
	p := s.ssm.params[name]
	if p == nil {
		p = &ssmParam{name: name, dataType: "text"}
		s.ssm.params[name] = p
	}
	p.typ, p.value = typ, value
	p.version++
	p.modified = s.now
	return p
}

func (s *Server) paramArn(name string) string {
	return s.arn("ssm", "parameter/"+strings.TrimPrefix(name, "/"))
}

// paramByRef finds a parameter by name or ARN.
func (s *Server) paramByRef(ref string) *ssmParam {
	if strings.HasPrefix(ref, "arn:") {
		_, n, _ := strings.Cut(ref, ":parameter/")
		if p := s.ssm.params["/"+n]; p != nil {
			return p
		}
		return s.ssm.params[n]
	}
	return s.ssm.params[ref]
}

func (s *Server) paramJSON(p *ssmParam, decrypt bool) map[string]any {
	v := p.value
	if p.typ == "SecureString" && !decrypt {
		v = "AQICAHh-awsfake-ciphertext"
	}
	return map[string]any{"Name": p.name, "Type": p.typ, "Value": v, "Version": p.version,
		"ARN": s.paramArn(p.name), "LastModifiedDate": epoch(p.modified), "DataType": p.dataType}
}

func (s *Server) ssmHandlers() map[string]jsonHandler {
	return map[string]jsonHandler{
		"PutParameter": handle(func(in struct {
			Name, Value, Type string
			Overwrite         bool
			Tags              []tag
		}) (any, error) {
			if in.Name == "" || in.Value == "" {
				return nil, errorf("ValidationException", "Parameter name and value must not be empty.")
			}
			if p := s.ssm.params[in.Name]; p != nil && !in.Overwrite {
				return nil, errorf("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
			}
			typ := in.Type
			if typ == "" {
				if p := s.ssm.params[in.Name]; p != nil {
					typ = p.typ
				} else {
					typ = "String"
				}
			}
			p := s.putParam(in.Name, typ, in.Value)
			p.tags = mergeTags(p.tags, in.Tags)
			return map[string]any{"Version": p.version, "Tier": "Standard"}, nil
		}),
		"GetParameter": handle(func(in struct {
			Name           string
			WithDecryption bool
		}) (any, error) {
			p := s.paramByRef(in.Name)
			if p == nil {
				return nil, errorf("ParameterNotFound", "Parameter %s not found.", in.Name)
			}
			return map[string]any{"Parameter": s.paramJSON(p, in.WithDecryption)}, nil
		}),
		"GetParameters": handle(func(in struct {
			Names          []string
			WithDecryption bool
		}) (any, error) {
			if len(in.Names) > 10 {
				return nil, errorf("ValidationException", "Member must have length less than or equal to 10")
			}
			params, invalid := []any{}, []string{}
			for _, n := range in.Names {
				if p := s.paramByRef(n); p != nil {
					params = append(params, s.paramJSON(p, in.WithDecryption))
				} else {
					invalid = append(invalid, n)
				}
			}
			return map[string]any{"Parameters": params, "InvalidParameters": invalid}, nil
		}),
		"DescribeParameters": handle(func(in struct {
			ParameterFilters []struct {
				Key, Option string
				Values      []string
			}
			MaxResults int
			NextToken  string
		}) (any, error) {
			names := sortedKeys(s.ssm.params)
			var out []map[string]any
		next:
			for _, n := range names {
				p := s.ssm.params[n]
				for _, f := range in.ParameterFilters {
					if f.Key != "Name" {
						continue
					}
					ok := false
					for _, v := range f.Values {
						if (f.Option == "BeginsWith" && strings.HasPrefix(n, v)) || (f.Option != "BeginsWith" && n == v) {
							ok = true
						}
					}
					if !ok {
						continue next
					}
				}
				out = append(out, map[string]any{"Name": p.name, "Type": p.typ, "Version": p.version,
					"ARN": s.paramArn(p.name), "LastModifiedDate": epoch(p.modified), "DataType": p.dataType, "Tier": "Standard"})
			}
			max := in.MaxResults
			if max == 0 {
				max = 50
			}
			items, next, err := page(out, max, in.NextToken)
			if err != nil {
				return nil, err
			}
			return map[string]any{"Parameters": orEmpty(items), "NextToken": omitEmpty(next)}, nil
		}),
		"DeleteParameter": handle(func(in struct{ Name string }) (any, error) {
			if s.ssm.params[in.Name] == nil {
				return nil, errorf("ParameterNotFound", "Parameter %s not found.", in.Name)
			}
			delete(s.ssm.params, in.Name)
			return nil, nil
		}),
	}
}
