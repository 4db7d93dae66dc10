package transport

import (
	"fmt"
	"testing"
)

func TestUnwritten(t *testing.T) {
	frames := [][]byte{[]byte("abc"), []byte("de"), []byte("fghi")}
	tests := []struct {
		n    int
		want string
	}{
		{0, "[abc de fghi]"},
		{1, "[bc de fghi]"},
		{3, "[de fghi]"},
		{4, "[e fghi]"},
		{8, "[i]"},
		{9, "[]"},
	}
	for _, tt := range tests {
		var got []string
		for _, f := range unwritten(frames, tt.n) {
			got = append(got, string(f))
		}
		if s := fmt.Sprint(got); s != tt.want {
			t.Errorf("unwritten(%d) = %s, want %s", tt.n, s, tt.want)
		}
	}
}
