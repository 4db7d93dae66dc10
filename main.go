// Command websocket-service is the Pulumi program that deploys the
// WebSocket server to AWS: it reads the stack configuration, declares the
// service (package stack) and exports what an operator needs.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/stack"
)

// componentName is the logical name of the one component; every resource
// is its child.
const componentName = "websocket"

func main() {
	pulumi.Run(program)
}

// program is the Pulumi program, separate from main so that tests can run
// it with mocks.
func program(ctx *pulumi.Context) error {
	cfg, err := stack.LoadConfig(ctx)
	if err != nil {
		return err
	}
	svc, err := stack.New(ctx, componentName, cfg)
	if err != nil {
		return err
	}
	for name, value := range svc.Outputs() {
		ctx.Export(name, value)
	}
	return nil
}
