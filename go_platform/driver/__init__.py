"""What each command of `go-platform` does, on top of the Automation API.

`core.Driver` holds one stack and the steps every command shares (settings, preflight, an
engine operation with progress, the summary); each command group is a module of functions
of a `Driver`: `stack` (preview, up, destroy, refresh, drift, outputs, preflight),
`ephemeral` (up, down) and `canary` (plan, promote, rollback).
"""

from go_platform.driver.canary import PrometheusMetrics
from go_platform.driver.core import Driver, StackOptions

__all__ = ["Driver", "PrometheusMetrics", "StackOptions"]
