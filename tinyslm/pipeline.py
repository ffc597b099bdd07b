"""The only place where stages are chained; one plain function per CLI command.

``run_train``: dataset -> features -> train -> quantize -> verify -> manifest,
written atomically to the output folder.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from tinyslm.errors import OutputError, OutputExistsError, one_line, utf8_text
from tinyslm.info import device_max_line
from tinyslm.manifest import MANIFEST_NAME, MODEL_NAME, Manifest, sha256_hex, threshold_text
from tinyslm.outdir import (
    STAGE_PREFIX,
    Ownership,
    WriteReport,
    check_target,
    real_path,
    tree_place_problem,
    write_tree,
)
from tinyslm.project import PROJECT_FILE
from tinyslm.report_data import REPORT_HTML, REPORT_JSON
from tinyslm.text.train import TrainConfig

if TYPE_CHECKING:
    from tinyslm.boards import Board, MicPin

Log = Callable[[str], None]

# What a model folder's files hold when tinyslm wrote them (MODEL_OWNERSHIP's checks).
# Its names alone said nothing: a web app's manifest.json or a user's report.html was
# replaced by 'train --force'.


def _json_object(path: Path) -> dict[str, object] | None:
    try:
        doc = json.loads(path.read_bytes())
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, or nested too deeply
        return None
    return doc if isinstance(doc, dict) else None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_model_manifest(path: Path) -> str | None:
    """A manifest tinyslm wrote, unedited: any format this tinyslm reads (all it ever
    wrote), read as ``tinyslm info`` reads it; a newer format (a newer tinyslm's) by the
    fields every format has."""
    from tinyslm.errors import ModelError
    from tinyslm.manifest import READABLE_FORMATS, ManifestEditedError

    doc = _json_object(path)
    if doc is None or not all(
        isinstance(doc.get(key), str) for key in ("tinyslm_version", "model_sha256")
    ):
        return "not a tinyslm manifest"
    version = doc.get("format_version")
    if _is_int(version) and version > max(READABLE_FORMATS):
        return None if isinstance(doc.get("content_sha256"), str) else "not a tinyslm manifest"
    try:
        Manifest.from_dict(doc)
    except ManifestEditedError:
        return "edited since tinyslm wrote it"
    except ModelError as exc:
        return f"not as tinyslm writes it: {exc}"
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return f"not as tinyslm writes it: {exc}"
    return None


def _manifest_model_sha(folder: Path) -> str | None:
    """The ``model_sha256`` the manifest in ``folder`` records (``None``: none there)."""
    path = folder / MANIFEST_NAME
    doc = _json_object(path) if path.is_file() else None
    sha = doc.get("model_sha256") if doc is not None else None
    return sha if isinstance(sha, str) else None


def _check_model_file(path: Path) -> str | None:
    """The model the manifest next to it describes (its ``model_sha256``)."""
    expected = _manifest_model_sha(path.parent)
    if expected is None:
        return f"no {MANIFEST_NAME} gives its sha256"
    if sha256_hex(path.read_bytes()) != expected:
        return f"not the model {MANIFEST_NAME} describes (sha256 differs)"
    return None


def _canonical_json(doc: Mapping[str, object]) -> bytes:
    """A JSON document as both report.json writers lay it out (``to_json_bytes``)."""
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def _check_report_json(path: Path) -> str | None:
    """Figures tinyslm measured for this folder's model, unedited: read as ``tinyslm
    report`` reads them (another format version, a newer tinyslm's, by the fields it
    shares), and byte for byte what tinyslm writes for them.

    report.json carries no seal of its own (its format is kept): any file that parsed
    was taken as tinyslm's, so a note added to it, or another model's copied in, was
    replaced, or with ``--no-report`` removed. Written again from what was read, a file
    tinyslm wrote is the same bytes (any version: the layout has not changed); one
    re-indented, or with a key of the user's, is not.
    """
    from tinyslm.errors import ModelError
    from tinyslm.report_data import FORMAT_VERSION, ReportData

    raw = path.read_bytes()
    doc = _json_object(path)
    if doc is not None and doc.get("modality") == "audio":
        return _check_keyword_report_json(path, raw, doc)
    if doc is None or not isinstance(doc.get("model_sha256"), str):
        return "not a tinyslm report.json"
    version = doc.get("format_version")
    if _is_int(version) and version > FORMAT_VERSION:
        shared = isinstance(doc.get("labels"), list) and isinstance(doc.get("confusion"), list)
        if not shared:
            return "not a tinyslm report.json"
        written = _canonical_json(doc)
    else:
        try:
            written = ReportData.from_dict(doc, str(path)).to_json_bytes()
        except ModelError as exc:
            return f"not as tinyslm writes it: {exc}"
    return _report_json_is_this_models(path, raw, written, doc.get("model_sha256"))


def _check_keyword_report_json(path: Path, raw: bytes, doc: dict[str, object]) -> str | None:
    """A keyword model's report.json (its own format; written without ``model_sha256``
    before round 38), as :func:`_check_report_json` checks a text model's."""
    from tinyslm.audio.report import FORMAT_VERSION as KEYWORD_FORMAT
    from tinyslm.audio.report import KeywordReportData
    from tinyslm.errors import ModelError

    version = doc.get("format_version")
    if _is_int(version) and version > KEYWORD_FORMAT:
        shared = isinstance(doc.get("curve"), list) and isinstance(doc.get("tensors"), list)
        if not shared or not isinstance(doc.get("model_sha256"), str):
            return "not a tinyslm report.json"
        written = _canonical_json(doc)
        return _report_json_is_this_models(path, raw, written, doc["model_sha256"])
    try:
        figures = KeywordReportData.from_json(path)
    except ModelError as exc:
        return f"not as tinyslm writes it: {exc}"
    written = figures.to_json_bytes()
    if figures.model_sha256 is None and raw == written:
        # Before model_sha256 was recorded the tensor sizes tie it to the model, as
        # 'tinyslm report' ties it.
        return _tensors_are_this_models(path, figures.tensors)
    return _report_json_is_this_models(path, raw, written, figures.model_sha256)


def _report_json_is_this_models(
    path: Path, raw: bytes, written: bytes, model_sha256: object
) -> str | None:
    if raw != written:
        return "edited since tinyslm wrote it"
    expected = _manifest_model_sha(path.parent)
    if expected is None:
        return f"no {MANIFEST_NAME} gives the model's sha256"
    if model_sha256 != expected:
        return f"another model's figures: its model_sha256 is not {MANIFEST_NAME}'s"
    return None


def _tensors_are_this_models(path: Path, tensors: tuple[Any, ...]) -> str | None:
    from tinyslm.errors import ModelError
    from tinyslm.report_data import tensor_sizes

    model = path.parent / MODEL_NAME
    try:
        ours = tensor_sizes(model.read_bytes()) if model.is_file() else None
    except ModelError:
        ours = None
    if ours is None or tensors != ours:
        return f"another model's figures: its tensor sizes are not {MODEL_NAME}'s"
    return None


def _check_report_page(path: Path) -> str | None:
    """A page tinyslm drew (the check ``tinyslm report -o`` makes), unedited.

    A page carries its own seal (:func:`tinyslm.report.seal_page`): one edited since
    (a note of the user's) is refused by ``train --force`` as ``generate --force``
    refuses an edited project file, rather than replaced or (``--no-report``) removed.
    A page from before the seal is taken by its banner.
    """
    from tinyslm.report import drawn_by_tinyslm, page_edited

    data = path.read_bytes()
    if not drawn_by_tinyslm(data):
        return "not a tinyslm report page"
    return "edited since tinyslm wrote it" if page_edited(data) else None


# A model folder holds exactly these files (the report's two since they were
# added), so anything else in it is the user's and makes --force refuse the folder;
# each must hold what tinyslm writes there, or it is the user's too.
MODEL_OWNERSHIP = Ownership(
    kind="model folder",
    marker=MANIFEST_NAME,
    names=(MANIFEST_NAME, MODEL_NAME, REPORT_JSON, REPORT_HTML),
    checks=(
        (MANIFEST_NAME, _check_model_manifest),
        (MODEL_NAME, _check_model_file),
        (REPORT_JSON, _check_report_json),
        (REPORT_HTML, _check_report_page),
    ),
)
# A project also holds the user's own files and PlatformIO's .pio/: regenerating
# replaces only the files listed in the record (with their sha256), lib/tflm's included.
PROJECT_OWNERSHIP = Ownership(
    kind="project",
    marker=PROJECT_FILE,
    record=".tinyslm-files.json",
    keep_foreign=True,
    trees=("lib/tflm",),
)


def _stray_lib_tflm(target: Path, copying: bool) -> str | None:
    """What is wrong with a project's ``lib/tflm``, or its ``lib``, that is a file or a
    dangling link (or, ``copying``, any symbolic link); None when it is not one: a note
    where no tree is copied (it is kept, as the user's).

    Raises:
        OutputExistsError: generate is to copy a TFLM tree there. The file or link is
            not tinyslm's (a copy is a folder), so it is never replaced, deleted or
            written through (a linked ``lib`` put the tree in the folder it names).
    """
    block = tree_place_problem(target, "lib/tflm", links=copying)
    if block is None:
        return None
    if copying:
        # A link to the user's own tree was replaced by a copy: their edits to it
        # silently stopped reaching the build.
        why = "not a TFLM tree tinyslm wrote, so it is not replaced"
        raise OutputExistsError(
            f"{block.path} is {block.what}, {why if block.rel == block.tree else block.why()}; "
            f"{block.step()}, then run generate again to copy the tree there"
        )
    return (
        f"{block.path} is {block.what}, kept as yours: {block.step()} before generating "
        "with a TFLM tree"
    )


def _failed_path(exc: OSError, target: Path) -> str:
    """`` (PATH)``: the path in the project a write failed on, when the error names one;
    "cannot write P: Not a directory" did not say which of P's paths was in the way. A
    path in the staging folder (removed by now) is not named: a failed rename's second
    name is the one in the project."""
    staging = (STAGE_PREFIX, f".{target.name}.tmp-")
    for name in (exc.filename2, exc.filename):
        path = Path(os.fsdecode(name)) if name else None
        if path is not None and not any(part.startswith(staging) for part in path.parts):
            return f" ({_not_a_folder(path) if exc.errno == errno.ENOTDIR else path})"
    return ""


def _not_a_folder(path: Path) -> Path:
    """What a "Not a directory" error on ``path`` met: the first folder above it that is
    not one (``lib`` a file, for ``lib/tflm``: the line named lib/tflm, not there)."""
    for parent in reversed(path.parents):
        if os.path.lexists(parent) and not parent.is_dir():
            return parent
    return path


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class TrainRunResult:
    """What ``tinyslm train`` produced.

    Attributes:
        out: the output folder (``model.tflite`` + ``manifest.json``).
        manifest: the manifest written there.
        train_seconds, convert_seconds, verify_seconds, total_seconds: wall times
            (train: encoding, distillation and fitting; convert: calibration and
            conversion; verify: TFLM scoring and the arena probe).
        load_seconds: reading, checking and splitting the dataset.
        warnings: every warning training printed (``--json`` lists them).
        report: ``report.html`` in ``out`` (``None`` when not written).
        history: per-epoch training figures (loss, accuracy, val_accuracy...).
    """

    out: Path
    manifest: Manifest
    train_seconds: float
    convert_seconds: float
    verify_seconds: float
    total_seconds: float
    warnings: tuple[str, ...] = ()
    load_seconds: float = 0.0
    report: Path | None = None
    history: tuple[dict[str, float], ...] = ()

    def summary(self) -> dict[str, Any]:
        """What ``tinyslm train --json`` prints: paths, sizes, figures and wall times."""
        m = self.manifest
        return {
            # As eval --json and info --json name it: a CI script tells the kinds apart.
            "modality": m.modality,
            # A folder named with an undecodable byte as the shell shows it ('\xff'): JSON's
            # "\udcff" is no text, and strict parsers (jq, JSON.parse) refuse the document.
            "out": utf8_text(str(self.out)),
            "report": None if self.report is None else utf8_text(str(self.report)),
            "model_sha256": m.model_sha256,
            "model_bytes": m.model_bytes,
            "arena_bytes": m.arena_bytes,
            "labels": list(m.labels),
            "threshold": m.threshold,
            "threshold_q": m.threshold_q,
            "ops": list(m.ops),
            "max_line": device_max_line(m),  # a keyword model's firmware: 32
            "train_config": m.train_config,
            "metrics": m.metrics,
            "seconds": {
                "total": round(self.total_seconds, 3),
                "load": round(self.load_seconds, 3),
                "train": round(self.train_seconds, 3),
                "convert": round(self.convert_seconds, 3),
                "verify": round(self.verify_seconds, 3),
            },
            "warnings": list(self.warnings),
        }


def check_model_target(
    out: Path, force: bool, data: Path | None, extras: tuple[str | Path, ...] = ()
) -> dict[str, Path]:
    """Refuse ``out`` as train's model folder (see :func:`tinyslm.outdir.check_target`);
    returns the inputs it must not hold, for the write's own check. The CLI calls it
    before the data is read and sized, so a bad ``-o`` is its one line."""
    protect = {"the input data": data} if data is not None else {}
    for number, extra in enumerate(extras, 1):
        protect["the --extra-train data" + (f" #{number}" if len(extras) > 1 else "")] = Path(extra)
    check_target(out, force, protect=protect, ownership=MODEL_OWNERSHIP)
    # A model folder inside another one is a folder of the outer one that is not its
    # own: the outer's 'train --force' would then refuse it (out itself is --force's).
    refuse_inside_model_folder(out, "-o")
    return protect


def train_data(data: Path | None) -> Path | None:
    """train's DATA: ``demo`` is the bundled demo set, as eval, emulate --data and report
    --data take it (:func:`tinyslm.evaluate.demo_or_path`), unless a file or folder of
    that name is here; it is then read exactly as DATA left out (``None``), so the model
    records the dataset ``demo`` as generate's demo model does. ``train demo`` was
    refused as 'demo: dataset not found'."""
    from tinyslm.evaluate import demo_or_path

    if data is not None and demo_or_path(data) != data:
        return None
    return data


def run_train(
    data: Path | None,
    out: Path,
    config: Any = None,
    *,
    force: bool = False,
    log: Log | None = None,
    warn: Log | None = None,
    report: bool = True,
    accept: Callable[[Manifest], None] | None = None,
) -> TrainRunResult:
    """Train, quantize and verify a model on ``data`` and write it to ``out``.

    Args:
        data: a text dataset file (CSV, JSONL, CLINC JSON) or an audio keyword
            dataset (a Speech Commands folder or a list of WAV files): the modality
            is told from the data (:func:`tinyslm.modality.modality_of_data`);
            ``None`` (or ``demo``, see :func:`train_data`) uses the bundled text demo set.
        out: output folder; gets ``model.tflite`` and ``manifest.json``.
        config: the modality's hyper-parameters (``TrainConfig`` for text,
            ``AudioTrainConfig`` for audio; ``None``: their defaults).
        force: replace the model in an existing tinyslm model folder ``out``.
        log: progress lines (one per epoch and per stage); ``None`` is silent.
        warn: dataset warnings, as soon as the data is loaded (before training).
        report: also measure the report's figures on the held-out split (TFLM) and
            write ``report.json`` and ``report.html`` (``generate``'s throw-away
            model does without).
        accept: checks the trained manifest before anything is written (a budget);
            what it raises propagates and ``out`` is left as it was.

    Raises:
        OutputExistsError: ``out`` exists and is not empty and ``force`` is off,
            or ``out`` is not a model folder tinyslm may replace (see ``tinyslm.outdir``).
        OutputError: ``out`` cannot be written.
        DatasetError: the dataset is missing or unusable.
        ModelError: conversion or TFLM verification failed.
        ToolchainError: ``config.distill_alpha > 0`` without the ``distill`` extra.
    """
    from tinyslm.modality import modality_of_data

    start = time.perf_counter()
    data = train_data(data)
    kind = modality_of_data(data)
    extras = tuple(getattr(config, "extra_train", ()) or ())
    protect = check_model_target(out, force, data, extras)
    fitted = kind.fit(data, config, log=log or _quiet, warn=warn or _quiet, report=report)
    if accept is not None:
        accept(fitted.manifest)
    try:
        # Checks the folder again: it may have appeared while we were training. Waits
        # for another run writing it as long as that run does: a refusal here would
        # throw the training away.
        write_tree(
            fitted.files,
            out,
            force=force,
            ownership=MODEL_OWNERSHIP,
            protect=protect,
            wait_until_free=True,
        )
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return TrainRunResult(
        out=out,
        manifest=fitted.manifest,
        train_seconds=fitted.train_seconds,
        convert_seconds=fitted.convert_seconds,
        verify_seconds=fitted.verify_seconds,
        total_seconds=time.perf_counter() - start,
        warnings=fitted.warnings,
        load_seconds=fitted.load_seconds,
        report=out / REPORT_HTML if REPORT_HTML in fitted.files else None,
        history=fitted.history,
    )


def format_train_table(result: TrainRunResult) -> str:
    """The short summary ``tinyslm train`` prints."""
    from tinyslm.modality import modality

    m = result.manifest
    # Every second of the run is in the breakdown; "other" is checks and writing.
    other = max(
        0.0,
        result.total_seconds
        - result.load_seconds
        - result.train_seconds
        - result.convert_seconds
        - result.verify_seconds,
    )
    rows = [
        # As every error shows a path ('\xff', '\n'): printing the raw name ended a run
        # whose model was written in a UnicodeEncodeError, its --json file never written.
        ("output", one_line(str(result.out))),
        *modality(m.modality).summary_rows(m),
        ("model bytes", f"{m.model_bytes} ({m.model_bytes / 1024:.1f} KiB)"),
        ("arena bytes", f"{m.arena_bytes} ({m.arena_bytes / 1024:.1f} KiB)"),
        ("ops", ", ".join(m.ops)),
        ("report", "not written" if result.report is None else one_line(str(result.report))),
        (
            "wall time",
            f"{result.total_seconds:.1f} s (load {result.load_seconds:.1f} s, train "
            f"{result.train_seconds:.1f} s, convert {result.convert_seconds:.1f} s, verify "
            f"{result.verify_seconds:.1f} s, other {other:.1f} s)",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


# --- generate ----------------------------------------------------------------


@dataclass(frozen=True)
class GenerateRunResult:
    """What ``tinyslm generate`` wrote.

    Attributes:
        out: the project folder.
        board: board id.
        files: project-relative paths of the generated files (``lib/tflm`` not listed).
        model_sha256: the model built into the firmware.
        model_bytes: size of the model array (flash).
        arena_size: TINYSLM_ARENA_SIZE (RAM).
        tflm_tree: the TFLM tree copied into ``lib/tflm``, if any.
        notes: one-line remarks for the user (e.g. a TFLM tree still missing).
        report: files added, changed, unchanged, removed and kept in ``out``.
        modality: the model's (``text`` or ``audio``).
    """

    out: Path
    board: str
    files: tuple[str, ...]
    model_sha256: str
    model_bytes: int
    arena_size: int
    tflm_tree: Path | None = None
    notes: tuple[str, ...] = ()
    report: WriteReport | None = None
    modality: str = "text"


def default_generate_dir(board: str) -> Path:
    """``projects/<board>/`` relative to the current directory.

    Earlier versions wrote ``firmware/<board>/``, which a checkout shares with the
    hand-written C sources; a project there stays the user's: nothing reads or
    replaces it by default (pass its path to build, emulate or ``generate -o``).
    """
    return Path("projects") / board


# tinyslm.json's record of the microphone pins a keyword project was generated with
# (signal -> pin, ``PD6:AF6`` with an STM32 alternate function).
MIC_PINS_KEY = "microphone_pins"


@dataclass(frozen=True)
class PreviousProject:
    """What an existing project was generated with (its ``tinyslm.json``), as far as
    ``generate --force`` can change it without being asked.

    Attributes:
        manifest: the manifest copy (labels, threshold, own label levels).
        mic_pins: signal -> pin text; ``None`` where tinyslm.json records none (a text
            project, or one from before they were recorded).
    """

    manifest: Manifest
    mic_pins: Mapping[str, str] | None = None


def mic_pin_text(pin: MicPin) -> str:
    """A microphone pin as ``--mic-pin`` takes it: ``GPIO32``, ``PD6:AF6``."""
    return pin.pin + ("" if pin.af is None else f":AF{pin.af}")


def _previous_project(project: Path) -> PreviousProject | None:
    """What an existing project was generated from, or ``None`` where there is none to
    read (no or a malformed tinyslm.json, or one without a manifest copy)."""
    from tinyslm.errors import ProjectError
    from tinyslm.project import open_project

    try:
        opened = open_project(project)
    except ProjectError:
        return None
    if opened.manifest is None:
        return None
    pins = opened.info.get(MIC_PINS_KEY)
    if not isinstance(pins, dict) or not all(isinstance(v, str) for v in pins.values()):
        return PreviousProject(opened.manifest)
    return PreviousProject(opened.manifest, {str(k): v for k, v in pins.items()})


def _asked_signals(spec: Board, mic_pins: tuple[str, ...]) -> set[str]:
    """The board-file signals ``--mic-pin`` names on this command line (``ws``, or the
    microphone's name for it, in any case), as :func:`tinyslm.boards.with_mic_pins` reads."""
    if spec.microphone is None:
        return set()
    names: dict[str, str] = {}
    for p in spec.microphone.pins:
        names[p.signal.lower()] = p.signal
        names.setdefault(p.mic.lower(), p.signal)
    return {names.get(item.partition("=")[0].strip().lower(), "") for item in mic_pins}


def dropped_choices(
    previous: PreviousProject,
    manifest: Manifest,
    spec: Board,
    *,
    threshold: float | None,
    label_thresholds: Mapping[str, float],
    mic_pins: tuple[str, ...],
) -> list[str]:
    """One note per choice the previous project was made with that this regenerate moves
    without being asked (its option not repeated): a board wired for the old pins hears
    silence, which the firmware cannot tell from a quiet room; a level dropped changes
    what is answered or heard. The README's regenerate command repeats every option."""
    from tinyslm.modality import AUDIO
    from tinyslm.operating_point import threshold_moved

    old = previous.manifest
    notes: list[str] = []
    keep = "repeat it to keep it"
    if threshold is None and threshold_moved(old) and old.threshold_q != manifest.threshold_q:
        notes.append(
            f"the threshold moves {threshold_text(old.threshold)} (q={old.threshold_q}) -> "
            f"{threshold_text(manifest.threshold)} (q={manifest.threshold_q}) (the project was "
            f"made with --threshold {old.threshold!r}; {keep})"
        )
    levels = dict(zip(manifest.labels, manifest.thresholds_q(), strict=True))
    shown = {t.label: t.threshold for t in manifest.label_thresholds}
    for t in old.label_thresholds:
        if t.label in label_thresholds:
            continue
        # As the README's regenerate command writes it (a label may hold a space).
        option = f"--label-threshold {shlex.quote(f'{t.label}={t.threshold!r}')}"
        if t.label not in levels:
            notes.append(f"{option} of the project is dropped: the model has no label {t.label!r}")
        elif levels[t.label] != t.threshold_q:
            now = shown.get(t.label, manifest.threshold)
            notes.append(
                f"the threshold of {t.label!r} moves {threshold_text(t.threshold)} "
                f"(q={t.threshold_q}) -> {threshold_text(now)} (q={levels[t.label]}) (the "
                f"project was made with {option}; {keep})"
            )
    if previous.mic_pins is None or manifest.modality != AUDIO or spec.microphone is None:
        return notes
    asked = _asked_signals(spec, mic_pins)
    for pin in spec.microphone.pins:
        was, wired = previous.mic_pins.get(pin.signal), mic_pin_text(pin)
        if was is not None and was != wired and pin.signal not in asked:
            notes.append(
                # The pins in effect are recorded, not whether they were typed (a board
                # file's default may have moved), so the note says what was wired.
                f"microphone pin {pin.signal} moves {was} -> {wired} (the project read "
                f"{pin.signal} on {was}; --mic-pin {pin.signal}={was} keeps it)"
            )
    return notes


def _stale_sdkconfig_notes(spec: Board, project: Path) -> list[str]:
    """A note per ``sdkconfig.<env>`` (kept: the user's build configuration) holding
    options of the new ``sdkconfig.defaults`` otherwise: ESP-IDF keeps its values, so a
    regenerate that changed the defaults built the board with the old ones, silently."""
    from tinyslm.toolchain.sdkconfig import board_stale_options, board_unchecked_configs, describe

    notes = [describe(config, stale) for config, stale in board_stale_options(spec, project)]
    return notes + board_unchecked_configs(spec, project)


def run_generate(
    board: str,
    out: Path | None = None,
    *,
    model_dir: Path | None = None,
    force: bool = False,
    prune: bool = False,
    tflm_dir: Path | None = None,
    mic_pins: tuple[str, ...] = (),
    threshold: float | None = None,
    label_thresholds: Mapping[str, float] | None = None,
    log: Log | None = None,
) -> GenerateRunResult:
    """Emit the PlatformIO project for ``board`` from a trained model.

    Args:
        board: board id (``tinyslm boards`` lists them).
        out: project folder; ``None`` is ``projects/<board>/`` under the cwd.
        model_dir: a ``tinyslm train`` output folder; ``None`` trains on the demo
            set first (in a temporary folder).
        force: regenerate into an existing tinyslm project ``out``: its generated
            files are replaced, the user's files and ``.pio/`` kept.
        prune: with ``force``, remove generated files the new project no longer has.
        tflm_dir: a TFLM source tree for boards that build TFLM from ``lib/tflm``.
        mic_pins: ``SIGNAL=PIN`` overrides of the board file's microphone pins
            (:func:`tinyslm.boards.with_mic_pins`; keyword projects).
        threshold: the confidence threshold for the firmware instead of the trained
            one (:func:`tinyslm.operating_point.with_threshold`).
        label_thresholds: labels compared at thresholds of their own, each as a
            probability (:func:`tinyslm.operating_point.with_label_thresholds`).
        log: progress lines; ``None`` is silent.

    Raises:
        BoardError: unknown board, or ``tflm_dir`` for a board that does not use it.
        OutputExistsError: ``out`` exists and is not empty and ``force`` is off,
            or it is not a tinyslm project, or holds the model or the TFLM tree used.
        OutputError: ``out`` cannot be written.
        ModelError: the model folder is missing, corrupt or uses an op TFLM lacks, or
            ``threshold`` or a label's threshold is not a score its output can reach,
            or ``label_thresholds`` names a label that it lacks or that never fires.
        BudgetError: the model or arena does not fit the board; nothing is written.
        ToolchainError: ``tflm_dir`` is not a usable TFLM tree.
    """
    from tinyslm.boards import load_board
    from tinyslm.emit import render_project
    from tinyslm.errors import BoardError
    from tinyslm.manifest import load_model_dir
    from tinyslm.modality import AUDIO

    say = log or _quiet
    spec = load_board(board)
    if mic_pins and model_dir is None:
        # The demo is a text model; a pin it would not use was silently ignored.
        raise BoardError(
            "--mic-pin is for keyword models; without --model the demo text model is used"
        )
    if mic_pins:
        from tinyslm.boards import with_mic_pins

        spec = with_mic_pins(spec, mic_pins)
    target = out if out is not None else default_generate_dir(spec.id)
    if tflm_dir is not None and not spec.tflm.needs_tree:
        raise BoardError(
            f"--tflm-dir does not apply to board {spec.id}: its TFLM comes from the "
            f"ESP-IDF component {spec.tflm.component}"
        )
    if model_dir is not None:
        from tinyslm.manifest import check_model_files

        # A folder that is no model was named as one the output must stay out of: the
        # error blamed the output folder ("inside the model being used").
        check_model_files(model_dir)
    protect = {"the model being used": model_dir} if model_dir is not None else {}
    if tflm_dir is not None:
        protect["the TFLM tree being copied"] = tflm_dir
    if out is None and model_dir is not None:
        # The default folder is not one the user named: say which option moves it.
        real_target, real_model = real_path(target), real_path(model_dir)
        if real_model == real_target or real_model in real_target.parents:
            raise OutputExistsError(
                f"{target} (the project folder, no -o given) is inside the model being used "
                f"({model_dir}); give -o outside it, or run generate from another folder"
            )
    # Fail before a slow training run.
    check_target(target, force, protect=protect, ownership=PROJECT_OWNERSHIP)
    # Inside another model folder than --model's (that one is refused above as the model
    # being used), for the same reason as train -o: it holds only the model's own files.
    if out is not None:
        refuse_inside_model_folder(target, "-o")
    else:
        refuse_inside_model_folder(
            target,
            "the project folder (no -o given)",
            "give -o outside it, or run generate from another folder",
        )

    tree: Path | None = None
    notes: list[str] = []
    if spec.tflm.needs_tree:
        from tinyslm.toolchain import tflm

        tree = tflm.resolve_tree(tflm_dir)
        stray = _stray_lib_tflm(Path(target), tree is not None)
        if tree is not None:
            # The board's platformio.ini and README are written for CMSIS-NN kernels: a
            # host tree was copied in, described as one and given -DCMSIS_NN.
            tflm.check_cortex_m_tree(tree, f"board {spec.id}")
        elif force and (target / "lib" / "tflm").is_dir():
            # Regenerating keeps the project's recorded tree (outdir's trees).
            notes.append("lib/tflm kept as it is (no new TFLM tree given)")
        elif stray is not None:
            notes.append(f"lib/tflm not included: {stray}; {tflm.missing_tree_hint()}")
        else:
            notes.append(f"lib/tflm not included: {tflm.missing_tree_hint()}")

    if model_dir is None:
        say("no --model given: training on the demo set first ...")
        with tempfile.TemporaryDirectory(prefix="tinyslm-generate-") as scratch:
            # The same sizing as a plain ``tinyslm train`` (the README's demo says so).
            from tinyslm.text.dataset import load_dataset
            from tinyslm.train_options import default_options, train_to_budget

            options = default_options()

            def train_once(
                config: TrainConfig, again: bool, accept: Callable[[Manifest], None]
            ) -> TrainRunResult:
                return run_train(
                    None,
                    Path(scratch) / "model",
                    config,
                    force=again,
                    log=say,
                    report=False,
                    accept=accept,
                )

            train_to_budget(
                options, lambda: load_dataset(None, seed=options["seed"]), train_once, say
            )
            manifest, model = load_model_dir(Path(scratch) / "model")
    else:
        manifest, model = load_model_dir(model_dir)
    if mic_pins and manifest.modality != AUDIO:
        raise BoardError(f"--mic-pin is for keyword models; {model_dir} is a text model")
    trained = manifest
    if threshold is not None:
        from tinyslm.operating_point import with_threshold

        manifest = with_threshold(manifest, threshold)
        # The level's P is what the firmware applies and what info, the report and ':info'
        # print; the value typed is said beside it where it reads otherwise (0.6 -> 0.601).
        typed = (
            f", the level --threshold {threshold:g} selects"
            if threshold_text(threshold) != threshold_text(manifest.threshold)
            else ""
        )
        shown = f"threshold {threshold_text(manifest.threshold)} (q={manifest.threshold_q}{typed})"
        if manifest is trained:
            # An option without effect is a note (stderr, -q too): with -q it was silent.
            notes.append(f"{shown}: the trained one, so nothing is moved")
        else:
            say(
                f"{shown} instead of the trained {threshold_text(trained.threshold)} "
                f"(q={trained.threshold_q})"
            )
    if label_thresholds:
        from tinyslm.manifest import describe_label_thresholds
        from tinyslm.operating_point import with_label_thresholds

        manifest = with_label_thresholds(manifest, label_thresholds)
        own = {t.label for t in manifest.label_thresholds}
        same = [f"{lb}={p:g}" for lb, p in label_thresholds.items() if lb not in own]
        if same:
            # The level every other label gets: --threshold's where it moved the model's.
            whose = (
                "--threshold's level"
                if threshold is not None and manifest.threshold_q != trained.threshold_q
                else "the model's own threshold"
            )
            notes.append(
                f"--label-threshold {', '.join(same)}: {whose} "
                f"{threshold_text(manifest.threshold)} (q={manifest.threshold_q}), so no level "
                "of its own is set"
            )
        moved = [
            f"{t.label}={label_thresholds[t.label]:g}"
            for t in manifest.label_thresholds
            if threshold_text(label_thresholds[t.label]) != threshold_text(t.threshold)
        ]
        typed = f" (the levels {', '.join(moved)} select)" if moved else ""
        if manifest.label_thresholds:
            say(
                f"own thresholds: {describe_label_thresholds(manifest)}{typed}; every other "
                f"label {threshold_text(manifest.threshold)} (q={manifest.threshold_q})"
            )

    plan = render_project(spec, manifest, model)
    # The starters go in only where nothing is; the record of what tinyslm wrote too.
    starters = [
        rel
        for rel in plan.starter_mapping()
        if not os.path.lexists(Path(target).joinpath(*rel.split("/")))
    ]
    say(f"writing {len(plan.files) + len(starters) + 1} files to {one_line(str(target))} ...")

    def add_tree(tmp: Path) -> None:
        if tree is not None:
            from tinyslm.toolchain import tflm

            tflm.install_tree(tree, tmp / "lib" / "tflm")

    previous = _previous_project(target) if force else None
    before = list(previous.manifest.labels) if previous is not None else None
    try:
        report = write_tree(
            plan.as_mapping(),
            target,
            force=force,
            extra=add_tree,
            ownership=PROJECT_OWNERSHIP,
            protect=protect,
            prune=prune,
            starters=plan.starter_mapping(),
            # A board whose TFLM is an ESP-IDF component has no lib/tflm: one left from
            # another board is stale (and would be built beside the component).
            absent_trees=() if spec.tflm.needs_tree else PROJECT_OWNERSHIP.trees,
        )
    except OSError as exc:
        raise OutputError(
            f"cannot write {target}: {exc.strerror or exc}{_failed_path(exc, Path(target))}"
        ) from exc
    from tinyslm.emit.actions import HOOKS, missing_hooks

    kept_starters = [rel for rel in plan.starter_mapping() if rel not in report.started]
    if before is not None and kept_starters and set(before) != set(manifest.labels):
        # The user's hook compares label names the new model may not have: a branch for a
        # keyword that is gone never fires again, silently.
        gone = [lb for lb in before if lb not in manifest.labels]
        new = [lb for lb in manifest.labels if lb not in before]
        changes = "; ".join(
            f"{what}: {', '.join(labels)}"
            for what, labels in (("no longer", gone), ("new", new))
            if labels
        )
        notes.append(
            f"the model's labels changed ({changes}); "
            f"{', '.join(kept_starters)} is yours and was kept: check the names it compares"
        )
    if previous is not None:
        notes += dropped_choices(
            previous,
            manifest,
            spec,
            threshold=threshold,
            label_thresholds=label_thresholds or {},
            mic_pins=mic_pins,
        )
    for rel in missing_hooks(report.target, manifest.modality):
        notes.append(
            f"{rel} is yours and was kept, but it defines no {HOOKS[manifest.modality]}(), "
            "which this model's firmware calls: add it, or move the file away and generate "
            "again for a new starter"
        )
    notes += _stale_sdkconfig_notes(spec, report.target)
    return GenerateRunResult(
        out=report.target,
        board=spec.id,
        files=plan.paths,
        model_sha256=manifest.model_sha256,
        model_bytes=plan.model_bytes,
        arena_size=plan.arena_size,
        tflm_tree=tree,
        notes=tuple(notes),
        report=report,
        modality=manifest.modality,
    )


# --- report ------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRunResult:
    """What ``tinyslm report`` wrote.

    Attributes:
        out: the HTML file.
        source: where the figures came from (``report.json`` or the ``--data`` file).
        model_sha256: the model reported on.
    """

    out: Path
    source: str
    model_sha256: str


def refuse_inside_model_folder(
    path: Path, what: str, advice: str = "give a path outside it"
) -> None:
    """Refuse an output ``path`` (``--json``, ``report -o``, train's and generate's
    ``-o`` folder) inside a model folder: one holds only the model's own files, so
    'train --force' would refuse the folder for it (and could not tell that tinyslm
    wrote it). ``advice``: what to do, where no path was given."""
    # Every folder above it: 'MODEL/sub/i.json' creates sub/ in the model folder.
    for folder in Path(os.path.abspath(path)).parents:
        if (folder / MANIFEST_NAME).is_file() and (folder / MODEL_NAME).is_file():
            raise OutputError(
                f"{what} {path} is inside the model folder {folder}, which holds only "
                f"the model's own files ('train --force' would refuse it); {advice}"
            )


def _demo_or(data: Path | None) -> Path | None:
    """``--data demo`` as eval and emulate take it (:func:`tinyslm.evaluate.demo_or_path`)."""
    from tinyslm.evaluate import demo_or_path

    return None if data is None else demo_or_path(data)


def run_report(path: Path, out: Path, *, data: Path | None = None) -> ReportRunResult:
    """Write ``report.html`` for a model folder or a generated project.

    The figures come from the model folder's ``report.json`` (written by ``train``),
    or are measured on TFLM from ``data``'s held-out split (split with the model's
    seed, as in training); a project, or a model trained before reports existed,
    needs ``data``.

    Raises:
        ModelError: ``path`` is neither a model folder nor a project, or no figures.
        ProjectError: the project is malformed or its model array was edited.
        DatasetError: ``data`` is unusable or has intents the model lacks.
        OutputError: ``out`` cannot be written, or names one of the inputs.
    """
    from tinyslm.modality import TEXT, check_data_modality, modality
    from tinyslm.outdir import check_file_target, write_file
    from tinyslm.project import load_model_or_project
    from tinyslm.report import is_report_page

    data = _demo_or(data)
    inputs = [data] if data is not None else []
    # With --data the model runs on TFLM in this process, where an arena it cannot use
    # (arena_bytes edited by hand: the content hash leaves it out) ends in a segfault,
    # not an error; so it is probed first, in a child process, as eval does.
    probe = data is not None
    manifest, model, project = load_model_or_project(path, probe_arena=probe)
    if project is None:
        stored: Path | None = path / REPORT_JSON
        inputs += [path / MANIFEST_NAME, path / MODEL_NAME, path / REPORT_JSON]
    else:
        stored = None
        inputs += [path / PROJECT_FILE]
    if any(real_path(out) == real_path(p) for p in inputs):
        raise OutputError(f"-o {out} names one of the report's inputs; give another file name")
    # The model folder's own page, redrawn from its own figures ('cd MODEL && tinyslm
    # report .'), is the page train wrote there; any other page would be taken for an
    # edit of it, or is not one of the folder's files.
    if data is not None or real_path(out) != real_path(path / REPORT_HTML):
        refuse_inside_model_folder(out, "-o")
    check_file_target(out, "-o", is_report_page)

    if data is not None and manifest.modality == TEXT and data.exists():
        # Keyword data (a folder or a WAV list) read by the text loader said "missing
        # column(s) text"; eval's check names both modalities in one line.
        check_data_modality(data, manifest.modality)
    page, source = modality(manifest.modality).report_page(path, manifest, model, stored, data)
    write_file(out, page.encode(), "-o", is_report_page)
    return ReportRunResult(out=out, source=source, model_sha256=manifest.model_sha256)


# --- emulate --data ---------------------------------------------------------------------

EMULATE_ENGINES = ("emulator", "native", "qemu")


@dataclass(frozen=True)
class EmulateConfig:
    """``tinyslm emulate DIR --data``: a dataset's split through a project's firmware.

    Attributes:
        project_dir: a ``tinyslm generate`` output folder (text or keyword model).
        data: a text dataset (.csv/.jsonl/.json) or a keyword dataset (folder or list).
        split: ``test``, ``val``, ``train`` (or ``all`` for text).
        engine: ``emulator`` (the project's C on the host, TFLM's Python runtime),
            ``native`` (the whole firmware on the host) or ``qemu`` (Cortex-M7).
        tflm_dir: the TFLM tree for ``native`` / ``qemu`` (else the fetch cache).
        coverage: text emulator only: gcov line coverage of the core.
    """

    project_dir: Path
    data: Path
    split: str = "test"
    engine: str = "emulator"
    tflm_dir: Path | None = None
    coverage: bool = False


@dataclass(frozen=True)
class EmulateResult:
    """What ``run_emulate`` measured.

    Attributes:
        modality: the project's (``text`` or ``audio``).
        text: the figures as readable lines.
        summary: the figures as JSON-ready values (``--json``).
        warnings: dataset warnings.
        report: :class:`tinyslm.emulate.phrases.EmulateReport` (text) or
            :class:`tinyslm.emulate.keywords.KeywordDataResult` (keywords).
        coverage: the text core's line coverage, with ``coverage``.
        failure: why the run failed although it was measured (answers or detections that
            differ from the Python reference), or None.
    """

    modality: str
    text: str
    summary: dict[str, Any]
    warnings: tuple[str, ...]
    report: Any
    coverage: Any = None
    failure: str | None = None


def run_emulate(config: EmulateConfig) -> EmulateResult:
    """Open the project, load the dataset the way its model was trained, run the split
    through the chosen firmware path, and score it (with parity for keyword models).

    Raises:
        ProjectError, DatasetError, ModelError, ToolchainError: one line each.
    """
    from tinyslm.emulate.keywords import is_keyword_project
    from tinyslm.modality import AUDIO, TEXT, check_data_modality

    if config.engine not in EMULATE_ENGINES:
        raise ValueError(f"unknown engine {config.engine!r}")
    from tinyslm.evaluate import demo_or_path

    # 'demo' as eval and report --data take it: one rule for the three.
    config = replace(config, data=demo_or_path(config.data))
    keywords = is_keyword_project(config.project_dir)
    if config.data.exists():
        check_data_modality(config.data, AUDIO if keywords else TEXT)
    # A missing DATA is refused after the project's own checks (a corrupted model is named
    # whatever --data says), worded as text's loader, eval and report --data word it.
    return _emulate_keywords(config) if keywords else _emulate_text(config)


def _emulate_keywords(config: EmulateConfig) -> EmulateResult:
    from tinyslm.emulate.keywords import (
        KeywordDataConfig,
        ScoreMemo,
        data_parity_error,
        format_data_result,
        keyword_builder,
        keyword_project,
        load_keyword_data,
        run_keyword_data,
    )
    from tinyslm.errors import DatasetError, ToolchainError
    from tinyslm.project import read_model_bytes

    if config.coverage:
        raise ToolchainError("--coverage measures the text core; keyword projects have none yet")
    project, manifest = keyword_project(config.project_dir)
    model = read_model_bytes(project)
    memo: ScoreMemo = {}
    # The quick checks (tools, tree, settings), then the data, then the build: a missing,
    # empty or unstreamable DATA was refused only after the firmware was compiled and
    # linked (a minute for --qemu), where text --data and --wav are read first.
    build = keyword_builder(project.root, config.engine, tflm_dir=config.tflm_dir, memo=memo)
    if not config.data.exists():
        # The keyword loader said "no such file or folder"; text's "dataset not found".
        raise DatasetError(f"{config.data}: dataset not found")
    loaded = load_keyword_data(config.data, manifest, config.split)
    with tempfile.TemporaryDirectory(prefix="tinyslm-emulate-") as tmp:
        result = run_keyword_data(
            build(Path(tmp)),
            manifest,
            model,
            KeywordDataConfig(config.data, config.split),
            memo,
            loaded=loaded,
        )
    return EmulateResult(
        modality="audio",
        text=format_data_result(result, config.engine),
        summary={**result.summary(), "engine": config.engine},  # as the text summary says it
        # eval's warnings for the same data and split (the unknown cap, clips of a class the
        # model lacks, the background's share): emulate printed none of them.
        warnings=tuple(result.warnings),
        report=result,
        # As for text: the figures are printed, then the run fails (exit 1).
        failure=data_parity_error(result, config.engine),
    )


def _emulate_text(config: EmulateConfig) -> EmulateResult:
    from collections.abc import Sequence

    from tinyslm.emulate.emulator import Emulator, check_compiled_settings, emulator_runner
    from tinyslm.emulate.phrases import (
        NO_TOKENS,
        TIME_UNITS,
        format_parity,
        format_report,
        parity_error,
        parity_summary,
        phrases_to_check,
        reference_parity,
        run_phrases,
    )
    from tinyslm.project import open_project, read_model_bytes

    project_dir = config.project_dir
    if config.coverage and config.engine != "emulator":
        raise ValueError("coverage measures the shared-library emulator only")
    if config.engine != "emulator":
        # Before a long native or QEMU build (the emulator checks its own).
        check_compiled_settings(project_dir)
    run: Callable[[Sequence[bytes]], list[str]]
    with tempfile.TemporaryDirectory(prefix="tinyslm-cov-") as cov_tmp:
        emulator = None
        if config.engine == "native":
            from tinyslm.emulate.native import run_native
            from tinyslm.toolchain.host import resolve_host_tree

            native_tree = resolve_host_tree(config.tflm_dir)

            def run(lines: Sequence[bytes]) -> list[str]:
                return list(run_native(project_dir, native_tree, list(lines)))

        elif config.engine == "qemu":
            from tinyslm.emulate.qemu import check_tools, run_qemu
            from tinyslm.toolchain.cortex_m import resolve_cortex_m_tree

            check_tools()
            qemu_tree = resolve_cortex_m_tree(config.tflm_dir, project_dir)

            def run(lines: Sequence[bytes]) -> list[str]:
                return run_qemu(project_dir, qemu_tree, list(lines))

        else:
            emulator = Emulator(
                project_dir, coverage_dir=Path(cov_tmp) if config.coverage else None
            )
            run = emulator_runner(emulator)
        try:
            project = emulator.project if emulator is not None else open_project(project_dir)
            seed = project.manifest.seed if project.manifest else 0
            dataset, rows = phrases_to_check(config.data, config.split, seed)
            labels = project.manifest.labels if project.manifest else None
            report = run_phrases(
                run,
                rows,
                source=dataset.source,
                split=config.split,
                labels=labels,
                dataset_warnings=dataset.warnings,
            )
            coverage = emulator.coverage() if emulator is not None and config.coverage else None
        finally:
            # gcov's last write, while its folder still exists (on an error too: bad data
            # left the folder behind, recreated by gcov at exit).
            if emulator is not None:
                emulator.close()
    text = format_report(report, config.engine)
    # Under QEMU the "us" of an answer is thousands of instructions (-icount).
    summary = {**report.summary(), "engine": config.engine, "time_unit": TIME_UNITS[config.engine]}
    warnings = list(report.warnings)
    failure = None
    if project.manifest is None:
        warnings.append(
            "tinyslm.json has no manifest copy (an older project): no parity check "
            "with the Python TFLM reference; regenerate the project"
        )
    else:
        # A phrase the device refused (line_too_long) is counted and listed as an error
        # already; the reference has no line limit to compare it with. A no_tokens answer
        # is compared: the reference expects it exactly for a phrase without an id.
        answered = [r for r in report.results if r.error in (None, NO_TOKENS)]
        parity = reference_parity(answered, project.manifest, read_model_bytes(project))
        text += "\n" + format_parity(parity)
        summary.update(parity_summary(parity))
        failure = parity_error(parity, config.engine)
    return EmulateResult(
        modality="text",
        text=text,
        summary=summary,
        warnings=tuple(warnings),
        report=report,
        coverage=coverage,
        failure=failure,
    )
