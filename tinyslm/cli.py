"""The ``tinyslm`` command line: parse options, call one pipeline function, map errors.

Every ``TinySlmError`` becomes one line on stderr and exit code 1. Heavy imports
(TensorFlow) happen inside the commands so ``tinyslm --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from tinyslm import __version__
from tinyslm.errors import TinySlmError

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Turn a TinySlmError into ``error: <message>`` and exit 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TinySlmError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(__version__, prog_name="tinyslm")
def cli() -> None:
    """Turn labelled voice-command phrases into offline TFLM firmware."""


# --- commands are added below, one block each; keep each block self-contained ---


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
