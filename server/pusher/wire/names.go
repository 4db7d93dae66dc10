package wire

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on names. They bound what a client or a publisher can make the
// server store and send.
const (
	// MaxChannelLen is the longest channel name, in bytes (a valid name
	// is ASCII). The channels page of Pusher's docs says 164 characters,
	// but the server SDKs (pusher-http-node, pusher-http-go) accept up to
	// 200 and Soketi's default is 200: accepting 200 means no name an SDK
	// lets through is refused here.
	MaxChannelLen = 200
	// MaxEventLen is the longest event name, in characters (runes), as
	// pusher-http-node checks it.
	MaxEventLen = 200
	// MaxUserIDLen is the longest user id, in characters, from the
	// presence channels page ("maximum 128 characters for user id"). It
	// applies to signin ids too, since pusher-js uses the signed-in id as
	// the presence id when an authorizer sends no channel_data.
	MaxUserIDLen = 128
	// MaxUserInfoSize is the documented limit on a presence member's
	// user_info, in bytes of JSON ("1KB limit for user object"). The
	// parsers do not enforce it, so that a deployment can choose.
	MaxUserInfoSize = 1024
	// MaxPresenceMembers is the documented limit on the members of one
	// presence channel. The parsers do not enforce it.
	MaxPresenceMembers = 100
	// MaxWatchlist is the documented limit on the user ids of a signin's
	// watchlist; see CodeWatchlistLimit.
	MaxWatchlist = 100
)

// Name prefixes that give a channel its kind, from the channels, private,
// encrypted, presence and cache channels pages, and pusher-js's user.ts for
// the server-to-user channel.
const (
	prefixPrivate          = "private-"
	prefixPrivateEncrypted = "private-encrypted-"
	prefixPresence         = "presence-"
	prefixClientEvent      = "client-"
)

// UserChannelPrefix starts the name of a user's server-to-user channel,
// "#server-to-user-<user id>", as pusher-js's user.ts builds it.
const UserChannelPrefix = "#server-to-user-"

// cachePrefixes are the channel prefixes of the cache channels page's
// table: a cache version of every kind, encrypted included.
var cachePrefixes = [...]string{"cache-", "private-cache-", "private-encrypted-cache-", "presence-cache-"}

// ErrInvalidName is wrapped by the errors of ValidChannel and ValidEvent.
var ErrInvalidName = errors.New("invalid name")

// Kind is the kind of a channel, which its name's prefix decides.
type Kind uint8

// The kinds of channel.
const (
	// Public channels need no authorization.
	Public Kind = iota
	// Private channels ("private-") need a signature over the socket id
	// and the channel name.
	Private
	// PrivateEncrypted channels ("private-encrypted-") are authorized as
	// private ones. Their events are encrypted end to end by the
	// publisher; the server never holds the key and relays the ciphertext
	// as any other data.
	PrivateEncrypted
	// Presence channels ("presence-") need a signature that also covers
	// the member's channel_data.
	Presence
	// ServerToUser is a connection's own server-to-user channel
	// ("#server-to-user-<user id>"), which pusher-js subscribes to, with an
	// empty auth, after a successful signin. Only a connection signed in as
	// that user may subscribe; no signature is involved.
	ServerToUser
)

// String returns the kind's name, for logs and metrics.
func (k Kind) String() string {
	switch k {
	case Public:
		return "public"
	case Private:
		return "private"
	case PrivateEncrypted:
		return "private-encrypted"
	case Presence:
		return "presence"
	case ServerToUser:
		return "server-to-user"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// RequiresAuth reports whether subscribing to a channel of this kind needs
// a channel authorization signature, and whether client events may be sent
// on it (the protocol allows them only on authorized channels).
func (k Kind) RequiresAuth() bool {
	return k == Private || k == PrivateEncrypted || k == Presence
}

// KindOf returns the kind of the named channel. It does not validate the
// name: call ValidChannel (or UserChannelID for ServerToUser) as well.
func KindOf(channel string) Kind {
	switch {
	case strings.HasPrefix(channel, UserChannelPrefix):
		return ServerToUser
	case strings.HasPrefix(channel, prefixPresence):
		return Presence
	case strings.HasPrefix(channel, prefixPrivateEncrypted):
		return PrivateEncrypted
	case strings.HasPrefix(channel, prefixPrivate):
		return Private
	}
	return Public
}

// IsCache reports whether the named channel is a cache channel, one that
// remembers its last event for new subscribers: "cache-",
// "private-cache-", "private-encrypted-cache-" or "presence-cache-".
func IsCache(channel string) bool {
	for _, p := range cachePrefixes {
		if strings.HasPrefix(channel, p) {
			return true
		}
	}
	return false
}

// IsClientEvent reports whether an event name is a client event's, which
// clients may send on authorized channels.
func IsClientEvent(event string) bool {
	return strings.HasPrefix(event, prefixClientEvent)
}

// IsReservedEvent reports whether an event name belongs to the protocol
// ("pusher:" and "pusher_internal:"), which no publisher may use.
func IsReservedEvent(event string) bool {
	return strings.HasPrefix(event, "pusher:") || strings.HasPrefix(event, "pusher_internal:")
}

// UserChannel returns the name of the server-to-user channel of a user,
// which pusher-js subscribes to after signing in as that user and on which
// the HTTP API's events to that user are sent.
func UserChannel(userID string) string {
	return UserChannelPrefix + userID
}

// UserChannelID returns the user id of a server-to-user channel name, and
// false if the name is not one or its id is empty or too long.
func UserChannelID(channel string) (string, bool) {
	id, ok := strings.CutPrefix(channel, UserChannelPrefix)
	if !ok || validUserID(id) != nil {
		return "", false
	}
	return id, true
}

// ValidChannel checks a channel name an application may use: 1 to
// MaxChannelLen characters of A-Z, a-z, 0-9 and _ - = @ , . ; (the
// channels page). '#' is reserved for the server's own channels, so a
// server-to-user channel fails here: check it with UserChannelID.
func ValidChannel(name string) error {
	if name == "" {
		return fmt.Errorf("%w: channel name is empty", ErrInvalidName)
	}
	if len(name) > MaxChannelLen {
		return fmt.Errorf("%w: channel name is %d characters long, more than %d", ErrInvalidName, len(name), MaxChannelLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isChannelByte(c) {
			return fmt.Errorf("%w: channel name has %s at offset %d; only A-Z a-z 0-9 _ - = @ , . ; are allowed", ErrInvalidName, describeByte(c), i)
		}
	}
	return nil
}

// ValidEvent checks an event name: non-empty valid UTF-8 of at most
// MaxEventLen characters. The protocol puts no limit on its characters:
// Laravel's event names, for one, hold backslashes and dots.
func ValidEvent(name string) error {
	if name == "" {
		return fmt.Errorf("%w: event name is empty", ErrInvalidName)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: event name is not valid UTF-8", ErrInvalidName)
	}
	if n := utf8.RuneCountInString(name); n > MaxEventLen {
		return fmt.Errorf("%w: event name is %d characters long, more than %d", ErrInvalidName, n, MaxEventLen)
	}
	return nil
}

func isChannelByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '_', '-', '=', '@', ',', '.', ';':
		return true
	}
	return false
}

// describeByte names a byte for an error message that goes back to the
// client, without writing a control or non-ASCII byte into it raw.
func describeByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// validUserID checks a user id, from channel_data, user_data or a
// server-to-user channel name.
func validUserID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: user id is empty", ErrInvalidUserID)
	}
	if n := utf8.RuneCountInString(id); n > MaxUserIDLen {
		return fmt.Errorf("%w: user id is %d characters long, more than %d", ErrInvalidUserID, n, MaxUserIDLen)
	}
	return nil
}
