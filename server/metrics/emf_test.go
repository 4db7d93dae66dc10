package metrics_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/wsfargate/websocket-service/server/contract"
	"github.com/wsfargate/websocket-service/server/metrics"
)

// The EMF record must use the names the stack's autoscaling policy reads.
func TestEMFRecordUsesContractNames(t *testing.T) {
	var buf bytes.Buffer
	at := time.UnixMilli(1_700_000_000_000)
	if err := metrics.WriteEMF(&buf, "svc", 42, at); err != nil {
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
	if len(d[0].Metrics) != 1 || d[0].Metrics[0].Name != contract.MetricConnections || d[0].Metrics[0].Unit != "Count" {
		t.Fatalf("metrics %+v", d[0].Metrics)
	}
	// Every name the directive refers to must be a top-level field.
	if fields[contract.MetricDimension] != "svc" || fields[contract.MetricConnections] != float64(42) {
		t.Fatalf("fields %v", fields)
	}
}
