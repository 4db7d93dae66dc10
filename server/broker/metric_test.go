package broker_test

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func metricValue(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }
