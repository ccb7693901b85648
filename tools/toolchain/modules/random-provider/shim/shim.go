// Package shim exposes the Terraform random provider to the Pulumi random provider.
//
// The Terraform provider keeps its implementation in an internal package, which Go lets
// only code under github.com/terraform-providers/terraform-provider-random import. This
// package is therefore its own module named under that path; the enclosing
// random-provider module requires it and points a local replace at this directory. It is
// not published anywhere: builds always use this copy.
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"

	randomprovider "github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider returns the Terraform random provider the Pulumi bridge wraps.
func NewProvider() provider.Provider {
	return randomprovider.New()
}
