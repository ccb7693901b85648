"""l1-builtin-base64: decode a base64 config value and encode it back."""

import base64

import pulumi

encoded = pulumi.Config().require("input")
decoded = base64.b64decode(encoded).decode("utf-8")

pulumi.export("data", decoded)
pulumi.export("roundtrip", base64.b64encode(decoded.encode("utf-8")).decode("ascii"))
