package deploy

// This file is the only place in package deploy that does I/O: the HTTP
// requests of smoke checks and analysis webhooks.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// checkTimeout bounds a check when the caller's client has no timeout.
const checkTimeout = 10 * time.Second

// maxCheckBody is how much of an answer is read for its verdict or detail.
const maxCheckBody = 64 << 10

// RunSmoke GETs every path against baseURL (the new fleet, e.g. one new
// task's "http://127.0.0.1:PORT", or the router with the preview header)
// and reports one result per path: a 2xx answer passes. A nil client
// uses one with a 10s timeout.
func RunSmoke(ctx context.Context, client *http.Client, baseURL string, paths []string) []CheckResult {
	client = checkClient(client)
	base := strings.TrimSuffix(baseURL, "/")
	out := make([]CheckResult, 0, len(paths))
	for _, path := range paths {
		res := CheckResult{Name: "GET " + path}
		res.OK, res.Detail = smoke(ctx, client, base+path)
		out = append(out, res)
	}
	return out
}

func smoke(ctx context.Context, client *http.Client, target string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false, fmt.Sprintf("build request: %v", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxCheckBody))
	if resp.StatusCode/100 == 2 {
		return true, resp.Status
	}
	return false, withBody(resp.Status, body)
}

// CallWebhook POSTs payload as JSON to url and reads the verdict: a 2xx
// answer with an empty body or a body {"pass": true} passes; anything else
// (another status, {"pass": false}, an unreadable body, a network error)
// fails, with the detail (a "reason" or "message" field of the answer is
// quoted). The result's Name holds the URL without its query, which may
// carry a token. A nil client uses one with a 10s timeout.
func CallWebhook(ctx context.Context, client *http.Client, url string, payload any) CheckResult {
	res := CheckResult{Name: "webhook " + redactURL(url)}
	res.OK, res.Detail = webhook(ctx, checkClient(client), url, payload)
	return res
}

func webhook(ctx context.Context, client *http.Client, target string, payload any) (bool, string) {
	data, err := json.Marshal(payload)
	if err != nil {
		return false, fmt.Sprintf("encode payload: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(data))
	if err != nil {
		return false, fmt.Sprintf("build request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// A *url.Error repeats the URL, which may carry a token.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCheckBody))
	if err != nil {
		return false, fmt.Sprintf("%s: read answer: %v", resp.Status, err)
	}
	if resp.StatusCode/100 != 2 {
		return false, withBody(resp.Status, body)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true, resp.Status
	}
	var verdict struct {
		Pass    *bool  `json:"pass"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &verdict); err != nil || verdict.Pass == nil {
		return false, withBody(resp.Status+`: answer is not {"pass": true|false}`, body)
	}
	why := verdict.Reason
	if why == "" {
		why = verdict.Message
	}
	if !*verdict.Pass {
		if why == "" {
			return false, "answered pass: false"
		}
		return false, "answered pass: false: " + why
	}
	return true, resp.Status
}

func checkClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: checkTimeout}
}

// withBody appends the start of an answer's body to a detail.
func withBody(detail string, body []byte) string {
	b := strings.TrimSpace(string(body))
	if b == "" {
		return detail
	}
	if len(b) > 200 {
		b = b[:200] + "…"
	}
	return detail + ": " + b
}

// redactURL drops a URL's query, fragment and user info.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}
