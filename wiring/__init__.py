"""The program's wiring, one function per layer, called in order by `__main__.py`.

Each layer takes the frozen `Platform` context the layers before it filled in and returns
it with its own part added (`dataclasses.replace`). Layers are functions, not components:
what they create keeps the names and parents it has always had, so no URN changes.

Order: `foundation` (namespaces, CRDs, the stack transformations); `gateway` (it needs the
OTLP endpoint, which follows from config alone); `observability` (Grafana routes through
the gateway); `module_proxy`; `services` (each wired to all three); `exports`.
"""
