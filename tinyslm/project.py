"""Open a generated project folder (``tinyslm generate`` output) for emulate and build.

A folder is a tinyslm project when it holds ``tinyslm.json`` (written by
generate: board id, tinyslm version, model sha256, a copy of the manifest) and
``platformio.ini``. Commands that work on a project call :func:`open_project`
first so that a wrong path gets one clear line instead of a compiler or
PlatformIO error.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyslm.boards import board_ids
from tinyslm.errors import ModelError, ProjectError
from tinyslm.manifest import Manifest

PROJECT_FILE = "tinyslm.json"
PLATFORMIO_INI = "platformio.ini"


@dataclass(frozen=True)
class Project:
    """A generated project.

    Attributes:
        root: the project folder.
        board: board id (``esp32``, ``stm32h7``...).
        model_sha256: sha256 of the model the project was generated from.
        manifest: the manifest copy in ``tinyslm.json``, when present.
        info: the whole ``tinyslm.json`` object.
    """

    root: Path
    board: str
    model_sha256: str
    manifest: Manifest | None
    info: dict[str, Any]

    @property
    def src(self) -> Path:
        return self.root / "src"


def open_project(folder: Path | str) -> Project:
    """Read and check ``folder/tinyslm.json``.

    Raises:
        ProjectError: the folder is missing, is not a tinyslm project, or its
            ``tinyslm.json`` is malformed.
    """
    root = Path(folder)
    if not root.exists():
        raise ProjectError(f"{root}: project folder not found (run 'tinyslm generate' first)")
    if not root.is_dir():
        raise ProjectError(f"{root}: not a folder")
    path = root / PROJECT_FILE
    if not path.is_file():
        raise ProjectError(
            f"{root}: not a tinyslm project (no {PROJECT_FILE}; run 'tinyslm generate' first)"
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        # ValueError: bad UTF-8 or JSON; RecursionError: brackets nested thousands deep.
        raise ProjectError(f"{path}: unreadable: {exc}") from None
    if not isinstance(info, dict):
        raise ProjectError(f"{path}: expected a JSON object")
    manifest = None
    raw_manifest = info.get("manifest")
    if isinstance(raw_manifest, dict):
        try:
            manifest = Manifest.from_dict(raw_manifest)
        except ModelError as exc:
            raise ProjectError(f"{path}: {exc}") from None
    board = info.get("board")
    sha = info.get("model_sha256") or (manifest.model_sha256 if manifest else None)
    if board is None:
        raise ProjectError(f"{path}: missing 'board'; regenerate the project")
    if not isinstance(board, str) or not board:
        # Present but a number, a list or empty: "missing" sent the user looking for a key
        # that is there.
        raise ProjectError(
            f"{path}: 'board' {board!r} is not a board id (known boards: "
            f"{', '.join(board_ids())}); regenerate the project"
        )
    known = board_ids()
    if board not in known:
        # Named here, with the file: build and flash would otherwise say only "unknown
        # board", and emulate and info would go on for a board no tinyslm knows.
        raise ProjectError(
            f"{path}: unknown board {board!r} (known boards: {', '.join(known)}); "
            "regenerate the project"
        )
    if not isinstance(sha, str) or len(sha) != 64:
        raise ProjectError(f"{path}: missing or malformed 'model_sha256'")
    return Project(root=root, board=board, model_sha256=sha, manifest=manifest, info=info)


MODEL_DATA_CC = "src/tinyslm_model_data.cc"
# The array body tinyslm.emit.carrays writes: "0x1c, 0x00, ..." between "= {" and "};".
_ARRAY = re.compile(r"tinyslm_model_data\[\]\s*=\s*\{([^}]*)\};")
_BYTE = re.compile(r"0x([0-9a-fA-F]{2})")


def read_model_bytes(project: Project) -> bytes:
    """The model flatbuffer as the firmware holds it (``src/tinyslm_model_data.cc``).

    Raises:
        ProjectError: the file is missing, has no model array, or its sha256 is not
            the one in ``tinyslm.json`` (an edited array).
    """
    path = project.root / MODEL_DATA_CC
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: unreadable ({exc}); regenerate the project") from None
    m = _ARRAY.search(text)
    if m is None:
        raise ProjectError(f"{path}: no tinyslm_model_data array; regenerate the project")
    data = bytes(int(h, 16) for h in _BYTE.findall(m.group(1)))
    if hashlib.sha256(data).hexdigest() != project.model_sha256:
        raise ProjectError(
            f"{path}: the model array's sha256 is not the one in {PROJECT_FILE} (edited after "
            "generation); regenerate the project"
        )
    return data


def checked_model(project: Project, *, probe_arena: bool = False) -> tuple[Manifest, bytes]:
    """The project's manifest and the model array it was generated from, checked against
    each other as a model folder's are (:func:`tinyslm.manifest.check_against_model`).

    ``tinyslm.json`` is plain JSON beside the firmware: its manifest copy could be another
    model's (pasted from elsewhere) and ``info`` or ``report`` would then describe labels,
    a threshold or an arena the firmware does not have.

    Raises:
        ProjectError: no manifest, the model array is missing or edited, or the manifest
            is not that model's.
        ModelError: a field the flatbuffer contradicts (or, with ``probe_arena``, an arena
            TFLM cannot run it in).
    """
    from tinyslm.manifest import check_against_model, sha256_hex

    where = project.root / PROJECT_FILE
    if project.manifest is None:
        raise ProjectError(f"{where}: no manifest; regenerate the project")
    manifest, model = project.manifest, read_model_bytes(project)
    if manifest.model_sha256 != sha256_hex(model):
        raise ProjectError(
            f"{where}: the manifest is not the model's (model_sha256); regenerate the project"
        )
    check_against_model(manifest, model, str(where), probe_arena=probe_arena)
    return manifest, model


def recorded_arena_size(project: Project, manifest: Manifest) -> int:
    """``arena_size`` of ``tinyslm.json`` (the firmware's ``TINYSLM_ARENA_SIZE``).

    Raises:
        ProjectError: missing, not a whole number of bytes, or smaller than the arena
            the model was measured to need (a hand edit: generate writes the measured
            arena plus a margin).
    """
    from tinyslm.tflm_runtime import ARENA_SEARCH_MAX

    value = project.info.get("arena_size")
    # bool is an int in Python: true would read as a 1-byte arena.
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not manifest.arena_bytes <= value <= ARENA_SEARCH_MAX
    ):
        raise ProjectError(
            f"{project.root / PROJECT_FILE}: arena_size {value!r} is not a number of bytes "
            f"from the model's arena ({manifest.arena_bytes}) to {ARENA_SEARCH_MAX}; "
            "regenerate the project"
        )
    return value


SETTINGS_H = "src/tinyslm_settings.h"
# TINYSLM_KWS_MAX_COMMAND's home: the keyword firmware's line limit, not a setting.
KWS_APP_H = "src/tinyslm_kws_app.h"
# The #defines the generator writes: '#define TINYSLM_ARENA_SIZE 9488' and
# '#define TINYSLM_THRESHOLD_Q (-68)' (parenthesised: a negative level in an expression);
# an integer suffix (4096u) or a comment after the value, which a user may add without
# changing it, is read too (it was refused as "no #define ... (edited)").
_DEFINE = re.compile(
    r"^[ \t]*#[ \t]*define[ \t]+(TINYSLM_\w+)[ \t]+\(?[ \t]*(-?\d+)[uUlL]*[ \t]*\)?[ \t]*"
    r"(?:/\*.*?\*/[ \t]*|//.*)?$",
    re.M,
)
SETTINGS_C = "src/tinyslm_settings.c"
# The own-level table the generator writes ('static const int8_t
# tinyslm_label_threshold_q[TINYSLM_NUM_LABELS] = {\n  103,\n ...};'), present only where a
# label has a threshold of its own; comments in it are dropped before its numbers are read.
_LABEL_TABLE = re.compile(r"\btinyslm_label_threshold_q[ \t]*\[[^\]]*\][ \t]*=[ \t]*\{([^}]*)\}")
_C_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
# A build flag in platformio.ini (-DTINYSLM_KWS_MAX_COMMAND=64) that defines the one
# checked macro whose #define is #ifndef-guarded (firmware/audio/tinyslm_kws_app.h): the
# flag is then what the firmware has. The settings header's #defines are not guarded (the
# header's value wins), and a ';' or '#' line is a comment, no flag.
_GUARDED_FLAG = re.compile(r"^(?![ \t]*[;#])[^\n]*-D[ \t]*(TINYSLM_KWS_MAX_COMMAND)\b", re.M)


def header_defines(path: Path) -> dict[str, int]:
    """The whole-number ``#define TINYSLM_*`` values of a generated header, no compiler.

    Raises:
        ProjectError: the header is missing or unreadable.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: unreadable ({exc}); regenerate the project") from None
    return {name: int(value) for name, value in _DEFINE.findall(text)}


def _check_define(
    path: Path,
    defines: dict[str, int],
    name: str,
    want: int,
    what: str,
    why: str = "one of them was edited",
) -> None:
    got = defines.get(name)
    if got is None:
        raise ProjectError(f"{path}: no #define {name} (edited); regenerate the project")
    if got != want:
        raise ProjectError(
            f"{path}: {name} {got} does not match {what} {want} ({why}; regenerate the project)"
        )


def _check_label_levels(project: Project, manifest: Manifest) -> None:
    """The per-label table of ``src/tinyslm_settings.c`` is the manifest's own levels:
    ``info`` prints those, and a hand-edited level was shown as the manifest's (the
    emulator, which reads the compiled table, refused the same project)."""
    path = project.root / SETTINGS_C
    try:
        text = _C_COMMENT.sub(" ", path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: unreadable ({exc}); regenerate the project") from None
    table = _LABEL_TABLE.search(text)
    want = manifest.own_levels_q()
    if table is None:
        if want:
            raise ProjectError(
                f"{path}: no tinyslm_label_threshold_q table, but {PROJECT_FILE} gives labels "
                "thresholds of their own (the settings were edited; regenerate the project)"
            )
        return
    if not want:
        raise ProjectError(
            f"{path}: a tinyslm_label_threshold_q table that {PROJECT_FILE} does not have "
            "(the settings were edited; regenerate the project, with --label-threshold for "
            "a level of its own)"
        )
    got = [int(n) for n in re.findall(r"-?\d+", table.group(1))]
    if len(got) != len(want):
        raise ProjectError(
            f"{path}: tinyslm_label_threshold_q has {len(got)} levels, not one for each of "
            f"{PROJECT_FILE}'s {len(want)} labels (the settings were edited; regenerate "
            "the project)"
        )
    for label, level, recorded in zip(manifest.labels, got, want, strict=True):
        if level != recorded:
            raise ProjectError(
                f"{path}: threshold_q {level} of {label!r} does not match {PROJECT_FILE}'s "
                f"{recorded} (the settings were edited; regenerate the project, with "
                "--label-threshold for a level of its own)"
            )


def generated_line_limit(project: Project, manifest: Manifest) -> tuple[int, str]:
    """The ``TINYSLM_MAX_LINE`` generate writes for a text project, and what to call it in
    a message: the model's ``max_line``, or the board's usual limit where that is above it
    (:func:`tinyslm.info.board_max_line`; naming that one tinyslm.json's was untrue).

    Raises:
        BoardError: the project's board is not one tinyslm knows.
    """
    from tinyslm.boards import load_board

    # info's rule, the one 'info' prints: a second copy of it here could drift from it.
    # Imported here, as check_settings imports info: info imports the board modules.
    from tinyslm.info import board_max_line

    want = board_max_line(load_board(project.board), manifest)
    if want == manifest.max_line:
        return want, f"{PROJECT_FILE}'s max_line"
    return want, (
        f"what generate writes for board {project.board} (its usual line limit, above "
        f"{PROJECT_FILE}'s max_line {manifest.max_line}):"
    )


def check_settings(project: Project, manifest: Manifest, arena_size: int) -> None:
    """What ``info`` says is in the firmware is what the project's headers define.

    ``info`` reads ``tinyslm.json``; the firmware is built from ``src/tinyslm_settings.h``
    (and ``.c``, which holds the labels' own levels). A hand edit of either made ``info``
    describe an arena, a threshold or a line limit the device does not have (the
    emulator, which reads the compiled values, refused the same project). Also the
    board: ``platformio.ini`` builds the ``[env:...]`` of the board generate was given.

    Raises:
        ProjectError: naming the file, the value and ``tinyslm.json``'s.
    """
    from tinyslm.boards import load_board
    from tinyslm.info import KWS_MAX_COMMAND
    from tinyslm.modality import TEXT

    settings = project.root / SETTINGS_H
    defines = header_defines(settings)
    json_name = f"{PROJECT_FILE}'s"
    _check_define(settings, defines, "TINYSLM_ARENA_SIZE", arena_size, f"{json_name} arena_size")
    _check_define(
        settings, defines, "TINYSLM_THRESHOLD_Q", manifest.threshold_q, f"{json_name} threshold_q"
    )
    _check_label_levels(project, manifest)
    if manifest.modality == TEXT:
        want, what = generated_line_limit(project, manifest)
        _check_define(settings, defines, "TINYSLM_MAX_LINE", want, what)
    else:
        app = project.root / KWS_APP_H
        _check_define(
            app,
            header_defines(app),
            "TINYSLM_KWS_MAX_COMMAND",
            KWS_MAX_COMMAND,
            "the keyword firmware's line limit",
            "the header was edited",
        )
    ini = project.root / PLATFORMIO_INI
    if ini.is_file():
        try:
            ini_text = ini.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProjectError(f"{ini}: unreadable ({exc}); regenerate the project") from None
        overridden = _GUARDED_FLAG.search(ini_text) if manifest.modality != TEXT else None
        if overridden is not None:
            raise ProjectError(
                f"{ini}: a build flag defines {overridden.group(1)} (-D), so the firmware "
                f"does not have the line limit {KWS_APP_H} says; remove the flag, or "
                "regenerate the project"
            )
        envs = re.findall(r"^\[env:([^\]]+)\]", ini_text, re.M)
        env = load_board(project.board).platformio.env
        if env not in envs:
            raise ProjectError(
                f"{ini}: no [env:{env}] for {json_name} board {project.board} (it builds "
                f"{', '.join(envs) or 'no env'}; one of them was edited); regenerate the project"
            )


def load_model_or_project(
    path: Path, *, probe_arena: bool = False
) -> tuple[Manifest, bytes, Project | None]:
    """A model folder (``manifest.json``, from ``train``) or a generated project
    (``tinyslm.json``): its manifest and model, checked against each other, and the
    project where it is one. ``info``, ``report`` and ``eval`` read either.

    Raises:
        ModelError: neither (named as missing, a file, or a folder holding neither), or
            the model folder's files are missing, edited or corrupt.
        ProjectError: the project's ``tinyslm.json`` is malformed or holds no manifest.
    """
    from tinyslm.manifest import MANIFEST_NAME, MODEL_NAME, load_model_dir

    if (path / MANIFEST_NAME).is_file() or (path / MODEL_NAME).exists():
        # A model folder, or half of one: load_model_dir names what is missing.
        manifest, model = load_model_dir(path, probe_arena=probe_arena)
        return manifest, model, None
    if (path / PROJECT_FILE).is_file():
        project = open_project(path)
        manifest, model = checked_model(project, probe_arena=probe_arena)
        return manifest, model, project
    if not path.exists():
        raise ModelError(f"{path}: no such folder")
    if not path.is_dir():
        raise ModelError(f"{path}: a file, not a model folder or a project")
    raise ModelError(
        f"{path}: neither a model folder ({MANIFEST_NAME}, from 'tinyslm train') nor a project "
        f"({PROJECT_FILE}, from 'tinyslm generate')"
    )
