package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/wsfargate/websocket-service/server/contract"
)

// Record is one interval's figures for CloudWatch.
type Record struct {
	Connections int64   // open at the time of the record
	MessagesIn  float64 // during the interval
	MessagesOut float64
	Evictions   float64
}

// WriteEMF writes r as one CloudWatch Embedded Metric Format line: the _aws
// metadata tells CloudWatch Logs which top-level fields are metrics, named
// as the stack's autoscaling policy and dashboard expect (see contract).
func WriteEMF(w io.Writer, service string, r Record, at time.Time) error {
	count := func(name string) map[string]any {
		return map[string]any{"Name": name, "Unit": "Count", "StorageResolution": 60}
	}
	rec := map[string]any{
		"_aws": map[string]any{
			"Timestamp": at.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  contract.MetricNamespace,
				"Dimensions": [][]string{{contract.MetricDimension}},
				"Metrics": []any{
					count(contract.MetricConnections), count(contract.MetricMessagesIn),
					count(contract.MetricMessagesOut), count(contract.MetricEvictions),
				},
			}},
		},
		contract.MetricDimension:   service,
		contract.MetricConnections: r.Connections,
		contract.MetricMessagesIn:  r.MessagesIn,
		contract.MetricMessagesOut: r.MessagesOut,
		contract.MetricEvictions:   r.Evictions,
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode EMF record: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write EMF record: %w", err)
	}
	return nil
}

// totals reads the counters the EMF record reports as deltas.
func (m *Metrics) totals() (in, out, evictions float64, err error) {
	families, err := m.Registry.Gather()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("gather metrics: %w", err)
	}
	sum := map[string]float64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			sum[f.GetName()] += mt.GetCounter().GetValue()
		}
	}
	return sum["ws_messages_received_total"], sum["ws_messages_delivered_total"], sum["ws_evictions_total"], nil
}

// RunEMF writes an EMF record every interval until ctx ends.
func (m *Metrics) RunEMF(ctx context.Context, w io.Writer, every time.Duration, service string, connections func() int64) error {
	t := time.NewTicker(every)
	defer t.Stop()
	var prevIn, prevOut, prevEv float64
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			in, out, ev, err := m.totals()
			if err != nil {
				return err
			}
			r := Record{Connections: connections(), MessagesIn: in - prevIn, MessagesOut: out - prevOut, Evictions: ev - prevEv}
			prevIn, prevOut, prevEv = in, out, ev
			if err := WriteEMF(w, service, r, now); err != nil {
				return err
			}
		}
	}
}
