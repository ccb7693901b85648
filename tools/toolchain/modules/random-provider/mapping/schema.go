package mapping

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	pftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"
	"github.com/pulumi/pulumi-terraform-bridge/v3/unstable/metadata"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/diag/colors"
)

// File names the plugin embeds; Generate's output is written under these names.
const (
	SchemaFile   = "schema.json"
	MetadataFile = "bridge-metadata.json"
)

// Generated is the build-time output the plugin embeds.
type Generated struct {
	// Schema is the Pulumi package schema, with its version set.
	Schema []byte
	// Metadata is the bridge's own record (computed tokens, aliases, schema fixups)
	// that the provider reads back at runtime.
	Metadata []byte
}

// Generate runs the bridge's schema generator in-process for the given version. Docs come
// only from the Terraform schema's descriptions: nothing is read from disk or the network.
// Warnings from the generator go to diagnostics (nil discards them).
func Generate(ctx context.Context, version string, diagnostics io.Writer) (*Generated, error) {
	if version == "" {
		return nil, errors.New("a version is required")
	}
	prov, err := Provider(version, nil)
	if err != nil {
		return nil, err
	}
	if diagnostics == nil {
		diagnostics = io.Discard
	}
	sink := diag.DefaultSink(diagnostics, diagnostics, diag.FormatOptions{Color: colors.Never})
	result, err := pftfgen.GenerateSchema(ctx, pftfgen.GenerateSchemaOptions{
		ProviderInfo:    prov,
		DiagnosticsSink: sink,
		XInMemoryDocs:   true,
	})
	if err != nil {
		return nil, fmt.Errorf("generate schema: %w", err)
	}

	// The bridge leaves the version out of the schema so that it stays stable across
	// builds; the engine and SDKs expect it, so set it here.
	var spec schema.PackageSpec
	if err := json.Unmarshal(result.ProviderMetadata.PackageSchema, &spec); err != nil {
		return nil, fmt.Errorf("read the generated schema: %w", err)
	}
	spec.Version = version
	schemaJSON, err := json.MarshalIndent(spec, "", "    ")
	if err != nil {
		return nil, fmt.Errorf("write the schema: %w", err)
	}

	// Provider and the generator recorded into this store; the runtime needs it back.
	metadataJSON := (*metadata.Data)(prov.MetadataInfo.Data).MarshalIndent()
	return &Generated{
		Schema:   append(schemaJSON, '\n'),
		Metadata: append(metadataJSON, '\n'),
	}, nil
}
