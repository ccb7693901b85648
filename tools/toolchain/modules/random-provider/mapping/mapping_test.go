package mapping

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

const testVersion = "4.21.4"

// sdkResources lists, for every resource of the pulumi-random 4.21.4 Python SDK, the token
// it registers and the input and output-only property names it sends and reads (taken
// from the SDK's resource modules).
var sdkResources = map[string]struct{ inputs, outputs []string }{
	"random:index/randomBytes:RandomBytes":     {[]string{"keepers", "length"}, []string{"base64", "hex"}},
	"random:index/randomId:RandomId":           {[]string{"byteLength", "keepers", "prefix"}, []string{"b64Std", "b64Url", "dec", "hex"}},
	"random:index/randomInteger:RandomInteger": {[]string{"keepers", "max", "min", "seed"}, []string{"result"}},
	"random:index/randomPassword:RandomPassword": {
		[]string{"keepers", "length", "lower", "minLower", "minNumeric", "minSpecial", "minUpper", "number", "numeric", "overrideSpecial", "special", "upper"},
		[]string{"bcryptHash", "result"},
	},
	"random:index/randomPet:RandomPet":         {[]string{"keepers", "length", "prefix", "separator"}, nil},
	"random:index/randomShuffle:RandomShuffle": {[]string{"inputs", "keepers", "resultCount", "seed"}, []string{"results"}},
	"random:index/randomString:RandomString": {
		[]string{"keepers", "length", "lower", "minLower", "minNumeric", "minSpecial", "minUpper", "number", "numeric", "overrideSpecial", "special", "upper"},
		[]string{"result"},
	},
	"random:index/randomUuid:RandomUuid":   {[]string{"keepers"}, []string{"result"}},
	"random:index/randomUuid4:RandomUuid4": {[]string{"keepers"}, []string{"result"}},
	"random:index/randomUuid7:RandomUuid7": {[]string{"keepers"}, []string{"result"}},
}

var generated = sync.OnceValues(func() (*Generated, error) {
	return Generate(context.Background(), testVersion, nil)
})

func generatedSpec(t *testing.T) (*Generated, schema.PackageSpec) {
	t.Helper()
	g, err := generated()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	var spec schema.PackageSpec
	if err := json.Unmarshal(g.Schema, &spec); err != nil {
		t.Fatalf("generated schema does not parse: %v", err)
	}
	return g, spec
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestSchemaNameAndVersion(t *testing.T) {
	_, spec := generatedSpec(t)
	if spec.Name != "random" || spec.Version != testVersion {
		t.Errorf("schema name %q version %q, want random %s", spec.Name, spec.Version, testVersion)
	}
}

func TestSchemaResourceTokensMatchPythonSDK(t *testing.T) {
	_, spec := generatedSpec(t)
	got, want := sortedKeys(spec.Resources), sortedKeys(sdkResources)
	if !slices.Equal(got, want) {
		t.Errorf("resource tokens:\n got  %v\n want %v", got, want)
	}
}

func TestSchemaPropertiesMatchPythonSDK(t *testing.T) {
	_, spec := generatedSpec(t)
	for token, sdk := range sdkResources {
		res, ok := spec.Resources[token]
		if !ok {
			continue // reported by TestSchemaResourceTokensMatchPythonSDK
		}
		wantInputs := slices.Sorted(slices.Values(sdk.inputs))
		if got := sortedKeys(res.InputProperties); !slices.Equal(got, wantInputs) {
			t.Errorf("%s inputs:\n got  %v\n want %v", token, got, wantInputs)
		}
		wantAll := slices.Sorted(slices.Values(append(slices.Clone(sdk.inputs), sdk.outputs...)))
		if got := sortedKeys(res.Properties); !slices.Equal(got, wantAll) {
			t.Errorf("%s properties:\n got  %v\n want %v", token, got, wantAll)
		}
	}
}

func TestRandomPasswordSchema(t *testing.T) {
	_, spec := generatedSpec(t)
	res := spec.Resources["random:index/randomPassword:RandomPassword"]
	for _, name := range []string{"result", "bcryptHash"} {
		if p, ok := res.Properties[name]; !ok || !p.Secret {
			t.Errorf("RandomPassword.%s is not a secret output", name)
		}
	}
	if !slices.Equal(res.RequiredInputs, []string{"length"}) {
		t.Errorf("RandomPassword required inputs %v, want [length]", res.RequiredInputs)
	}
	if p := res.InputProperties["length"]; p.Type != "integer" {
		t.Errorf("RandomPassword.length has type %q, want integer", p.Type)
	}
	keepers := res.InputProperties["keepers"]
	if keepers.Type != "object" || keepers.AdditionalProperties == nil || keepers.AdditionalProperties.Type != "string" {
		t.Errorf("RandomPassword.keepers is not a map of strings: %+v", keepers)
	}
}

func TestRequiredInputsMatchPythonSDK(t *testing.T) {
	_, spec := generatedSpec(t)
	want := map[string][]string{
		"random:index/randomBytes:RandomBytes":       {"length"},
		"random:index/randomId:RandomId":             {"byteLength"},
		"random:index/randomInteger:RandomInteger":   {"max", "min"},
		"random:index/randomPassword:RandomPassword": {"length"},
		"random:index/randomShuffle:RandomShuffle":   {"inputs"},
		"random:index/randomString:RandomString":     {"length"},
	}
	for token := range sdkResources {
		got := slices.Sorted(slices.Values(spec.Resources[token].RequiredInputs))
		if !slices.Equal(got, want[token]) {
			t.Errorf("%s required inputs %v, want %v", token, got, want[token])
		}
	}
	bytesRes := spec.Resources["random:index/randomBytes:RandomBytes"]
	for _, name := range []string{"base64", "hex"} {
		if !bytesRes.Properties[name].Secret {
			t.Errorf("RandomBytes.%s is not a secret output", name)
		}
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	first, _ := generatedSpec(t)
	again, err := Generate(context.Background(), testVersion, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Schema, again.Schema) || !bytes.Equal(first.Metadata, again.Metadata) {
		t.Error("two generations differ")
	}
}

// The plugin builds its ProviderInfo from the embedded metadata; it must map the same
// tokens as the generator did.
func TestProviderFromGeneratedMetadata(t *testing.T) {
	g, spec := generatedSpec(t)
	prov, err := Provider(testVersion, g.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for _, res := range prov.Resources {
		tokens = append(tokens, string(res.Tok))
	}
	sort.Strings(tokens)
	if want := sortedKeys(spec.Resources); !slices.Equal(tokens, want) {
		t.Errorf("runtime tokens %v, want %v", tokens, want)
	}
	if prov.Resources["random_bytes"].ComputeID == nil {
		t.Error("random_bytes has no ComputeID")
	}
	if !prov.EnableAccuratePFBridgePreview {
		t.Error("accurate previews are off")
	}
}

func TestRandomBytesID(t *testing.T) {
	ctx := context.Background()
	state := resource.PropertyMap{
		"base64": resource.MakeSecret(resource.NewStringProperty("aGVsbG8=")),
		"length": resource.NewNumberProperty(5),
	}
	id, err := idFromBase64(ctx, state)
	if err != nil || id != "aGVsbG8=" {
		t.Errorf("ID %q, %v; want aGVsbG8=", id, err)
	}
	if _, err := idFromBase64(ctx, resource.PropertyMap{}); err == nil {
		t.Error("no error without base64")
	}
	unknown := resource.PropertyMap{"base64": resource.MakeComputed(resource.NewStringProperty(""))}
	if _, err := idFromBase64(ctx, unknown); err == nil {
		t.Error("no error for an unknown base64")
	}
}

func TestUnversionedRandomStringStateReadsAsV1(t *testing.T) {
	state := resource.PropertyMap{"length": resource.NewNumberProperty(8)}
	for prior, want := range map[int64]int64{0: 1, 1: 1, 2: 2} {
		got, props, err := unversionedStateIsV1(tfbridge.PreStateUpgradeHookArgs{
			PriorState: state, PriorStateSchemaVersion: prior, ResourceSchemaVersion: 3,
		})
		if err != nil || got != want || !props.DeepEquals(state) {
			t.Errorf("prior version %d: got %d, %v; want %d", prior, got, err, want)
		}
	}
}

func TestResourceToken(t *testing.T) {
	for tfName, want := range map[string]string{
		"random_password": "random:index/randomPassword:RandomPassword",
		"random_uuid4":    "random:index/randomUuid4:RandomUuid4",
	} {
		var res tfbridge.ResourceInfo
		if err := resourceToken(tfName, &res); err != nil || string(res.Tok) != want {
			t.Errorf("%s: %q, %v; want %s", tfName, res.Tok, err, want)
		}
	}
	if err := resourceToken("other_thing", &tfbridge.ResourceInfo{}); err == nil {
		t.Error("no error for a name without the random_ prefix")
	}
}
