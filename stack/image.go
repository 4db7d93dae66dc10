package stack

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Image build settings. The Dockerfile cross-compiles the server for the
// task's ARM64 runtime platform; the two must agree.
const (
	buildContext  = "."
	dockerfile    = "Dockerfile"
	imagePlatform = "linux/arm64"
)

// image is the repository and the pushed image, pinned by digest.
type image struct {
	repo *ecr.Repository
	// ref is repository@sha256:...; a task definition that names the
	// digest changes exactly when the image does, and every `pulumi up`
	// records what it deployed.
	ref pulumi.StringOutput
}

// ecrLifecyclePolicy is an ECR lifecycle policy document.
type ecrLifecyclePolicy struct {
	Rules []ecrLifecycleRule `json:"rules"`
}

type ecrLifecycleRule struct {
	RulePriority int                `json:"rulePriority"`
	Description  string             `json:"description"`
	Selection    ecrLifecycleSelect `json:"selection"`
	Action       ecrLifecycleAction `json:"action"`
}

type ecrLifecycleSelect struct {
	TagStatus   string `json:"tagStatus"`
	CountType   string `json:"countType"`
	CountNumber int    `json:"countNumber"`
}

type ecrLifecycleAction struct {
	Type string `json:"type"`
}

// image declares the ECR repository and builds and pushes the server image
// from the repository root's Dockerfile.
func (b *builder) image() (*image, error) {
	repo, err := ecr.NewRepository(b.ctx, b.name+"-server", &ecr.RepositoryArgs{
		ImageScanningConfiguration: &ecr.RepositoryImageScanningConfigurationArgs{ScanOnPush: pulumi.Bool(true)},
		// The stack tag is overwritten by every push; deployments use the
		// digest, so tags are labels, not references.
		ImageTagMutability: pulumi.String("MUTABLE"),
		EncryptionConfigurations: ecr.RepositoryEncryptionConfigurationArray{
			&ecr.RepositoryEncryptionConfigurationArgs{EncryptionType: pulumi.String("AES256")},
		},
		ForceDelete: pulumi.Bool(b.cfg.ForceDestroy),
		Tags:        b.tags(),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("ecr repository: %w", err)
	}
	policy, err := json.Marshal(ecrLifecyclePolicy{Rules: []ecrLifecycleRule{{
		RulePriority: 1,
		Description:  fmt.Sprintf("Keep the last %d images", b.cfg.EcrKeepImages),
		Selection:    ecrLifecycleSelect{TagStatus: "any", CountType: "imageCountMoreThan", CountNumber: b.cfg.EcrKeepImages},
		Action:       ecrLifecycleAction{Type: "expire"},
	}}})
	if err != nil {
		return nil, fmt.Errorf("ecr lifecycle policy: %w", err)
	}
	_, err = ecr.NewLifecyclePolicy(b.ctx, b.name+"-server", &ecr.LifecyclePolicyArgs{
		Repository: repo.Name,
		Policy:     pulumi.String(string(policy)),
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("ecr lifecycle policy: %w", err)
	}

	token := ecr.GetAuthorizationTokenOutput(b.ctx, ecr.GetAuthorizationTokenOutputArgs{
		RegistryId: repo.RegistryId,
	}, b.parent)
	img, err := docker.NewImage(b.ctx, b.name+"-server", &docker.ImageArgs{
		ImageName: pulumi.Sprintf("%s:%s", repo.RepositoryUrl, b.ctx.Stack()),
		Build: &docker.DockerBuildArgs{
			Context:    pulumi.String(buildContext),
			Dockerfile: pulumi.String(dockerfile),
			Platform:   pulumi.String(imagePlatform),
		},
		// A preview (CI on pull requests) needs no Docker daemon.
		BuildOnPreview: pulumi.Bool(false),
		Registry: &docker.RegistryArgs{
			Server:   token.ProxyEndpoint(),
			Username: token.UserName(),
			Password: pulumi.ToSecret(token.Password()).(pulumi.StringOutput),
		},
	}, b.opts()...)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return &image{repo: repo, ref: img.RepoDigest}, nil
}
