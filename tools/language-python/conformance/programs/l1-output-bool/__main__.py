"""l1-output-bool: boolean outputs."""

import pulumi

pulumi.export("output_true", True)
pulumi.export("output_false", False)
