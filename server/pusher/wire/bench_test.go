package wire

import "testing"

func BenchmarkParseFrame(b *testing.B) {
	msg := []byte(`{"event":"client-typing","channel":"presence-room-1234","data":{"user":"someone","typing":true,"at":1712345678}}`)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFrame(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSubscribe(b *testing.B) {
	data := []byte(`{"auth":"278d425bdf160c739803:afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c","channel":"presence-foobar","channel_data":"{\"user_id\":10,\"user_info\":{\"name\":\"Mr. Pusher\"}}"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseSubscribe(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	data := []byte(`{"message":"hello world","from":"server","n":12345}`)
	buf := make([]byte, 0, 512)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEvent(buf[:0], "my-event", "my-channel", data, true, "")
	}
}
