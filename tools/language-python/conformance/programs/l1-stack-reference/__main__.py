"""l1-stack-reference: plain and secret outputs of another stack."""

import pulumi

ref = pulumi.StackReference("ref", stack_name="organization/other/dev")

pulumi.export("plain", ref.get_output("plain"))
pulumi.export("secret", ref.get_output("secret"))
pulumi.export("secret_unsecret", pulumi.Output.unsecret(ref.get_output("secret")))
