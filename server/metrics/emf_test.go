package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/server/metrics"
)

// The EMF record must use the names the stack's autoscaling policy reads.
func TestEMFRecordUsesContractNames(t *testing.T) {
	var buf bytes.Buffer
	at := time.UnixMilli(1_700_000_000_000)
	if err := metrics.WriteEMF(&buf, "svc", metrics.Record{Connections: 42, MessagesIn: 3, MessagesOut: 9, Evictions: 1}, at); err != nil {
		t.Fatal(err)
	}
	if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
		t.Fatalf("want exactly one line, got %q", buf.String())
	}
	var rec struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
	}
	var fields map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(buf.Bytes(), &fields); err != nil {
		t.Fatal(err)
	}
	d := rec.AWS.CloudWatchMetrics
	if rec.AWS.Timestamp != at.UnixMilli() || len(d) != 1 || d[0].Namespace != contract.MetricNamespace {
		t.Fatalf("metadata %+v", rec.AWS)
	}
	if len(d[0].Dimensions) != 1 || len(d[0].Dimensions[0]) != 1 || d[0].Dimensions[0][0] != contract.MetricDimension {
		t.Fatalf("dimensions %v, want [[%s]]", d[0].Dimensions, contract.MetricDimension)
	}
	want := map[string]float64{contract.MetricConnections: 42, contract.MetricMessagesIn: 3, contract.MetricMessagesOut: 9, contract.MetricEvictions: 1}
	if len(d[0].Metrics) != len(want) {
		t.Fatalf("metrics %+v, want %d", d[0].Metrics, len(want))
	}
	// Every name the directive refers to must be a top-level field.
	for _, m := range d[0].Metrics {
		if v, ok := want[m.Name]; !ok || fields[m.Name] != v || m.Unit != "Count" {
			t.Errorf("metric %s: field %v unit %s, want %v Count", m.Name, fields[m.Name], m.Unit, v)
		}
	}
	if fields[contract.MetricDimension] != "svc" {
		t.Fatalf("dimension field %v", fields[contract.MetricDimension])
	}
}

// The record reports counters as deltas per interval.
func TestRunEMFReportsDeltas(t *testing.T) {
	m := metrics.New()
	var buf syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.RunEMF(ctx, &buf, 20*time.Millisecond, "svc", func() int64 { return 7 })
	}()
	m.MessagesIn.Add(5)
	m.Evictions.WithLabelValues("queue_full").Inc()
	m.Evictions.WithLabelValues("write_timeout").Inc()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), `"MessagesIn":5`) {
		if time.Now().After(deadline) {
			t.Fatalf("no record with the counts: %s", buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(60 * time.Millisecond)
	cancel()
	<-done
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var in, ev float64
	for _, l := range lines {
		var f map[string]any
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatal(err)
		}
		in += f[contract.MetricMessagesIn].(float64)
		ev += f[contract.MetricEvictions].(float64)
	}
	if in != 5 || ev != 2 {
		t.Fatalf("summed over %d records: in %v evictions %v, want 5 and 2 (deltas, not totals)", len(lines), in, ev)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
