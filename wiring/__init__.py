"""The program's wiring, one function per layer, called in order by `__main__.py`.

Each layer takes the frozen `Platform` context the layers before it filled in and returns
it with its own part added (`dataclasses.replace`). Layers are functions, not components:
what they create keeps the names and parents it has always had, so no URN changes.

Order: `foundation` (namespaces, CRDs, the stack transformations); `gateway` (it needs the
OTLP endpoint, which follows from config alone); `observability` (Grafana routes through
the gateway); `module_proxy`; `services` (each wired to all three); `exports`. Between two
layers the program awaits `handed_over`.
"""

from __future__ import annotations

import asyncio

HANDOVER_S = 0.005
"""How long the program yields between layers: long enough for the event loop to take each
registration made so far through its few awaits to the RPC that sends it."""


async def handed_over() -> None:
    """Let the SDK send the resources registered so far to the engine, before the program
    builds the next layer.

    The SDK's registrations are tasks on the event loop, which runs only while the program
    awaits: a program built in one go sends nothing until it is done (about a second for the
    local stack), and the engine sits idle until then. Handed over layer by layer, the
    engine starts the kubernetes provider, the provider reads the definitions, and the steps
    of the first layers run while the program builds the rest (docs/PERFORMANCE.md, tenth
    round).
    """
    await asyncio.sleep(HANDOVER_S)
