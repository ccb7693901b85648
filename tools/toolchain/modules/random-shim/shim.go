// Package shim exposes the Terraform random provider to the Pulumi random provider.
//
// The Pulumi random provider imports this package under the module path
// github.com/terraform-providers/terraform-provider-random/shim. Upstream keeps it as a
// nested module inside the provider's repository (provider/shim) that is replaced by a
// local path, so it is neither part of the provider's module zip nor published on its own:
// a build from the module proxy has to supply it. The module path sits under the Terraform
// provider's path, which is what lets it import that provider's internal package.
//
// tools/toolchain/bootstrap.py copies this file into the random provider's wrapper module
// and writes its go.mod from the provider's own requirements.
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"

	randomprovider "github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider returns the Terraform random provider the Pulumi bridge wraps.
func NewProvider() provider.Provider {
	return randomprovider.New()
}
