// Package webhook sends Pusher Channels webhooks: it batches events such as
// channel_occupied, member_added and client_event, signs each batch with the
// app secret, and POSTs it to the app's webhook URL as Pusher does.
//
// One POST carries {"time_ms": <Unix ms>, "events": [...]} as
// application/json, with the headers X-Pusher-Key (the app key) and
// X-Pusher-Signature (the hex HMAC-SHA256 of the exact body bytes, keyed with
// the app secret). A receiver written for Pusher's batch webhooks reads it
// unchanged.
//
// Delivery is at least once and best effort: the hot path only calls
// Enqueue, which never blocks; when the receiver is slow or down, the bounded
// queue fills and new events are dropped and counted, rather than holding
// memory or stalling the connections that produced them.
package webhook
