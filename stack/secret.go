package stack

import (
	"fmt"

	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// originSecret generates the value of the header CloudFront adds to every
// origin request and the ALB listener rule requires. It is alphanumeric so
// it needs no escaping in either place.
//
// The provider marks the result secret, but the engine applies that marking;
// wrapping it again here keeps it secret in every input that carries it even
// where no engine runs (mock tests) and makes the intent explicit.
func (b *builder) originSecret() (pulumi.StringOutput, error) {
	pw, err := random.NewRandomPassword(b.ctx, b.name+"-origin-secret", &random.RandomPasswordArgs{
		Length:  pulumi.Int(b.cfg.HeaderSecretLength),
		Special: pulumi.Bool(false),
		Upper:   pulumi.Bool(true),
		Lower:   pulumi.Bool(true),
		Numeric: pulumi.Bool(true),
	}, b.opts()...)
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("origin secret: %w", err)
	}
	return pulumi.ToSecret(pw.Result).(pulumi.StringOutput), nil
}
