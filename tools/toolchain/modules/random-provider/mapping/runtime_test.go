package mapping

import (
	"context"
	"testing"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

// runtimeProvider serves the mapping the way the plugin does: from the generated schema
// and bridge metadata, in-process and without an engine.
func runtimeProvider(t *testing.T) plugin.Provider {
	t.Helper()
	g, _ := generatedSpec(t)
	prov, err := Provider(testVersion, g.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := pftfbridge.NewProvider(ctx, prov, pftfbridge.ProviderMetadata{PackageSchema: g.Schema})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Configure(ctx, plugin.ConfigureRequest{Inputs: resource.PropertyMap{}}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return p
}

func create(t *testing.T, p plugin.Provider, token string, inputs resource.PropertyMap) plugin.CreateResponse {
	t.Helper()
	ctx := context.Background()
	typ := tokens.Type(token)
	urn := resource.NewURN("test", "test", "", typ, "r")
	checked, err := p.Check(ctx, plugin.CheckRequest{URN: urn, Name: "r", Type: typ, News: inputs})
	if err != nil || len(checked.Failures) > 0 {
		t.Fatalf("Check %s: %v %v", token, err, checked.Failures)
	}
	created, err := p.Create(ctx, plugin.CreateRequest{URN: urn, Name: "r", Type: typ, Properties: checked.Properties})
	if err != nil {
		t.Fatalf("Create %s: %v", token, err)
	}
	return created
}

func TestCreateRandomPassword(t *testing.T) {
	p := runtimeProvider(t)
	created := create(t, p, "random:index/randomPassword:RandomPassword",
		resource.PropertyMap{"length": resource.NewNumberProperty(20)})
	result := created.Properties["result"]
	if !result.IsSecret() {
		t.Fatalf("result is not a secret: %v", result)
	}
	if s := result.SecretValue().Element.StringValue(); len(s) != 20 {
		t.Errorf("password has %d characters, want 20", len(s))
	}
	if created.ID == "" {
		t.Error("no ID")
	}
}

func TestCreateRandomBytesUsesBase64AsID(t *testing.T) {
	p := runtimeProvider(t)
	created := create(t, p, "random:index/randomBytes:RandomBytes",
		resource.PropertyMap{"length": resource.NewNumberProperty(8)})
	b64 := created.Properties["base64"]
	if !b64.IsSecret() {
		t.Fatalf("base64 is not a secret: %v", b64)
	}
	if want := b64.SecretValue().Element.StringValue(); string(created.ID) != want || want == "" {
		t.Errorf("ID %q, want the base64 value %q", created.ID, want)
	}
}

func TestCreateRandomIDUsesB64URL(t *testing.T) {
	p := runtimeProvider(t)
	created := create(t, p, "random:index/randomId:RandomId",
		resource.PropertyMap{"byteLength": resource.NewNumberProperty(4)})
	if want := created.Properties["b64Url"].StringValue(); string(created.ID) != want || want == "" {
		t.Errorf("ID %q, want b64Url %q", created.ID, want)
	}
}
