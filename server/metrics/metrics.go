// Package metrics counts what the server does, for Prometheus on the admin
// listener and for CloudWatch through Embedded Metric Format lines on stdout.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds the server's instruments. Each server owns its own registry,
// so tests can run servers side by side.
type Metrics struct {
	Registry *prometheus.Registry

	Connections      prometheus.Gauge
	Accepted         prometheus.Counter
	Rejected         *prometheus.CounterVec // upgrades refused, by reason
	Closes           *prometheus.CounterVec // closed connections, by close code
	Evictions        *prometheus.CounterVec // slow consumers dropped, by reason
	MessagesIn       prometheus.Counter
	MessagesOut      prometheus.Counter
	InvalidMessages  *prometheus.CounterVec // client messages refused, by reason
	DeliveryLatency  prometheus.Histogram
	ResumedMessages  prometheus.Counter
	FailedRecoveries prometheus.Counter
	BrokerUp         prometheus.Gauge
	BrokerErrors     *prometheus.CounterVec // broker failures, by operation

	// The per-source limits. Refused upgrades are counted in Rejected,
	// by the limit's reason.
	APIRejected          *prometheus.CounterVec // HTTP API requests refused, by reason
	ViewerAddressInvalid prometheus.Counter     // trusted CloudFront-Viewer-Address missing or malformed
	SourceEntries        prometheus.Gauge       // sources tracked by the per-source limits
}

// New registers the instruments, plus the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ws_connections", Help: "Open WebSocket connections.",
		}),
		Accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ws_connections_accepted_total", Help: "WebSocket upgrades accepted.",
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ws_upgrades_rejected_total", Help: "WebSocket upgrades refused, by reason (capacity, draining, handshake).",
		}, []string{"reason"}),
		Closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ws_closes_total", Help: "Closed WebSocket connections, by close code (-1 when the peer vanished without one).",
		}, []string{"code"}),
		Evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ws_evictions_total", Help: "Slow consumers disconnected, by reason (queue_full, write_timeout).",
		}, []string{"reason"}),
		MessagesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ws_messages_received_total", Help: "Valid messages received from clients and broadcast.",
		}),
		MessagesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ws_messages_delivered_total", Help: "Broadcast frames written to clients.",
		}),
		InvalidMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ws_messages_refused_total", Help: "Client messages refused, by reason (invalid_json, rate_limited, binary, too_big).",
		}, []string{"reason"}),
		DeliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ws_broadcast_delivery_seconds",
			Help:    "Fan-out time: from a broadcast entering the hub to its frame being written to one client's socket, observed once per write batch.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12),
		}),
		ResumedMessages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ws_resumed_messages_total", Help: "Messages replayed from history to clients that reconnected with ?since=.",
		}),
		FailedRecoveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ws_recoveries_failed_total", Help: "Resume requests whose offset was no longer (or never) in history.",
		}),
		BrokerUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ws_broker_up", Help: "1 while the cross-task broker (Redis) answers, 0 while it does not; 1 for the in-memory broker.",
		}),
		BrokerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ws_broker_errors_total", Help: "Broker operations that failed, by operation (publish, follow).",
		}, []string{"op"}),
		APIRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ws_api_requests_rejected_total", Help: "HTTP API requests refused with 429, by reason (source_api_rate, source_table_full).",
		}, []string{"reason"}),
		ViewerAddressInvalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ws_viewer_address_invalid_total", Help: "Requests whose CloudFront-Viewer-Address was missing or malformed while BEHIND_CLOUDFRONT is set; each was counted against the peer's address instead.",
		}),
		SourceEntries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ws_source_table_entries", Help: "Client addresses (sources) tracked for the per-source limits; at most SOURCE_TABLE_SIZE.",
		}),
	}
	m.BrokerUp.Set(1)
	m.Registry.MustRegister(
		m.Connections, m.Accepted, m.Rejected, m.Closes, m.Evictions,
		m.MessagesIn, m.MessagesOut, m.InvalidMessages, m.DeliveryLatency,
		m.ResumedMessages, m.FailedRecoveries, m.BrokerUp, m.BrokerErrors,
		m.APIRejected, m.ViewerAddressInvalid, m.SourceEntries,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// ObserveClose counts a closed connection by its close code.
func (m *Metrics) ObserveClose(code int) {
	m.Closes.WithLabelValues(strconv.Itoa(code)).Inc()
}

// ObserveDelivery counts n frames written to one client, the oldest of which
// entered the hub at appended.
func (m *Metrics) ObserveDelivery(n int, appended time.Time) {
	m.MessagesOut.Add(float64(n))
	m.DeliveryLatency.Observe(time.Since(appended).Seconds())
}
