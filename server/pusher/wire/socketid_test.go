package wire

import (
	"strings"
	"testing"
)

func TestNewSocketID(t *testing.T) {
	seen := make(map[string]bool)
	for range 10000 {
		id := NewSocketID()
		if !ValidSocketID(id) {
			t.Fatalf("NewSocketID() = %q, not a valid socket id", id)
		}
		if seen[id] {
			t.Fatalf("NewSocketID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestSocketIDFrom(t *testing.T) {
	var zero, max [16]byte
	for i := range max {
		max[i] = 0xff
	}
	tests := []struct {
		b    [16]byte
		want string
	}{
		{zero, "0.0"},
		{max, "18446744073709551615.18446744073709551615"},
		{[16]byte{1, 0, 0, 0, 0, 0, 0, 0, 2}, "1.2"},
	}
	for _, tt := range tests {
		got := socketIDFrom(tt.b)
		if got != tt.want || !ValidSocketID(got) {
			t.Errorf("socketIDFrom(%v) = %q, want %q", tt.b, got, tt.want)
		}
	}
}

func TestValidSocketID(t *testing.T) {
	tests := []struct {
		s  string
		ok bool
	}{
		{"1234.1234", true},
		{"0.0", true},
		{"131586.5283427", true},
		{strings.Repeat("9", 20) + "." + strings.Repeat("9", 20), true},
		{"", false},
		{".", false},
		{"1.", false},
		{".1", false},
		{"1", false},
		{"1.2.3", false},
		{"1..2", false},
		{"a.1", false},
		{"1.1a", false},
		{"-1.1", false},
		{"1.1\n", false},
		{" 1.1", false},
		{"١.١", false}, // Arabic-Indic digits are not ASCII digits
		{strings.Repeat("9", 21) + ".1", false},
		{"1." + strings.Repeat("9", 21), false},
	}
	for _, tt := range tests {
		if got := ValidSocketID(tt.s); got != tt.ok {
			t.Errorf("ValidSocketID(%q) = %v, want %v", tt.s, got, tt.ok)
		}
	}
}
