"""go-platform's CrossGuard policies, importable without starting a policy pack."""

from go_platform_policies.workloads import POLICIES

__all__ = ["POLICIES"]
