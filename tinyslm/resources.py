"""Locate the bundled templates/, boards/ and firmware/ folders.

A source checkout keeps them at the repository root; an installed wheel carries
copies under ``tinyslm/_bundled/`` (see setup.py). Every stage finds them here so
the two behave the same.
"""

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """Return the folder ``name`` (templates, boards or firmware).

    Raises:
        FileNotFoundError: neither the wheel copy nor the checkout folder exists.
    """
    for candidate in (_PKG / "_bundled" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"tinyslm resource folder {name!r} is missing from this install")


def templates_dir() -> Path:
    return resource_dir("templates")


def boards_dir() -> Path:
    return resource_dir("boards")


def firmware_dir() -> Path:
    return resource_dir("firmware")


def data_dir() -> Path:
    """Package data shipped inside ``tinyslm/`` itself (the demo dataset)."""
    return _PKG / "data"
