"""go-platform's CrossGuard policies, importable without starting a policy pack.

`POLICIES` is every policy of the pack, in the order the docs list them; each carries its
group (`pod-security-baseline`, `pod-security-restricted`, `security`, `supply-chain`,
`best-practice`) as its tag, and the files in `policies/config/` set enforcement per
environment.
"""

from go_platform_policies import images, network, pod_security, stack, workloads

POLICIES = [
    *workloads.POLICIES,
    *pod_security.POLICIES,
    *images.POLICIES,
    *network.POLICIES,
    *stack.POLICIES,
]

__all__ = ["POLICIES"]
