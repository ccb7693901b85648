"""What go-platform's two build tools share: tools/toolchain/bootstrap.py (the Pulumi
toolchain) and tools/cluster/cluster.py (the embedded control plane) both build Go programs
from modules into a versioned cache, and report the same way.

Standard library only. The tools run as plain scripts, so each entry point puts tools/ on
sys.path before it imports this package.

    errors    ToolError (an expected failure), StepError (a failed command, rerunnable), the
              one line an OSError is reported as
    progress  progress lines and durations on stderr
    commands  a step's commands: short ones captured, long ones logged with a heartbeat
    modules   the go command's module queries, and what the module proxy's refusals say
    pins      the TOML files that pin what to build, and their plain release versions
    sums      module hashes: the go.sum lines a pins file commits, checked against what was
              downloaded before a build; a wrapper module's seeded go.sum; whether the
              checksum database is on for a module
    cache     the versioned cache: its root, one build at a time, installs, build stamps
    cli       a subcommand's exit status: one line per expected failure or OSError, never a
              traceback; SIGTERM and SIGHUP raised as Terminated, so cleanups run as on Ctrl-C
"""
