"""The ``tinyslm`` console script's entry point.

Importing :mod:`tinyslm.cli` (click, the command modules) takes a few tenths of a
second before :func:`tinyslm.cli.main` has set up any signal handling: a Ctrl-C then
ended in a ``KeyboardInterrupt`` traceback from the import. This module imports nothing
heavy, so the import is interrupted as a command is: one line and exit status 130.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from tinyslm.cli import main as run
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)
    run()
