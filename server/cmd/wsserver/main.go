// Command wsserver is the WebSocket broadcast server. Configuration comes
// from environment variables and flags; see the README or run with -h.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/wsfargate/websocket-service/server/app"
)

func main() {
	stop, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := app.Main(stop, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}
