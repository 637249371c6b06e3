package awsfake

import (
	"strings"
	"time"
)

type smState struct {
	secrets map[string]*secret // by name
}

type secret struct {
	name, arn        string
	created, changed time.Time
	versions         []secretVersion // oldest first; the last is AWSCURRENT
	tags             []tag
}

type secretVersion struct {
	id, value string
	created   time.Time
}

func newSMState() *smState { return &smState{secrets: map[string]*secret{}} }

// SetSecret creates a Secrets Manager secret or adds a new current version
// of it, and returns its ARN.
func (s *Server) SetSecret(name, value string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.putSecret(name, value).arn
}

func (s *Server) putSecret(name, value string) *secret {
	sec := s.sm.secrets[name]
	if sec == nil {
		sec = &secret{name: name, arn: s.arn("secretsmanager", "secret:"+name+"-"+s.nextID(6)), created: s.now}
		s.sm.secrets[name] = sec
	}
	sec.versions = append(sec.versions, secretVersion{id: "00000000-0000-4000-8000-" + s.nextID(12), value: value, created: s.now})
	sec.changed = s.now
	return sec
}

// secretByRef finds a secret by name, full ARN or partial ARN (without
// the random suffix).
func (s *Server) secretByRef(ref string) (*secret, error) {
	if sec := s.sm.secrets[ref]; sec != nil {
		return sec, nil
	}
	for _, sec := range s.sm.secrets {
		if sec.arn == ref || strings.HasPrefix(sec.arn, ref+"-") {
			return sec, nil
		}
	}
	return nil, errorf("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

func (sec *secret) stages() map[string][]string {
	out := map[string][]string{}
	n := len(sec.versions)
	for i, v := range sec.versions {
		switch i {
		case n - 1:
			out[v.id] = []string{"AWSCURRENT"}
		case n - 2:
			out[v.id] = []string{"AWSPREVIOUS"}
		}
	}
	return out
}

func (s *Server) smHandlers() map[string]jsonHandler {
	return map[string]jsonHandler{
		"CreateSecret": handle(func(in struct {
			Name, SecretString string
			Tags               []tag
		}) (any, error) {
			if s.sm.secrets[in.Name] != nil {
				return nil, errorf("ResourceExistsException", "The operation failed because the secret %s already exists.", in.Name)
			}
			sec := s.putSecret(in.Name, in.SecretString)
			sec.tags = in.Tags
			return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": sec.versions[0].id}, nil
		}),
		"PutSecretValue": handle(func(in struct{ SecretId, SecretString string }) (any, error) {
			sec, err := s.secretByRef(in.SecretId)
			if err != nil {
				return nil, err
			}
			s.putSecret(sec.name, in.SecretString)
			v := sec.versions[len(sec.versions)-1]
			return map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": []string{"AWSCURRENT"}}, nil
		}),
		"DescribeSecret": handle(func(in struct{ SecretId string }) (any, error) {
			sec, err := s.secretByRef(in.SecretId)
			if err != nil {
				return nil, err
			}
			tags := []map[string]string{}
			for _, t := range sec.tags {
				tags = append(tags, map[string]string{"Key": t.Key, "Value": t.Value})
			}
			return map[string]any{"ARN": sec.arn, "Name": sec.name, "CreatedDate": epoch(sec.created),
				"LastChangedDate": epoch(sec.changed), "VersionIdsToStages": sec.stages(), "Tags": tags}, nil
		}),
		"GetSecretValue": handle(func(in struct{ SecretId, VersionId, VersionStage string }) (any, error) {
			sec, err := s.secretByRef(in.SecretId)
			if err != nil {
				return nil, err
			}
			stages := sec.stages()
			idx := len(sec.versions) - 1
			if in.VersionId != "" || in.VersionStage != "" {
				idx = -1
				for i, v := range sec.versions {
					if v.id == in.VersionId || (in.VersionId == "" && contains(stages[v.id], in.VersionStage)) {
						idx = i
					}
				}
				if idx < 0 {
					return nil, errorf("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", in.VersionId+in.VersionStage)
				}
			}
			v := sec.versions[idx]
			return map[string]any{"ARN": sec.arn, "Name": sec.name, "SecretString": v.value, "VersionId": v.id,
				"VersionStages": orEmpty(stages[v.id]), "CreatedDate": epoch(v.created)}, nil
		}),
	}
}
