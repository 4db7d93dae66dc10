// Package loadgen drives load against a server that speaks the service's
// WebSocket protocol: `GET /wss` upgrades, the server greets with
// {"connection":"ok"}, and every JSON text frame is broadcast to every client
// as {"message": <frame>}.
//
// It has four modes, each a function of a Config that returns a Result:
//
//   - churn: connect, wait for the greeting, close, as fast as a pool of
//     workers can, for a duration; measures connections per second and,
//     with the server's pid, its CPU per connection lifecycle. It
//     uses a minimal client of its own (rawdial.go) so that the generator
//     costs less per connection than the server; the other modes use
//     github.com/coder/websocket.
//   - hold: ramp idle connections at a fixed rate and keep them; with the
//     server's pid it measures resident memory per connection, and from
//     the host's /proc/net/sockstat and /proc/slabinfo the kernel's socket
//     memory per connection, which is in no process's RSS.
//   - fanout: many subscribers and one publisher at a fixed rate; measures
//     delivery latency and the share of messages delivered.
//   - throughput: clients that each publish in a closed loop (send, wait for
//     their own message to come back, send again); measures deliveries per
//     second.
//
// Four more modes speak the Pusher Channels protocol (version 7) at
// /app/{key} and publish through the signed HTTP API at /apps/{id}, as an
// application's backend would:
//
//   - pusher-fanout: subscribers of one public channel, and events
//     triggered through the API at a fixed rate; the same measurements as
//     fanout, so the two compare directly.
//   - pusher-channels: subscribers spread over many channels, events to
//     all of them at a fixed total rate, several channels to a request.
//   - pusher-presence: members that join and leave presence channels
//     (signed channel_data) in a closed loop, with an observer per channel
//     that checks every member_added and member_removed and, at the end,
//     that the API counts it alone; joins and leaves per second.
//   - pusher-hold: idle connections each subscribed to one channel; server
//     memory per connection.
//
// Every message the generator publishes is a JSON object carrying a run-unique
// source tag, a sequence number and the send time in Unix nanoseconds, so
// latency is measured end to end by the receiver on the same host clock. In
// the Pusher modes that object is the event's data (a string, as the API
// sends it), so the same probe travels inside the Pusher frame.
package loadgen
