"""Builds the go-platform policy pack; the policies live in `go_platform_policies`.

Constructing a PolicyPack starts the analyzer server, so nothing imports this module:
tests import `go_platform_policies` instead. The initial config is the committed file of
the stack's environment (`policies/config/<env>.json`); `--policy-pack-config` overrides it.
"""

import os
import sys

from pulumi_policy import EnforcementLevel, PolicyPack

from go_platform_policies import POLICIES
from go_platform_policies.decoding import decode_once
from go_platform_policies.pack_config import PolicyConfigError, initial_config

try:
    INITIAL_CONFIG = initial_config(os.environ)
except PolicyConfigError as error:
    # One clear message for the engine to show, never a traceback.
    sys.exit(f"go-platform policy pack: {error}")

decode_once()  # each resource decoded once per engine call, not once per policy
PolicyPack(
    name="go-platform",
    enforcement_level=EnforcementLevel.ADVISORY,
    policies=POLICIES,
    initial_config=INITIAL_CONFIG,
)
