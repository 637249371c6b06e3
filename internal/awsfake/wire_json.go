package awsfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// apiError is an AWS error: its Code is what the SDK's smithy.APIError
// reports as ErrorCode().
type apiError struct {
	Code    string
	Message string
	// Status is the HTTP status; 400 when zero.
	Status int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func (e *apiError) status() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return &apiError{Code: "InternalFailure", Message: err.Error(), Status: http.StatusInternalServerError}
}

func errorf(code, format string, args ...any) error {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// jsonHandler answers one JSON-protocol operation: the request body in,
// a value to encode as the response out.
type jsonHandler func(body []byte) (any, error)

// handle adapts a typed handler to a jsonHandler, decoding the body into In
// (field names match case-insensitively, as the wire's camelCase or
// PascalCase needs).
func handle[In any](fn func(in In) (any, error)) jsonHandler {
	return func(body []byte) (any, error) {
		var in In
		if len(bytes.TrimSpace(body)) > 0 {
			if err := unmarshalNumber(body, &in); err != nil {
				return nil, &apiError{Code: "SerializationException", Message: err.Error()}
			}
		}
		return fn(in)
	}
}

func writeJSON(w http.ResponseWriter, prefix string, out any) {
	if out == nil {
		out = struct{}{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	ct := "application/x-amz-json-1.1"
	if prefix == "GraniteServiceVersion20100801" {
		ct = "application/x-amz-json-1.0"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Amzn-RequestId", "00000000-0000-0000-0000-000000000000")
	_, _ = w.Write(b)
}

func writeJSONError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"__type": code, "message": message})
	_, _ = w.Write(b)
}

// epoch is a time encoded as JSON epoch seconds, as the JSON protocols do.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	t := time.Time(e)
	return []byte(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)), nil
}

func (e *epoch) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("timestamp %s: %w", b, err)
	}
	*e = epoch(time.UnixMilli(int64(f * 1000)).UTC())
	return nil
}

// page slices items for MaxResults/NextToken pagination: the token is the
// index of the next item.
func page[T any](items []T, max int, token string) ([]T, string, error) {
	start := 0
	if token != "" {
		n, err := strconv.Atoi(token)
		if err != nil || n < 0 || n > len(items) {
			return nil, "", errorf("InvalidParameterException", "invalid nextToken %q", token)
		}
		start = n
	}
	end := len(items)
	if max > 0 && start+max < end {
		end = start + max
	}
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return items[start:end], next, nil
}

// unmarshalNumber decodes JSON keeping numbers as json.Number inside
// interface values, so integers round-trip exactly.
func unmarshalNumber(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return dec.Decode(v)
}
