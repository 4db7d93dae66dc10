package wire

// Close and error codes of the Pusher Channels protocol (its "Error Codes"
// section). The package documentation has them in one table with what
// pusher-js does on each.
const (
	// CodeSSLOnly closes a plain ws:// connection to an app that accepts
	// only TLS; pusher-js reconnects over wss://.
	CodeSSLOnly = 4000
	// CodeAppNotFound closes a connection whose app key names no app.
	CodeAppNotFound = 4001
	// CodeAppDisabled closes a connection to an app that is disabled.
	CodeAppDisabled = 4003
	// CodeOverConnectionQuota closes a connection that would take the app
	// over its connection quota; unlike CodeOverCapacity, the client does
	// not retry.
	CodeOverConnectionQuota = 4004
	// CodePathNotFound closes a connection to a path the server does not
	// serve.
	CodePathNotFound = 4005
	// CodeInvalidVersion closes a connection whose version parameter is
	// malformed.
	CodeInvalidVersion = 4006
	// CodeUnsupportedProtocol closes a connection that asks for a protocol
	// version the server does not speak.
	CodeUnsupportedProtocol = 4007
	// CodeNoProtocol closes a connection that gives no protocol version.
	CodeNoProtocol = 4008
	// CodeUnauthorized closes a connection that is not authorized: with
	// authorized connections required, one that neither signed in nor
	// subscribed to a private or presence channel within the timeout, or
	// one whose pusher:signin failed.
	CodeUnauthorized = 4009
	// CodeTerminated closes the connections of a user whose connections
	// the app terminated through the HTTP API. The protocol names no code
	// for it; Soketi and Sockudo both use 4009, which pusher-js takes as
	// "do not reconnect", so a kicked client does not come straight back.
	CodeTerminated = CodeUnauthorized

	// CodeOverCapacity closes a connection the server cannot take now; the
	// client reconnects after backing off at least a second.
	CodeOverCapacity = 4100

	// CodeReconnectNow asks the client to reconnect at once, as a
	// draining server does.
	CodeReconnectNow = 4200
	// CodePongTimeout closes a connection that did not answer a ping
	// within the pong timeout ("pong reply not received").
	CodePongTimeout = 4201
	// CodeClosedInactivity closes a connection that was inactive for long
	// (24 hours at Pusher) and does not support ping.
	CodeClosedInactivity = 4202

	// CodeClientEventRate is the pusher:error code of a client event
	// rejected for going over the rate limit.
	CodeClientEventRate = 4301
	// CodeClientEventRejected is the pusher:error code of a client event
	// rejected for another reason (client events off, not subscribed, a
	// public channel, too large). The protocol documents 4301 for the rate
	// limit only; Soketi and Sockudo send it for every rejected client
	// event, so clients already see it for these.
	CodeClientEventRejected = 4301
	// CodeWatchlistLimit is the pusher:error code sent after a signin whose
	// watchlist has more than MaxWatchlist ids: the signin succeeds with
	// the first MaxWatchlist. (Soketi uses 4302 for internal server errors;
	// the protocol page gives it this meaning.)
	CodeWatchlistLimit = 4302

	// CodeBadFrame is the code of the pusher:error that answers a frame
	// the server cannot read (not JSON, no event, a field of the wrong
	// type): none. The protocol defines no code for it and makes the code
	// optional, so AppendError leaves a zero code out. (Soketi ignores
	// such frames; Sockudo sends 4000, whose documented meaning is "TLS
	// only".)
	CodeBadFrame = 0
)
