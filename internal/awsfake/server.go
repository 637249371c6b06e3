package awsfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Service names used in the call log, in Throttle and in Call.Service.
const (
	ServiceECS            = "ecs"
	ServiceECR            = "ecr"
	ServiceSSM            = "ssm"
	ServiceSecretsManager = "secretsmanager"
	ServiceLogs           = "logs"
	ServiceCloudWatch     = "cloudwatch"
	ServiceAutoScaling    = "application-autoscaling"
	ServiceELBv2          = "elasticloadbalancing"
	ServiceSTS            = "sts"
)

// jsonTargets maps an X-Amz-Target prefix to the service it routes to.
var jsonTargets = map[string]string{
	"AmazonEC2ContainerServiceV20141113":   ServiceECS,
	"AmazonEC2ContainerRegistry_V20150921": ServiceECR,
	"AmazonSSM":                            ServiceSSM,
	"secretsmanager":                       ServiceSecretsManager,
	"Logs_20140328":                        ServiceLogs,
	"GraniteServiceVersion20100801":        ServiceCloudWatch,
	"AnyScaleFrontendService":              ServiceAutoScaling,
}

// Options configures a Server. The zero value is usable.
type Options struct {
	// Region and Account name every ARN; defaults us-east-1 and 123456789012.
	Region  string
	Account string
	// Start is the clock's initial time; default 2026-01-01T00:00:00Z.
	Start time.Time
	// Tick is the simulation's resolution: Advance moves the clock in steps
	// of Tick and Step moves it by one Tick. Default 1s.
	Tick time.Duration
	// AutoAdvance, when positive, moves the clock by this much before every
	// API call is answered, so a client that polls sees progress without
	// the test calling Advance.
	AutoAdvance time.Duration
	// TaskStartDelay is how long a task takes from creation to RUNNING
	// (default 10s); HealthyDelay how long a RUNNING task takes to become
	// healthy in its target groups (default 10s); FailDelay how long a task
	// of a failing revision runs before it stops (default 5s).
	TaskStartDelay time.Duration
	HealthyDelay   time.Duration
	FailDelay      time.Duration
	// DrainDelay is how long a stopping task stays draining when its target
	// group has no deregistration_delay.timeout_seconds attribute, and how
	// long a task without a load balancer takes to stop. Default 5s.
	DrainDelay time.Duration
	// AccessKeys, when set, makes the fake check the access key id in each
	// request's SigV4 Authorization header: an unknown key is answered with
	// UnrecognizedClientException (JSON) or InvalidClientTokenId (query).
	AccessKeys []string
}

// Call is one API call the server answered (or refused).
type Call struct {
	Service   string
	Operation string
	Time      time.Time
	// Err is the AWS error code returned, empty on success.
	Err string
}

// Mutating reports whether the operation changes state (anything but
// Describe*, List*, Get*, Filter*, BatchGet* and GetCallerIdentity).
func (c Call) Mutating() bool {
	for _, p := range []string{"Describe", "List", "Get", "Filter", "BatchGet", "BatchCheck"} {
		if strings.HasPrefix(c.Operation, p) {
			return false
		}
	}
	return true
}

// Server is a running fake. All methods are safe for concurrent use.
type Server struct {
	opts     Options
	http     *httptest.Server
	registry http.Handler

	mu       sync.Mutex
	now      time.Time
	seq      int
	calls    []Call
	throttle map[string]int // "service/op" or "service/" → remaining
	hollow   map[string]int // "service/op" or "service/" → answers left to hollow
	blank    map[string]int // "service/op" or "service/" → answers left to blank
	denied   map[string]bool
	injected map[string][]*apiError // "service/op" or "service/" → errors to answer, in order
	failing  map[string]TaskFailure

	ecs   *ecsState
	elb   *elbState
	ecr   *ecrState
	ssm   *ssmState
	sm    *smState
	logs  *logsState
	cw    *cwState
	scale *scaleState
}

// New starts a fake on 127.0.0.1. Close it when done.
func New(opts Options) *Server {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Account == "" {
		opts.Account = "123456789012"
	}
	if opts.Start.IsZero() {
		opts.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if opts.Tick <= 0 {
		opts.Tick = time.Second
	}
	if opts.TaskStartDelay <= 0 {
		opts.TaskStartDelay = 10 * time.Second
	}
	if opts.HealthyDelay <= 0 {
		opts.HealthyDelay = 10 * time.Second
	}
	if opts.FailDelay <= 0 {
		opts.FailDelay = 5 * time.Second
	}
	if opts.DrainDelay <= 0 {
		opts.DrainDelay = 5 * time.Second
	}
	s := &Server{
		opts:     opts,
		now:      opts.Start.UTC(),
		throttle: map[string]int{},
		hollow:   map[string]int{},
		blank:    map[string]int{},
		denied:   map[string]bool{},
		injected: map[string][]*apiError{},
		failing:  map[string]TaskFailure{},
		ecs:      newECSState(),
		elb:      newELBState(),
		ecr:      newECRState(),
		ssm:      newSSMState(),
		sm:       newSMState(),
		logs:     newLogsState(),
		cw:       newCWState(),
		scale:    newScaleState(),
	}
	s.registry = newImageRegistry(s)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("awsfake: listen on loopback: %v", err))
	}
	s.http = &httptest.Server{Listener: l, Config: &http.Server{Handler: s}}
	s.http.Start()
	return s
}

// URL is the endpoint to give the SDK (BaseEndpoint or AWS_ENDPOINT_URL);
// it also serves ECR's image side under /v2/.
func (s *Server) URL() string { return s.http.URL }

// Host is URL without its scheme: the registry host for image references.
func (s *Server) Host() string { return strings.TrimPrefix(s.http.URL, "http://") }

// Close shuts the server down.
func (s *Server) Close() { s.http.Close() }

// Region is the region in the fake's ARNs.
func (s *Server) Region() string { return s.opts.Region }

// Account is the account id in the fake's ARNs and GetCallerIdentity.
func (s *Server) Account() string { return s.opts.Account }

// Now is the fake clock's current time.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Advance moves the clock forward by d, running the simulation at every
// Tick on the way so that what would happen in d happens in order.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(d)
}

// Step moves the clock forward by one Tick.
func (s *Server) Step() { s.Advance(s.opts.Tick) }

func (s *Server) advanceLocked(d time.Duration) {
	end := s.now.Add(d)
	for s.now.Before(end) {
		step := s.opts.Tick
		if rest := end.Sub(s.now); rest < step {
			step = rest
		}
		s.now = s.now.Add(step)
		s.reconcileLocked()
	}
}

// reconcileLocked runs every time-driven part of the simulation once.
func (s *Server) reconcileLocked() {
	s.reconcileECS()
}

// Calls returns a copy of the call log, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallCount counts logged calls to service's operation; an empty operation
// counts every call to service.
func (s *Server) CallCount(service, operation string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Service == service && (operation == "" || c.Operation == operation) {
			n++
		}
	}
	return n
}

// ResetCalls empties the call log.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// Throttle makes the next n calls to service's operation fail with the
// service's throttling error (ThrottlingException for JSON services,
// Throttling for ELBv2 and STS), so SDK retries run. An empty operation
// throttles every operation of the service.
func (s *Server) Throttle(service, operation string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle[service+"/"+operation] += n
}

// Hollow makes the next n answers of service's operation (any operation
// of the service when operation is "") arrive hollow: the call is applied
// as usual, but every object inside the answer comes back empty, as if AWS
// had left out every field it may omit, while lists keep their length
// (DescribeServices answers {"services": [{}]}). It is for proving that a
// client reads AWS answers defensively; every protocol (JSON, query,
// CBOR). n <= 0 stops hollowing that operation's answers.
func (s *Server) Hollow(service, operation string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	count(s.hollow, service+"/"+operation, n)
}

// Blank is Hollow one level up: the next n answers are an empty object,
// {}, every top-level field left out too.
func (s *Server) Blank(service, operation string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	count(s.blank, service+"/"+operation, n)
}

// count adds n to m[k]; n <= 0 clears it.
func count(m map[string]int, k string, n int) {
	if n <= 0 {
		delete(m, k)
		return
	}
	m[k] += n
}

// takeLocked reports whether m holds an answer left for the call, and
// counts it off.
func takeLocked(m map[string]int, service, op string) bool {
	for _, k := range []string{service + "/" + op, service + "/"} {
		if m[k] > 0 {
			m[k]--
			return true
		}
	}
	return false
}

// hollowed is out as JSON with every nested object emptied (see Hollow).
func hollowed(out any) any {
	b, err := json.Marshal(out)
	if err != nil {
		return out
	}
	var top map[string]any
	if json.Unmarshal(b, &top) != nil || top == nil {
		return out // not an object: nothing to hollow
	}
	var empty func(v any) any
	empty = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			return map[string]any{}
		case []any:
			for i := range v {
				v[i] = empty(v[i])
			}
			return v
		}
		return v
	}
	for k, v := range top {
		top[k] = empty(v)
	}
	return top
}

// hollowedXML is a query-protocol result with every nested structure
// emptied and every list keeping its members, empty (see Hollow).
func hollowedXML(out *xmlNode) *xmlNode {
	if out == nil {
		return nil
	}
	top := &xmlNode{Name: out.Name}
	for _, c := range out.Children {
		h := &xmlNode{Name: c.Name, Text: c.Text}
		for _, g := range c.Children {
			if g.Name == "member" {
				h.Children = append(h.Children, &xmlNode{Name: "member"})
			}
		}
		top.Children = append(top.Children, h)
	}
	return top
}

// InjectError makes the next n calls to service's operation (any
// operation of the service if operation is "") fail with the AWS error
// code and HTTP status given (e.g. "ServerException", 500, which the SDK
// retries, or "InvalidParameterException", 400, which it does not), as if
// AWS had failed them. The request is not applied.
func (s *Server) InjectError(service, operation string, n int, code string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < n; i++ {
		k := service + "/" + operation
		s.injected[k] = append(s.injected[k], &apiError{Code: code, Message: "injected by the test", Status: status})
	}
}

// peekInjected reports whether an injected error waits for the call.
func (s *Server) peekInjected(service, op string) bool {
	return len(s.injected[service+"/"+op]) > 0 || len(s.injected[service+"/"]) > 0
}

// takeInjectedLocked pops the next injected error for the call, or nil.
func (s *Server) takeInjectedLocked(service, op string) error {
	for _, k := range []string{service + "/" + op, service + "/"} {
		if q := s.injected[k]; len(q) > 0 {
			s.injected[k] = q[1:]
			return q[0]
		}
	}
	return nil
}

// Deny makes every call to service's operation (every operation of the
// service if operation is "") fail with AWS's access-denied error, as a
// missing IAM permission does, until Allow.
func (s *Server) Deny(service, operation string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[service+"/"+operation] = true
}

// Allow undoes Deny for the same service and operation.
func (s *Server) Allow(service, operation string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.denied, service+"/"+operation)
}

// deniedLocked returns the access-denied error for a denied call, or nil.
func (s *Server) deniedLocked(service, op string, query bool) error {
	if !s.denied[service+"/"+op] && !s.denied[service+"/"] {
		return nil
	}
	msg := fmt.Sprintf("User: arn:aws:iam::%s:user/berth-test is not authorized to perform: %s:%s because no identity-based policy allows the %s:%s action",
		s.opts.Account, service, op, service, op)
	if query {
		return &apiError{Code: "AccessDenied", Message: msg, Status: http.StatusForbidden}
	}
	return &apiError{Code: "AccessDeniedException", Message: msg}
}

func (s *Server) takeThrottleLocked(service, op string) bool {
	for _, k := range []string{service + "/" + op, service + "/"} {
		if s.throttle[k] > 0 {
			s.throttle[k]--
			return true
		}
	}
	return false
}

// nextID returns a fresh, deterministic hex id of n digits.
func (s *Server) nextID(n int) string {
	s.seq++
	id := fmt.Sprintf("%0*x", n, s.seq)
	return id[len(id)-n:]
}

// arn builds an ARN in the fake's region and account.
func (s *Server) arn(service, resource string) string {
	return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, s.opts.Region, s.opts.Account, resource)
}

// ServeHTTP routes a request by protocol: /v2/ to the image registry,
// X-Amz-Target to the JSON services, a form Action to the query services.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v2") {
		s.registry.ServeHTTP(w, r)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		s.serveJSON(w, r, target)
		return
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		s.serveQuery(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, cborPrefix) && r.Method == http.MethodPost {
		s.serveCBOR(w, r)
		return
	}
	http.Error(w, "awsfake: unrecognised request", http.StatusBadRequest)
}

func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request, target string) {
	prefix, op, ok := strings.Cut(target, ".")
	service := jsonTargets[prefix]
	if !ok || service == "" {
		writeJSONError(w, http.StatusBadRequest, "UnknownOperationException", "unknown target "+target)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, how, ae := callLocked(s, r, service, op, jsonFaults, func() (any, error) { return s.dispatchJSON(service, op, body) })
	if ae != nil {
		writeJSONError(w, ae.status(), ae.Code, ae.Message)
		return
	}
	switch how {
	case answerBlank:
		out = struct{}{}
	case answerHollow:
		out = hollowed(out)
	}
	writeJSON(w, prefix, out)
}

// answer is how a call's answer leaves the fake (see Hollow and Blank).
type answer int

const (
	answerAsIs answer = iota
	answerHollow
	answerBlank
)

// callLocked runs one call as every wire protocol does: the clock moves
// (Options.AutoAdvance), a fault answers before the handler, dispatch
// runs the handler, and the call is logged with its error code. It returns
// the handler's answer and how to send it, or the AWS error to send.
// Caller holds mu.
func callLocked[T any](s *Server, r *http.Request, service, op string, f wireFaults, dispatch func() (T, error)) (T, answer, *apiError) {
	if s.opts.AutoAdvance > 0 {
		s.advanceLocked(s.opts.AutoAdvance)
	}
	call := Call{Service: service, Operation: op, Time: s.now}
	var out T
	err := s.faultLocked(r, service, op, f)
	if err == nil {
		out, err = dispatch()
	}
	if err != nil {
		ae := asAPIError(err)
		call.Err = ae.Code
		s.calls = append(s.calls, call)
		return out, answerAsIs, ae
	}
	s.calls = append(s.calls, call)
	switch {
	case takeLocked(s.blank, service, op):
		return out, answerBlank, nil
	case takeLocked(s.hollow, service, op):
		return out, answerHollow, nil
	}
	return out, answerAsIs, nil
}

func (s *Server) dispatchJSON(service, op string, body []byte) (any, error) {
	var h map[string]jsonHandler
	switch service {
	case ServiceECS:
		h = s.ecsHandlers()
	case ServiceECR:
		h = s.ecrHandlers()
	case ServiceSSM:
		h = s.ssmHandlers()
	case ServiceSecretsManager:
		h = s.smHandlers()
	case ServiceLogs:
		h = s.logsHandlers()
	case ServiceCloudWatch:
		h = s.cwHandlers()
	case ServiceAutoScaling:
		h = s.scaleHandlers()
	}
	fn, ok := h[op]
	if !ok {
		return nil, &apiError{Code: "UnknownOperationException", Message: fmt.Sprintf("awsfake does not model %s %s", service, op)}
	}
	return fn(body)
}

func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeQueryError(w, http.StatusBadRequest, "MalformedQueryString", err.Error())
		return
	}
	form := r.PostForm
	op := form.Get("Action")
	var service string
	switch form.Get("Version") {
	case elbVersion:
		service = ServiceELBv2
	case stsVersion:
		service = ServiceSTS
	default:
		writeQueryError(w, http.StatusBadRequest, "InvalidAction", "unknown API version "+form.Get("Version"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, how, ae := callLocked(s, r, service, op, queryFaults, func() (*xmlNode, error) {
		return s.dispatchQuery(service, op, parseQueryForm(form))
	})
	if ae != nil {
		writeQueryError(w, ae.status(), ae.Code, ae.Message)
		return
	}
	switch how {
	case answerBlank:
		out = nil
	case answerHollow:
		out = hollowedXML(out)
	}
	writeQueryResult(w, op, out)
}

func (s *Server) dispatchQuery(service, op string, in qmap) (*xmlNode, error) {
	var h map[string]queryHandler
	switch service {
	case ServiceELBv2:
		h = s.elbHandlers()
	case ServiceSTS:
		h = s.stsHandlers()
	}
	fn, ok := h[op]
	if !ok {
		return nil, &apiError{Code: "InvalidAction", Message: fmt.Sprintf("awsfake does not model %s %s", service, op)}
	}
	return fn(in)
}

// wireFaults are the error codes one wire protocol answers faults with.
type wireFaults struct {
	badToken apiError
	throttle string
	query    bool // denied errors in the query protocol's shape
}

var (
	jsonFaults = wireFaults{
		badToken: apiError{Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."},
		throttle: "ThrottlingException",
	}
	queryFaults = wireFaults{
		badToken: apiError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid.", Status: http.StatusForbidden},
		throttle: "Throttling",
		query:    true,
	}
	cborFaults = wireFaults{badToken: jsonFaults.badToken, throttle: "Throttling"}
)

// faultLocked is the error a call gets before it reaches its handler — a
// bad access key, a denied permission, throttling or an injected error —
// or nil when it gets none.
func (s *Server) faultLocked(r *http.Request, service, op string, w wireFaults) error {
	if !s.authorized(r) {
		e := w.badToken
		return &e
	}
	if err := s.deniedLocked(service, op, w.query); err != nil {
		return err
	}
	if s.takeThrottleLocked(service, op) {
		return &apiError{Code: w.throttle, Message: "Rate exceeded"}
	}
	if s.peekInjected(service, op) {
		return s.takeInjectedLocked(service, op)
	}
	return nil
}

// authorized checks the SigV4 access key id when Options.AccessKeys is set.
func (s *Server) authorized(r *http.Request) bool {
	if len(s.opts.AccessKeys) == 0 {
		return true
	}
	auth := r.Header.Get("Authorization")
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return false
	}
	key, _, _ := strings.Cut(rest, "/")
	for _, k := range s.opts.AccessKeys {
		if k == key {
			return true
		}
	}
	return false
}

// Env returns environment variables that point the AWS CLI, the SDK's
// default config and berth at the fake: AWS_ENDPOINT_URL, static
// credentials (the first of Options.AccessKeys, if any) and the region.
func (s *Server) Env() []string {
	key := "AKIAAWSFAKE"
	if len(s.opts.AccessKeys) > 0 {
		key = s.opts.AccessKeys[0]
	}
	return []string{
		"AWS_ENDPOINT_URL=" + s.URL(),
		"AWS_ACCESS_KEY_ID=" + key,
		"AWS_SECRET_ACCESS_KEY=awsfake-secret",
		"AWS_REGION=" + s.opts.Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// MutatingCalls returns the logged calls that change state (see
// Call.Mutating), oldest first.
func (s *Server) MutatingCalls() []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Mutating() {
			out = append(out, c)
		}
	}
	return out
}
