package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// runAsPackEnv makes the test binary run main() instead of the tests, so
// TestAnalyzerOverGRPC can start the real policy pack as the engine does.
const runAsPackEnv = "WS_POLICY_PACK_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsPackEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestAnalyzerOverGRPC starts the pack as a plugin process and drives it
// through the analyzer protocol the Pulumi engine speaks: handshake,
// stack configuration, analyzer info, and AnalyzeStack.
func TestAnalyzerOverGRPC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), runAsPackEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// The plugin protocol: the first stdout line is the port.
	port, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the plugin's port: %v", err)
	}
	conn, err := grpc.NewClient("127.0.0.1:"+strings.TrimSpace(port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pulumirpc.NewAnalyzerClient(conn)

	dir := t.TempDir()
	if _, err := client.Handshake(ctx, &pulumirpc.AnalyzerHandshakeRequest{RootDirectory: &dir, ProgramDirectory: &dir}); err != nil {
		t.Fatalf("Handshake: %v", err)
	}
	if _, err := client.ConfigureStack(ctx, &pulumirpc.AnalyzerStackConfigureRequest{Stack: "dev", Project: "websocket-service", DryRun: true}); err != nil {
		t.Fatalf("ConfigureStack: %v", err)
	}
	info, err := client.GetAnalyzerInfo(ctx, nil)
	if err != nil {
		t.Fatalf("GetAnalyzerInfo: %v", err)
	}
	if info.GetName() != packName || len(info.GetPolicies()) != 1 || info.GetPolicies()[0].GetName() != policyName {
		t.Fatalf("analyzer info: %v", info)
	}

	marshal := func(m resource.PropertyMap) *pulumirpc.AnalyzerResource {
		s, err := plugin.MarshalProperties(m, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true})
		if err != nil {
			t.Fatal(err)
		}
		return &pulumirpc.AnalyzerResource{Properties: s}
	}
	role := marshal(resource.NewPropertyMapFromMap(map[string]any{
		"tags": map[string]any{"nag:suppress:AwsSolutions-IAM5": "ECS Exec ssmmessages actions have no resource-level permissions"},
	}))
	role.Type, role.Name, role.Urn = "aws:iam/role:Role", "task", urnOf("aws:iam/role:Role", "task")
	execPolicy := marshal(resource.PropertyMap{
		"role":   resource.MakeComputed(resource.NewStringProperty("")),
		"policy": resource.MakeSecret(resource.NewStringProperty(`{"Statement":[{"Effect":"Allow","Action":"ssmmessages:OpenDataChannel","Resource":"*"}]}`)),
	})
	execPolicy.Type, execPolicy.Name, execPolicy.Urn = "aws:iam/rolePolicy:RolePolicy", "exec", urnOf("aws:iam/rolePolicy:RolePolicy", "exec")
	execPolicy.PropertyDependencies = map[string]*pulumirpc.AnalyzerPropertyDependencies{"role": {Urns: []string{role.Urn}}}
	repo := marshal(resource.PropertyMap{})
	repo.Type, repo.Name, repo.Urn = "aws:ecr/repository:Repository", "repo", urnOf("aws:ecr/repository:Repository", "repo")

	resp, err := client.AnalyzeStack(ctx, &pulumirpc.AnalyzeStackRequest{Resources: []*pulumirpc.AnalyzerResource{role, execPolicy, repo}})
	if err != nil {
		t.Fatalf("AnalyzeStack: %v", err)
	}
	var got []string
	for _, d := range resp.GetDiagnostics() {
		if d.GetEnforcementLevel() != pulumirpc.EnforcementLevel_MANDATORY || d.GetPolicyName() != policyName {
			t.Errorf("diagnostic %v: want a mandatory %s violation", d, policyName)
		}
		got = append(got, d.GetUrn())
		if !strings.Contains(d.GetMessage(), "WS-ECR1: images are not scanned on push") {
			t.Errorf("message %q", d.GetMessage())
		}
	}
	// The RolePolicy's wildcard is suppressed by its Role's tag, found
	// through the property dependency the engine sends.
	if want := []string{repo.Urn}; !slices.Equal(got, want) {
		t.Errorf("violations on %v, want %v", got, want)
	}
}
