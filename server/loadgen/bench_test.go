package loadgen

import (
	"testing"
	"time"
)

// BenchmarkDecodeFrame is the per-delivery parsing cost of fanout
// subscribers; it bounds how many deliveries one generator core can check.
func BenchmarkDecodeFrame(b *testing.B) {
	msg := append(append([]byte(`{"offset":"17-4","message":`), encodeProbe(nil, "0a1b2c3d-pub", 123456, time.Now(), "")...), '}')
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeFrame(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodePusherEvent is the same for the Pusher modes' subscribers:
// a channel event whose data is the probe as a JSON string.
func BenchmarkDecodePusherEvent(b *testing.B) {
	msg := serverEvent("lg-0a1b2c3d-17", encodeProbe(nil, "0a1b2c3d-pub", 123456, time.Now(), ""))
	b.ReportAllocs()
	for b.Loop() {
		d, ch, err := decodePusherEvent(msg)
		if err != nil || string(ch) != "lg-0a1b2c3d-17" || d.seq != 123456 {
			b.Fatal(err)
		}
	}
}
