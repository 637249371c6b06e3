package awsfake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// ecrPassword is the password in every GetAuthorizationToken answer; the
// image side accepts only Basic AWS:<ecrPassword>.
const ecrPassword = "awsfake-ecr-token"

type ecrState struct {
	repos map[string]*ecrRepo
}

type ecrRepo struct {
	name, arn, mutability string
	scanOnPush            bool
	created               time.Time
	tags                  []tag
	pushedAt              map[string]time.Time // digest → first push
}

func newECRState() *ecrState { return &ecrState{repos: map[string]*ecrRepo{}} }

// imageRegistry is ECR's image side: go-containerregistry's in-memory
// registry behind ECR's Basic auth, repository existence and tag
// immutability checks.
type imageRegistry struct {
	s     *Server
	inner http.Handler
}

func newImageRegistry(s *Server) *imageRegistry {
	return &imageRegistry{s: s, inner: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
}

func regError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"errors": []any{map[string]string{"code": code, "message": msg}}})
	_, _ = w.Write(b)
}

var manifestPath = regexp.MustCompile(`^/v2/(.+)/manifests/([^/]+)$`)

// repoOf extracts the repository name of a /v2/<name>/... path.
func repoOf(path string) string {
	rest := strings.TrimPrefix(path, "/v2/")
	for _, sep := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
		if i := strings.LastIndex(rest, sep); i >= 0 {
			return rest[:i]
		}
	}
	return ""
}

func (ir *imageRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != "AWS" || pass != ecrPassword {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+ir.s.URL()+`/",service="ecr.amazonaws.com"`)
		regError(w, http.StatusUnauthorized, "DENIED", "Your authorization token has expired. Reauthenticate and try again.")
		return
	}
	if r.URL.Path == "/v2/" || r.URL.Path == "/v2" {
		ir.inner.ServeHTTP(w, r)
		return
	}
	name := repoOf(r.URL.Path)
	ir.s.mu.Lock()
	repo := ir.s.ecr.repos[name]
	ir.s.mu.Unlock()
	if repo == nil {
		regError(w, http.StatusNotFound, "NAME_UNKNOWN", "The repository with name '"+name+"' does not exist in the registry with id '"+ir.s.opts.Account+"'")
		return
	}
	m := manifestPath.FindStringSubmatch(r.URL.Path)
	if m != nil && r.Method == http.MethodPut {
		ref := m[2]
		if !strings.HasPrefix(ref, "sha256:") && repo.mutability == "IMMUTABLE" {
			if digest, _, found := ir.resolve(name, ref); found {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(strings.NewReader(string(body)))
				if digest != sha256Digest(body) {
					regError(w, http.StatusBadRequest, "TAG_INVALID", "The image tag '"+ref+"' already exists in the '"+name+"' repository and cannot be overwritten because the repository is immutable.")
					return
				}
			}
		}
		rec := httptest.NewRecorder()
		ir.inner.ServeHTTP(rec, r)
		if rec.Code == http.StatusCreated {
			ir.s.mu.Lock()
			d := rec.Header().Get("Docker-Content-Digest")
			if _, seen := repo.pushedAt[d]; !seen {
				repo.pushedAt[d] = ir.s.now
			}
			ir.s.mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	ir.inner.ServeHTTP(w, r)
}

// resolve finds the digest, media type and size of name:ref in the
// registry.
func (ir *imageRegistry) resolve(name, ref string) (digest, mediaType string, found bool) {
	req := httptest.NewRequest(http.MethodHead, "/v2/"+name+"/manifests/"+ref, nil)
	rec := httptest.NewRecorder()
	ir.inner.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return "", "", false
	}
	return rec.Header().Get("Docker-Content-Digest"), rec.Header().Get("Content-Type"), true
}

func (ir *imageRegistry) manifestSize(name, digest string) int64 {
	req := httptest.NewRequest(http.MethodGet, "/v2/"+name+"/manifests/"+digest, nil)
	rec := httptest.NewRecorder()
	ir.inner.ServeHTTP(rec, req)
	var m struct {
		Config struct{ Size int64 }
		Layers []struct{ Size int64 }
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

func (ir *imageRegistry) tags(name string) []string {
	req := httptest.NewRequest(http.MethodGet, "/v2/"+name+"/tags/list", nil)
	rec := httptest.NewRecorder()
	ir.inner.ServeHTTP(rec, req)
	var out struct{ Tags []string }
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return out.Tags
}

func (s *Server) repoJSON(r *ecrRepo) map[string]any {
	return map[string]any{
		"repositoryArn": r.arn, "registryId": s.opts.Account, "repositoryName": r.name,
		"repositoryUri": s.Host() + "/" + r.name, "createdAt": epoch(r.created),
		"imageTagMutability":         r.mutability,
		"imageScanningConfiguration": map[string]any{"scanOnPush": r.scanOnPush},
		"encryptionConfiguration":    map[string]any{"encryptionType": "AES256"},
	}
}

var repoNameRE = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

func (s *Server) ecrHandlers() map[string]jsonHandler {
	reg := s.registry.(*imageRegistry)
	return map[string]jsonHandler{
		"CreateRepository": handle(func(in struct {
			RepositoryName             string
			ImageTagMutability         string
			ImageScanningConfiguration *struct{ ScanOnPush bool }
			Tags                       []tag
		}) (any, error) {
			if len(in.RepositoryName) < 2 || len(in.RepositoryName) > 256 || !repoNameRE.MatchString(in.RepositoryName) {
				return nil, errorf("InvalidParameterException", "Invalid parameter at 'repositoryName' failed to satisfy constraint: 'must satisfy regular expression '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*''")
			}
			if s.ecr.repos[in.RepositoryName] != nil {
				return nil, errorf("RepositoryAlreadyExistsException", "The repository with name '%s' already exists in the registry with id '%s'", in.RepositoryName, s.opts.Account)
			}
			mut := in.ImageTagMutability
			if mut == "" {
				mut = "MUTABLE"
			}
			r := &ecrRepo{name: in.RepositoryName, arn: s.arn("ecr", "repository/"+in.RepositoryName), mutability: mut,
				created: s.now, tags: in.Tags, pushedAt: map[string]time.Time{}}
			if in.ImageScanningConfiguration != nil {
				r.scanOnPush = in.ImageScanningConfiguration.ScanOnPush
			}
			s.ecr.repos[r.name] = r
			return map[string]any{"repository": s.repoJSON(r)}, nil
		}),
		"DescribeRepositories": handle(func(in struct {
			RepositoryNames []string
			MaxResults      int
			NextToken       string
		}) (any, error) {
			var out []map[string]any
			for _, n := range in.RepositoryNames {
				if s.ecr.repos[n] == nil {
					return nil, errorf("RepositoryNotFoundException", "The repository with name '%s' does not exist in the registry with id '%s'", n, s.opts.Account)
				}
			}
			for _, n := range sortedKeys(s.ecr.repos) {
				if len(in.RepositoryNames) == 0 || contains(in.RepositoryNames, n) {
					out = append(out, s.repoJSON(s.ecr.repos[n]))
				}
			}
			items, next, err := page(out, in.MaxResults, in.NextToken)
			if err != nil {
				return nil, err
			}
			return map[string]any{"repositories": orEmpty(items), "nextToken": omitEmpty(next)}, nil
		}),
		"DeleteRepository": handle(func(in struct {
			RepositoryName string
			Force          bool
		}) (any, error) {
			r := s.ecr.repos[in.RepositoryName]
			if r == nil {
				return nil, errorf("RepositoryNotFoundException", "The repository with name '%s' does not exist in the registry with id '%s'", in.RepositoryName, s.opts.Account)
			}
			if len(reg.tags(r.name)) > 0 && !in.Force {
				return nil, errorf("RepositoryNotEmptyException", "The repository with name '%s' in registry with id '%s' cannot be deleted because it still contains images", r.name, s.opts.Account)
			}
			delete(s.ecr.repos, r.name)
			return map[string]any{"repository": s.repoJSON(r)}, nil
		}),
		"GetAuthorizationToken": handle(func(struct{}) (any, error) {
			tok := base64.StdEncoding.EncodeToString([]byte("AWS:" + ecrPassword))
			return map[string]any{"authorizationData": []any{map[string]any{
				"authorizationToken": tok, "expiresAt": epoch(s.now.Add(12 * time.Hour)), "proxyEndpoint": s.URL(),
			}}}, nil
		}),
		"DescribeImages": handle(func(in struct {
			RepositoryName string
			ImageIds       []struct{ ImageTag, ImageDigest string }
			MaxResults     int
			NextToken      string
		}) (any, error) {
			r := s.ecr.repos[in.RepositoryName]
			if r == nil {
				return nil, errorf("RepositoryNotFoundException", "The repository with name '%s' does not exist in the registry with id '%s'", in.RepositoryName, s.opts.Account)
			}
			tagsByDigest := map[string][]string{}
			mediaTypes := map[string]string{}
			for _, t := range reg.tags(r.name) {
				if d, mt, ok := reg.resolve(r.name, t); ok {
					tagsByDigest[d] = append(tagsByDigest[d], t)
					mediaTypes[d] = mt
				}
			}
			var digests []string
			if len(in.ImageIds) == 0 {
				digests = sortedKeys(tagsByDigest)
			}
			for _, id := range in.ImageIds {
				ref := id.ImageDigest
				if ref == "" {
					ref = id.ImageTag
				}
				d, mt, ok := reg.resolve(r.name, ref)
				if !ok {
					return nil, errorf("ImageNotFoundException", "The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'",
						id.ImageDigest, id.ImageTag, r.name, s.opts.Account)
				}
				mediaTypes[d] = mt
				if !contains(digests, d) {
					digests = append(digests, d)
				}
			}
			var out []map[string]any
			for _, d := range digests {
				pushed := r.pushedAt[d]
				if pushed.IsZero() {
					pushed = s.now
				}
				out = append(out, map[string]any{"registryId": s.opts.Account, "repositoryName": r.name, "imageDigest": d,
					"imageTags": orEmpty(tagsByDigest[d]), "imageSizeInBytes": reg.manifestSize(r.name, d),
					"imagePushedAt": epoch(pushed), "imageManifestMediaType": mediaTypes[d], "imageStatus": "ACTIVE"})
			}
			items, next, err := page(out, in.MaxResults, in.NextToken)
			if err != nil {
				return nil, err
			}
			return map[string]any{"imageDetails": orEmpty(items), "nextToken": omitEmpty(next)}, nil
		}),
	}
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
