// Command loadgen drives load against the WebSocket service and reports
// what it measured. See `loadgen -h` and package loadgen.
//
//	loadgen churn wss://d111111abcdef8.cloudfront.net/wss
//	loadgen hold -conns 10000 -rate 2000 -d 30s -pid $(pgrep -n wsserver) ws://127.0.0.1:8080/wss
//	loadgen fanout -conns 1000 -rate 50 -d 15s -json ws://127.0.0.1:8080/wss
//	loadgen throughput -conns 100 -d 10s ws://127.0.0.1:8080/wss
//	loadgen pusher-fanout -conns 5000 -rate 10 -d 15s ws://127.0.0.1:8080
//	loadgen pusher-presence -conns 1000 -channels 100 -d 15s ws://127.0.0.1:8080
//
// `loadgen report -dir DIR` renders bench/REPORT.md from the results that
// bench/run.sh collected.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/wsfargate/websocket-service/server/loadgen"
	"github.com/wsfargate/websocket-service/server/loadgen/benchreport"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first Ctrl-C the run winds down and prints its summary; a
	// second one kills the process the usual way, because stop restores the
	// default handling.
	go func() { <-ctx.Done(); stop() }()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "report" {
		err = benchreport.Main(os.Args[2:], os.Stderr)
	} else {
		err = loadgen.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		var ue loadgen.UsageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
