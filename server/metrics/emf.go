package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/wsfargate/websocket-service/server/contract"
)

// emfRecord is one CloudWatch Embedded Metric Format record: the _aws
// metadata tells CloudWatch Logs which top-level fields are metrics.
type emfRecord struct {
	AWS         emfMeta `json:"_aws"`
	Service     string  `json:"ServiceName"`
	Connections int64   `json:"LiveConnections"`
}

type emfMeta struct {
	Timestamp int64          `json:"Timestamp"`
	Metrics   []emfDirective `json:"CloudWatchMetrics"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name       string `json:"Name"`
	Unit       string `json:"Unit"`
	Resolution int    `json:"StorageResolution"`
}

// WriteEMF writes one EMF line with the live connection count.
func WriteEMF(w io.Writer, service string, connections int64, at time.Time) error {
	rec := emfRecord{
		AWS: emfMeta{
			Timestamp: at.UnixMilli(),
			Metrics: []emfDirective{{
				Namespace:  contract.MetricNamespace,
				Dimensions: [][]string{{contract.MetricDimension}},
				Metrics:    []emfMetric{{Name: contract.MetricConnections, Unit: "Count", Resolution: 60}},
			}},
		},
		Service:     service,
		Connections: connections,
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

// RunEMF writes an EMF line every interval until ctx ends.
func RunEMF(ctx context.Context, w io.Writer, every time.Duration, service string, connections func() int64) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if err := WriteEMF(w, service, connections(), now); err != nil {
				return err
			}
		}
	}
}
