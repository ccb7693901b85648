"""l1-builtin-sha1: the hex SHA-1 of a config string."""

import hashlib

import pulumi

text = pulumi.Config().require("input")
pulumi.export("hash", hashlib.sha1(text.encode("utf-8")).hexdigest())
