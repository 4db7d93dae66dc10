package stack

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/policy/rules"
	"github.com/wsfargate/websocket-service/stack/stacktest"
)

// run is one mocked `pulumi up` of the program.
type run struct {
	mocks   *stacktest.Mocks
	outputs map[string]string
	// secretOutputs lists the outputs Pulumi would store as secrets.
	secretOutputs []string
	// region is the stack's AWS region (aws:region).
	region string
}

// withConfig hands the program a stack configuration, as the engine does.
func withConfig(cfg map[string]string) pulumi.RunOption {
	return func(info *pulumi.RunInfo) { info.Config = cfg }
}

// runProgram runs LoadConfig and New under mocks with the given fully
// qualified configuration and returns what they declared.
func runProgram(t *testing.T, cfg map[string]string) (*run, error) {
	t.Helper()
	r := &run{mocks: &stacktest.Mocks{CurrentRegion: cfg["aws:region"]}, outputs: map[string]string{}, region: cfg["aws:region"]}
	if r.region == "" {
		r.region = stacktest.Region
	}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		c, err := LoadConfig(ctx)
		if err != nil {
			return err
		}
		svc, err := New(ctx, "websocket", c)
		if err != nil {
			return err
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for name, out := range svc.Outputs() {
			wg.Add(1)
			out.ApplyT(func(v string) string {
				mu.Lock()
				r.outputs[name] = v
				mu.Unlock()
				wg.Done()
				return v
			})
			if pulumi.IsSecret(out) {
				r.secretOutputs = append(r.secretOutputs, name)
			}
		}
		wg.Wait()
		return nil
	}, pulumi.WithMocks("websocket-service", "dev", r.mocks), withConfig(cfg))
	return r, err
}

// ofType returns the recorded resources of a type, by name.
func (r *run) ofType(typ string) []stacktest.Registered {
	var out []stacktest.Registered
	for _, x := range r.mocks.Resources() {
		if x.Args.TypeToken == typ {
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b stacktest.Registered) int { return strings.Compare(a.Args.Name, b.Args.Name) })
	return out
}

// one returns the only resource of a type, failing the test otherwise.
func (r *run) one(t *testing.T, typ string) rules.Resource {
	t.Helper()
	got := r.ofType(typ)
	if len(got) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(got), typ)
	}
	return got[0].Rule
}

// named returns the resource of a type with a logical name.
func (r *run) named(t *testing.T, typ, name string) stacktest.Registered {
	t.Helper()
	for _, x := range r.ofType(typ) {
		if x.Args.Name == name {
			return x
		}
	}
	t.Fatalf("no %s named %s", typ, name)
	return stacktest.Registered{}
}

// rulesResources is every recorded resource as the rule set sees it.
func (r *run) rulesResources() []rules.Resource {
	res := r.mocks.Resources()
	out := make([]rules.Resource, len(res))
	for i, x := range res {
		out[i] = x.Rule
	}
	return out
}

// at walks a path of map keys and list indexes through plain inputs.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}
