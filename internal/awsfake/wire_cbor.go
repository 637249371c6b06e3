package awsfake

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/smithy-go/encoding/cbor"
)

// CloudWatch's SDK client speaks Smithy RPC v2 CBOR by default:
// POST /service/GraniteServiceVersion20100801/operation/<Op>. The fake
// translates such a request to the JSON its handlers read and their JSON
// answer back to CBOR. CBOR is typed where JSON is not, so the answer's
// numbers and timestamps are typed by field name: keys ending in
// "Timestamp" are timestamps (tag 1), cborDoubles are doubles, other
// numbers are integers. That covers the CloudWatch alarm shapes berth uses.
var cborDoubles = map[string]bool{"Threshold": true}

const cborPrefix = "/service/GraniteServiceVersion20100801/operation/"

func (s *Server) serveCBOR(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.URL.Path, cborPrefix)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeCBORError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	jsonBody := []byte("{}")
	if len(body) > 0 {
		v, err := cbor.Decode(body)
		if err != nil {
			writeCBORError(w, http.StatusBadRequest, "SerializationException", err.Error())
			return
		}
		if jsonBody, err = json.Marshal(fromCBOR(v)); err != nil {
			writeCBORError(w, http.StatusBadRequest, "SerializationException", err.Error())
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, how, ae := callLocked(s, r, ServiceCloudWatch, op, cborFaults, func() (any, error) {
		return s.dispatchJSON(ServiceCloudWatch, op, jsonBody)
	})
	if ae != nil {
		writeCBORError(w, ae.status(), ae.Code, ae.Message)
		return
	}
	switch how {
	case answerBlank:
		out = nil
	case answerHollow:
		out = hollowed(out)
	}
	if out == nil {
		out = struct{}{}
	}
	b, err := json.Marshal(out)
	var generic any
	if err == nil {
		err = unmarshalNumber(b, &generic)
	}
	if err != nil {
		writeCBORError(w, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	_, _ = w.Write(cbor.Encode(toCBOR("", generic)))
}

func writeCBORError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.WriteHeader(status)
	_, _ = w.Write(cbor.Encode(cbor.Map{"__type": cbor.String(code), "message": cbor.String(message)}))
}

// fromCBOR turns a decoded CBOR value into what encoding/json would have
// produced from the equivalent JSON request (timestamps as epoch seconds).
func fromCBOR(v cbor.Value) any {
	switch t := v.(type) {
	case cbor.Map:
		out := map[string]any{}
		for k, iv := range t {
			out[k] = fromCBOR(iv)
		}
		return out
	case cbor.List:
		out := make([]any, len(t))
		for i, iv := range t {
			out[i] = fromCBOR(iv)
		}
		return out
	case cbor.String:
		return string(t)
	case cbor.Uint:
		return json.Number(strconv.FormatUint(uint64(t), 10))
	case cbor.NegInt:
		return json.Number("-" + strconv.FormatUint(uint64(t)+1, 10))
	case cbor.Float32:
		return float64(t)
	case cbor.Float64:
		return float64(t)
	case cbor.Bool:
		return bool(t)
	case *cbor.Tag:
		return fromCBOR(t.Value)
	case cbor.Slice:
		return []byte(t)
	}
	return nil
}

// toCBOR types a JSON-shaped value for the CBOR answer (see cborDoubles).
func toCBOR(key string, v any) cbor.Value {
	switch t := v.(type) {
	case map[string]any:
		out := cbor.Map{}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if t[k] == nil {
				continue
			}
			out[k] = toCBOR(k, t[k])
		}
		return out
	case []any:
		out := make(cbor.List, len(t))
		for i, iv := range t {
			out[i] = toCBOR(key, iv)
		}
		return out
	case string:
		return cbor.String(t)
	case bool:
		return cbor.Bool(t)
	case json.Number:
		f, _ := t.Float64()
		switch {
		case strings.HasSuffix(key, "Timestamp"):
			return &cbor.Tag{ID: 1, Value: cbor.Float64(f)}
		case cborDoubles[key]:
			return cbor.Float64(f)
		case f < 0:
			return cbor.NegInt(uint64(-f) - 1)
		case f == math.Trunc(f):
			return cbor.Uint(uint64(f))
		}
		return cbor.Float64(f)
	}
	return &cbor.Nil{}
}
