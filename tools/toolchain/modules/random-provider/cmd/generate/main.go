// Command generate writes the files the random plugin embeds: the Pulumi package schema
// (schema.json) and the bridge's metadata (bridge-metadata.json).
//
//	go run -trimpath ./cmd/generate -version 4.21.4 -out cmd/pulumi-resource-random/generated
//
// Run it before building ./cmd/pulumi-resource-random, with the same version as the
// binary's link-time version. It needs no network access and no checkout of any other
// repository.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-platform/go-platform/tools/toolchain/modules/random-provider/mapping"
)

func main() {
	version := flag.String("version", "", "provider version to record in the schema, e.g. 4.21.4 (required)")
	out := flag.String("out", "", "directory to write schema.json and bridge-metadata.json into (required)")
	flag.Parse()
	if err := run(*version, *out); err != nil {
		fmt.Fprintf(os.Stderr, "generate: %v\n", err)
		os.Exit(1)
	}
}

func run(version, out string) error {
	if version == "" || out == "" {
		return errors.New("both -version and -out are required")
	}
	if info, err := os.Stat(out); err != nil || !info.IsDir() {
		return fmt.Errorf("-out %s is not a directory", out)
	}
	generated, err := mapping.Generate(context.Background(), version, os.Stderr)
	if err != nil {
		return err
	}
	for name, content := range map[string][]byte{
		mapping.SchemaFile:   generated.Schema,
		mapping.MetadataFile: generated.Metadata,
	} {
		if err := writeFile(filepath.Join(out, name), content); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %s and %s for version %s into %s\n", mapping.SchemaFile, mapping.MetadataFile, version, out)
	return nil
}

// writeFile replaces path in one rename, so an interrupted run never leaves half a file
// for the plugin build to embed.
func writeFile(path string, content []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
