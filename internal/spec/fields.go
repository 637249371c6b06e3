package spec

import (
	"reflect"
	"regexp"
)

// meta is what the loader and the JSON Schema know about one yaml key
// beyond its Go type: a description for editors, allowed values, a range,
// and (for maps) a pattern their keys must match.
type meta struct {
	desc     string
	enum     []string
	min, max *int
	keys     *regexp.Regexp
	// scalarItems: a list whose items may be any scalar, read as its text
	// (command: [sleep, 5]).
	scalarItems bool
}

func ptr(i int) *int { return &i }

// Patterns for names used as map keys.
var (
	// serviceName is a DNS label: it becomes a container name, a host name
	// and part of image tags.
	serviceName = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// envName is a portable environment variable name.
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// environmentName names an environment (dev, prod, staging-eu).
	environmentName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
)

// Allowed values of enumerated keys.
var (
	engines = []string{"auto", "process", "docker"}
	// environmentEngines adds ecs: an environment may run on AWS.
	environmentEngines = []string{"auto", "process", "docker", "ecs"}
	strategies         = []string{"rolling", "bluegreen", "canary"}
	formats            = []string{"json", "slack"}
	upstreams          = []string{"berth", "std"}
	slashModes         = []string{"decode", "keep", "reject"}
)

// metas is keyed by "<Go type name>.<yaml key>".
var metas = map[string]meta{
	"Spec.project":       {desc: "Project name; prefixes images, containers and labels."},
	"Spec.registry":      {desc: "Image registry host/repository prefix that built images are pushed to."},
	"Spec.engine":        {desc: "Where services run: process, docker or auto (docker when an engine answers, else process). Default auto.", enum: engines},
	"Spec.listen":        {desc: "The router's listen address. Default 127.0.0.1:8080."},
	"Spec.environments":  {desc: "Named targets (dev, prod) with their engine and overrides.", keys: environmentName},
	"Spec.services_from": {desc: "Glob (relative to the spec's directory); every matching directory holding a Dockerfile becomes a service."},
	"Spec.shared":        {desc: "Paths whose change redeploys every service."},
	"Spec.defaults":      {desc: "Values every service gets unless it sets the key itself."},
	"Spec.services":      {desc: "The services, by name (a DNS label: lower-case letters, digits, '-').", keys: serviceName},
	"Spec.notify":        {desc: "Webhooks told about deployment events."},
	"Spec.max_count":     {desc: "The most tasks any service may run (count, berth scale, autoscaling max) unless it sets its own max_count. Default 100.", min: ptr(1), max: ptr(maxMaxCount)},

	"Environment.engine":   {desc: "Engine in this environment: process, docker, auto or ecs (AWS ECS Fargate, configured by aws:).", enum: environmentEngines},
	"Environment.registry": {desc: "Registry in this environment."},
	"Environment.listen":   {desc: "Router listen address in this environment."},
	"Environment.env":      {desc: "Environment variables added to every service (they win over the service's own).", keys: envName},
	"Environment.aws":      {desc: "Where an ecs environment runs: region, cluster, subnets, security groups, ALB listener and IAM roles (see docs/ecs.md)."},

	"AWS.region":              {desc: "AWS region (default: the standard AWS configuration, e.g. AWS_REGION)."},
	"AWS.cluster":             {desc: "ECS cluster the services run in; created if absent."},
	"AWS.subnets":             {desc: "Subnet ids the tasks get their network interface in."},
	"AWS.security_groups":     {desc: "Security group ids of the tasks."},
	"AWS.listener":            {desc: "ARN of the existing ALB listener berth adds its routing rules to."},
	"AWS.execution_role":      {desc: "ARN of the task execution role (pulls images, reads secrets, writes logs)."},
	"AWS.task_role":           {desc: "ARN of the role the services' code runs as. Optional."},
	"AWS.infrastructure_role": {desc: "ARN of the ECS infrastructure role for load balancers, which ECS assumes to shift traffic in blue/green, canary and linear deployments. Required when a service uses one."},
	"AWS.assign_public_ip":    {desc: "Give tasks a public IP (subnets without a NAT). Default false."},
	"AWS.log_retention":       {desc: "Days CloudWatch keeps the services' logs. Default 30.", min: ptr(1)},

	"Defaults.health":  {desc: "Health check defaults, merged key by key."},
	"Defaults.deploy":  {desc: "Deployment defaults, merged key by key."},
	"Defaults.count":   {desc: "Default number of tasks per service.", min: ptr(0)},
	"Defaults.env":     {desc: "Environment variables every service gets (merged by name).", keys: envName},
	"Defaults.secrets": {desc: "Secrets every service gets (merged by name).", keys: envName},
	"Defaults.heal":    {desc: "Self-healing budget defaults, merged key by key."},
	"Defaults.config":  {desc: "Config values every service gets (merged by name).", keys: envName},
	"Defaults.cpu":     {desc: "Default Fargate CPU units of a task (256 = 0.25 vCPU).", min: ptr(0)},
	"Defaults.memory":  {desc: "Default Fargate memory of a task, in MiB.", min: ptr(0)},

	"Service.run":        {desc: "Command that starts the service (process engine), run by /bin/sh -c in the spec's directory; it must listen on $PORT."},
	"Service.build":      {desc: "A shell command producing $BERTH_ARTIFACT, or a docker build mapping {context, dockerfile, target, args}."},
	"Service.image":      {desc: "Prebuilt image reference (docker engine)."},
	"Service.port":       {desc: "Port the service listens on inside its container. Default 8080 for docker services.", min: ptr(1), max: ptr(65535)},
	"Service.dir":        {desc: "The service's own directory, for change detection. Default services/<name> if it exists, else '.'."},
	"Service.shared":     {desc: "Extra paths whose change redeploys this service."},
	"Service.health":     {desc: "HTTP health check."},
	"Service.route":      {desc: "Host / path-prefix rule the router sends to this service."},
	"Service.env":        {desc: "Environment variables.", keys: envName},
	"Service.secrets":    {desc: "Environment variables filled from secrets: a local secret name, ssm:/path or secretsmanager:name#key.", keys: envName},
	"Service.config":     {desc: "Environment variables filled from configuration values (e.g. SSM parameter names).", keys: envName},
	"Service.count":      {desc: "Number of tasks. Default 1.", min: ptr(0)},
	"Service.depends_on": {desc: "Services deployed before this one."},
	"Service.deploy":     {desc: "How a new release replaces the running one."},
	"Service.cpu":        {desc: "ECS Fargate CPU units of a task: 256, 512, 1024, 2048, 4096, 8192 or 16384. Needed in ecs environments.", min: ptr(0)},
	"Service.memory":     {desc: "ECS Fargate memory of a task in MiB, a combination valid with cpu (e.g. 512 with 256). Needed in ecs environments.", min: ptr(0)},
	"Service.volumes":    {desc: "Docker engine: mounts, name:/path (a named volume kept across deploys) or ./dir:/path (a bind mount), optionally :ro."},
	"Service.ports":      {desc: "Docker engine: ports published on loopback, CONTAINER or HOST:CONTAINER (e.g. 5432 or 15432:5432)."},
	"Service.scale":      {desc: "Autoscaling: {min, max, target: {cpu: 60%} | {memory: 70%} | {rps_per_task: 200} | {p99: 300ms}, up_cooldown, down_cooldown}."},
	"Service.heal":       {desc: "Self-healing budget: at most max_restarts restarts within window, then the service is marked degraded and no longer restarted. Default {max_restarts: 5, window: 10m}."},
	"Service.max_count":  {desc: "The most tasks this service may run. Default: the spec's max_count (100).", min: ptr(1), max: ptr(maxMaxCount)},

	"Build.command":    {desc: "Shell command that builds an artifact into $BERTH_ARTIFACT (process engine)."},
	"Build.context":    {desc: "Docker build context, relative to the spec's directory. Default: the service's dir."},
	"Build.dockerfile": {desc: "Dockerfile, relative to the context. Default Dockerfile."},
	"Build.target":     {desc: "Docker build stage to build."},
	"Build.args":       {desc: "Docker build arguments."},

	"Health.path":      {desc: "HTTP path checked with GET; 2xx/3xx is healthy. Default /health (when neither tcp nor command is set)."},
	"Health.tcp":       {desc: "Check that the task's port accepts a TCP connection instead of an HTTP GET."},
	"Health.command":   {desc: "Check by running this command (argv, no shell) in the task's environment; exit 0 is healthy.", scalarItems: true},
	"Health.interval":  {desc: "Time between checks. Default 1s."},
	"Health.timeout":   {desc: "Time a check may take. Default 1s."},
	"Health.healthy":   {desc: "Consecutive passes before a task is healthy. Default 1.", min: ptr(1)},
	"Health.unhealthy": {desc: "Consecutive failures before a task is unhealthy. Default 3.", min: ptr(1)},
	"Health.grace":     {desc: "Failures are ignored this long after a task starts. Default 0s."},
	"Health.deadline":  {desc: "How long a new task may take to become healthy before the deployment gives up on it. Default 60s."},

	"Route.host":         {desc: "Host the route matches (port ignored, case-insensitive)."},
	"Route.hosts":        {desc: "More hosts the route matches."},
	"Route.path":         {desc: "Path prefix the route matches, on segment boundaries (/api matches /api/x, not /apiary)."},
	"Route.priority":     {desc: "Higher wins among matching routes. Default 0."},
	"Route.default":      {desc: "Receives every request no other route matched. At most one service."},
	"Route.strip_prefix": {desc: "Remove the path prefix before forwarding."},

	"Deploy.strategy":        {desc: "rolling, bluegreen or canary. Default rolling.", enum: strategies},
	"Deploy.max_surge":       {desc: "Rolling: extra tasks started above count. Default 1.", min: ptr(0)},
	"Deploy.max_unavailable": {desc: "Rolling: tasks that may be missing below count. Default 0.", min: ptr(0)},
	"Deploy.drain":           {desc: "How long an old task finishes in-flight requests before it is stopped. Default 10s."},
	"Deploy.steps":           {desc: "Canary: traffic percentages ending at 100%; the word pause waits for berth promote. Default [10%, 50%, 100%]."},
	"Deploy.linear":          {desc: "Canary: add step percent every interval instead of steps."},
	"Deploy.pause":           {desc: "Canary: how long each step holds before it is analysed and the next begins. Default 30s."},
	"Deploy.bake":            {desc: "How long the new release runs at full traffic, still analysed, before the old one is stopped. Default 0s."},
	"Deploy.analysis":        {desc: "Thresholds a new release is judged against; a breach rolls back."},
	"Deploy.preview":         {desc: "Blue/green: how the new fleet is reachable before the switch (on ECS: the test listener rule, also for canary)."},
	"Deploy.circuit_breaker": {desc: "Task failures in a row that end the deployment (and roll back). Default 3.", min: ptr(1)},

	"Scale.min":           {desc: "Fewest tasks. Default 1.", min: ptr(0)},
	"Scale.max":           {desc: "Most tasks (required; at most max_count).", min: ptr(1)},
	"Scale.target":        {desc: "The one metric tracked: {cpu: 60%}, {memory: 70%}, {rps_per_task: 200} or {p99: 300ms}."},
	"Scale.up_cooldown":   {desc: "Least time between two scale-outs. Default 30s."},
	"Scale.down_cooldown": {desc: "Least time between two scale-ins, and after a scale-out before a scale-in. Default 5m."},

	"ScaleTarget.cpu":          {desc: "Average CPU use per task, as a share of one core."},
	"ScaleTarget.memory":       {desc: "Average memory use per task, as a share of its limit."},
	"ScaleTarget.rps_per_task": {desc: "Requests per second per task, measured by the router.", min: ptr(1)},
	"ScaleTarget.p99":          {desc: "99th percentile latency measured by the router (local engines only)."},

	"Heal.max_restarts": {desc: "Restarts allowed within window before the service is marked degraded. Default 5.", min: ptr(1)},
	"Heal.window":       {desc: "The sliding window restarts are counted in. Default 10m."},

	"Linear.step":  {desc: "Percentage added each time."},
	"Linear.every": {desc: "Time between increases."},

	"Analysis.max_5xx_rate": {desc: "Highest share of 5xx responses allowed. Default 5%."},
	"Analysis.max_p99":      {desc: "Highest 99th percentile latency allowed; 0 turns the check off. Default 0."},
	"Analysis.min_requests": {desc: "Requests needed in a window before it is judged. Default 20.", min: ptr(0)},
	"Analysis.window":       {desc: "Length of the window the rates are measured over. Default 10s."},
	"Analysis.smoke":        {desc: "Paths requested with GET against the new release before it gets traffic; each must answer 2xx."},
	"Analysis.webhook":      {desc: "URL POSTed the analysis; a non-2xx answer fails the release."},

	"Preview.header": {desc: "Requests carrying this header with value 1 go to the new fleet. Default X-Berth-Preview."},
	"Preview.host":   {desc: "Host that is routed to the new fleet."},

	"Deploy.sticky": {desc: "Keep each client on one release while several serve traffic: {cookie: NAME} (the router sets it) or {header: NAME} (a header clients send)."},
	"Sticky.cookie": {desc: "Cookie that pins a client; the router sets it (random id, HttpOnly, SameSite=Lax) when absent."},
	"Sticky.header": {desc: "Request header whose value pins a client (e.g. X-User-Id); requests without it are spread by weight."},

	"Spec.listen_tls":        {desc: "The router's HTTPS listen address (e.g. :443); HTTP requests for its hosts redirect here. None by default."},
	"Environment.listen_tls": {desc: "Overrides the router's HTTPS listen address in this environment."},
	"Spec.tls":               {desc: "Certificates of the HTTPS listener (listen_tls): ACME for route hosts, berth's local CA for localhost names and IPs, or your own files."},
	"TLS.acme":               {desc: "Automatic certificates from an ACME CA (HTTP-01 and TLS-ALPN-01)."},
	"TLS.cert":               {desc: "Your own default certificate chain (PEM) for every host without one in tls.hosts; reloaded when it changes."},
	"TLS.key":                {desc: "The private key (PEM) of tls.cert."},
	"TLS.hosts":              {desc: "Your own certificates by host name: {HOST: {cert: PATH, key: PATH}}; reloaded when they change."},
	"TLS.hsts":               {desc: "Send Strict-Transport-Security with this max-age on HTTPS responses (e.g. 1y, 180d). Off by default."},
	"ACME.email":             {desc: "Contact address of the ACME account (expiry notices from the CA)."},
	"ACME.directory":         {desc: "ACME directory URL. Default Let's Encrypt (https://acme-v02.api.letsencrypt.org/directory)."},
	"ACME.ca_root":           {desc: "PEM file of roots to trust for the ACME directory's HTTPS (a private ACME server)."},
	"TLSCert.cert":           {desc: "Certificate chain (PEM file)."},
	"TLSCert.key":            {desc: "Private key (PEM file)."},

	"Spec.router": {desc: "The router's limits and protocol checks (defaults like nginx's)."},

	"Router.upstream":                 {desc: "HTTP/1.1 client to services: berth (default) or std (net/http's, a connection per request).", enum: upstreams},
	"Router.client_header_timeout":    {desc: "Time to read a client's request head. Default 10s."},
	"Router.client_body_timeout":      {desc: "Longest wait between two reads of a request body; then 408. Default 60s."},
	"Router.client_send_timeout":      {desc: "Longest wait between two writes to a client that stopped reading; then it is disconnected. Default 60s."},
	"Router.client_idle_timeout":      {desc: "How long an idle keep-alive client connection is kept. Default 120s."},
	"Router.upstream_connect_timeout": {desc: "Time to connect to a task (the request is retried on another). Default 2s."},
	"Router.upstream_header_timeout":  {desc: "Time for a task to answer with its response head; then 504. Default 60s."},
	"Router.upstream_read_timeout":    {desc: "Longest wait between two reads of a task's response body; then the response is cut. Default 60s."},
	"Router.upstream_send_timeout":    {desc: "Longest wait between two writes of a request to a task that stopped reading; then 504. Default 60s."},
	"Router.max_request_header":       {desc: "Largest client request head. Default 64k."},
	"Router.max_response_header":      {desc: "Largest response head (and trailers) from a task; larger is answered 502. Default 64k."},
	"Router.max_request_body":         {desc: "Largest request body; larger is answered 413. Default 1m; unlimited lifts it."},
	"Router.max_connections":          {desc: "Concurrent client connections; more wait to be accepted. Default 4096.", min: ptr(1)},
	"Router.underscores_in_headers":   {desc: "Forward request header names containing _ (dropped by default: backends that read _ as - would see Transfer_Encoding as Transfer-Encoding)."},
	"Router.encoded_slashes":          {desc: "%2F in a request path: decode (default, a /), keep, or reject (400).", enum: slashModes},
	"Router.access_log":               {desc: "Per-request access log of the router (JSON lines with request_id and trace_id, read by `berth logs --trace`): off (default), on, or a share of traces such as 10%."},

	"Notify.url":    {desc: "http(s) URL POSTed each event."},
	"Notify.format": {desc: "json or slack. Default json.", enum: formats},
	"Notify.events": {desc: "Event types to send; empty sends all."},
}

func metaOf(t reflect.Type, key string) meta {
	return metas[t.Name()+"."+key]
}
