"""l1-elide-index: a resource of the built-in pulumi package, type token pulumi:index:Stash
(`pulumi:Stash` with the index module elided)."""

import pulumi

stash = pulumi.Stash("myStash", input="test")

pulumi.export("stashInput", stash.input)
pulumi.export("stashOutput", stash.output)
