"""l1-output-number: number outputs, including the float64 extremes."""

import sys

import pulumi

pulumi.export("zero", 0)
pulumi.export("one", 1)
pulumi.export("e", 2.718)
pulumi.export("minInt32", -2147483648)
pulumi.export("max", sys.float_info.max)
pulumi.export("min", 5e-324)  # the smallest positive subnormal float64
