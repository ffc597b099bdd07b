"""Locate the bundled templates/, boards/ and firmware/ folders.

A source checkout keeps them at the repository root; an installed wheel carries
copies under ``tinyslm/_bundled/`` (see setup.py). Every stage finds them here so
the two behave the same.

The hand-written firmware is grouped by family: ``firmware/common/`` (JSON
writer, gate, TFLM adapter, MEAN kernel) and one folder per modality
(``firmware/text/``, ``firmware/audio/``). A generated project's ``src/`` is
flat; :func:`firmware_files` is the one place that says which files it gets.
"""

from pathlib import Path

_PKG = Path(__file__).resolve().parent

FIRMWARE_SUFFIXES = (".c", ".h", ".cc")
# Shared by every modality's firmware.
FIRMWARE_COMMON = "common"


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


def firmware_files(modality: str, root: Path | None = None) -> dict[str, Path]:
    """The hand-written sources a ``modality``'s project gets, by their flat name in ``src/``.

    ``firmware/common/`` plus ``firmware/<modality>/``: every ``.c``, ``.h`` and
    ``.cc`` file, sorted by name.

    Args:
        modality: a modality's firmware folder name (``text``, ``audio``).
        root: the firmware folder to read instead of the bundled one.

    Raises:
        ValueError: ``modality`` is not a modality folder name, or two files would
            share one name in the flat ``src/``.
        FileNotFoundError: ``common/`` or the modality's folder is missing.
    """
    if modality == FIRMWARE_COMMON or not modality.isidentifier():
        raise ValueError(f"{modality!r} is not a modality firmware folder")
    base = root if root is not None else firmware_dir()
    found: dict[str, Path] = {}
    for folder in (base / FIRMWARE_COMMON, base / modality):
        if not folder.is_dir():
            raise FileNotFoundError(f"firmware folder {folder.name}/ is missing from {base}")
        for path in sorted(folder.iterdir()):
            if not (path.is_file() and path.suffix in FIRMWARE_SUFFIXES):
                continue
            if path.name in found:
                raise ValueError(
                    f"firmware/{FIRMWARE_COMMON}/{path.name} and firmware/{modality}/{path.name}"
                    " would both be src/" + path.name
                )
            found[path.name] = path
    return dict(sorted(found.items()))
