package ecs

import (
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// printTaskDefDiff writes, for a dry run, how the new task definition
// differs from the live one (everything, when there is none).
func (e *Engine) printTaskDefDiff(svc string, live release, in *ecs.RegisterTaskDefinitionInput) {
	for _, l := range taskDefDiff(live.def, in) {
		fmt.Fprintf(e.planOut, "  %s: %s\n", svc, l)
	}
}

// taskDefDiff lists the differences between a registered task definition
// (nil: none yet) and a new one, as "-"/"+" lines per field.
func taskDefDiff(old *types.TaskDefinition, in *ecs.RegisterTaskDefinitionInput) []string {
	o := map[string]string{}
	if old != nil {
		o = flatTaskDef(aws.ToString(old.Cpu), aws.ToString(old.Memory), aws.ToString(old.ExecutionRoleArn), aws.ToString(old.TaskRoleArn), old.ContainerDefinitions)
	}
	n := flatTaskDef(aws.ToString(in.Cpu), aws.ToString(in.Memory), aws.ToString(in.ExecutionRoleArn), aws.ToString(in.TaskRoleArn), in.ContainerDefinitions)
	keys := map[string]bool{}
	for k := range o {
		keys[k] = true
	}
	for k := range n {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []string
	for _, k := range sorted {
		ov, inOld := o[k]
		nv, inNew := n[k]
		switch {
		case inOld && !inNew:
			out = append(out, fmt.Sprintf("- %s: %s", k, ov))
		case !inOld && inNew:
			out = append(out, fmt.Sprintf("+ %s: %s", k, nv))
		case ov != nv:
			out = append(out, fmt.Sprintf("~ %s: %s → %s", k, ov, nv))
		}
	}
	return out
}

func flatTaskDef(cpu, mem, execRole, taskRole string, cs []types.ContainerDefinition) map[string]string {
	m := map[string]string{"cpu": cpu, "memory": mem, "executionRoleArn": execRole}
	if taskRole != "" {
		m["taskRoleArn"] = taskRole
	}
	for _, c := range cs {
		m["image"] = aws.ToString(c.Image)
		for _, p := range c.PortMappings {
			m["port"] = fmt.Sprint(aws.ToInt32(p.ContainerPort))
		}
		for _, kv := range c.Environment {
			m["env."+aws.ToString(kv.Name)] = aws.ToString(kv.Value)
		}
		for _, s := range c.Secrets {
			m["secret."+aws.ToString(s.Name)] = aws.ToString(s.ValueFrom)
		}
		if c.StopTimeout != nil {
			m["stopTimeout"] = fmt.Sprint(*c.StopTimeout)
		}
		if c.HealthCheck != nil {
			m["healthCheck"] = fmt.Sprint(c.HealthCheck.Command)
		}
	}
	return m
}
