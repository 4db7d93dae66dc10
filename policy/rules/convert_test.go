package rules_test

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/policy/rules"
)

// collector is a pulumi.MockResourceMonitor that records every resource.
type collector struct {
	mu  sync.Mutex
	got []rules.Resource
}

func (c *collector) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	id := args.Name + "_id"
	r := rules.FromMock(args)
	r.ID = id
	c.mu.Lock()
	c.got = append(c.got, r)
	c.mu.Unlock()
	return id, args.Inputs, nil
}

func (c *collector) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

// TestFromMockRelatesUntaggableToOwner runs a real Pulumi program under
// mocks: a RolePolicy refers to its Role only through an output, and the
// Role's tags must suppress the RolePolicy's IAM5 finding.
func TestFromMockRelatesUntaggableToOwner(t *testing.T) {
	doc, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect":   "Allow",
			"Action":   []string{"ssmmessages:CreateControlChannel"},
			"Resource": "*",
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		tags     map[string]string
		wantRule []string
	}{
		{"unsuppressed", nil, []string{"AwsSolutions-IAM5"}},
		{"suppressed on the role", rules.Tags(rules.Suppress("AwsSolutions-IAM5", "ECS Exec ssmmessages actions have no resource-level permissions")), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &collector{}
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				role, err := iam.NewRole(ctx, "task", &iam.RoleArgs{
					AssumeRolePolicy: pulumi.String(`{"Version":"2012-10-17","Statement":[]}`),
					Tags:             pulumi.ToStringMap(tc.tags),
				})
				if err != nil {
					return err
				}
				_, err = iam.NewRolePolicy(ctx, "exec", &iam.RolePolicyArgs{
					Role:   role.Name, // unknown to the rules: only Refs relate the two
					Policy: pulumi.String(string(doc)),
				})
				return err
			}, pulumi.WithMocks("project", "stack", c))
			if err != nil {
				t.Fatal(err)
			}
			var policy rules.Resource
			for _, r := range c.got {
				if r.Name == "exec" {
					policy = r
				}
			}
			if !slices.Contains(policy.Refs["role"], "task") {
				t.Fatalf("RolePolicy Refs = %v, want role -> task", policy.Refs)
			}
			var gotRules []string
			for _, f := range rules.Check(c.got) {
				gotRules = append(gotRules, f.Rule)
			}
			if !slices.Equal(gotRules, tc.wantRule) {
				t.Errorf("Check rules = %v, want %v (findings %v)", gotRules, tc.wantRule, rules.Check(c.got))
			}
		})
	}
}
