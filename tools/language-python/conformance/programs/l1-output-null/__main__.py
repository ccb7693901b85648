"""l1-output-null: a null inside a list output survives."""

import pulumi

pulumi.export("array", [None])
