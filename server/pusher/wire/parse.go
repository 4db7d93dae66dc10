package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Errors of the parsers. Each error they return wraps one of these, and its
// text says which field is wrong, so it can be sent back to the client in a
// pusher:error as is.
var (
	// ErrInvalidJSON: the input is not valid JSON.
	ErrInvalidJSON = errors.New("invalid JSON")
	// ErrNotObject: the input is JSON, but not the object the protocol
	// requires.
	ErrNotObject = errors.New("not a JSON object")
	// ErrMissingEvent: the frame has no event, or an empty one.
	ErrMissingEvent = errors.New("missing event")
	// ErrMissingField: a required field is absent, null or empty.
	ErrMissingField = errors.New("missing field")
	// ErrFieldType: a field has the wrong JSON type.
	ErrFieldType = errors.New("wrong field type")
	// ErrDuplicateField: a field the protocol defines appears twice, which
	// a strict reader refuses rather than guess which one counts.
	ErrDuplicateField = errors.New("duplicate field")
	// ErrInvalidUserID: a user id is empty, too long, or a number that is
	// not an integer JavaScript can hold exactly.
	ErrInvalidUserID = errors.New("invalid user id")
)

// Frame is a client frame's envelope.
type Frame struct {
	// Event is the event name, never empty. ParseFrame does not check it
	// further: see ValidEvent, IsClientEvent and IsReservedEvent.
	Event string
	// Channel is the channel, "" when absent or null.
	Channel string
	// Data is the data's JSON value exactly as the client sent it: an
	// object, a string, or any other JSON value; nil when absent or null.
	// It aliases the parsed bytes: copy it before reusing them.
	Data json.RawMessage
}

// Subscribe is the data of a pusher:subscribe.
type Subscribe struct {
	// Channel is the channel to subscribe to, never empty. ParseSubscribe
	// does not validate the name (see ValidChannel and UserChannelID).
	Channel string
	// Auth is the authorization string "<app key>:<signature>", "" when
	// absent (public channels, and the server-to-user channel).
	Auth string
	// ChannelData is a presence channel's member data, a string holding
	// JSON (see ParsePresenceData), exactly as it was signed; "" when
	// absent.
	ChannelData string
}

// Unsubscribe is the data of a pusher:unsubscribe.
type Unsubscribe struct {
	// Channel is the channel to leave, never empty.
	Channel string
}

// Signin is the data of a pusher:signin.
type Signin struct {
	// Auth is "<app key>:<signature>" over the socket id and UserData.
	Auth string
	// UserData is a string holding JSON (see ParseUserData), exactly as
	// it was signed.
	UserData string
}

// Member is a presence channel member.
type Member struct {
	// UserID is the member's id. A numeric user_id is turned into its
	// decimal string, as JavaScript would show it.
	UserID string
	// UserInfo is the member's user_info JSON value as given, nil when
	// absent or null (the encoders send {} then).
	UserInfo json.RawMessage
}

// User is the signed-in user of a pusher:signin, from its user_data.
type User struct {
	// ID is the user's id, never empty.
	ID string
	// Info is the user_info JSON value as given, nil when absent or null.
	Info json.RawMessage
	// Watchlist is the ids whose online status the user follows, nil
	// when absent. It is not cut to MaxWatchlist.
	Watchlist []string
}

// ParseFrame parses a client frame: a JSON object with a string "event",
// an optional string "channel" and an optional "data" of any JSON type.
// Fields other than these are ignored. Keys match exactly, unlike
// encoding/json's case-insensitive match, and each may appear once.
func ParseFrame(b []byte) (Frame, error) {
	if !json.Valid(b) {
		return Frame{}, fmt.Errorf("%w: the frame is not valid JSON", ErrInvalidJSON)
	}
	var f Frame
	var seen fieldSet
	err := forEachMember(b, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "event":
			if err = seen.add(0, "event"); err == nil {
				f.Event, err = optionalString("event", val)
			}
		case "channel":
			if err = seen.add(1, "channel"); err == nil {
				f.Channel, err = optionalString("channel", val)
			}
		case "data":
			if err = seen.add(2, "data"); err == nil && !isNull(val) {
				f.Data = val
			}
		}
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotObject) {
			return Frame{}, fmt.Errorf("%w: a frame must be a JSON object", ErrNotObject)
		}
		return Frame{}, err
	}
	if f.Event == "" {
		return Frame{}, fmt.Errorf("%w: the frame has no event name", ErrMissingEvent)
	}
	return f, nil
}

// ParseSubscribe parses the data of a pusher:subscribe: an object with a
// non-empty string "channel" and optional strings "auth" and
// "channel_data". It also accepts that object encoded as a JSON string, as
// the protocol's double encoding allows; pusher-js sends the object.
func ParseSubscribe(data json.RawMessage) (Subscribe, error) {
	var s Subscribe
	var seen fieldSet
	err := forEachDataMember("pusher:subscribe", data, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "channel":
			if err = seen.add(0, "channel"); err == nil {
				s.Channel, err = optionalString("channel", val)
			}
		case "auth":
			if err = seen.add(1, "auth"); err == nil {
				s.Auth, err = optionalString("auth", val)
			}
		case "channel_data":
			// A string, because the signature covers its exact bytes:
			// an object could not be checked against it.
			if err = seen.add(2, "channel_data"); err == nil {
				s.ChannelData, err = optionalString("channel_data", val)
			}
		}
		return err
	})
	if err != nil {
		return Subscribe{}, err
	}
	if s.Channel == "" {
		return Subscribe{}, fmt.Errorf("%w: pusher:subscribe has no channel", ErrMissingField)
	}
	return s, nil
}

// ParseUnsubscribe parses the data of a pusher:unsubscribe, an object with
// a non-empty string "channel" (or that object encoded as a JSON string).
func ParseUnsubscribe(data json.RawMessage) (Unsubscribe, error) {
	var u Unsubscribe
	var seen fieldSet
	err := forEachDataMember("pusher:unsubscribe", data, func(key, val []byte) error {
		var err error
		if string(key) == "channel" {
			if err = seen.add(0, "channel"); err == nil {
				u.Channel, err = optionalString("channel", val)
			}
		}
		return err
	})
	if err != nil {
		return Unsubscribe{}, err
	}
	if u.Channel == "" {
		return Unsubscribe{}, fmt.Errorf("%w: pusher:unsubscribe has no channel", ErrMissingField)
	}
	return u, nil
}

// ParseSignin parses the data of a pusher:signin: an object with the
// non-empty strings "auth" and "user_data".
func ParseSignin(data json.RawMessage) (Signin, error) {
	var s Signin
	var seen fieldSet
	err := forEachDataMember("pusher:signin", data, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "auth":
			if err = seen.add(0, "auth"); err == nil {
				s.Auth, err = optionalString("auth", val)
			}
		case "user_data":
			if err = seen.add(1, "user_data"); err == nil {
				s.UserData, err = optionalString("user_data", val)
			}
		}
		return err
	})
	if err != nil {
		return Signin{}, err
	}
	if s.Auth == "" {
		return Signin{}, fmt.Errorf("%w: pusher:signin has no auth", ErrMissingField)
	}
	if s.UserData == "" {
		return Signin{}, fmt.Errorf("%w: pusher:signin has no user_data", ErrMissingField)
	}
	return s, nil
}

// ParsePresenceData parses a presence subscription's channel_data: an
// object with a "user_id" and an optional "user_info" of any JSON type.
//
// The user_id may be a non-empty string or an integer: the authorizing-
// users examples use both, and the presence page warns that a numeric id
// must fit JavaScript's 2^53. A number becomes its decimal string, which is
// how pusher-js keys members (JavaScript object keys are strings); a
// fraction, an exponent, or an integer past 2^53-1 is refused, since
// pusher-js would hold a different number than the one announced.
func ParsePresenceData(channelData string) (Member, error) {
	b := []byte(channelData) // a copy, so UserInfo may alias it
	if !json.Valid(b) {
		return Member{}, fmt.Errorf("%w: channel_data is not valid JSON", ErrInvalidJSON)
	}
	var m Member
	var seen fieldSet
	var hasID bool
	err := forEachMember(b, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "user_id":
			if err = seen.add(0, "user_id"); err == nil && !isNull(val) {
				hasID = true
				m.UserID, err = userIDValue("channel_data user_id", val)
			}
		case "user_info":
			if err = seen.add(1, "user_info"); err == nil && !isNull(val) {
				m.UserInfo = val
			}
		}
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotObject) {
			return Member{}, fmt.Errorf("%w: channel_data must hold a JSON object", ErrNotObject)
		}
		return Member{}, err
	}
	if !hasID {
		return Member{}, fmt.Errorf("%w: channel_data has no user_id", ErrMissingField)
	}
	return m, nil
}

// ParseUserData parses a signin's user_data: an object with a non-empty
// string "id", an optional "user_info" of any JSON type and an optional
// "watchlist" array of strings. The id must be a string, as the protocol
// page says and pusher-js checks on pusher:signin_success.
func ParseUserData(userData string) (User, error) {
	b := []byte(userData) // a copy, so Info may alias it
	if !json.Valid(b) {
		return User{}, fmt.Errorf("%w: user_data is not valid JSON", ErrInvalidJSON)
	}
	var u User
	var seen fieldSet
	var hasID bool
	err := forEachMember(b, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "id":
			if err = seen.add(0, "id"); err == nil && !isNull(val) {
				hasID = true
				var ok bool
				if u.ID, ok = stringValue(val); !ok {
					return fmt.Errorf("%w: user_data id must be a string", ErrFieldType)
				}
				if err = validUserID(u.ID); err != nil {
					err = fmt.Errorf("user_data id: %w", err)
				}
			}
		case "user_info":
			if err = seen.add(1, "user_info"); err == nil && !isNull(val) {
				u.Info = val
			}
		case "watchlist":
			if err = seen.add(2, "watchlist"); err == nil && !isNull(val) {
				if json.Unmarshal(val, &u.Watchlist) != nil {
					return fmt.Errorf("%w: user_data watchlist must be an array of strings", ErrFieldType)
				}
			}
		}
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotObject) {
			return User{}, fmt.Errorf("%w: user_data must hold a JSON object", ErrNotObject)
		}
		return User{}, err
	}
	if !hasID {
		return User{}, fmt.Errorf("%w: user_data has no id", ErrMissingField)
	}
	return u, nil
}

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER, 2^53-1.
const maxSafeInteger = 1<<53 - 1

// userIDValue reads a presence user_id, a string or an integer.
func userIDValue(field string, val []byte) (string, error) {
	if s, ok := stringValue(val); ok {
		if err := validUserID(s); err != nil {
			return "", fmt.Errorf("%s: %w", field, err)
		}
		return s, nil
	}
	if c := val[0]; c != '-' && (c < '0' || c > '9') {
		return "", fmt.Errorf("%w: %s must be a string or an integer", ErrFieldType, field)
	}
	n, err := strconv.ParseInt(string(val), 10, 64)
	if err != nil || n > maxSafeInteger || n < -maxSafeInteger {
		return "", fmt.Errorf("%w: %s must be a string or an integer of at most 2^53-1", ErrInvalidUserID, field)
	}
	return strconv.FormatInt(n, 10), nil
}

// fieldSet records which of a few fields were seen, to refuse duplicates.
type fieldSet uint8

func (s *fieldSet) add(bit uint, name string) error {
	if *s&(1<<bit) != 0 {
		return fmt.Errorf("%w: %q appears more than once", ErrDuplicateField, name)
	}
	*s |= 1 << bit
	return nil
}

// forEachDataMember walks the members of a frame's data object, which may
// also come as a JSON string holding the object.
func forEachDataMember(what string, data json.RawMessage, fn func(key, val []byte) error) error {
	if len(data) == 0 || isNull(data) {
		return fmt.Errorf("%w: %s has no data", ErrMissingField, what)
	}
	if !json.Valid(data) {
		return fmt.Errorf("%w: %s data is not valid JSON", ErrInvalidJSON, what)
	}
	if data[0] == '"' {
		s, _ := stringValue(data)
		data = []byte(s)
		if !json.Valid(data) {
			return fmt.Errorf("%w: %s data is a string that does not hold JSON", ErrInvalidJSON, what)
		}
	}
	err := forEachMember(data, fn)
	if errors.Is(err, ErrNotObject) {
		return fmt.Errorf("%w: %s data must be a JSON object", ErrNotObject, what)
	}
	return err
}

// optionalString reads a field that must be a string when present; null
// reads as "".
func optionalString(field string, val []byte) (string, error) {
	if isNull(val) {
		return "", nil
	}
	s, ok := stringValue(val)
	if !ok {
		return "", fmt.Errorf("%w: %s must be a string", ErrFieldType, field)
	}
	return s, nil
}

// stringValue decodes a JSON value that is a string. The value must be
// valid JSON. Invalid UTF-8 is replaced as encoding/json does.
func stringValue(val []byte) (string, bool) {
	if len(val) < 2 || val[0] != '"' {
		return "", false
	}
	inner := val[1 : len(val)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(val, &s) != nil {
		return "", false
	}
	return s, true
}

func isNull(val []byte) bool {
	return string(val) == "null"
}

// forEachMember calls fn with the key (unescaped) and the raw value of each
// member of the JSON object b, in order. b must be valid JSON (json.Valid),
// which is what lets the scan below skip values by their delimiters; it
// still checks its bounds, so wrong input ends in ErrInvalidJSON, never a
// panic. It returns ErrNotObject if b is not an object.
func forEachMember(b []byte, fn func(key, val []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return ErrNotObject
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return errScan
		}
		end := skipString(b, i)
		if end < 0 {
			return errScan
		}
		key := b[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			s, ok := stringValue(b[i:end])
			if !ok {
				return errScan
			}
			key = []byte(s)
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return errScan
		}
		i = skipSpace(b, i+1)
		end = skipValue(b, i)
		if end < 0 {
			return errScan
		}
		if err := fn(key, b[i:end]); err != nil {
			return err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return errScan
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return nil
		default:
			return errScan
		}
	}
}

// errScan is returned by the scan for input json.Valid would refuse; the
// exported parsers check validity first, so clients never see it.
var errScan = fmt.Errorf("%w: unexpected input", ErrInvalidJSON)

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string starting at b[i], or
// -1.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index just past the value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := skipString(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if j == i {
				return -1
			}
			return j
		}
		j++
	}
	if j == i {
		return -1
	}
	return j
}
