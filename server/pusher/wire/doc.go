// Package wire reads and writes the frames of the Pusher Channels protocol,
// version 7, as pusher-js, Laravel Echo and the other Pusher client
// libraries speak it over a WebSocket.
//
// Every frame is one JSON object in one text message:
//
//	{"event": "...", "channel": "...", "data": ...}
//
// Client frames are untrusted: [ParseFrame] reads the envelope, and
// [ParseSubscribe], [ParseUnsubscribe], [ParseSignin], [ParsePresenceData]
// and [ParseUserData] read what the envelope carries. Each returns an error
// that wraps one of this package's sentinel errors and whose text can be
// sent back to the client as is in a pusher:error.
//
// Server frames are written by the Append functions, which append one
// complete frame to a byte slice without reflection and without allocating
// beyond growing that slice, so that an event is encoded once and the same
// bytes go to every subscriber.
//
// # Double encoding
//
// The protocol sends the data of most server frames as a string that holds
// JSON ("double encoding"), and pusher-js parses a string data as JSON when
// it can. The encoders follow what the protocol page documents for each
// frame, and, where it says nothing, what pusher-js and the other
// Pusher-compatible servers (Soketi, Sockudo) send:
//
//	frame                                   data
//	pusher:connection_established           string  (documented)
//	pusher_internal:subscription_succeeded  string  (documented for presence; "{}" otherwise, as Sockudo)
//	pusher_internal:member_added / _removed string  (documented)
//	pusher:error                            object  (documented)
//	pusher:signin_success                   object  (documented)
//	pusher:subscription_error               object  (undocumented for servers; Soketi's shape, which is
//	                                                 the object pusher-js itself emits for auth failures)
//	pusher:cache_miss                       string "{}" (undocumented; Sockudo)
//	pusher:ping / pusher:pong               object {} (the protocol page: "both have empty data")
//	channel events                          as published: a string from the HTTP API, the client's
//	                                        own JSON value for client events
//
// # Close and error codes
//
// The protocol page lists these codes; a server closes the WebSocket with
// one of them (and, from protocol 6 on, sends no pusher:error first). The
// last column is what pusher-js does on the close (protocol.ts,
// getCloseAction):
//
//	code  constant                  meaning                                       pusher-js
//	4000  CodeSSLOnly               the app accepts only wss://                   tls_only: reconnect over TLS
//	4001  CodeAppNotFound           the app (key) does not exist                  refused: stop
//	4003  CodeAppDisabled           the app is disabled                           refused: stop
//	4004  CodeOverConnectionQuota   the app is over its connection quota          refused: stop
//	4005  CodePathNotFound          no such path                                  refused: stop
//	4006  CodeInvalidVersion        the version string is malformed               refused: stop
//	4007  CodeUnsupportedProtocol   the protocol version is not supported         refused: stop
//	4008  CodeNoProtocol            no protocol version was given                 refused: stop
//	4009  CodeUnauthorized          not authorized (e.g. no signin in time)       refused: stop
//	4009  CodeTerminated            terminated by the app (Soketi, Sockudo)       refused: stop
//	4100  CodeOverCapacity          over capacity; back off at least 1 s          backoff: reconnect later
//	4200  CodeReconnectNow          reconnect immediately (e.g. a drain)          retry: reconnect now
//	4201  CodePongTimeout           a ping went unanswered                        retry: reconnect now
//	4202  CodeClosedInactivity      inactive too long, no ping support            retry: reconnect now
//	4301  CodeClientEventRate       a client event over the rate limit            (sent in pusher:error)
//	4301  CodeClientEventRejected   a client event refused otherwise (Soketi)     (sent in pusher:error)
//	4302  CodeWatchlistLimit        watchlist over 100 ids; the first 100 kept    (sent in pusher:error)
//
// 4000-4099 mean "do not reconnect unchanged", 4100-4199 "reconnect after
// backing off", 4200-4299 "reconnect at once", 4300-4399 "any other error".
//
// The protocol defines no code for a frame the server cannot read (bad
// JSON, no event, a wrong field): its pusher:error code is optional, so such
// errors are answered with a pusher:error that carries a message and no
// code (CodeBadFrame is 0), and the connection stays open. Soketi ignores such frames silently;
// pusher-js only reports a pusher:error to the application and never acts on
// it once connected.
package wire
