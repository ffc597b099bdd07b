"""Board definitions: load ``boards/<id>.yaml`` and check it against ``boards/schema.json``.

A board file is pure data (identity, capabilities, budgets, serial glue, the
PlatformIO environment kept verbatim, where TFLM comes from). The JSON Schema
rejects unknown keys and wrong types; the rules a schema cannot express
(budgets within capabilities, ``monitor_speed`` equal to the baud rate, the id
equal to the file name) are checked here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tinyslm.errors import BoardError
from tinyslm.resources import boards_dir

SCHEMA_NAME = "schema.json"

# One value of a PlatformIO option: a scalar or a list written one item per line.
PioValue = str | int | bool | tuple[str, ...]


@dataclass(frozen=True)
class Serial:
    baud: int
    max_line: int
    uart: str
    port: str
    tx_pin: str | None = None
    rx_pin: str | None = None
    alternate_function: int | None = None


@dataclass(frozen=True)
class Led:
    name: str
    pin: str


@dataclass(frozen=True)
class PlatformIOEnv:
    """``[env:<env>]`` of platformio.ini; ``options`` keep the board file's order."""

    env: str
    options: tuple[tuple[str, PioValue], ...]

    def get(self, key: str) -> PioValue | None:
        return dict(self.options).get(key)


@dataclass(frozen=True)
class TflmSource:
    """Where the firmware's TFLM comes from.

    ``idf_component``: an ESP-IDF managed component (``component`` at ``version``,
    needing ESP-IDF ``idf``). ``lib_tree``: a source tree generated from
    ``repository`` at ``commit`` for ``target``, copied into ``lib/tflm``.
    """

    source: str
    component: str | None = None
    version: str | None = None
    idf: str | None = None
    repository: str | None = None
    commit: str | None = None
    target: str | None = None
    target_arch: str | None = None
    optimized_kernels: str | None = None

    @property
    def needs_tree(self) -> bool:
        """The firmware builds TFLM from a source tree in ``lib/tflm`` (``lib_tree``)."""
        return self.source == "lib_tree"


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    vendor: str
    soc: str
    family: str
    description: str
    flash_kb: int
    ram_kb: int
    cpu: str
    cpu_mhz: int
    model_flash_kb: int
    arena_ram_kb: int
    serial: Serial
    platformio: PlatformIOEnv
    tflm: TflmSource
    led: Led | None = None

    @property
    def model_budget_bytes(self) -> int:
        return self.model_flash_kb * 1024

    @property
    def arena_budget_bytes(self) -> int:
        return self.arena_ram_kb * 1024


@cache
def _schema(folder: Path) -> dict[str, Any]:
    path = folder / SCHEMA_NAME
    try:
        schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BoardError(f"board schema {path} is unreadable: {exc}") from exc
    return schema


def validate_board_data(data: object, schema: dict[str, Any], source: str) -> None:
    """Check one board document against the schema and the cross-field rules.

    Raises:
        BoardError: naming the file, the offending key path and what is wrong.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise BoardError(f"{source}: {where}: {err.message}")
    assert isinstance(data, dict)
    caps, budgets = data["capabilities"], data["budgets"]
    if budgets["model_flash_kb"] > caps["flash_kb"]:
        raise BoardError(
            f"{source}: budgets/model_flash_kb {budgets['model_flash_kb']} exceeds "
            f"capabilities/flash_kb {caps['flash_kb']}"
        )
    if budgets["arena_ram_kb"] > caps["ram_kb"]:
        raise BoardError(
            f"{source}: budgets/arena_ram_kb {budgets['arena_ram_kb']} exceeds "
            f"capabilities/ram_kb {caps['ram_kb']}"
        )
    speed = data["platformio"]["options"]["monitor_speed"]
    if speed != data["serial"]["baud"]:
        raise BoardError(
            f"{source}: platformio/options/monitor_speed {speed} differs from "
            f"serial/baud {data['serial']['baud']}"
        )
    serial = data["serial"]
    if data["family"] == "stm32" and not all(
        k in serial for k in ("tx_pin", "rx_pin", "alternate_function")
    ):
        raise BoardError(
            f"{source}: serial: stm32 boards need tx_pin, rx_pin and alternate_function"
        )


def _pio_value(value: object) -> PioValue:
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    if isinstance(value, bool | int | str):
        return value
    raise BoardError(f"unsupported PlatformIO option value {value!r}")  # schema prevents this


def board_from_data(data: dict[str, Any]) -> Board:
    """Build a ``Board`` from an already validated document."""
    caps, budgets, pio = data["capabilities"], data["budgets"], data["platformio"]
    led = data.get("led")
    return Board(
        id=data["id"],
        name=data["name"],
        vendor=data["vendor"],
        soc=data["soc"],
        family=data["family"],
        description=" ".join(str(data.get("description", "")).split()),
        flash_kb=caps["flash_kb"],
        ram_kb=caps["ram_kb"],
        cpu=caps["cpu"],
        cpu_mhz=caps["cpu_mhz"],
        model_flash_kb=budgets["model_flash_kb"],
        arena_ram_kb=budgets["arena_ram_kb"],
        serial=Serial(**data["serial"]),
        platformio=PlatformIOEnv(
            env=pio["env"],
            options=tuple((k, _pio_value(v)) for k, v in pio["options"].items()),
        ),
        tflm=TflmSource(**data["tflm"]),
        led=Led(**led) if led else None,
    )


def load_board_file(path: Path, schema: dict[str, Any] | None = None) -> Board:
    """Load and check one board file.

    Raises:
        BoardError: unreadable YAML, a schema violation, a budget above the
            board's capabilities, or an id that differs from the file name.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BoardError(f"board file {path.name} is unreadable: {exc}") from exc
    validate_board_data(data, schema if schema is not None else _schema(path.parent), path.name)
    assert isinstance(data, dict)
    if data["id"] != path.stem:
        raise BoardError(f"{path.name}: id {data['id']!r} differs from the file name")
    return board_from_data(data)


def board_ids(folder: Path | None = None) -> tuple[str, ...]:
    """Ids of the bundled boards, sorted."""
    return tuple(sorted(p.stem for p in (folder or boards_dir()).glob("*.yaml")))


def load_board(board_id: str, folder: Path | None = None) -> Board:
    """Load the board ``board_id`` from ``boards/``.

    Raises:
        BoardError: an unknown id (the message lists the known ones) or a bad file.
    """
    folder = folder or boards_dir()
    known = board_ids(folder)
    if board_id not in known:
        raise BoardError(f"unknown board {board_id!r}; known boards: {', '.join(known)}")
    return load_board_file(folder / f"{board_id}.yaml")


def load_boards(folder: Path | None = None) -> tuple[Board, ...]:
    """All bundled boards, sorted by id."""
    folder = folder or boards_dir()
    return tuple(load_board_file(folder / f"{bid}.yaml") for bid in board_ids(folder))


def format_board_table(boards: tuple[Board, ...]) -> str:
    """The table ``tinyslm boards`` prints: one row per board."""
    head = ("id", "name", "family", "flash", "RAM", "model budget", "arena budget")
    rows = [head] + [
        (
            b.id,
            b.name,
            b.family,
            f"{b.flash_kb} KB",
            f"{b.ram_kb} KB",
            f"{b.model_flash_kb} KB",
            f"{b.arena_ram_kb} KB",
        )
        for b in boards
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )
