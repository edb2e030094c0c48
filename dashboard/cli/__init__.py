"""The ``tbdash`` command line (SPEC §5), one module per command.

``tbdash`` opens the dashboard; ``demo``, ``status``, ``set``, ``load``,
``audit`` and ``metrics`` are subcommands. Common options (``--config``, ``--url``,
``--prefix``, ``--read-only``) work before or after the subcommand.

Exit codes: 0 success; 1 the operation failed at run time (e.g. the change was
applied but its audit entry could not be written; a corrupt bucket); 2 bad
usage or configuration (one line naming the flag or the file and field), a
user with no bucket, or a Redis user without the permission the command needs;
3 Redis unreachable or refusing the connection (names the endpoint, never a
password); 130 interrupted.

Nothing here imports textual at import time: the dashboard is imported inside
the commands that open it.
"""

from __future__ import annotations

from dashboard.cli.parser import build_parser
from dashboard.cli.run import main

__all__ = ["build_parser", "main"]
