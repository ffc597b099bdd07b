"""``tinyslm info``: what a model folder or a generated project holds, and where it fits.

Reads only what is already there (``manifest.json``, or the project's
``tinyslm.json`` checked against its settings headers and ``platformio.ini``): no
TensorFlow, no TFLM run, no compiler, so it answers in a moment. The
board check is the one ``generate`` applies (:func:`tinyslm.emit.project.check_budget`
on the firmware's arena, :func:`tinyslm.emit.project.arena_size_for`), so a board
listed as fitting is one ``generate`` accepts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyslm.boards import Board
from tinyslm.errors import BudgetError, utf8_text
from tinyslm.manifest import Manifest, label_thresholds_json
from tinyslm.metrics import is_number
from tinyslm.modality import TEXT

# TINYSLM_KWS_MAX_COMMAND in firmware/audio/tinyslm_kws_app.h: the longest ':' command
# line a keyword firmware takes (a longer one is answered line_too_long, "max":32). A
# keyword manifest's max_line is the text default (256), which no keyword firmware uses.
KWS_MAX_COMMAND = 32


def device_max_line(manifest: Manifest) -> int:
    """The longest line the model's firmware takes, in bytes: a text model's
    ``TINYSLM_MAX_LINE`` (the manifest's), a keyword model's ``TINYSLM_KWS_MAX_COMMAND``."""
    return manifest.max_line if manifest.modality == TEXT else KWS_MAX_COMMAND


def board_max_line(board: Board, manifest: Manifest) -> int:
    """The line limit of the project ``generate`` writes for ``board``: a text project's
    ``TINYSLM_MAX_LINE`` is the board's usual limit where that is above the model's
    (:func:`tinyslm.emit.text.line_limit`, what the template writes); a keyword
    firmware's is its ``:`` command line whatever the board."""
    if manifest.modality != TEXT:
        return KWS_MAX_COMMAND
    from tinyslm.emit.text import line_limit

    return line_limit(board, manifest.max_line)


@dataclass(frozen=True)
class BoardFit:
    """One board against the model.

    Attributes:
        board: board id.
        fits: the model and the arena are within the board's budgets.
        model_budget_bytes, arena_budget_bytes: the budgets (``boards/<id>.yaml``).
        max_line: the line limit a project for the board gets (:func:`board_max_line`).
        reason: why it does not fit ('' when it does).
    """

    board: str
    fits: bool
    model_budget_bytes: int
    arena_budget_bytes: int
    max_line: int
    reason: str = ""


@dataclass(frozen=True)
class ModelInfo:
    """What ``tinyslm info`` shows.

    Attributes:
        path: the folder given.
        kind: ``model folder`` or ``project``.
        board: the project's board (``None`` for a model folder).
        manifest: the model's manifest.
        arena_size: the firmware's arena (``TINYSLM_ARENA_SIZE``): the measured arena
            plus the generator's margin (a project's: as it was generated). ``--json``
            says it as ``firmware_arena_bytes`` (what a device's ``:info`` calls
            ``arena_bytes``) and the measured one as ``measured_arena_bytes``.
        fits: every board, in id order.
        project_max_line: a project's line limit as generate wrote it (its board's
            :func:`board_max_line`); ``None`` for a model folder, whose limit is the
            model's own (:func:`device_max_line`), which a project may raise.
    """

    path: Path
    kind: str
    board: str | None
    manifest: Manifest
    arena_size: int
    fits: tuple[BoardFit, ...]
    project_max_line: int | None = None

    @property
    def max_line(self) -> int:
        """The device's line limit: a project's, else the model's own."""
        if self.project_max_line is not None:
            return self.project_max_line
        return device_max_line(self.manifest)

    def to_dict(self) -> dict[str, Any]:
        m = self.manifest
        return {
            # An undecodable byte as the shell shows it ('\xff'), as the text view shows
            # it: JSON's "\udcff" is no text, and strict parsers refuse the document.
            "path": utf8_text(str(self.path)),
            "kind": self.kind,
            "board": self.board,
            "modality": m.modality,
            "tinyslm_version": m.tinyslm_version,
            "model_sha256": m.model_sha256,
            "labels": list(m.labels),
            "model_bytes": m.model_bytes,
            # Two arenas, named apart: the smallest TFLM ran the model in (the
            # manifest's), and the firmware's arena array (that plus the generator's
            # margin, or a project's recorded size), which a device's ':info' calls
            # arena_bytes. arena_bytes and arena_size stay for older readers.
            "measured_arena_bytes": m.arena_bytes,
            "firmware_arena_bytes": self.arena_size,
            "arena_bytes": m.arena_bytes,
            "arena_size": self.arena_size,
            "threshold": m.threshold,
            "threshold_q": m.threshold_q,
            # generate --label-threshold: {label: {threshold, threshold_q}}, {} without.
            "label_thresholds": label_thresholds_json(m.label_thresholds),
            "ops": list(m.ops),
            # A project's limit; a model folder's own, which boards[].max_line says
            # where a project for that board raises it.
            "max_line": self.max_line,
            "features": m.features.to_dict(),
            "train_config": m.train_config,
            "metrics": m.metrics,
            "boards": [
                {
                    "board": f.board,
                    "fits": f.fits,
                    "model_budget_bytes": f.model_budget_bytes,
                    "arena_budget_bytes": f.arena_budget_bytes,
                    "max_line": f.max_line,
                    "reason": f.reason,
                }
                for f in self.fits
            ],
        }


def board_fits(manifest: Manifest, arena_size: int) -> tuple[BoardFit, ...]:
    """Every board of ``boards/`` against a model and a firmware arena of this size
    (plus the modality's other RAM on that board: generate's budget check)."""
    from tinyslm.boards import load_boards
    from tinyslm.emit.project import check_budget
    from tinyslm.modality import modality

    kind = modality(manifest.modality)
    out = []
    for board in load_boards():
        budgets = (board.model_budget_bytes, board.arena_budget_bytes)
        limit = board_max_line(board, manifest)
        try:
            check_budget(board, manifest.model_bytes, arena_size, kind.ram_bytes(board, manifest))
            out.append(BoardFit(board.id, True, *budgets, limit))
        except BudgetError as exc:
            reason = str(exc).split(": ", 1)[-1]
            out.append(BoardFit(board.id, False, *budgets, limit, reason))
    return tuple(out)


def model_info(path: Path) -> ModelInfo:
    """Read a model folder (``manifest.json``) or a generated project (``tinyslm.json``).

    Raises:
        ModelError: neither, or the model folder's files are missing, edited or corrupt.
        ProjectError: the project's ``tinyslm.json`` is malformed or holds no manifest,
            or its arena, threshold, line limit or board is not what the project's
            headers or ``platformio.ini`` build (:func:`tinyslm.project.check_settings`).
    """
    from tinyslm.boards import load_board
    from tinyslm.emit.project import arena_size_for
    from tinyslm.project import check_settings, load_model_or_project, recorded_arena_size

    # The arena was probed when a model folder's model was trained; the hashes are checked.
    manifest, _, project = load_model_or_project(path)
    if project is None:
        arena = arena_size_for(manifest.arena_bytes)
        return ModelInfo(path, "model folder", None, manifest, arena, board_fits(manifest, arena))
    arena = recorded_arena_size(project, manifest)
    # The rows say what is in the firmware: its headers, not only tinyslm.json.
    check_settings(project, manifest, arena)
    limit = board_max_line(load_board(project.board), manifest)
    fits = board_fits(manifest, arena)
    return ModelInfo(path, "project", project.board, manifest, arena, fits, limit)


def format_info(info: ModelInfo) -> str:
    """The table ``tinyslm info`` prints."""
    from tinyslm.errors import one_line
    from tinyslm.modality import modality
    from tinyslm.terminal import printable

    m = info.manifest
    where = info.kind + (f" for board {info.board}" if info.board else "")
    fits = [f.board for f in info.fits if f.fits]
    rows = [
        # one_line: a path's undecodable byte as the shell shows it (\xff, not \udcff).
        ("path", f"{one_line(str(info.path))} ({where})"),
        ("modality", m.modality),
        ("labels", labels_text(m.labels)),
        *modality(m.modality).summary_rows(m, _line_limit(info)),
        (
            "model",
            f"{m.model_bytes} bytes ({m.model_bytes / 1024:.1f} KiB), sha256 {m.model_sha256[:16]}",
        ),
        (
            "arena",
            f"{m.arena_bytes} bytes measured, {info.arena_size} in the firmware"
            " (the device's ':info' arena_bytes)",
        ),
        ("ops", ", ".join(m.ops)),
        # A format-1 manifest has no train_config: said so, not an empty row.
        ("recipe", _recipe(m.train_config) or "not recorded"),
        ("fits", ", ".join(fits) if fits else "no board"),
    ]
    for f in info.fits:
        if not f.fits:
            rows.append(("does not fit", f"{f.board}: {f.reason}"))
    width = max(len(k) for k, _ in rows)
    # Label names (a keyword is a folder's name) and paths go to the terminal: a newline
    # or an ESC sequence in one would break the table or reprogram the terminal.
    return "\n".join(f"{k.ljust(width)}  {printable(v)}" for k, v in rows)


def _line_limit(info: ModelInfo) -> str | None:
    """The value of the modality's line-limit row as info knows it: a text model's
    (:func:`line_limit_text`: a project's, or the boards' that raise it); None for a
    keyword firmware, whose limit no board changes (the row says its own)."""
    return line_limit_text(info) if info.manifest.modality == TEXT else None


def line_limit_text(info: ModelInfo) -> str:
    """A text device's line limit: a project's as generate wrote it (the board's usual
    limit where above the model's), and a model folder's own with the limit of each
    fitting board whose project generate raises it (the row said only the model's)."""
    own = info.manifest.max_line
    if info.project_max_line is not None:
        raised = info.project_max_line != own
        return f"{info.project_max_line} bytes" + (
            f" (board {info.board}'s usual limit, above the model's {own})" if raised else ""
        )
    raised_on = [f"{f.board} {f.max_line}" for f in info.fits if f.fits and f.max_line != own]
    if not raised_on:
        return f"{own} bytes"
    boards = ", ".join(raised_on)
    return f"{own} bytes (the model's; a project gets its board's where higher: {boards})"


def labels_text(labels: Sequence[str]) -> str:
    """Labels as a row shows them: joined with ', ', or as a JSON list when a label holds
    a comma ('lights_on, lights_off' and 'media_play' read as three labels of two). The
    one rule of info's labels row, train's and info's keywords row and the report's."""
    if any("," in label for label in labels):
        return json.dumps(list(labels), ensure_ascii=False)
    return ", ".join(labels)


def _setting(key: str, value: Any) -> str | None:
    """One setting of the recipe row as ``key value``; None for a nested object (the
    feature spec, which rows of its own show). Switches as the JSON writes them
    (cosine_decay was left out); lists too (``keywords yes,no`` decides which words the
    model hears as unknown; ``snr_db_range 0.0..20.0``), which the row once left out."""
    if isinstance(value, bool):
        return f"{key} {json.dumps(value)}"
    if isinstance(value, int | float | str):
        return f"{key} {value}"
    if not isinstance(value, list):
        return None
    if key.endswith("_range") and len(value) == 2 and all(is_number(v) for v in value):
        return f"{key} {value[0]}..{value[1]}"
    plain = all(isinstance(v, str) and v and not any(c in v for c in ", ") for v in value)
    # A word holding a comma or a space (or anything but words) as JSON, so that the
    # items stay apart.
    return f"{key} {','.join(value) if value and plain else json.dumps(value)}"


def _recipe(config: dict[str, Any]) -> str:
    """Every setting --json's train_config has but nested objects, by name."""
    shown = (_setting(k, v) for k, v in sorted(config.items()))
    return ", ".join(s for s in shown if s is not None)
