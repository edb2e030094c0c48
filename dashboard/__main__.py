"""``python -m dashboard``: the same as the ``tbdash`` command."""

from dashboard.cli import main

raise SystemExit(main())
