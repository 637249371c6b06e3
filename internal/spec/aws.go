package spec

import (
	"fmt"
	"sort"
	"strings"
)

// EngineECS is the engine name of an environment that runs on AWS ECS.
const EngineECS = "ecs"

// AWS is where an ecs environment runs. berth expects the network, the ALB
// listener and the IAM roles to exist; it creates the rest (docs/ecs.md).
type AWS struct {
	Region         string   `yaml:"region,omitempty" json:"region,omitempty"`
	Cluster        string   `yaml:"cluster,omitempty" json:"cluster,omitempty"`
	Subnets        []string `yaml:"subnets,omitempty" json:"subnets,omitempty"`
	SecurityGroups []string `yaml:"security_groups,omitempty" json:"security_groups,omitempty"`
	Listener       string   `yaml:"listener,omitempty" json:"listener,omitempty"`
	ExecutionRole  string   `yaml:"execution_role,omitempty" json:"execution_role,omitempty"`
	TaskRole       string   `yaml:"task_role,omitempty" json:"task_role,omitempty"`
	// InfrastructureRole is the ECS infrastructure role for load
	// balancers: ECS assumes it to shift traffic in native blue/green,
	// canary and linear deployments.
	InfrastructureRole string `yaml:"infrastructure_role,omitempty" json:"infrastructure_role,omitempty"`
	AssignPublicIP     bool   `yaml:"assign_public_ip,omitempty" json:"assign_public_ip,omitempty"`
	// LogRetention is how many days the log groups keep lines (default 30).
	LogRetention int `yaml:"log_retention,omitempty" json:"log_retention,omitempty"`
}

// fargateMemory lists, per Fargate CPU value, the memory sizes (MiB) AWS
// accepts with it.
var fargateMemory = func() map[int][]int {
	steps := func(from, to, step int) []int {
		var out []int
		for m := from; m <= to; m += step {
			out = append(out, m)
		}
		return out
	}
	return map[int][]int{
		256:   {512, 1024, 2048},
		512:   steps(1024, 4096, 1024),
		1024:  steps(2048, 8192, 1024),
		2048:  steps(4096, 16384, 1024),
		4096:  steps(8192, 30720, 1024),
		8192:  steps(16384, 61440, 4096),
		16384: steps(32768, 122880, 8192),
	}
}()

// FargateProblem says what is wrong with a task size on Fargate, with a
// hint, or returns "" when cpu/memory is a combination Fargate accepts.
func FargateProblem(cpu, memory int) (msg, hint string) {
	cpus := make([]int, 0, len(fargateMemory))
	for c := range fargateMemory {
		cpus = append(cpus, c)
	}
	sort.Ints(cpus)
	if cpu == 0 || memory == 0 {
		return "an ecs environment needs cpu and memory for every service", "add e.g. `cpu: 256` and `memory: 512` to the service (or under defaults:)"
	}
	mems, ok := fargateMemory[cpu]
	if !ok {
		return fmt.Sprintf("cpu %d is not a Fargate CPU value", cpu), "use one of " + joinInts(cpus)
	}
	for _, m := range mems {
		if m == memory {
			return "", ""
		}
	}
	if len(mems) > 8 {
		return fmt.Sprintf("memory %d is not valid with cpu %d on Fargate", memory, cpu),
			fmt.Sprintf("with cpu %d use %d to %d MiB in steps of %d", cpu, mems[0], mems[len(mems)-1], mems[1]-mems[0])
	}
	return fmt.Sprintf("memory %d is not valid with cpu %d on Fargate", memory, cpu), fmt.Sprintf("with cpu %d use one of %s", cpu, joinInts(mems))
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// checkECS validates the environments that run on ECS: their aws: block,
// and a Fargate size for every service.
func (l *loader) checkECS(s *Spec, names []string) {
	var ecsEnvs []string
	for name, env := range s.Environments {
		if env != nil && env.Engine == EngineECS {
			ecsEnvs = append(ecsEnvs, name)
		}
	}
	sort.Strings(ecsEnvs)
	for _, name := range ecsEnvs {
		p := "environments." + name
		a := s.Environments[name].AWS
		if a == nil {
			l.atKey(p+".aws", fmt.Sprintf("environment %s runs on ecs but has no aws: block", name), "add aws: {region, cluster, subnets, security_groups, listener, execution_role} (see docs/ecs.md)")
			continue
		}
		required := []struct{ key, val string }{
			{"cluster", a.Cluster}, {"execution_role", a.ExecutionRole},
		}
		for _, r := range required {
			if strings.TrimSpace(r.val) == "" {
				l.atKey(p+".aws."+r.key, fmt.Sprintf("environment %s runs on ecs and needs aws.%s", name, r.key), "see docs/ecs.md for what berth expects to exist")
			}
		}
		if len(a.Subnets) == 0 {
			l.atKey(p+".aws.subnets", fmt.Sprintf("environment %s runs on ecs and needs aws.subnets", name), "list the subnet ids tasks run in, e.g. [subnet-0a1b, subnet-2c3d]")
		}
		if a.Listener != "" && !strings.HasPrefix(a.Listener, "arn:") {
			l.atKey(p+".aws.listener", fmt.Sprintf("listener %q is not an ARN", a.Listener), "write the ALB listener's ARN, arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/NAME/ID/ID")
		}
		routed := false
		for _, n := range names {
			if s.Services[n].Route != nil {
				routed = true
			}
		}
		if routed && a.Listener == "" {
			l.atKey(p+".aws.listener", fmt.Sprintf("environment %s runs on ecs, services have routes, and there is no aws.listener", name), "name the existing ALB listener's ARN")
		}
	}
	if len(ecsEnvs) == 0 {
		return
	}
	for _, n := range names {
		svc := s.Services[n]
		if l.hasFailed(svc, "cpu", "memory") {
			continue
		}
		if msg, hint := FargateProblem(svc.CPU, svc.Memory); msg != "" {
			key := "cpu"
			if svc.CPU != 0 && fargateMemory[svc.CPU] != nil {
				key = "memory"
			}
			l.at(svc, key, msg+" (environment "+strings.Join(ecsEnvs, ", ")+" runs on ecs)", hint)
		}
	}
}
