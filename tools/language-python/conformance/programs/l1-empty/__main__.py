"""l1-empty: a program that does nothing; only the stack resource is created."""
