// Package notify posts deployment events (started, promoted, succeeded,
// rolled back) to the webhook URLs of a spec's notify: list, as JSON or as
// a Slack-compatible {"text": ...} body. Delivery is asynchronous and
// bounded in time; a failure is logged and never reaches or blocks the
// deployment that sent the event.
package notify
