"""l1-builtin-cwd: the program runs in its project directory."""

import os

import pulumi

pulumi.export("cwdOutput", os.getcwd())
