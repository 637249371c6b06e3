package awsfake

import (
	"strings"
	"time"
)

type cwState struct {
	alarms map[string]*alarm
}

type alarm struct {
	name         string
	raw          map[string]any // the PutMetricAlarm request
	state        string
	reason       string
	stateAt      time.Time
	configuredAt time.Time
}

func newCWState() *cwState { return &cwState{alarms: map[string]*alarm{}} }

// SetAlarmState sets a CloudWatch alarm's state (OK, ALARM or
// INSUFFICIENT_DATA) as if its metric had crossed the threshold. It
// reports whether the alarm exists. Deployments watching the alarm react
// on the next tick.
func (s *Server) SetAlarmState(name, state string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.cw.alarms[name]
	if a == nil {
		return false
	}
	a.state, a.reason, a.stateAt = state, "Set by the test", s.now
	return true
}

func (s *Server) alarmJSON(a *alarm) map[string]any {
	out := map[string]any{}
	for k, v := range a.raw {
		out[k] = v
	}
	out["AlarmArn"] = s.arn("cloudwatch", "alarm:"+a.name)
	out["StateValue"] = a.state
	out["StateReason"] = a.reason
	out["StateUpdatedTimestamp"] = epoch(a.stateAt)
	out["StateTransitionedTimestamp"] = epoch(a.stateAt)
	out["AlarmConfigurationUpdatedTimestamp"] = epoch(a.configuredAt)
	if _, ok := out["ActionsEnabled"]; !ok {
		out["ActionsEnabled"] = true
	}
	delete(out, "Tags")
	return out
}

func (s *Server) cwHandlers() map[string]jsonHandler {
	return map[string]jsonHandler{
		"PutMetricAlarm": func(body []byte) (any, error) {
			var raw map[string]any
			if err := decodeJSON(body, &raw); err != nil {
				return nil, err
			}
			name, _ := raw["AlarmName"].(string)
			if name == "" {
				return nil, errorf("ValidationError", "AlarmName is required")
			}
			if _, ok := raw["ComparisonOperator"]; !ok {
				return nil, errorf("ValidationError", "ComparisonOperator is required")
			}
			if _, ok := raw["EvaluationPeriods"]; !ok {
				return nil, errorf("ValidationError", "EvaluationPeriods is required")
			}
			_, hasMetric := raw["MetricName"]
			_, hasMetrics := raw["Metrics"]
			if hasMetric == hasMetrics {
				return nil, errorf("ValidationError", "Exactly one of MetricName and Metrics must be specified")
			}
			a := s.cw.alarms[name]
			if a == nil {
				a = &alarm{name: name, state: "INSUFFICIENT_DATA", reason: "Unchecked: Initial alarm creation", stateAt: s.now}
				s.cw.alarms[name] = a
			}
			a.raw, a.configuredAt = raw, s.now
			return nil, nil
		},
		"DescribeAlarms": handle(func(in struct {
			AlarmNames      []string
			AlarmNamePrefix string
			StateValue      string
			MaxRecords      int
			NextToken       string
		}) (any, error) {
			var out []map[string]any
			for _, n := range sortedKeys(s.cw.alarms) {
				a := s.cw.alarms[n]
				if len(in.AlarmNames) > 0 && !contains(in.AlarmNames, n) || !strings.HasPrefix(n, in.AlarmNamePrefix) ||
					in.StateValue != "" && a.state != in.StateValue {
					continue
				}
				out = append(out, s.alarmJSON(a))
			}
			max := in.MaxRecords
			if max == 0 {
				max = 50
			}
			items, next, err := page(out, max, in.NextToken)
			if err != nil {
				return nil, err
			}
			return map[string]any{"MetricAlarms": orEmpty(items), "CompositeAlarms": []any{}, "NextToken": omitEmpty(next)}, nil
		}),
		"DeleteAlarms": handle(func(in struct{ AlarmNames []string }) (any, error) {
			for _, n := range in.AlarmNames {
				if s.cw.alarms[n] == nil {
					return nil, errorf("ResourceNotFound", "The alarm %s does not exist.", n)
				}
			}
			for _, n := range in.AlarmNames {
				delete(s.cw.alarms, n)
			}
			return nil, nil
		}),
		"SetAlarmState": handle(func(in struct{ AlarmName, StateValue, StateReason string }) (any, error) {
			a := s.cw.alarms[in.AlarmName]
			if a == nil {
				return nil, errorf("ResourceNotFound", "The alarm %s does not exist.", in.AlarmName)
			}
			switch in.StateValue {
			case "OK", "ALARM", "INSUFFICIENT_DATA":
			default:
				return nil, errorf("InvalidParameterValue", "Invalid state value %s", in.StateValue)
			}
			a.state, a.reason, a.stateAt = in.StateValue, in.StateReason, s.now
			return nil, nil
		}),
	}
}
