"""l1-builtin-project-root-main: with `main: subdir`, the root is the project directory and the
program runs in the subdirectory."""

import os

import pulumi

pulumi.export("rootDirectoryOutput", pulumi.get_root_directory())
pulumi.export("workingDirectoryOutput", os.getcwd())
