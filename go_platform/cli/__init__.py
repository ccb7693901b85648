"""The `go-platform` command line (also `python -m go_platform`).

`root.py` holds the app, the one error wrapper (`run`) and `main`; each command group is a
module that registers itself on the app: `stack` (preview, up, destroy, refresh, drift,
outputs, preflight), `ephemeral` and `canary`. Importing this package registers them all.
"""

# Each group registers its commands on import; the order here is the order of `--help`.
# isort: off
from go_platform.cli import stack  # noqa: F401
from go_platform.cli import ephemeral  # noqa: F401
from go_platform.cli import canary  # noqa: F401

# isort: on
from go_platform.cli.root import app, main

__all__ = ["app", "main"]
