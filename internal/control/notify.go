package control

import (
	"context"
	"encoding/json"

	"github.com/berth-dev/berth/internal/notify"
	"github.com/berth-dev/berth/internal/store"
)

// notifyDeployment tells the release's webhooks about a deployment event.
// Notifying never blocks or fails a deployment. Caller holds mu.
func (v *svc) notifyDeployment(ri *relInfo, kind, msg string, d *store.Deployment) {
	n := v.notifierFor(ri)
	if n == nil {
		return
	}
	n.Send(context.Background(), notify.Event{Kind: kind, Service: v.name, Release: d.ToRelease,
		FromRelease: d.FromRelease, Message: msg, Time: v.s.cfg.Clock.Now()})
}

// notify sends an event that is not tied to a deployment record.
func (v *svc) notify(ri *relInfo, kind, msg string) {
	if v.dep == nil {
		return
	}
	v.notifyDeployment(ri, kind, msg, v.dep)
}

// notifierFor returns the notifier for the release's webhook list, made
// anew when the list changed. Caller holds mu.
func (v *svc) notifierFor(ri *relInfo) *notify.Notifier {
	if len(ri.cfg.Notify) == 0 {
		return nil
	}
	raw, _ := json.Marshal(ri.cfg.Notify)
	if v.notifier != nil && v.notifyKey == string(raw) {
		return v.notifier
	}
	old := v.notifier
	v.notifier = notify.New(ri.cfg.Notify, notify.Options{Logger: v.log.With("component", "notify")})
	v.notifyKey = string(raw)
	if old != nil {
		go old.Close()
	}
	return v.notifier
}
