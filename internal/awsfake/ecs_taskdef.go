package awsfake

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

type ecsState struct {
	clusters    map[string]*cluster // by name
	families    map[string][]*taskDef
	services    map[string]*service // by ARN
	svcOrder    []string
	tasks       map[string]*task // by ARN
	taskOrder   []string
	deployments map[string]*svcDeployment // by service-deployment ARN
	sdOrder     []string
	revisions   map[string]*svcRevision // by ARN
	revSeq      int
}

func newECSState() *ecsState {
	return &ecsState{
		clusters: map[string]*cluster{}, families: map[string][]*taskDef{},
		services: map[string]*service{}, tasks: map[string]*task{},
		deployments: map[string]*svcDeployment{}, revisions: map[string]*svcRevision{},
	}
}

type cluster struct {
	name, arn, status string
	tags              []tag
}

type taskDef struct {
	arn, family    string
	revision       int
	raw            map[string]any // the registration request, minus tags
	status         string
	registeredAt   time.Time
	deregisteredAt time.Time
	containers     []containerDef
	tags           []tag
}

type containerDef struct {
	Name         string `json:"name"`
	Image        string `json:"image"`
	Essential    *bool  `json:"essential"`
	PortMappings []struct {
		ContainerPort int `json:"containerPort"`
	} `json:"portMappings"`
	LogConfiguration *struct {
		LogDriver string            `json:"logDriver"`
		Options   map[string]string `json:"options"`
	} `json:"logConfiguration"`
}

// ecsTag is a tag on the ECS wire (lower-case key/value).
type ecsTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func fromECSTags(in []ecsTag) []tag {
	out := make([]tag, 0, len(in))
	for _, t := range in {
		out = append(out, tag(t))
	}
	return out
}

func toECSTags(in []tag) []ecsTag {
	out := make([]ecsTag, 0, len(in))
	for _, t := range in {
		out = append(out, ecsTag(t))
	}
	return out
}

func (s *Server) ecsHandlers() map[string]jsonHandler {
	return map[string]jsonHandler{
		"CreateCluster":              handle(s.ecsCreateCluster),
		"DescribeClusters":           handle(s.ecsDescribeClusters),
		"RegisterTaskDefinition":     s.ecsRegisterTaskDefinition,
		"DescribeTaskDefinition":     handle(s.ecsDescribeTaskDefinition),
		"ListTaskDefinitions":        handle(s.ecsListTaskDefinitions),
		"ListTaskDefinitionFamilies": handle(s.ecsListTaskDefinitionFamilies),
		"DeregisterTaskDefinition":   handle(s.ecsDeregisterTaskDefinition),
		"TagResource":                handle(s.ecsTagResource),
		"UntagResource":              handle(s.ecsUntagResource),
		"ListTagsForResource":        handle(s.ecsListTagsForResource),
		"CreateService":              handle(s.ecsCreateService),
		"UpdateService":              handle(s.ecsUpdateService),
		"DescribeServices":           handle(s.ecsDescribeServices),
		"ListServices":               handle(s.ecsListServices),
		"DeleteService":              handle(s.ecsDeleteService),
		"ListTasks":                  handle(s.ecsListTasks),
		"DescribeTasks":              handle(s.ecsDescribeTasks),
		"StopTask":                   handle(s.ecsStopTask),
		"ListServiceDeployments":     handle(s.ecsListServiceDeployments),
		"DescribeServiceDeployments": handle(s.ecsDescribeServiceDeployments),
		"DescribeServiceRevisions":   handle(s.ecsDescribeServiceRevisions),
		"StopServiceDeployment":      handle(s.ecsStopServiceDeployment),
		"ContinueServiceDeployment":  handle(s.ecsContinueServiceDeployment),
	}
}

// clusterByRef finds a cluster by name or ARN; "" means "default".
func (s *Server) clusterByRef(ref string) (*cluster, error) {
	if ref == "" {
		ref = "default"
	}
	name := ref
	if strings.HasPrefix(ref, "arn:") {
		_, name, _ = strings.Cut(ref, ":cluster/")
	}
	c := s.ecs.clusters[name]
	if c == nil || c.status != "ACTIVE" {
		return nil, errorf("ClusterNotFoundException", "Cluster not found.")
	}
	return c, nil
}

func (s *Server) clusterJSON(c *cluster) map[string]any {
	running, pending, services := 0, 0, 0
	for _, t := range s.ecs.tasks {
		if t.clusterArn != c.arn {
			continue
		}
		switch t.last {
		case "RUNNING":
			running++
		case "PROVISIONING", "PENDING":
			pending++
		}
	}
	for _, svc := range s.ecs.services {
		if svc.clusterArn == c.arn && svc.status == "ACTIVE" {
			services++
		}
	}
	return map[string]any{
		"clusterArn": c.arn, "clusterName": c.name, "status": c.status,
		"runningTasksCount": running, "pendingTasksCount": pending, "activeServicesCount": services,
		"registeredContainerInstancesCount": 0, "tags": toECSTags(c.tags),
	}
}

func (s *Server) ecsCreateCluster(in struct {
	ClusterName string
	Tags        []ecsTag
}) (any, error) {
	name := in.ClusterName
	if name == "" {
		name = "default"
	}
	c := s.ecs.clusters[name]
	if c == nil || c.status != "ACTIVE" {
		c = &cluster{name: name, arn: s.arn("ecs", "cluster/"+name), status: "ACTIVE"}
		s.ecs.clusters[name] = c
	}
	c.tags = mergeTags(c.tags, fromECSTags(in.Tags))
	return map[string]any{"cluster": s.clusterJSON(c)}, nil
}

type ecsFailure struct {
	Arn    string `json:"arn,omitempty"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

func (s *Server) ecsDescribeClusters(in struct {
	Clusters []string
	Include  []string
}) (any, error) {
	refs := in.Clusters
	if len(refs) == 0 {
		refs = []string{"default"}
	}
	clusters := []any{}
	failures := []ecsFailure{}
	for _, r := range refs {
		c, err := s.clusterByRef(r)
		if err != nil {
			arn := r
			if !strings.HasPrefix(r, "arn:") {
				arn = s.arn("ecs", "cluster/"+r)
			}
			failures = append(failures, ecsFailure{Arn: arn, Reason: "MISSING"})
			continue
		}
		cj := s.clusterJSON(c)
		if !contains(in.Include, "TAGS") {
			delete(cj, "tags")
		}
		clusters = append(clusters, cj)
	}
	return map[string]any{"clusters": clusters, "failures": failures}, nil
}

var familyRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// fargateMemory lists the memory values (MiB) Fargate accepts per CPU unit
// count.
func fargateMemory(cpu int) []int {
	steps := func(lo, hi, step int) []int {
		var out []int
		for m := lo; m <= hi; m += step {
			out = append(out, m)
		}
		return out
	}
	switch cpu {
	case 256:
		return []int{512, 1024, 2048}
	case 512:
		return steps(1024, 4096, 1024)
	case 1024:
		return steps(2048, 8192, 1024)
	case 2048:
		return steps(4096, 16384, 1024)
	case 4096:
		return steps(8192, 30720, 1024)
	case 8192:
		return steps(16384, 61440, 4096)
	case 16384:
		return steps(32768, 122880, 8192)
	}
	return nil
}

// parseUnits reads "1024", "1 vCPU" (×1024) or "2 GB" (×1024).
func parseUnits(v string) (int, bool) {
	v = strings.TrimSpace(v)
	lower := strings.ToLower(v)
	for _, suf := range []string{"vcpu", "gb"} {
		if strings.HasSuffix(lower, suf) {
			f, err := strconv.ParseFloat(strings.TrimSpace(v[:len(v)-len(suf)]), 64)
			if err != nil {
				return 0, false
			}
			return int(f * 1024), true
		}
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// checkFargate validates a Fargate task definition's network mode and
// CPU/memory pair as ECS does.
func checkFargate(raw map[string]any) error {
	if mode, _ := raw["networkMode"].(string); mode != "awsvpc" {
		return errorf("ClientException", "Fargate only supports network mode ‘awsvpc’.")
	}
	cpuS, _ := raw["cpu"].(string)
	memS, _ := raw["memory"].(string)
	if cpuS == "" || memS == "" {
		return errorf("ClientException", "Fargate requires task definition to have execution role ARN to support log driver awslogs. Fargate requires that 'cpu' be defined at the task level.")
	}
	cpu, ok1 := parseUnits(cpuS)
	mem, ok2 := parseUnits(memS)
	if ok1 && ok2 {
		for _, m := range fargateMemory(cpu) {
			if m == mem {
				return nil
			}
		}
	}
	return errorf("ClientException", "No Fargate configuration exists for given values: %s CPU, %s memory. See the Amazon ECS documentation for the valid values.", cpuS, memS)
}

func (s *Server) ecsRegisterTaskDefinition(body []byte) (any, error) {
	var raw map[string]any
	if err := decodeJSON(body, &raw); err != nil {
		return nil, err
	}
	var in struct {
		Family                  string
		RequiresCompatibilities []string
		ContainerDefinitions    []containerDef
		Tags                    []ecsTag
	}
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if !familyRE.MatchString(in.Family) {
		return nil, errorf("ClientException", "Family contains invalid characters or is too long.")
	}
	if len(in.ContainerDefinitions) == 0 {
		return nil, errorf("ClientException", "Container list cannot be empty.")
	}
	for _, c := range in.ContainerDefinitions {
		if c.Name == "" || c.Image == "" {
			return nil, errorf("ClientException", "Container.name and Container.image should not be null or empty.")
		}
	}
	if contains(in.RequiresCompatibilities, "FARGATE") {
		if err := checkFargate(raw); err != nil {
			return nil, err
		}
	}
	delete(raw, "tags")
	revs := s.ecs.families[in.Family]
	td := &taskDef{
		family:       in.Family,
		revision:     len(revs) + 1,
		raw:          raw,
		status:       "ACTIVE",
		registeredAt: s.now,
		containers:   in.ContainerDefinitions,
		tags:         fromECSTags(in.Tags),
	}
	td.arn = s.arn("ecs", fmt.Sprintf("task-definition/%s:%d", td.family, td.revision))
	s.ecs.families[in.Family] = append(revs, td)
	return map[string]any{"taskDefinition": s.taskDefJSON(td), "tags": toECSTags(td.tags)}, nil
}

func decodeJSON(body []byte, v any) error {
	if err := unmarshalNumber(body, v); err != nil {
		return &apiError{Code: "SerializationException", Message: err.Error()}
	}
	return nil
}

func (s *Server) taskDefJSON(td *taskDef) map[string]any {
	out := map[string]any{}
	for k, v := range td.raw {
		out[k] = v
	}
	compat := []string{"EC2"}
	if rc, _ := td.raw["requiresCompatibilities"].([]any); len(rc) > 0 {
		compat = []string{"EC2", "FARGATE"}
	}
	out["taskDefinitionArn"] = td.arn
	out["family"] = td.family
	out["revision"] = td.revision
	out["status"] = td.status
	out["compatibilities"] = compat
	out["registeredAt"] = epoch(td.registeredAt)
	out["registeredBy"] = "arn:aws:iam::" + s.opts.Account + ":user/berth-test"
	if !td.deregisteredAt.IsZero() {
		out["deregisteredAt"] = epoch(td.deregisteredAt)
	}
	return out
}

// taskDefByRef resolves "family", "family:rev" or an ARN. A bare family is
// its latest ACTIVE revision.
func (s *Server) taskDefByRef(ref string) *taskDef {
	if strings.HasPrefix(ref, "arn:") {
		_, ref, _ = strings.Cut(ref, ":task-definition/")
	}
	fam, revS, hasRev := strings.Cut(ref, ":")
	revs := s.ecs.families[fam]
	if !hasRev {
		for i := len(revs) - 1; i >= 0; i-- {
			if revs[i].status == "ACTIVE" {
				return revs[i]
			}
		}
		return nil
	}
	n, err := strconv.Atoi(revS)
	if err != nil || n < 1 || n > len(revs) {
		return nil
	}
	return revs[n-1]
}

func (s *Server) ecsDescribeTaskDefinition(in struct {
	TaskDefinition string
	Include        []string
}) (any, error) {
	td := s.taskDefByRef(in.TaskDefinition)
	if td == nil {
		return nil, errorf("ClientException", "Unable to describe task definition.")
	}
	out := map[string]any{"taskDefinition": s.taskDefJSON(td)}
	if contains(in.Include, "TAGS") {
		out["tags"] = toECSTags(td.tags)
	}
	return out, nil
}

func (s *Server) ecsListTaskDefinitions(in struct {
	FamilyPrefix string
	Status       string
	Sort         string
	MaxResults   int
	NextToken    string
}) (any, error) {
	status := in.Status
	if status == "" {
		status = "ACTIVE"
	}
	var all []*taskDef
	fams := make([]string, 0, len(s.ecs.families))
	for f := range s.ecs.families {
		fams = append(fams, f)
	}
	sort.Strings(fams)
	for _, f := range fams {
		if in.FamilyPrefix != "" && !strings.HasPrefix(f, in.FamilyPrefix) {
			continue
		}
		for _, td := range s.ecs.families[f] {
			if td.status == status {
				all = append(all, td)
			}
		}
	}
	if in.Sort == "DESC" {
		for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
			all[i], all[j] = all[j], all[i]
		}
	}
	max := in.MaxResults
	if max == 0 {
		max = 100
	}
	items, next, err := page(all, max, in.NextToken)
	if err != nil {
		return nil, err
	}
	arns := []string{}
	for _, td := range items {
		arns = append(arns, td.arn)
	}
	return map[string]any{"taskDefinitionArns": arns, "nextToken": omitEmpty(next)}, nil
}

func (s *Server) ecsListTaskDefinitionFamilies(in struct {
	FamilyPrefix string
	MaxResults   int
	NextToken    string
}) (any, error) {
	var fams []string
	for f := range s.ecs.families {
		if strings.HasPrefix(f, in.FamilyPrefix) {
			fams = append(fams, f)
		}
	}
	sort.Strings(fams)
	items, next, err := page(fams, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	return map[string]any{"families": append([]string{}, items...), "nextToken": omitEmpty(next)}, nil
}

func (s *Server) ecsDeregisterTaskDefinition(in struct{ TaskDefinition string }) (any, error) {
	if !strings.Contains(in.TaskDefinition, ":") {
		return nil, errorf("ClientException", "Revision is required to deregister a task definition.")
	}
	td := s.taskDefByRef(in.TaskDefinition)
	if td == nil {
		return nil, errorf("ClientException", "The specified task definition does not exist.")
	}
	if td.status == "ACTIVE" {
		td.status = "INACTIVE"
		td.deregisteredAt = s.now
	}
	return map[string]any{"taskDefinition": s.taskDefJSON(td)}, nil
}

// ecsTagsOf returns a pointer to the tag list of an ECS resource ARN.
func (s *Server) ecsTagsOf(arn string) *[]tag {
	switch {
	case strings.Contains(arn, ":task-definition/"):
		if td := s.taskDefByRef(arn); td != nil {
			return &td.tags
		}
	case strings.Contains(arn, ":cluster/"):
		if c, err := s.clusterByRef(arn); err == nil {
			return &c.tags
		}
	case strings.Contains(arn, ":service/"):
		if svc := s.ecs.services[arn]; svc != nil {
			return &svc.tags
		}
	}
	return nil
}

func (s *Server) ecsTagResource(in struct {
	ResourceArn string
	Tags        []ecsTag
}) (any, error) {
	p := s.ecsTagsOf(in.ResourceArn)
	if p == nil {
		return nil, errorf("InvalidParameterException", "The specified resource could not be found: %s", in.ResourceArn)
	}
	*p = mergeTags(*p, fromECSTags(in.Tags))
	return nil, nil
}

func (s *Server) ecsUntagResource(in struct {
	ResourceArn string
	TagKeys     []string
}) (any, error) {
	p := s.ecsTagsOf(in.ResourceArn)
	if p == nil {
		return nil, errorf("InvalidParameterException", "The specified resource could not be found: %s", in.ResourceArn)
	}
	var kept []tag
	for _, t := range *p {
		if !contains(in.TagKeys, t.Key) {
			kept = append(kept, t)
		}
	}
	*p = kept
	return nil, nil
}

func (s *Server) ecsListTagsForResource(in struct{ ResourceArn string }) (any, error) {
	p := s.ecsTagsOf(in.ResourceArn)
	if p == nil {
		return nil, errorf("InvalidParameterException", "The specified resource could not be found: %s", in.ResourceArn)
	}
	return map[string]any{"tags": toECSTags(*p)}, nil
}

// omitEmpty returns nil for "", so JSON encodes null (which the SDK reads
// as absent) instead of an empty token.
func omitEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
