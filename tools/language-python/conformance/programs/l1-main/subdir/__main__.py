"""l1-main: the program lives in the subdirectory Pulumi.yaml's `main` names."""

import pulumi

pulumi.export("output_true", True)
