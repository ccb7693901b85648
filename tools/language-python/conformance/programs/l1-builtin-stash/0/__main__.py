"""l1-builtin-stash, first run: stash a value."""

import pulumi

stash = pulumi.Stash("myStash", input={"key": ["value", "s"], "": False})

pulumi.export("stashInput", stash.input)
pulumi.export("stashOutput", stash.output)
