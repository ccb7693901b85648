// Package version holds the provider's release version.
package version

// Version is the version the plugin reports to the Pulumi engine. It is empty in source
// and must be set at link time:
//
//	-ldflags "-X github.com/go-platform/go-platform/tools/toolchain/modules/random-provider/version.Version=4.21.4"
//
// The bridge refuses to serve without a semver version, so a binary built without it
// fails at startup instead of serving under a version no SDK asks for.
var Version string
