"""l1-config-secret: a secret number from config, and arithmetic on it, stay secret."""

import pulumi

a_number = pulumi.Config().require_secret_float("aNumber")

pulumi.export("roundtrip", a_number)
pulumi.export("theSecretNumber", a_number.apply(lambda n: n + 1.25))
