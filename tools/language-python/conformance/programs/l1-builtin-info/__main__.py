"""l1-builtin-info: the stack, project and organization the program runs in."""

import pulumi

pulumi.export("stackOutput", pulumi.get_stack())
pulumi.export("projectOutput", pulumi.get_project())
pulumi.export("organizationOutput", pulumi.get_organization())
