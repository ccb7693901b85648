"""l1-builtin-require-pulumi-version: the program requires a CLI version range from config."""

import pulumi

pulumi.require_pulumi_version(pulumi.Config().require("version"))
