"""l1-builtin-stash, second run: a new input; the stashed output keeps the first value."""

import pulumi

stash = pulumi.Stash("myStash", input="ignored")

pulumi.export("stashInput", stash.input)
pulumi.export("stashOutput", stash.output)
