// Package source tells clients apart by network address and limits what
// each one may take: open WebSockets, new WebSockets per second and HTTP
// API requests per second.
//
// Behind the stack every connection arrives from the load balancer's
// address, so the client's own address has to come from a header. Only
// CloudFront-Viewer-Address is used, and only when the server is told it
// sits behind CloudFront: CloudFront writes that header itself, replacing
// whatever the viewer sent, whereas X-Forwarded-For is appended to and its
// first entry is the viewer's to choose.
package source

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/wsfargate/websocket-service/server/contract"
)

// Key identifies one source: an IPv4 address, or the IPv6 network of the
// configured prefix length that an IPv6 address belongs to. It is
// comparable and holds no pointers, so a table keyed by it is never
// scanned by the garbage collector.
type Key struct {
	addr [16]byte // IPv4 in its IPv4-mapped IPv6 form
	bits uint8    // prefix length of addr; 128 for an IPv4 address
}

// KeyOf returns the source that addr belongs to. IPv4 addresses, including
// IPv4-mapped IPv6 ones, are sources of their own; an IPv6 address is
// counted with the rest of its network of ipv6Prefix bits, since one host
// commonly holds a whole /64 and could otherwise open a source per
// address. An ipv6Prefix outside 1 to 128 (0 included) turns that grouping
// off. The zero Key stands for a peer whose address could not be read.
func KeyOf(addr netip.Addr, ipv6Prefix int) Key {
	addr = addr.Unmap().WithZone("")
	if !addr.IsValid() {
		return Key{}
	}
	if addr.Is4() {
		return Key{addr: addr.As16(), bits: 128} // As16 maps IPv4 into IPv6
	}
	if ipv6Prefix < 1 || ipv6Prefix > 128 {
		ipv6Prefix = 128
	}
	p, _ := addr.Prefix(ipv6Prefix) // cannot fail: a valid IPv6 address and 1..128
	return Key{addr: p.Addr().As16(), bits: uint8(ipv6Prefix)}
}

// Prefix returns the addresses the source covers: a /32 for IPv4, the
// configured network for IPv6. It is the zero Prefix for the zero Key.
func (k Key) Prefix() netip.Prefix {
	if k.bits == 0 {
		return netip.Prefix{}
	}
	a := netip.AddrFrom16(k.addr)
	if a.Is4In6() {
		return netip.PrefixFrom(a.Unmap(), int(k.bits)-96)
	}
	return netip.PrefixFrom(a, int(k.bits))
}

// String returns the source in CIDR notation, e.g. 192.0.2.7/32 or
// 2001:db8:1:2::/64, for metrics and log lines that count per source.
func (k Key) String() string {
	if k.bits == 0 {
		return "unknown"
	}
	return k.Prefix().String()
}

// Of returns the source of r and the client's address for log lines.
//
// With behindCloudFront the address is the one in CloudFront-Viewer-Address;
// otherwise it is the socket's peer (r.RemoteAddr) and the header is
// ignored, since anyone can send it. When the header is trusted but missing
// or malformed, Of falls back to the peer, which behind the stack is the
// load balancer, so every such request shares one source, and says why in
// err for the caller to count. key and addr are usable whatever err is.
func Of(r *http.Request, behindCloudFront bool, ipv6Prefix int) (key Key, addr string, err error) {
	if behindCloudFront {
		ap, err := viewerAddress(r.Header)
		if err == nil {
			return KeyOf(ap.Addr(), ipv6Prefix), ap.String(), nil
		}
		key, addr := peer(r, ipv6Prefix)
		return key, addr, err
	}
	key, addr = peer(r, ipv6Prefix)
	return key, addr, nil
}

// peer is the source of the socket's other end.
func peer(r *http.Request, ipv6Prefix int) (Key, string) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		// net/http always sets host:port for TCP; anything else (a test's
		// hand-made request) counts as the one unknown source.
		return Key{}, r.RemoteAddr
	}
	return KeyOf(ap.Addr(), ipv6Prefix), r.RemoteAddr
}

// ErrNoViewerAddress reports a request without CloudFront-Viewer-Address
// while the server trusts it: BEHIND_CLOUDFRONT is set, but the request
// did not come through a CloudFront whose origin request policy adds it.
var ErrNoViewerAddress = errors.New(contract.ViewerAddressHeader + " is missing")

func viewerAddress(h http.Header) (netip.AddrPort, error) {
	vs := h.Values(contract.ViewerAddressHeader)
	switch len(vs) {
	case 0:
		return netip.AddrPort{}, ErrNoViewerAddress
	case 1:
	default:
		// CloudFront replaces the viewer's copy with one of its own;
		// two copies mean something in between added one.
		return netip.AddrPort{}, fmt.Errorf("%s appears %d times", contract.ViewerAddressHeader, len(vs))
	}
	ap, err := ParseViewerAddress(vs[0])
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%s: %w", contract.ViewerAddressHeader, err)
	}
	return ap, nil
}

// maxViewerAddress is longer than any address CloudFront writes (an IPv6
// address in full, 39 bytes, a colon and a port); a longer value is
// refused before any parsing.
const maxViewerAddress = 64

// ParseViewerAddress parses a CloudFront-Viewer-Address value: the viewer's
// IP address, a colon and its source port, e.g. 198.51.100.10:46532.
// CloudFront writes IPv6 addresses without brackets, as in
// 2001:db8::1:46532, so the port is what follows the last colon; the
// bracketed form [2001:db8::1]:46532 is accepted too. Nothing else is: no
// host names, zones, spaces, lists, port 0, or leading zeros, in the port
// or in IPv4 fields. IPv4-mapped IPv6 addresses come back as IPv4.
func ParseViewerAddress(v string) (netip.AddrPort, error) {
	if len(v) > maxViewerAddress {
		return netip.AddrPort{}, fmt.Errorf("%d bytes, longer than any address", len(v))
	}
	i := strings.LastIndexByte(v, ':')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("%q: want ip:port", v)
	}
	host, p := v[:i], v[i+1:]
	port, err := parsePort(p)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: port: %w", v, err)
	}
	bracketed := strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]")
	if bracketed {
		host = host[1 : len(host)-1]
	}
	addr, err := netip.ParseAddr(host)
	switch {
	case err != nil:
		return netip.AddrPort{}, fmt.Errorf("%q: %w", v, err)
	case addr.Zone() != "":
		return netip.AddrPort{}, fmt.Errorf("%q: an address with a zone is no viewer's", v)
	case bracketed && addr.Is4():
		return netip.AddrPort{}, fmt.Errorf("%q: brackets around an IPv4 address", v)
	}
	return netip.AddrPortFrom(addr.Unmap(), port), nil
}

func parsePort(p string) (uint16, error) {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return 0, errors.New("want 1 to 65535 without leading zeros")
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return 0, errors.New("want 1 to 65535 without leading zeros")
	}
	return uint16(n), nil
}
