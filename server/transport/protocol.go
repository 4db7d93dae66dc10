package transport

import (
	"net/http"

	"github.com/coder/websocket"

	"github.com/wsfargate/websocket-service/server/protocol"
)

// Protocol adapts a wire protocol to the connection machinery, which keeps
// everything the protocols share: the upgrade, limits, keepalive, slow
// consumer eviction, the drain, metrics and logs. The seed's own protocol
// is built in (a Conn with no Protocol); others, such as Pusher Channels,
// plug in here.
type Protocol interface {
	// Open runs once the WebSocket is up, before anything is read: it
	// greets the client, or closes it (a non-nil error ends the
	// connection). r is the upgrade request.
	Open(c *Conn, r *http.Request) error
	// Message handles one text message from the client. A non-nil error
	// ends the connection.
	Message(c *Conn, data []byte) error
	// Closed runs once, after the connection has ended.
	Closed(c *Conn)
}

// Profile says how the machinery speaks a protocol: the close codes of the
// decisions it takes for every protocol, and its keepalive frames.
type Profile struct {
	// Name labels log lines.
	Name string
	// Shutdown closes every client when the server drains.
	Shutdown       websocket.StatusCode
	ShutdownReason string
	// SlowConsumer closes a client more than SEND_QUEUE behind.
	SlowConsumer       websocket.StatusCode
	SlowConsumerReason string
	// RateLimited closes a client that keeps sending over RATE_LIMIT;
	// RateLimitedFrame answers each message dropped before that.
	RateLimited       websocket.StatusCode
	RateLimitedReason string
	RateLimitedFrame  []byte
	// NoPong closes a client that did not answer the keepalive in time; 0
	// drops it without a close frame, which a dead peer cannot read
	// anyway.
	NoPong       websocket.StatusCode
	NoPongReason string
	// OverCapacity, when set, answers an upgrade past MAX_CONNECTIONS by
	// taking the WebSocket and closing it with this code, for clients
	// that cannot see an HTTP status; 0 refuses with HTTP 503.
	OverCapacity websocket.StatusCode
	// Ping is what the keepalive sweep writes: a WebSocket ping, and any
	// frame of the protocol's own that asks for an answer.
	Ping [][]byte
}

// seedProfile is the seed protocol's.
var seedProfile = Profile{
	Name:               "wss",
	Shutdown:           websocket.StatusGoingAway,
	ShutdownReason:     protocol.ReasonShutdown,
	SlowConsumer:       websocket.StatusPolicyViolation,
	SlowConsumerReason: protocol.ReasonSlowConsumer,
	RateLimited:        websocket.StatusPolicyViolation,
	RateLimitedReason:  protocol.ReasonRateLimited,
	RateLimitedFrame:   protocol.EncodeError(protocol.CodeRateLimited, "message dropped: over the per-connection rate limit; slow down"),
	Ping:               [][]byte{protocol.PingFrame()},
}
