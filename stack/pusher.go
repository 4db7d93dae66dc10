package stack

import (
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/wsfargate/websocket-service/server/contract"
)

// envPusherClientEvents is the server setting that lets clients send client
// events. server/contract has no constant for it (only the keys the stack
// must set are there); the server reads it under this name from
// server/config, which a test checks.
const envPusherClientEvents = "PUSHER_CLIENT_EVENTS"

// The Pusher Channels app's generated credentials, shaped like Pusher's own
// so that client libraries and tools that check their form accept them.
const (
	// pusherAppIDMin and pusherAppIDMax make the app id seven decimal
	// digits, as Pusher's app ids are.
	pusherAppIDMin = 1_000_000
	pusherAppIDMax = 9_999_999
	// pusherKeyBytes random bytes render as a 20-character lower-case hex
	// key, the form of a Pusher app key.
	pusherKeyBytes = 10
	// pusherSecretLength alphanumeric characters (about 190 bits) sign the
	// HTTP API and channel authorizations; longer than Pusher's 20 hex
	// characters, and without special characters so no SDK or shell has
	// to escape it.
	pusherSecretLength = 32
)

// pusherApp is the Pusher Channels app the server serves at
// /app/{key} (clients) and /apps/{id}/... (the HTTP API). The id and key
// are public; the secret is a Pulumi secret everywhere and reaches the
// tasks only through Secrets Manager.
type pusherApp struct {
	id, key pulumi.StringOutput
	// secret is the app secret's value, for the stack output that a
	// backend signing API requests reads.
	secret pulumi.StringOutput
	// secretStore holds the secret for ECS, which hands it to the
	// container as PUSHER_APP_SECRET with the execution role.
	secretStore *secretsmanager.Secret
	// secretValue is the stored value; tasks must not start before it
	// exists.
	secretValue *secretsmanager.SecretVersion
}

// pusherApp generates the app's credentials and stores the secret. The
// random resources keep their values across updates: clients and backends
// configured with them keep working until the stack is destroyed.
func (b *builder) pusherApp() (*pusherApp, error) {
	id, err := random.NewRandomInteger(b.ctx, b.name+"-pusher-app-id", &random.RandomIntegerArgs{
		Min: pulumi.Int(pusherAppIDMin),
		Max: pulumi.Int(pusherAppIDMax),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("pusher app id: %w", err)
	}
	key, err := random.NewRandomId(b.ctx, b.name+"-pusher-key", &random.RandomIdArgs{
		ByteLength: pulumi.Int(pusherKeyBytes),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("pusher key: %w", err)
	}
	pw, err := random.NewRandomPassword(b.ctx, b.name+"-pusher-secret", &random.RandomPasswordArgs{
		Length:  pulumi.Int(pusherSecretLength),
		Special: pulumi.Bool(false),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("pusher secret: %w", err)
	}
	// As with the origin secret: explicit, and secret even where no engine
	// applies the provider's marking.
	secret := pulumi.ToSecret(pw.Result).(pulumi.StringOutput)

	// Stored like the broker password: the AWS managed key (the execution
	// role needs no KMS grant), the default 30-day recovery window unless
	// the stack may be destroyed outright.
	secretArgs := &secretsmanager.SecretArgs{
		Description: pulumi.String("Pusher Channels app secret of " + b.physical + " (" + contract.EnvPusherAppSecret + ")"),
		Tags:        b.tags(),
	}
	if b.cfg.ForceDestroy {
		secretArgs.RecoveryWindowInDays = pulumi.Int(0)
	}
	store, err := secretsmanager.NewSecret(b.ctx, b.name+"-pusher-secret", secretArgs, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("pusher secret store: %w", err)
	}
	value, err := secretsmanager.NewSecretVersion(b.ctx, b.name+"-pusher-secret", &secretsmanager.SecretVersionArgs{
		SecretId:     store.ID(),
		SecretString: secret,
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("pusher secret value: %w", err)
	}
	return &pusherApp{
		id:          id.Result.ApplyT(strconv.Itoa).(pulumi.StringOutput),
		key:         key.Hex,
		secret:      secret,
		secretStore: store,
		secretValue: value,
	}, nil
}
