"""go-platform's core: pure helpers with no Pulumi resources, shared by the program
(`components/`, `wiring/`), the CI driver (`go_platform/`) and the policy pack (`policies/`).

Nothing here registers a resource or reads `pulumi.Config`: values in, values out. The
build gate (`vulncheck`, `severity`) runs on the standard library alone, so a service's
Makefile can run it before any virtualenv exists; keep this module free of imports.
"""
