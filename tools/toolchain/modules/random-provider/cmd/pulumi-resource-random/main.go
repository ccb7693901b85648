// Command pulumi-resource-random is the Pulumi resource plugin "random": the Terraform
// random provider served through the Pulumi Terraform bridge.
//
// It embeds the schema and bridge metadata that ./cmd/generate writes into generated/;
// build it only after running the generator with the same version (see README.md).
package main

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	"github.com/go-platform/go-platform/tools/toolchain/modules/random-provider/mapping"
	"github.com/go-platform/go-platform/tools/toolchain/modules/random-provider/version"
)

// generated holds README.md (committed, so that the package compiles in a fresh checkout)
// and the two files ./cmd/generate writes.
//
//go:embed generated
var generated embed.FS

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-random: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	schema, err := fs.ReadFile(generated, path.Join("generated", mapping.SchemaFile))
	if err != nil {
		return fmt.Errorf("built without a generated schema (run ./cmd/generate before go build): %w", err)
	}
	bridgeMetadata, err := fs.ReadFile(generated, path.Join("generated", mapping.MetadataFile))
	if err != nil {
		return fmt.Errorf("built without generated bridge metadata (run ./cmd/generate before go build): %w", err)
	}
	var header struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(schema, &header); err != nil {
		return fmt.Errorf("embedded schema: %w", err)
	}
	if header.Version != version.Version {
		return fmt.Errorf("embedded schema is for version %q but the binary was linked as version %q;"+
			" generate and build with the same version", header.Version, version.Version)
	}
	prov, err := mapping.Provider(version.Version, bridgeMetadata)
	if err != nil {
		return err
	}
	pftfbridge.Main(context.Background(), mapping.Package, prov, pftfbridge.ProviderMetadata{PackageSchema: schema})
	return nil
}
