"""Builds the go-platform policy pack; the policies live in `go_platform_policies`.

Constructing a PolicyPack starts the analyzer server, so nothing imports this module:
tests import `go_platform_policies` instead.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from go_platform_policies import POLICIES

PolicyPack(name="go-platform", enforcement_level=EnforcementLevel.ADVISORY, policies=POLICIES)
