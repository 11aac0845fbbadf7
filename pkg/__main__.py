"""`python -m tpudeck` is the `tpudeck` command."""

from tpudeck.core.cli import main

raise SystemExit(main())
