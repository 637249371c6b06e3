package spec

import (
	"strings"

	"github.com/berth-dev/berth/internal/api"
)

// EventKinds are the event kinds the control plane emits (api.Event.Kind),
// the names a notify target's events: may list. A test keeps it equal to
// the constants of internal/api.
var EventKinds = []string{
	api.EventDeployStarted,
	api.EventDeployProgress,
	api.EventDeployPromoted,
	api.EventDeployAnalysis,
	api.EventDeploySucceeded,
	api.EventDeployRollback,
	api.EventDeployFailed,
	api.EventTaskStarted,
	api.EventTaskHealthy,
	api.EventTaskUnhealthy,
	api.EventTaskChecking,
	api.EventTaskExited,
	api.EventTaskStopped,
	api.EventTaskAdopted,
	api.EventTaskLost,
	api.EventHealRestarted,
	api.EventHealBudgetSpent,
	api.EventHealResumed,
	api.EventHealRolledBack,
	api.EventHealRestart,
	api.EventServiceScaled,
	api.EventServicePanic,
	api.EventServiceRecommitted,
	api.EventScaleOut,
	api.EventScaleIn,
	api.EventTLSExpiring,
}

// NotifyEvents is every name notify events: accepts: the event kinds, and
// the deploy.* kinds without their prefix (succeeded, rolled_back, …), as
// the notifier matches them.
func NotifyEvents() []string {
	out := append([]string(nil), EventKinds...)
	for _, k := range EventKinds {
		if short, ok := strings.CutPrefix(k, "deploy."); ok {
			out = append(out, short)
		}
	}
	return out
}
