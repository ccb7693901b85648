"""l1-config-types-optional: a list of optional strings, from its default."""

import pulumi

names = pulumi.Config().get_object("names")
if names is None:
    names = [None, "hello", None]

pulumi.export("namesLength", len(names))
