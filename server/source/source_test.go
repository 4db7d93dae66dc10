package source

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/wsfargate/websocket-service/server/contract"
)

func TestParseViewerAddress(t *testing.T) {
	valid := []struct {
		in, want string
	}{
		// The form CloudFront documents for IPv4.
		{"198.51.100.10:46532", "198.51.100.10:46532"},
		// IPv6 as CloudFront writes it: no brackets, the port after the
		// last colon.
		{"2001:db8::1:443", "[2001:db8::1]:443"},
		{"2001:0db8:0000:0000:0000:0000:0000:0001:52325", "[2001:db8::1]:52325"},
		{"0000:0000:0000:0000:0000:0000:0000:0001:52325", "[::1]:52325"},
		{"2001:db8:1:2:3:4:5:6:65535", "[2001:db8:1:2:3:4:5:6]:65535"},
		{"[2001:db8::1]:443", "[2001:db8::1]:443"},
		// A viewer on a dual-stack socket is an IPv4 viewer.
		{"::ffff:192.0.2.1:80", "192.0.2.1:80"},
		{"0.0.0.0:1", "0.0.0.0:1"},
	}
	for _, tc := range valid {
		got, err := ParseViewerAddress(tc.in)
		if err != nil {
			t.Errorf("ParseViewerAddress(%q): %v", tc.in, err)
			continue
		}
		if got.String() != tc.want {
			t.Errorf("ParseViewerAddress(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}

	invalid := []string{
		"",
		"198.51.100.10",
		"198.51.100.10:",
		":443",
		"198.51.100.10:0",
		"198.51.100.10:65536",
		"198.51.100.10:080",
		"198.51.100.10:+80",
		"198.51.100.10:8_0",
		"198.51.100.10:0x50",
		"198.51.100.010:80",
		"198.51.100:80",
		" 198.51.100.10:80",
		"198.51.100.10:80 ",
		"198.51.100.10 :80",
		"example.com:80",
		"[198.51.100.10]:80",
		"[::ffff:192.0.2.1]x:80",
		"fe80::1%eth0:80",
		"[fe80::1%eth0]:80",
		"198.51.100.10:80, 203.0.113.9:80",
		"198.51.100.10:80,203.0.113.9",
		"2001:db8::1",   // no port: "2001:db8:" is no address
		"[2001:db8::1]", // no port
		"2001:db8::1]:443",
		"[2001:db8::1:443",
		"::",
		strings.Repeat("1", 65),
		"1.1.1.1:" + strings.Repeat("1", 60),
	}
	for _, in := range invalid {
		if got, err := ParseViewerAddress(in); err == nil {
			t.Errorf("ParseViewerAddress(%q) = %s, want an error", in, got)
		}
	}
}

func TestOf(t *testing.T) {
	tests := []struct {
		name      string
		trusted   bool
		prefix    int
		remote    string
		header    []string // CloudFront-Viewer-Address values
		forwarded string   // X-Forwarded-For
		wantKey   string
		wantAddr  string
		wantErr   bool
	}{
		{
			name: "peer", remote: "192.0.2.7:40000",
			wantKey: "192.0.2.7/32", wantAddr: "192.0.2.7:40000",
		},
		{
			name: "header ignored unless trusted", remote: "192.0.2.7:40000",
			header: []string{"203.0.113.9:51234"}, forwarded: "198.51.100.1",
			wantKey: "192.0.2.7/32", wantAddr: "192.0.2.7:40000",
		},
		{
			name: "trusted header", trusted: true, remote: "10.0.1.5:40000",
			header: []string{"203.0.113.9:51234"},
			// X-Forwarded-For is for the client to choose; it never counts.
			forwarded: "198.51.100.1",
			wantKey:   "203.0.113.9/32", wantAddr: "203.0.113.9:51234",
		},
		{
			name: "trusted IPv6 header, grouped by /64", trusted: true, prefix: 64, remote: "10.0.1.5:40000",
			header:  []string{"2001:db8:aa:bb:1:2:3:4:443"},
			wantKey: "2001:db8:aa:bb::/64", wantAddr: "[2001:db8:aa:bb:1:2:3:4]:443",
		},
		{
			name: "trusted but missing", trusted: true, remote: "10.0.1.5:40000",
			wantKey: "10.0.1.5/32", wantAddr: "10.0.1.5:40000", wantErr: true,
		},
		{
			name: "trusted but malformed", trusted: true, remote: "10.0.1.5:40000",
			header:  []string{"203.0.113.9"},
			wantKey: "10.0.1.5/32", wantAddr: "10.0.1.5:40000", wantErr: true,
		},
		{
			name: "trusted but twice", trusted: true, remote: "10.0.1.5:40000",
			header:  []string{"203.0.113.9:1", "198.51.100.1:2"},
			wantKey: "10.0.1.5/32", wantAddr: "10.0.1.5:40000", wantErr: true,
		},
		{
			name: "IPv6 peer, /64", prefix: 64, remote: "[2001:db8:1:2:3:4:5:6]:40000",
			wantKey: "2001:db8:1:2::/64", wantAddr: "[2001:db8:1:2:3:4:5:6]:40000",
		},
		{
			name: "IPv6 peer, /48", prefix: 48, remote: "[2001:db8:1:2:3:4:5:6]:40000",
			wantKey: "2001:db8:1::/48", wantAddr: "[2001:db8:1:2:3:4:5:6]:40000",
		},
		{
			name: "IPv6 peer, /128", prefix: 128, remote: "[2001:db8:1:2:3:4:5:6]:40000",
			wantKey: "2001:db8:1:2:3:4:5:6/128", wantAddr: "[2001:db8:1:2:3:4:5:6]:40000",
		},
		{
			name: "IPv6 grouping off", prefix: 0, remote: "[2001:db8:1:2:3:4:5:6]:40000",
			wantKey: "2001:db8:1:2:3:4:5:6/128", wantAddr: "[2001:db8:1:2:3:4:5:6]:40000",
		},
		{
			name: "IPv4-mapped peer is its IPv4 address", prefix: 64, remote: "[::ffff:192.0.2.7]:40000",
			wantKey: "192.0.2.7/32", wantAddr: "[::ffff:192.0.2.7]:40000",
		},
		{
			name: "zone dropped", prefix: 64, remote: "[fe80::1%eth0]:40000",
			wantKey: "fe80::/64", wantAddr: "[fe80::1%eth0]:40000",
		},
		{
			name: "unreadable peer", remote: "pipe",
			wantKey: "unknown", wantAddr: "pipe",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/wss", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.header {
				r.Header.Add(contract.ViewerAddressHeader, v)
			}
			if tc.forwarded != "" {
				r.Header.Set("X-Forwarded-For", tc.forwarded)
			}
			key, addr, err := Of(r, tc.trusted, tc.prefix)
			if key.String() != tc.wantKey || addr != tc.wantAddr {
				t.Errorf("Of = %s, %q; want %s, %q", key, addr, tc.wantKey, tc.wantAddr)
			}
			if (err != nil) != tc.wantErr {
				t.Errorf("Of: err = %v, want an error: %v", err, tc.wantErr)
			}
		})
	}
}

func TestMissingHeaderIsErrNoViewerAddress(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/wss", nil)
	if _, _, err := Of(r, true, 64); !errors.Is(err, ErrNoViewerAddress) {
		t.Fatalf("err = %v, want ErrNoViewerAddress", err)
	}
}

func TestKeyGroupsIPv6(t *testing.T) {
	mustKey := func(s string, prefix int) Key { return KeyOf(netip.MustParseAddr(s), prefix) }
	tests := []struct {
		a, b   string
		prefix int
		same   bool
	}{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", 64, true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", 64, false},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", 48, true},
		{"2001:db8:1:2::1", "2001:db8:1:2::2", 128, false},
		{"192.0.2.1", "192.0.2.2", 64, false},
		{"192.0.2.1", "::ffff:192.0.2.1", 64, true},
		// An IPv4 source and the IPv6 network that holds its mapped form
		// (::/64) are different sources.
		{"192.0.2.1", "::1:2:3", 64, false},
		{"::fffe:0:1", "::", 64, true},
	}
	for _, tc := range tests {
		if got := mustKey(tc.a, tc.prefix) == mustKey(tc.b, tc.prefix); got != tc.same {
			t.Errorf("%s and %s at /%d: same source %v, want %v", tc.a, tc.b, tc.prefix, got, tc.same)
		}
	}
}

// FuzzViewerAddress holds ParseViewerAddress to what it promises: whatever
// it accepts is a short, valid, zone-free address with a port, and reads
// back the same from its own canonical form.
func FuzzViewerAddress(f *testing.F) {
	for _, s := range []string{
		"198.51.100.10:46532", "2001:db8::1:443", "[2001:db8::1]:443", "::ffff:192.0.2.1:80",
		"fe80::1%eth0:80", "1.2.3.4:80, 5.6.7.8:80", "", ":", "[]:1", "1.2.3.4:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := ParseViewerAddress(s)
		if err != nil {
			return
		}
		a := ap.Addr()
		switch {
		case len(s) > maxViewerAddress:
			t.Fatalf("%q: accepted %d bytes", s, len(s))
		case !a.IsValid(), a.Zone() != "", a.Is4In6():
			t.Fatalf("%q: accepted address %v", s, a)
		case ap.Port() == 0:
			t.Fatalf("%q: accepted port 0", s)
		case strings.ContainsAny(s, " \t,\r\n%"):
			t.Fatalf("%q: accepted a separator", s)
		}
		again, err := ParseViewerAddress(ap.String())
		if err != nil || again != ap {
			t.Fatalf("%q: parsed as %v, whose canonical form reads back as %v, %v", s, ap, again, err)
		}
		if k := KeyOf(a, 64); !k.Prefix().Contains(a) {
			t.Fatalf("%q: source %v does not contain %v", s, k, a)
		}
	})
}
