"""l1-builtin-project-root: the project's root directory."""

import pulumi

pulumi.export("rootDirectoryOutput", pulumi.get_root_directory())
