package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/wsfargate/websocket-service/server/protocol"
)

func TestParseMessage(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{`{"test": true}`, true},
		{`[1,2,3]`, true},
		{`"text"`, true},
		{`42`, true},
		{`  {"a":1}  `, true},
		{``, false},
		{`{`, false},
		{`{} {}`, false},
		{`{"a":1,}`, false},
		{"\xff", false},
	}
	for _, tt := range tests {
		_, err := protocol.ParseMessage([]byte(tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("ParseMessage(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if err != nil && !errors.Is(err, protocol.ErrNotJSON) {
			t.Errorf("ParseMessage(%q) err = %v, want ErrNotJSON", tt.in, err)
		}
	}
}

func TestAppendBroadcast(t *testing.T) {
	got := protocol.AppendBroadcast(nil, json.RawMessage(`{"a":[1,"x"]}`), 1234567)
	want := `{"message":{"a":[1,"x"]},"offset":"1234567"}`
	if string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestHelloResumed(t *testing.T) {
	if got := string(protocol.HelloResumed(12)); got != `{"connection":"ok","replay":12}` {
		t.Fatalf("got %s", got)
	}
}

func TestEncodeError(t *testing.T) {
	var f protocol.ErrorFrame
	b := protocol.EncodeError(protocol.CodeInvalidJSON, "bad \"quote\" \xff")
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if f.Error.Code != "invalid_json" || f.Error.Detail == "" {
		t.Fatalf("decoded %+v", f)
	}
}

func TestParseOffset(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{{"0", true}, {"18446744073709551615", true}, {"18446744073709551616", false}, {"-1", false}, {"1-2", false}, {"", false}} {
		if _, err := protocol.ParseOffset(tt.in); (err == nil) != tt.ok {
			t.Errorf("ParseOffset(%q) err %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

// Whatever a client sends, either it is refused or the broadcast built from
// it is valid JSON that carries the same value back.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{`{"test":true}`, `[]`, `"\u0000"`, `{"a":1e400}`, `{"a":"\ud800"}`, "\"\xff\"", `{} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		payload, err := protocol.ParseMessage(in)
		if err != nil {
			return
		}
		frame := protocol.AppendBroadcast(nil, payload, 7)
		var out struct {
			Message json.RawMessage `json:"message"`
			Offset  string          `json:"offset"`
		}
		if err := json.Unmarshal(frame, &out); err != nil {
			t.Fatalf("broadcast of %q is not valid JSON: %v", in, err)
		}
		if out.Offset != "7" {
			t.Fatalf("offset %q", out.Offset)
		}
		var want, got bytes.Buffer
		if json.Compact(&want, in) != nil || json.Compact(&got, out.Message) != nil || want.String() != got.String() {
			t.Fatalf("payload %q came back as %q", in, out.Message)
		}
	})
}

func FuzzParseOffset(f *testing.F) {
	f.Add("123")
	f.Add("99999999999999999999")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := protocol.ParseOffset(s)
		if err == nil && protocol.AppendBroadcast(nil, json.RawMessage("1"), n) == nil {
			t.Fatal("unreachable")
		}
	})
}
