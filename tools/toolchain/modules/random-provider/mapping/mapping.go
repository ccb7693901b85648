// Package mapping describes how the Terraform random provider appears in Pulumi: the
// package name, the resource tokens and the few per-resource behaviours the bridge's
// defaults do not cover. The tokens and property names are those the pulumi-random
// SDKs (for example the Python package pulumi-random 4.21.4) send.
package mapping

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/info"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/terraform-providers/terraform-provider-random/shim"
)

const (
	// Package is the Pulumi package name; resource tokens start with "random:".
	Package = "random"
	// Module is the only module: every resource lives in random:index.
	Module = "index"
	// tfPrefix starts every Terraform type name of the provider.
	tfPrefix = "random_"
)

// Provider returns the bridge description of the random provider at the given version.
//
// bridgeMetadata is the bridge-metadata.json written next to the schema at build time;
// pass nil when generating the schema, which records fresh metadata into the returned
// ProviderInfo.MetadataInfo.
func Provider(version string, bridgeMetadata []byte) (tfbridge.ProviderInfo, error) {
	if bridgeMetadata == nil {
		// An empty store: the generator fills it while computing tokens and aliases.
		bridgeMetadata = []byte("{}")
	}
	prov := tfbridge.ProviderInfo{
		P:            pftfbridge.ShimProvider(shim.NewProvider()),
		Name:         Package,
		Version:      version,
		Description:  "A Pulumi package to safely use randomness in Pulumi programs.",
		Keywords:     []string{"pulumi", "random"},
		License:      "Apache-2.0",
		MetadataInfo: tfbridge.NewProviderMetadata(bridgeMetadata),
		Resources: map[string]*tfbridge.ResourceInfo{
			// The Terraform resource has no id attribute; use its base64 value, which is
			// also what `terraform import` and `pulumi import` take for it.
			"random_bytes": {ComputeID: idFromBase64},
			// Some old Pulumi states of random_string carry no schema version. The
			// Terraform provider only upgrades from versions 1 and 2, and those states
			// have the version 1 shape, so read them as version 1.
			"random_string": {PreStateUpgradeHook: unversionedStateIsV1},
		},
		// Previews show the values the Terraform plan knows instead of marking every
		// computed property unknown.
		EnableAccuratePFBridgePreview: true,
	}
	if err := prov.ComputeTokens(tfbridge.Strategy{
		Resource: resourceToken,
		// The provider has no data sources or functions; these reject any that appear.
		DataSource: func(tfName string, _ *tfbridge.DataSourceInfo) error {
			return fmt.Errorf("data source %s has no Pulumi mapping", tfName)
		},
		Function: func(tfName string, _ *info.Function) error {
			return fmt.Errorf("function %s has no Pulumi mapping", tfName)
		},
	}); err != nil {
		return tfbridge.ProviderInfo{}, fmt.Errorf("compute tokens: %w", err)
	}
	if err := prov.ApplyAutoAliases(); err != nil {
		return tfbridge.ProviderInfo{}, fmt.Errorf("apply aliases: %w", err)
	}
	return prov, nil
}

// resourceToken maps random_<name> to random:index/random<Name>:Random<Name>, for example
// random_password to random:index/randomPassword:RandomPassword.
func resourceToken(tfName string, res *tfbridge.ResourceInfo) error {
	if res.Tok != "" {
		return nil
	}
	name, ok := strings.CutPrefix(tfName, tfPrefix)
	if !ok || name == "" {
		return fmt.Errorf("resource %s does not start with %s", tfName, tfPrefix)
	}
	typeName := upperCamel(tfName)
	member := []rune(typeName)
	member[0] = unicode.ToLower(member[0])
	if !tokens.IsName(typeName) {
		return fmt.Errorf("resource %s: %s is not a valid type name", tfName, typeName)
	}
	res.Tok = tokens.Type(fmt.Sprintf("%s:%s/%s:%s", Package, Module, string(member), typeName))
	return nil
}

// upperCamel turns snake_case into UpperCamelCase: random_uuid4 becomes RandomUuid4.
func upperCamel(snake string) string {
	var b strings.Builder
	for _, part := range strings.Split(snake, "_") {
		if part == "" {
			continue
		}
		r := []rune(part)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}

func idFromBase64(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
	value, ok := state["base64"]
	if !ok {
		return "", errors.New("random_bytes state has no base64 property")
	}
	// The property is sensitive, so it arrives as a secret; a resource ID cannot be one.
	if value.IsSecret() {
		value = value.SecretValue().Element
	}
	if value.IsComputed() || value.IsOutput() {
		return "", errors.New("random_bytes base64 property is not known yet")
	}
	if !value.IsString() {
		return "", fmt.Errorf("random_bytes base64 property is %s, not a string", value.TypeString())
	}
	return resource.ID(value.StringValue()), nil
}

func unversionedStateIsV1(args tfbridge.PreStateUpgradeHookArgs) (int64, resource.PropertyMap, error) {
	if args.PriorStateSchemaVersion == 0 {
		return 1, args.PriorState, nil
	}
	return args.PriorStateSchemaVersion, args.PriorState, nil
}
