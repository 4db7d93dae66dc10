package stack

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// policyDocument is an IAM policy (identity, trust or bucket policy).
// Policies are built as values and marshalled, never formatted as text.
type policyDocument struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Sid       string                       `json:"Sid,omitempty"`
	Effect    string                       `json:"Effect"`
	Principal *principal                   `json:"Principal,omitempty"`
	Action    []string                     `json:"Action"`
	Resource  []string                     `json:"Resource,omitempty"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

type principal struct {
	AWS     []string `json:"AWS,omitempty"`
	Service []string `json:"Service,omitempty"`
}

const policyVersion = "2012-10-17"

func allow(actions []string, resources ...string) statement {
	return statement{Effect: "Allow", Action: actions, Resource: resources}
}

// marshalPolicy renders doc as JSON.
func marshalPolicy(doc policyDocument) (string, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("marshal policy: %w", err)
	}
	return string(b), nil
}

// policyOf resolves the given string outputs and builds a policy document
// from their values, as a JSON string output.
func policyOf(build func(v []string) policyDocument, inputs ...pulumi.StringInput) pulumi.StringOutput {
	args := make([]any, len(inputs))
	for i, in := range inputs {
		args[i] = in
	}
	return pulumi.All(args...).ApplyT(func(vals []any) (string, error) {
		s := make([]string, len(vals))
		for i, v := range vals {
			s[i], _ = v.(string)
		}
		return marshalPolicy(build(s))
	}).(pulumi.StringOutput)
}

// assumeRolePolicy lets one AWS service assume a role, for this account
// only (the confused-deputy guard AWS recommends).
func assumeRolePolicy(service, accountID string) (string, error) {
	return marshalPolicy(policyDocument{
		Version: policyVersion,
		Statement: []statement{{
			Effect:    "Allow",
			Principal: &principal{Service: []string{service}},
			Action:    []string{"sts:AssumeRole"},
			Condition: map[string]map[string]string{
				"StringEquals": {"aws:SourceAccount": accountID},
			},
		}},
	})
}

// newServiceRole declares a role that service may assume.
func newServiceRole(ctx *pulumi.Context, name, service, accountID, description string, tags pulumi.StringMapInput, opts ...pulumi.ResourceOption) (*iam.Role, error) {
	trust, err := assumeRolePolicy(service, accountID)
	if err != nil {
		return nil, err
	}
	role, err := iam.NewRole(ctx, name, &iam.RoleArgs{
		AssumeRolePolicy: pulumi.String(trust),
		Description:      pulumi.String(description),
		Tags:             tags,
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("role %s: %w", name, err)
	}
	return role, nil
}
