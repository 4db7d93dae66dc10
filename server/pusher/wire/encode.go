package wire

import (
	"strconv"
	"unicode/utf8"
)

// Each Append function appends one complete server frame, a JSON object,
// to dst (which may be nil) and returns the extended slice. None uses
// reflection or allocates except to grow dst, so a caller that reuses a
// large enough buffer allocates nothing. Strings are escaped for any
// input, invalid UTF-8 and control characters included (see
// AppendJSONString); raw JSON arguments (a member's user info, a client
// event's data) must be valid JSON, as this package's parsers return them.

// AppendConnectionEstablished appends the pusher:connection_established
// frame that greets a client, with its socket id and the activity timeout
// in seconds after which an idle client should ping. pusher-js refuses the
// handshake when activity_timeout is missing or zero, so it must be
// positive; pusher-js pings after the smaller of it and its own setting
// (120 s by default).
func AppendConnectionEstablished(dst []byte, socketID string, activityTimeout int) []byte {
	dst = append(dst, `{"event":"pusher:connection_established","data":`...)
	start := len(dst)
	dst = append(dst, `{"socket_id":`...)
	dst = AppendJSONString(dst, socketID)
	dst = append(dst, `,"activity_timeout":`...)
	dst = strconv.AppendInt(dst, int64(activityTimeout), 10)
	dst = append(dst, '}')
	dst = quoteTail(dst, start)
	return append(dst, '}')
}

// AppendError appends a pusher:error frame. The code is one of the Code
// constants, or 0 for none, which leaves it out: the protocol makes it
// optional, and has none for a frame the server cannot read
// (CodeBadFrame).
func AppendError(dst []byte, code int, message string) []byte {
	dst = append(dst, `{"event":"pusher:error","data":{`...)
	if code != 0 {
		dst = append(dst, `"code":`...)
		dst = strconv.AppendInt(dst, int64(code), 10)
		dst = append(dst, ',')
	}
	dst = append(dst, `"message":`...)
	dst = AppendJSONString(dst, message)
	return append(dst, "}}"...)
}

// AppendPing appends a pusher:ping, which the client answers with a
// pusher:pong.
func AppendPing(dst []byte) []byte {
	return append(dst, `{"event":"pusher:ping","data":{}}`...)
}

// AppendPong appends the pusher:pong that answers a client's pusher:ping.
func AppendPong(dst []byte) []byte {
	return append(dst, `{"event":"pusher:pong","data":{}}`...)
}

// AppendSubscriptionSucceeded appends the
// pusher_internal:subscription_succeeded that confirms a subscription.
//
// For a presence channel its data is a JSON string holding
// {"presence":{"ids":[...],"hash":{id:info,...},"count":n}} with members,
// which must have distinct user ids (and include the new subscriber). A
// member without user info is given {}, as Sockudo does, so that
// pusher-js's members and Laravel Echo's here() see an object.
//
// For any other channel members is ignored and the data is the JSON string
// "{}", as Sockudo sends it (the protocol documents the data only for
// presence channels). The channel's name decides, not whether members is
// nil, because pusher-js reads data.presence on every presence channel and
// would fail on "{}".
func AppendSubscriptionSucceeded(dst []byte, channel string, members []Member) []byte {
	dst = append(dst, `{"event":"pusher_internal:subscription_succeeded",`...)
	dst = appendChannel(dst, channel)
	if KindOf(channel) != Presence {
		return append(dst, `"data":"{}"}`...)
	}
	dst = append(dst, `"data":`...)
	start := len(dst)
	dst = append(dst, `{"presence":{"ids":[`...)
	for i, m := range members {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, m.UserID)
	}
	dst = append(dst, `],"hash":{`...)
	for i, m := range members {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, m.UserID)
		dst = append(dst, ':')
		dst = appendUserInfo(dst, m.UserInfo)
	}
	dst = append(dst, `},"count":`...)
	dst = strconv.AppendInt(dst, int64(len(members)), 10)
	dst = append(dst, "}}"...)
	dst = quoteTail(dst, start)
	return append(dst, '}')
}

// AppendSubscriptionError appends a pusher:subscription_error, which
// pusher-js emits on the channel as it is. The protocol page does not
// document it as a server frame; its data is the object pusher-js itself
// emits when authorization fails, which Soketi also sends:
// {"type":"AuthError","error":"...","status":401}. typ is the category
// ("AuthError", "LimitReached", ...) and status an HTTP-like status, or 0
// for none.
func AppendSubscriptionError(dst []byte, channel, typ, message string, status int) []byte {
	dst = append(dst, `{"event":"pusher:subscription_error",`...)
	dst = appendChannel(dst, channel)
	dst = append(dst, `"data":{"type":`...)
	dst = AppendJSONString(dst, typ)
	dst = append(dst, `,"error":`...)
	dst = AppendJSONString(dst, message)
	if status != 0 {
		dst = append(dst, `,"status":`...)
		dst = strconv.AppendInt(dst, int64(status), 10)
	}
	return append(dst, "}}"...)
}

// AppendMemberAdded appends the pusher_internal:member_added that tells a
// presence channel's other subscribers of a new member; its data is a JSON
// string holding {"user_id":...,"user_info":...}. userInfo is the
// member's user info JSON (Member.UserInfo); empty sends {}.
func AppendMemberAdded(dst []byte, channel, userID string, userInfo []byte) []byte {
	dst = append(dst, `{"event":"pusher_internal:member_added",`...)
	dst = appendChannel(dst, channel)
	dst = append(dst, `"data":`...)
	start := len(dst)
	dst = append(dst, `{"user_id":`...)
	dst = AppendJSONString(dst, userID)
	dst = append(dst, `,"user_info":`...)
	dst = appendUserInfo(dst, userInfo)
	dst = append(dst, '}')
	dst = quoteTail(dst, start)
	return append(dst, '}')
}

// AppendMemberRemoved appends the pusher_internal:member_removed sent when
// a presence channel's member leaves; its data is a JSON string holding
// {"user_id":...}.
func AppendMemberRemoved(dst []byte, channel, userID string) []byte {
	dst = append(dst, `{"event":"pusher_internal:member_removed",`...)
	dst = appendChannel(dst, channel)
	dst = append(dst, `"data":`...)
	start := len(dst)
	dst = append(dst, `{"user_id":`...)
	dst = AppendJSONString(dst, userID)
	dst = append(dst, '}')
	dst = quoteTail(dst, start)
	return append(dst, '}')
}

// AppendCacheMiss appends the pusher:cache_miss sent, after
// subscription_succeeded, to a subscriber of a cache channel that holds no
// event. Its data is the JSON string "{}", as Sockudo sends it.
func AppendCacheMiss(dst []byte, channel string) []byte {
	dst = append(dst, `{"event":"pusher:cache_miss",`...)
	dst = appendChannel(dst, channel)
	return append(dst, `"data":"{}"}`...)
}

// AppendSigninSuccess appends the pusher:signin_success that accepts a
// pusher:signin; userData is the signin's user_data string, unchanged,
// which pusher-js parses for the user's id.
func AppendSigninSuccess(dst []byte, userData string) []byte {
	dst = append(dst, `{"event":"pusher:signin_success","data":{"user_data":`...)
	dst = AppendJSONString(dst, userData)
	return append(dst, "}}"...)
}

// AppendEvent appends a channel event.
//
// With dataIsString, data is the text of a string (an HTTP API event's
// data field, which is a string) and is sent as that JSON string. Without
// it, data is a JSON value sent as it is (a client event's data, exactly as
// the client sent it, which must be valid JSON as ParseFrame's Data is);
// empty data then leaves the field out.
//
// userID, when not "", is added as "user_id": the protocol adds it to
// client events on presence channels, with the sender's user id.
func AppendEvent(dst []byte, event, channel string, data []byte, dataIsString bool, userID string) []byte {
	dst = append(dst, `{"event":`...)
	dst = AppendJSONString(dst, event)
	dst = append(dst, ',')
	dst = appendChannel(dst, channel)
	switch {
	case dataIsString:
		dst = append(dst, `"data":`...)
		dst = AppendJSONString(dst, data)
		dst = append(dst, ',')
	case len(data) > 0:
		dst = append(dst, `"data":`...)
		dst = append(dst, data...)
		dst = append(dst, ',')
	}
	if userID != "" {
		dst = append(dst, `"user_id":`...)
		dst = AppendJSONString(dst, userID)
		dst = append(dst, ',')
	}
	// Every branch above ends in a comma; the last one closes the object.
	dst[len(dst)-1] = '}'
	return dst
}

// appendChannel appends `"channel":"...",` when channel is not "".
func appendChannel(dst []byte, channel string) []byte {
	if channel == "" {
		return dst
	}
	dst = append(dst, `"channel":`...)
	dst = AppendJSONString(dst, channel)
	return append(dst, ',')
}

func appendUserInfo(dst, info []byte) []byte {
	if len(info) == 0 {
		return append(dst, "{}"...)
	}
	return append(dst, info...)
}

// quoteTail replaces dst[start:] with that text as a JSON string: the
// protocol's double encoding. The quoted copy is appended after the raw
// text and moved down over it, so the only memory used is dst's own.
func quoteTail(dst []byte, start int) []byte {
	n := len(dst)
	raw := dst[start:n] // still the raw text even if the appends below move dst
	dst = AppendJSONString(dst, raw)
	m := copy(dst[start:], dst[n:])
	return dst[:start+m]
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string literal. It escapes '"', '\'
// and every control character, and U+2028 and U+2029 (as encoding/json
// does, so the output is also valid JavaScript), and replaces each byte of
// invalid UTF-8 with U+FFFD, as encoding/json does: decoding the result
// with encoding/json gives what decoding json.Marshal(s) gives.
func AppendJSONString[T ~string | ~[]byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// decodeRune is utf8.DecodeRune for either kind of text, without
// converting (and so copying) one into the other.
func decodeRune[T ~string | ~[]byte](s T) (rune, int) {
	// Mirrors utf8.DecodeRune, which has no generic form.
	n := len(s)
	if n < 1 {
		return utf8.RuneError, 0
	}
	c0 := s[0]
	if c0 < utf8.RuneSelf {
		return rune(c0), 1
	}
	var need int
	var min rune
	var r rune
	switch {
	case c0&0xe0 == 0xc0:
		need, min, r = 2, 0x80, rune(c0&0x1f)
	case c0&0xf0 == 0xe0:
		need, min, r = 3, 0x800, rune(c0&0x0f)
	case c0&0xf8 == 0xf0:
		need, min, r = 4, 0x10000, rune(c0&0x07)
	default:
		return utf8.RuneError, 1
	}
	if n < need {
		return utf8.RuneError, 1
	}
	for k := 1; k < need; k++ {
		c := s[k]
		if c&0xc0 != 0x80 {
			return utf8.RuneError, 1
		}
		r = r<<6 | rune(c&0x3f)
	}
	if r < min || r > utf8.MaxRune || (0xd800 <= r && r <= 0xdfff) {
		return utf8.RuneError, 1
	}
	return r, need
}
