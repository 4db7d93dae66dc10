package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestValidChannel(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"my-channel", true},
		{"foo-bar_1234@=,.;", true}, // the channels page's example
		{"private-encrypted-cache-x", true},
		{"presence-room.1", true},
		{strings.Repeat("a", MaxChannelLen), true},
		{"", false},
		{strings.Repeat("a", MaxChannelLen+1), false},
		{"#server-to-user-1", false}, // '#' is reserved for the server
		{"with space", false},
		{"slash/es", false},
		{"colon:s", false}, // would make "socket:channel:data" ambiguous
		{"quote\"", false},
		{"nul\x00", false},
		{"é", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		err := ValidChannel(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidChannel(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidChannel(%q) = %v, does not wrap ErrInvalidName", tt.name, err)
		}
	}
}

func TestValidEvent(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"my-event", true},
		{"client-typing", true},
		{`App\Events\OrderShipped`, true}, // Laravel's event names
		{".order.shipped", true},
		{"événement", true},
		{strings.Repeat("é", MaxEventLen), true}, // counted in characters
		{"", false},
		{strings.Repeat("e", MaxEventLen+1), false},
		{"bad\xffutf8", false},
	}
	for _, tt := range tests {
		err := ValidEvent(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidEvent(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidEvent(%q) = %v, does not wrap ErrInvalidName", tt.name, err)
		}
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		channel string
		kind    Kind
		auth    bool
		cache   bool
	}{
		{"my-channel", Public, false, false},
		{"cache-x", Public, false, true},
		{"private-x", Private, true, false},
		{"private-cache-x", Private, true, true},
		{"private-encrypted-x", PrivateEncrypted, true, false},
		{"private-encrypted-cache-x", PrivateEncrypted, true, true},
		{"presence-x", Presence, true, false},
		{"presence-cache-x", Presence, true, true},
		{"#server-to-user-42", ServerToUser, false, false},
		{"privatex", Public, false, false},
		{"Private-x", Public, false, false}, // prefixes are case-sensitive
		{"x-private-y", Public, false, false},
		{"cache", Public, false, false},
		{"encrypted-x", Public, false, false},
	}
	for _, tt := range tests {
		if got := KindOf(tt.channel); got != tt.kind {
			t.Errorf("KindOf(%q) = %v, want %v", tt.channel, got, tt.kind)
		}
		if got := KindOf(tt.channel).RequiresAuth(); got != tt.auth {
			t.Errorf("KindOf(%q).RequiresAuth() = %v, want %v", tt.channel, got, tt.auth)
		}
		if got := IsCache(tt.channel); got != tt.cache {
			t.Errorf("IsCache(%q) = %v, want %v", tt.channel, got, tt.cache)
		}
	}
}

func TestKindString(t *testing.T) {
	tests := map[Kind]string{
		Public:           "public",
		Private:          "private",
		PrivateEncrypted: "private-encrypted",
		Presence:         "presence",
		ServerToUser:     "server-to-user",
		Kind(99):         "Kind(99)",
	}
	for k, want := range tests {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}

func TestEventPrefixes(t *testing.T) {
	tests := []struct {
		event            string
		client, reserved bool
	}{
		{"client-typing", true, false},
		{"client", false, false},
		{"my-event", false, false},
		{"pusher:subscribe", false, true},
		{"pusher_internal:member_added", false, true},
		{"pusher-x", false, false},
	}
	for _, tt := range tests {
		if got := IsClientEvent(tt.event); got != tt.client {
			t.Errorf("IsClientEvent(%q) = %v, want %v", tt.event, got, tt.client)
		}
		if got := IsReservedEvent(tt.event); got != tt.reserved {
			t.Errorf("IsReservedEvent(%q) = %v, want %v", tt.event, got, tt.reserved)
		}
	}
}

func TestUserChannel(t *testing.T) {
	if got := UserChannel("42"); got != "#server-to-user-42" {
		t.Errorf("UserChannel(42) = %q", got)
	}
	tests := []struct {
		channel string
		id      string
		ok      bool
	}{
		{"#server-to-user-42", "42", true},
		{"#server-to-user-user@example.com", "user@example.com", true},
		{UserChannel("with space"), "with space", true}, // ids are any string
		{"#server-to-user-", "", false},
		{UserChannel(strings.Repeat("u", MaxUserIDLen+1)), "", false},
		{"server-to-user-42", "", false},
		{"private-x", "", false},
	}
	for _, tt := range tests {
		id, ok := UserChannelID(tt.channel)
		if id != tt.id || ok != tt.ok {
			t.Errorf("UserChannelID(%q) = %q, %v; want %q, %v", tt.channel, id, ok, tt.id, tt.ok)
		}
	}
}
