"""The go-platform command line: the Automation API driver CI runs (preview, up, drift,
ephemeral stacks, canary promotion)."""
