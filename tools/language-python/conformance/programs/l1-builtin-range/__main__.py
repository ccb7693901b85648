"""l1-builtin-range: ranges from config bounds and from literals."""

import pulumi

config = pulumi.Config()
start = config.require_int("from")
stop = config.require_int("to")

pulumi.export("rangeTo", list(range(stop)))
pulumi.export("rangeFromTo", list(range(start, stop)))
pulumi.export("literalTo", list(range(3)))
pulumi.export("literalFromTo", list(range(2, 5)))
pulumi.export("literalEmpty", list(range(3, 3)))
