package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/wsfargate/websocket-service/stack"
	"github.com/wsfargate/websocket-service/stack/stacktest"
)

// devConfig reads Pulumi.yaml's defaults and Pulumi.dev.yaml as the engine
// hands them to the program, then applies overrides (unqualified keys).
func devConfig(t *testing.T, overrides map[string]string) map[string]string {
	t.Helper()
	var project struct {
		Name   string `yaml:"name"`
		Config map[string]struct {
			Default any `yaml:"default"`
		} `yaml:"config"`
	}
	var dev struct {
		Config map[string]any `yaml:"config"`
	}
	for file, into := range map[string]any{"Pulumi.yaml": &project, "Pulumi.dev.yaml": &dev} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, into); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	cfg := map[string]string{}
	for k, v := range project.Config {
		cfg[project.Name+":"+k] = fmt.Sprint(v.Default)
	}
	for k, v := range dev.Config {
		cfg[k] = fmt.Sprint(v)
	}
	for k, v := range overrides {
		cfg[project.Name+":"+k] = v
	}
	return cfg
}

func runProgram(t *testing.T, cfg map[string]string) (*stacktest.Mocks, error) {
	t.Helper()
	m := &stacktest.Mocks{}
	err := pulumi.RunErr(program,
		pulumi.WithMocks("websocket-service", "dev", m),
		func(info *pulumi.RunInfo) { info.Config = cfg })
	return m, err
}

func TestProgramDeclaresTheService(t *testing.T) {
	m, err := runProgram(t, devConfig(t, map[string]string{"cpu": "2048", "memory": "4096"}))
	if err != nil {
		t.Fatal(err)
	}
	var component, taskDefs int
	for _, r := range m.Resources() {
		switch r.Args.TypeToken {
		case stack.ComponentType:
			component++
			if r.Args.Name != componentName {
				t.Errorf("component named %q", r.Args.Name)
			}
		case "aws:ecs/taskDefinition:TaskDefinition":
			taskDefs++
			// The stack configuration reaches the resources through
			// Pulumi's config, not through defaults.
			if cpu := r.Rule.Inputs["cpu"]; cpu != "2048" {
				t.Errorf("task cpu %v, want the configured 2048", cpu)
			}
		}
	}
	if component != 1 || taskDefs != 1 {
		t.Errorf("%d components and %d task definitions, want 1 each", component, taskDefs)
	}
}

func TestProgramRejectsBadConfig(t *testing.T) {
	cases := []struct {
		key, value string
		// alsoNames is another key the error must name.
		alsoNames string
	}{
		{"scaling", "cpu", ""},
		{"memory", "1536", ""},
		{"headerName", "Bad Header", ""},
		{"maxTasks", "0", ""},
		// Memory fan-out with the dev stack's two tasks.
		{"fanout", "memory", "maxTasks"},
		{"alarmEmail", "not an address", ""},
		{"wafRateLimit", "5", ""},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			m, err := runProgram(t, devConfig(t, map[string]string{tc.key: tc.value}))
			if err == nil || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.alsoNames) {
				t.Fatalf("err = %v, want an error naming %s %s", err, tc.key, tc.alsoNames)
			}
			if n := len(m.Resources()); n != 0 {
				t.Errorf("%d resources declared before validation failed", n)
			}
		})
	}
}
