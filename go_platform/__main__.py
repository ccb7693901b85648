"""`python -m go_platform`: the same command line as the `go-platform` console script."""

from go_platform.cli import main

raise SystemExit(main())
