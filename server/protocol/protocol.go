// Package protocol defines the frames the server and its clients exchange.
// It is compatible with the seed: the server greets with
// {"connection":"ok"} and wraps every broadcast JSON value as
// {"message": <value>}. Beyond the seed, broadcasts carry the offset a client
// resumes from, and errors reach the sender as {"error": {...}}.
package protocol

import (
	"encoding/json"
	"errors"
	"strconv"
)

// Hello is the first frame on every connection; helloFrame is it framed,
// once for every connection.
var (
	hello      = []byte(`{"connection":"ok"}`)
	helloFrame = TextFrame(hello)
)

// Hello returns the greeting frame. The caller must not modify it.
func Hello() []byte { return hello }

// HelloFrame returns Hello as a WebSocket text frame. The caller must not
// modify it.
func HelloFrame() []byte { return helloFrame }

// HelloResumed is the greeting on a resumed connection whose history is
// intact: replay says how many messages from history come before the live
// ones, so a client can tell recovered messages from new ones.
func HelloResumed(replay int) []byte {
	return append(strconv.AppendInt([]byte(`{"connection":"ok","replay":`), int64(replay), 10), '}')
}

// Error codes sent in error frames.
const (
	CodeInvalidJSON    = "invalid_json"
	CodeRateLimited    = "rate_limited"
	CodeRecoveryFailed = "recovery_failed"
	CodeUnavailable    = "unavailable"
)

// Close reasons. WebSocket limits reasons to 123 bytes; these are constant so
// that clients can match them.
const (
	ReasonShutdown     = "server shutting down"
	ReasonSlowConsumer = "slow consumer: send queue full"
	ReasonRateLimited  = "rate limit exceeded"
	ReasonBinary       = "binary frames are not supported; send JSON text"
	ReasonOverCapacity = "server at capacity, try again later"
)

// ErrNotJSON is returned by ParseMessage for a payload that is not one JSON
// value.
var ErrNotJSON = errors.New("message is not valid JSON")

// ParseMessage checks a client's text frame and returns it as the JSON value
// to broadcast. It rejects anything that is not exactly one JSON value, so a
// broadcast frame built from it is always valid JSON.
func ParseMessage(b []byte) (json.RawMessage, error) {
	if !json.Valid(b) {
		return nil, ErrNotJSON
	}
	return json.RawMessage(b), nil
}

// AppendBroadcast appends the frame that delivers payload at offset to dst.
// payload must be valid JSON (see ParseMessage). It is built by hand rather
// than with encoding/json because the payload is already valid JSON and this
// runs once per broadcast on the hot path.
func AppendBroadcast(dst []byte, payload json.RawMessage, offset uint64) []byte {
	dst = append(dst, `{"message":`...)
	dst = append(dst, payload...)
	dst = append(dst, `,"offset":"`...)
	dst = strconv.AppendUint(dst, offset, 10)
	return append(dst, `"}`...)
}

// ParseOffset reads an offset as clients send it back (?since=N).
func ParseOffset(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("offset must be a decimal number from a message's \"offset\" field")
	}
	return n, nil
}

// ErrorFrame is the frame sent to one client when something it did failed.
type ErrorFrame struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody says what failed and why.
type ErrorBody struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// EncodeError returns the error frame for code and detail.
func EncodeError(code, detail string) []byte {
	b, err := json.Marshal(ErrorFrame{Error: ErrorBody{Code: code, Detail: detail}})
	if err != nil {
		// Marshalling two strings cannot fail; invalid UTF-8 is replaced.
		panic(err)
	}
	return b
}
