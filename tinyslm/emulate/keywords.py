"""A keyword project's firmware off the board: recordings in, the device's detections out.

The host emulator (:class:`KeywordEmulator`) compiles the project's own keyword app
(``src/tinyslm_kws_app.c`` with the listening loop, front end, detector, frame
parser, JSON writer; every C file of the audio firmware), ``src/tinyslm_settings.c``
and ``src/tinyslm_model_data.cc`` with ``glue/host_kws_shim.c`` into a shared library,
loads it with ctypes and answers its infer callback with TFLM's Python runtime, as
:mod:`tinyslm.emulate.emulator` does for text. ``--native`` and ``--qemu`` run the
whole firmware instead (``glue/native_kws_main.c``, ``glue/qemu/mps2_an500_kws_main.c``
in place of the board's ``main.cc``, real TFLM C++).

All three take the same input: the serial bytes ``tinyslm monitor --wav`` sends a board
(:func:`tinyslm.audio.frames.stream_bytes`: START, AUDIO frames, END), and give the
device's JSON lines back. A :data:`StreamRunner` is any of them.

Parity: the same samples go through :func:`tinyslm.audio.stream.listen` (the Python
reference ``verify`` and training measure with) with TFLM scores; a device detection
equals a reference one when label, ``t_ms`` and score are identical.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tinyslm.audio.detector import Detection
from tinyslm.audio.frames import stream_bytes
from tinyslm.audio.spec import KeywordSpec
from tinyslm.audio.stream import (
    Int8Array,
    StreamFigures,
    StreamProtocol,
    StreamResult,
    StreamSpec,
    compose,
    figure_text,
    figures_of,
    fires_on,
    listen,
    measured,
    score_keywords,
)
from tinyslm.emulate.emulator import (
    check_compiled_settings,
    check_hook_calls,
    check_thresholds,
    interrupted,
    load_compiled_model,
    reraise_interrupt,
)
from tinyslm.emulate.library import cached_library, label_level_defines, project_sources
from tinyslm.errors import DatasetError, ProjectError, ToolchainError, one_line, output_tail
from tinyslm.manifest import Manifest
from tinyslm.modality import AUDIO
from tinyslm.project import Project, open_project
from tinyslm.resources import firmware_files

SHIM = Path(__file__).resolve().parent / "glue" / "host_kws_shim.c"
GENERATED_SOURCES = ("tinyslm_settings.c", "tinyslm_model_data.cc")
LIB_NAME = "libtinyslm_kws_emu.so"
RUN_TIMEOUT_S = 600.0

# The serial bytes of one stream in, the device's output lines back.
StreamRunner = Callable[[bytes], list[str]]
# A window's int8 feature bytes -> the model's int8 scores on it.
ScoreMemo = dict[bytes, bytes]
Int16Array = npt.NDArray[np.int16]

_INFER_FN = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.POINTER(ctypes.c_int8),
    ctypes.c_size_t,
    ctypes.POINTER(ctypes.c_int8),
    ctypes.c_void_p,
)
_WRITE_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.c_void_p)
_CLOCK_FN = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)


# --------------------------------------------------------------------------------------
# The project.


def keyword_project(project_dir: Path | str) -> tuple[Project, Manifest]:
    """Open a project and return it with its keyword manifest.

    Raises:
        ProjectError: not a tinyslm project, or not a keyword one.
    """
    project = open_project(project_dir)
    manifest = project.manifest
    if manifest is None or manifest.modality != AUDIO:
        raise ProjectError(f"{project.root}: not a keyword (audio) project")
    return project, manifest


def is_keyword_project(project_dir: Path | str) -> bool:
    """True for a project generated from a keyword model (manifest modality ``audio``)."""
    manifest = open_project(project_dir).manifest
    return manifest is not None and manifest.modality == AUDIO


def stream_spec(manifest: Manifest) -> StreamSpec:
    """The listening loop's settings of a keyword manifest (what the firmware is built with)."""
    spec = manifest.features
    if not isinstance(spec, KeywordSpec):
        raise ProjectError("not a keyword manifest")
    detector = spec.detector(len(manifest.labels), manifest.threshold_q, manifest.own_levels_q())
    return StreamSpec(detector, spec.frames, spec.frontend)


def keyword_sources() -> tuple[str, ...]:
    """The ``src/`` files the host library is built from: every C file of the audio
    firmware (common + audio; TFLM's Python runtime stands in for the C++ adapter) and
    the generated settings and model array."""
    c_files = sorted(name for name in firmware_files("audio") if name.endswith(".c"))
    return (*c_files, *GENERATED_SOURCES)


def build_keyword_library(project: Project) -> Path:
    """Compile the project's keyword app into a shared library (cached by content).

    Raises:
        ProjectError: a source file is missing.
        ToolchainError: the host compiler is missing or fails.
    """
    sources = project_sources(project, keyword_sources())
    defines = label_level_defines(project, "tinyslm_kws_detector.h")
    return cached_library(project, [*sources, SHIM], defines, prefix="kws-", lib_name=LIB_NAME)


# --------------------------------------------------------------------------------------
# The host emulator.


class KeywordEmulator:
    """The project's keyword app in this process, fed like a serial port.

    One instance per library at a time: the app's state lives in the library's
    statics, as on the board.
    """

    def __init__(self, project_dir: Path | str, memo: ScoreMemo | None = None) -> None:
        """Build (or reuse) the library, check the model, create the interpreter.

        ``memo`` maps a window's exact feature bytes to the model's int8 scores
        (:func:`model_predict` fills it while the Python reference runs): a window the
        C app builds bit for bit as the reference did is answered from it instead of
        running the same TFLM model on the same input a second time; any other window
        runs on TFLM.

        The app's clock (its detections' ``us``) counts only the host time of windows
        that ran on TFLM's Python runtime: a window answered from ``memo`` ran no
        inference, so its ``us`` is 0, the protocol's "not measured" (every window of
        ``emulate --wav``, whose reference runs first), never the microseconds of a
        dictionary lookup shown as an inference's.

        Raises:
            ProjectError: not a keyword project, or sources are missing.
            ModelError: the model array does not match ``tinyslm.json`` or TFLM refuses it.
            ToolchainError: the host compiler is missing or fails.
        """
        self.project, self.manifest = keyword_project(project_dir)
        self.lib_path = build_keyword_library(self.project)
        lib = ctypes.CDLL(str(self.lib_path))
        self._lib = lib
        for name, restype in (
            ("tinyslm_kws_emu_features", ctypes.c_uint32),
            ("tinyslm_kws_emu_frames", ctypes.c_uint32),
            ("tinyslm_kws_emu_num_labels", ctypes.c_uint32),
            ("tinyslm_kws_emu_model_sha256", ctypes.c_char_p),
            ("tinyslm_kws_emu_heard", ctypes.c_uint32),
            ("tinyslm_kws_emu_bad_heard", ctypes.c_uint32),
            ("tinyslm_kws_emu_threshold_milli", ctypes.c_uint32),
            ("tinyslm_kws_emu_average", ctypes.c_uint32),
            ("tinyslm_kws_emu_stride_frames", ctypes.c_uint32),
            ("tinyslm_kws_emu_suppression_ms", ctypes.c_uint32),
            ("tinyslm_kws_emu_non_keyword_mask", ctypes.c_uint32),
        ):
            getattr(lib, name).restype = restype
            getattr(lib, name).argtypes = []
        lib.tinyslm_kws_emu_threshold_q.restype = ctypes.c_int32
        lib.tinyslm_kws_emu_threshold_q.argtypes = [ctypes.c_uint32]
        lib.tinyslm_kws_emu_init.restype = ctypes.c_int
        lib.tinyslm_kws_emu_init.argtypes = [_INFER_FN, _WRITE_FN, _CLOCK_FN]
        lib.tinyslm_kws_emu_feed.restype = None
        lib.tinyslm_kws_emu_feed.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        self.features = int(lib.tinyslm_kws_emu_features())
        self.frames = int(lib.tinyslm_kws_emu_frames())
        self.num_labels = int(lib.tinyslm_kws_emu_num_labels())
        self._model = load_compiled_model(
            self.project,
            lib,
            lib.tinyslm_kws_emu_model_sha256(),
            (self.features, self.num_labels),
            f"{self.features} features, {self.num_labels} labels",
        )
        self.arena_size, self.model_bytes = self._model.arena_size, self._model.model_bytes
        # The detector's levels as compiled: a hand-edited TINYSLM_THRESHOLD_Q (or table of
        # own levels) ran at the edited level while the figures named the manifest's.
        check_thresholds(
            self.project,
            [int(lib.tinyslm_kws_emu_threshold_q(i)) for i in range(self.num_labels)],
            int(lib.tinyslm_kws_emu_threshold_q(self.num_labels)),
        )
        check_rule_settings(
            self.project,
            {name: int(getattr(lib, f"tinyslm_kws_emu_{name}")()) for name in _RULE_SETTINGS},
        )
        self._out = bytearray()
        self.memo: ScoreMemo = memo if memo is not None else {}
        self.memo_hits = 0
        self.last_exception: BaseException | None = None
        self._inference_ns = 0  # host time spent in inferences that ran (the app's clock)
        self._callbacks = (
            _INFER_FN(self._infer),
            _WRITE_FN(self._write),
            _CLOCK_FN(self._clock_us),
        )
        if lib.tinyslm_kws_emu_init(*self._callbacks) != 0:
            raise ProjectError(
                f"{self.project.root}: the keyword app refused the generated settings"
            )

    def _infer(self, features: Any, n: int, scores: Any, _ctx: Any) -> int:
        if interrupted(self):
            return 12  # the rest of the chunk fails fast (and no later error hides the interrupt)
        try:
            if n != self.features:
                return 11  # TINYSLM_TFLM_ERR_ARGS, as the C adapter answers
            arr = np.ctypeslib.as_array(features, shape=(n,)).astype(np.int8)
            known = self.memo.get(arr.tobytes())
            if known is not None:
                self.memo_hits += 1
                ctypes.memmove(scores, known, self.num_labels)
                return 0
            start = time.monotonic_ns()
            out = self._model.scores(arr)
            ctypes.memmove(scores, out.ctypes.data, self.num_labels)
            self._inference_ns += time.monotonic_ns() - start
            return 0
        except BaseException as exc:  # an exception must not unwind through C
            self.last_exception = exc
            return 12  # TINYSLM_TFLM_ERR_INVOKE

    def _clock_us(self, _ctx: Any) -> int:
        """The app's microsecond clock: it moves only while an inference really runs, so
        a detection's ``us`` is that inference's host time, 0 for one from the memo."""
        return (self._inference_ns // 1000) & 0xFFFFFFFF

    def _write(self, data: Any, length: int, _ctx: Any) -> None:
        self._out += ctypes.string_at(data, length)

    def feed(self, data: bytes) -> list[str]:
        """Feed raw serial bytes; return the device lines completed meanwhile (no newline)."""
        calls = self._lib.tinyslm_kws_emu_heard, self._lib.tinyslm_kws_emu_bad_heard
        before = [int(f()) for f in calls]
        self._lib.tinyslm_kws_emu_feed(data, len(data))
        reraise_interrupt(self)
        hooked, bad = (int(f()) - b for f, b in zip(calls, before, strict=True))
        if b"\n" not in self._out:
            lines: list[str] = []
        else:
            done, _, rest = bytes(self._out).rpartition(b"\n")
            self._out = bytearray(rest)
            lines = [line.decode("utf-8", "replace") for line in done.split(b"\n")]
        check_hook_calls(self.project.root, (hooked, bad), lines, "keyword")
        return lines


# Compiled value -> (where it is set, its name there, the manifest's name for it).
_RULE_SETTINGS = {
    "threshold_milli": ("tinyslm_settings.c", "threshold_milli", "threshold"),
    "average": ("tinyslm_settings.h", "TINYSLM_KWS_AVERAGE", "average"),
    "stride_frames": ("tinyslm_settings.h", "TINYSLM_KWS_MODEL_STRIDE_FRAMES", "stride_frames"),
    "suppression_ms": ("tinyslm_settings.h", "TINYSLM_KWS_SUPPRESSION_MS", "suppression_ms"),
    "non_keyword_mask": ("tinyslm_settings.c", "non_keyword_mask", "non-keyword labels' mask"),
}


def check_rule_settings(project: Project, compiled: dict[str, int]) -> None:
    """The compiled streaming rule (``average``, ``stride_frames``, ``suppression_ms``, the
    labels that never fire) and the threshold ``:info`` prints (``threshold_milli``) are
    the manifest's.

    The levels are checked by :func:`check_thresholds`; these were not, so a hand-edited
    ``threshold_milli`` made ``:info`` misreport the level the detector runs at, and an
    edited ``TINYSLM_KWS_AVERAGE`` showed only as a parity difference naming no file.

    Raises:
        ModelError: naming the settings file, the value compiled and the manifest's.
    """
    from tinyslm.emulate.emulator import first_setting_difference
    from tinyslm.errors import ModelError
    from tinyslm.manifest import threshold_milli

    manifest = project.manifest
    if manifest is None or not isinstance(manifest.features, KeywordSpec):
        return
    spec = manifest.features
    want = {
        "threshold_milli": threshold_milli(manifest.threshold),
        "average": spec.average,
        "stride_frames": spec.stride_frames,
        "suppression_ms": spec.suppression_ms,
        # Labels that never fire (silence, unknown); an edited mask let _unknown_ fire.
        "non_keyword_mask": sum(1 << i for i in set(spec.non_keywords)),
    }
    diff = first_setting_difference(_RULE_SETTINGS, compiled, want)
    if diff is None:
        return
    name, theirs, got, expected = diff.name, diff.theirs, diff.got, diff.expected
    if diff.key == "threshold_milli":
        detail = (
            f"{name} {got} does not match tinyslm.json's {theirs} {expected / 1000:.3f}"
            f" (the settings were edited: :info would report {got / 1000:.3f} while the"
            f" detector runs at {expected / 1000:.3f}; regenerate the project, with"
            " --threshold for another level)"
        )
    else:
        # The rule is the model's (train --stride-ms/--average); the mask is its labels'.
        how = "" if diff.key == "non_keyword_mask" else ", or train with another rule"
        detail = (
            f"{name} {got} does not match tinyslm.json's {theirs} {expected} (the settings"
            f" were edited; regenerate the project{how})"
        )
    raise ModelError(f"{project.src / diff.file}: {detail}")


def emulator_stream_runner(emu: KeywordEmulator) -> StreamRunner:
    """A :data:`StreamRunner` over the host emulator (4 KiB serial chunks)."""

    def run(data: bytes) -> list[str]:
        out: list[str] = []
        for at in range(0, len(data), 4096):
            out += emu.feed(data[at : at + 4096])
        return out

    return run


def native_stream_runner(binary: Path, timeout: float = RUN_TIMEOUT_S) -> StreamRunner:
    """A :data:`StreamRunner` over a native keyword firmware (stdin in, stdout out)."""
    from tinyslm.emulate.native import run_binary

    def run(data: bytes) -> list[str]:
        return run_binary(binary, data, timeout)

    return run


def qemu_stream_runner(image: Path, timeout: float = RUN_TIMEOUT_S) -> StreamRunner:
    """A :data:`StreamRunner` over a Cortex-M7 keyword image under QEMU (semihosted input)."""
    from tinyslm.emulate import qemu

    def run(data: bytes) -> list[str]:
        # run_image ends the input with "\n", which the app ignores between frames.
        return qemu.run_image(image, [data], timeout=timeout)

    return run


# --------------------------------------------------------------------------------------
# Device lines and the Python reference.


@dataclass(frozen=True)
class DeviceDetection:
    """One detection line of the device."""

    keyword: str
    score_milli: int
    t_ms: int
    us: int


@dataclass(frozen=True)
class DeviceStream:
    """The device's answer to one stream: its detections, other lines, the end counters."""

    detections: tuple[DeviceDetection, ...]
    errors: tuple[str, ...]
    end: dict[str, int] | None


def parse_lines(lines: Sequence[str]) -> DeviceStream:
    """Split the device's lines into detections, error lines and the END counters."""
    found: list[DeviceDetection] = []
    errors: list[str] = []
    end: dict[str, int] | None = None
    for line in lines:
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            errors.append(line)
            continue
        if isinstance(obj, dict) and "keyword" in obj:
            milli = round(float(obj["score"]) * 1000)
            found.append(
                DeviceDetection(str(obj["keyword"]), milli, int(obj["t_ms"]), int(obj["us"]))
            )
        elif isinstance(obj, dict) and isinstance(obj.get("end"), dict):
            end = {str(k): int(v) for k, v in obj["end"].items()}
        else:
            errors.append(line)
    return DeviceStream(tuple(found), tuple(errors), end)


def _key(d: DeviceDetection) -> tuple[str, int, int]:
    return (d.keyword, d.t_ms, d.score_milli)


def reference_keys(
    detections: Sequence[Detection], labels: Sequence[str]
) -> list[tuple[str, int, int]]:
    """(keyword, t_ms, score_milli) of the Python reference's detections."""
    return [(labels[d.label], d.t_ms, d.score_milli) for d in detections]


def model_predict(
    manifest: Manifest, model: bytes, memo: ScoreMemo | None = None
) -> Callable[[Int8Array], Int8Array]:
    """stream.py's batch ``predict``: the model on TFLM's Python runtime; every window
    and its scores are recorded in ``memo`` when given (see :class:`KeywordEmulator`)."""
    from tinyslm.audio.train import tflm_predict

    arena = max(manifest.arena_bytes * 2, 64 * 1024)

    def predict(windows: Int8Array) -> Int8Array:
        scores = tflm_predict(model, windows, arena)
        if memo is not None:
            for window, row in zip(windows, scores, strict=True):
                memo[np.ascontiguousarray(window, dtype=np.int8).tobytes()] = row.tobytes()
        return scores

    return predict


@dataclass(frozen=True)
class StreamParity:
    """A device stream next to the Python reference on the same samples.

    ``matching``: device detections identical (label, t_ms, score) to the reference's,
    position by position; ``device`` / ``reference``: detections each made.
    """

    device: int
    reference: int
    matching: int
    errors: tuple[str, ...]

    @property
    def identical(self) -> bool:
        return self.device == self.reference == self.matching and not self.errors


def compare(device: DeviceStream, reference: Sequence[tuple[str, int, int]]) -> StreamParity:
    """Position-by-position comparison of a device stream with the reference's detections."""
    dev = [_key(d) for d in device.detections]
    matching = sum(1 for a, b in zip(dev, reference, strict=False) if a == b)
    return StreamParity(len(dev), len(reference), matching, device.errors)


# --------------------------------------------------------------------------------------
# One recording.


@dataclass(frozen=True)
class WavRun:
    """A recording through the device, with the reference's verdict."""

    lines: tuple[str, ...]
    stream: DeviceStream
    parity: StreamParity
    seconds: float


def run_wav(
    runner: StreamRunner,
    manifest: Manifest,
    model: bytes,
    samples: Int16Array,
    memo: ScoreMemo | None = None,
) -> WavRun:
    """Stream ``samples`` through ``runner`` and compare with :func:`listen` on them
    (the reference runs first, filling ``memo``)."""
    spec = stream_spec(manifest)
    ref = listen(samples, spec, model_predict(manifest, model, memo))
    lines = runner(stream_bytes(samples))
    device = parse_lines(lines)
    parity = compare(device, reference_keys(ref.detections, manifest.labels))
    return WavRun(tuple(lines), device, parity, len(samples) / spec.frontend.sample_rate)


# --------------------------------------------------------------------------------------
# A dataset split, as stream_figures lays it out.


@dataclass(frozen=True)
class KeywordDataConfig:
    """A keyword dataset's split streamed through the device.

    Attributes:
        data: a keyword dataset (Speech Commands folder, or a CSV/JSONL list).
        split: ``train``, ``val``, ``test`` or ``all`` (every clip, whole recordings).
        protocol: stream layout and hit matching (:class:`StreamProtocol`).
    """

    data: Path
    split: str = "test"
    protocol: StreamProtocol = field(default_factory=StreamProtocol)


@dataclass(frozen=True)
class KeywordDataResult:
    """Figures of the device's detections on one split, and parity with the reference.

    ``figures`` are the device's (same layout and matching as ``verify``'s);
    ``parity_streams`` counts streams whose detections are identical to the
    reference's; ``parity_detections`` the device detections identical to it.
    """

    source: str
    split: str
    figures: StreamFigures
    streams: int
    parity_streams: int
    device_detections: int
    reference_detections: int
    parity_detections: int
    errors: tuple[str, ...]
    labels: tuple[str, ...]
    # Keywords with a level of their own (generate --label-threshold): (label, level).
    own_levels: tuple[tuple[str, int], ...] = ()
    # What eval warns about the same data and split (tinyslm.audio.evaluate.keyword_warnings).
    warnings: tuple[str, ...] = ()

    @property
    def detection_rate(self) -> float:
        """Keyword clips detected (hits / clips, 1 - the false-rejection rate); NaN where
        there is no keyword clip or the keyword stream is too short for the rule to fire
        (its misses measure nothing, as :attr:`StreamFigures.false_rejection_rate`)."""
        f = self.figures
        if not f.keywords_counted:
            return float("nan")
        return f.keyword_hits / f.keyword_clips

    @property
    def stream_seconds(self) -> float:
        """The audio streamed (every stream's), not a time the run took."""
        f = self.figures
        return f.noise_seconds + f.unknown_seconds + f.keyword_seconds

    @property
    def fa_seconds(self) -> float:
        """The seconds :attr:`fa_per_hour` divides by: the streams the rule could fire on."""
        return sum((seconds for seconds, _ in self.figures.firing()), 0.0)

    @property
    def false_accepts(self) -> int:
        """False accepts on the streams the rule could fire on."""
        return sum(count for _, count in self.figures.firing())

    @property
    def fa_per_hour(self) -> float:
        """NaN (``n/a``, null) where no stream could fire: 0 per hour read as measured."""
        seconds = self.fa_seconds
        return self.false_accepts * 3600.0 / seconds if seconds > 0 else float("nan")

    def summary(self) -> dict[str, Any]:
        """The figures as JSON-ready values (``errors`` a count, as text emulate's)."""
        f = self.figures
        measured_fa = self.fa_seconds > 0
        # Counts of a stream the rule cannot fire on (or of none) measure nothing: the
        # text says n/a, so null (not 0).
        counts = f.counts()
        return {
            # As text emulate's: an undecodable byte as the shell shows it ('\xff').
            "source": one_line(self.source),
            "split": self.split,
            "keyword_clips": f.keyword_clips,
            "keyword_hits": counts.keyword_hits,
            "detection_rate": measured(self.detection_rate, 5),
            "false_rejection_rate": measured(f.false_rejection_rate, 5),
            "false_accepts": self.false_accepts if measured_fa else None,
            "fa_seconds": round(self.fa_seconds, 1),
            "fa_per_hour": measured(self.fa_per_hour, 2),
            "stream_seconds": round(self.stream_seconds, 1),
            "noise_seconds": round(f.noise_seconds, 1),
            "noise_false_accepts": counts.noise_false_accepts,
            "unknown_seconds": round(f.unknown_seconds, 1),
            "unknown_false_accepts": counts.unknown_false_accepts,
            "keyword_seconds": round(f.keyword_seconds, 1),
            "keyword_false_accepts": counts.keyword_false_accepts,
            "per_keyword": {
                self.labels[label]: {"clips": clips, "hits": hits}
                for label, clips, hits in counts.per_label
            },
            "threshold_q": f.threshold_q,
            "label_thresholds_q": dict(self.own_levels),
            "streams": self.streams,
            "parity_streams": self.parity_streams,
            "device_detections": self.device_detections,
            "reference_detections": self.reference_detections,
            "parity_detections": self.parity_detections,
            "errors": len(self.errors),
            "error_lines": list(self.errors),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class KeywordSplit:
    """A keyword dataset read for ``emulate --data`` (:func:`load_keyword_data`).

    Attributes:
        dataset: with the model's labels (label indices are the model's) and its
            clips the streams take (those of the model's labels, and ``_unknown_``).
        split: the name of the split to stream (``test`` for ``all``).
        warnings: eval's warnings about the same data and split.
    """

    dataset: Any
    split: str
    warnings: tuple[str, ...]


def load_keyword_data(data: Path, manifest: Manifest, split: str) -> KeywordSplit:
    """The dataset at ``data`` read as ``tinyslm eval`` reads it
    (:func:`tinyslm.audio.evaluate.load_for_model`: no training label rules, words the
    model lacks folded into ``_unknown_``, ``all`` as one split), with eval's warnings
    about it (emulate dropped them: a capped ``_unknown_``, clips of a class the model
    lacks, a split's share of the background audio).

    Raises:
        DatasetError: unusable dataset, unknown split, one with neither clips nor background
            audio, words but none of the model's keywords, a keyword spelled otherwise; or
            nothing in the split to stream (every clip a ``_silence_`` one of a model
            without that class, and no background audio; ``_unknown_`` clips are streamed
            as unknown words whatever the model's outputs).
    """
    from tinyslm.audio.evaluate import (
        keyword_warnings,
        load_for_model,
        unanswerable_clips,
        with_model_labels,
    )

    dataset, split_name, _ = load_for_model(data, split, manifest, lambda _line: None)
    warnings = keyword_warnings(dataset, split, split_name, manifest, clips_scored=False)
    labels = tuple(manifest.labels)
    kept = with_model_labels(dataset, labels)
    if not kept.split(split_name) and not any(len(n.part(split_name)) for n in kept.noise):
        # eval still scores such clips (as wrong); the streams leave them out, so a run
        # would measure nothing: "0 streams, 0 s of audio" and a parity of 0/0. Only
        # _silence_ clips come here: _unknown_ ones are streamed (with_model_labels).
        clips = dataset.split(split_name)
        raise DatasetError(
            f"{data}: nothing to stream in split {split!r}: its {len(clips)} clip(s) are of"
            f" a class the model does not have ({unanswerable_clips(clips, labels)}), and the"
            " split has no background audio"
        )
    return KeywordSplit(kept, split_name, warnings)


def load_keyword_split(data: Path, manifest: Manifest, split: str) -> tuple[Any, str]:
    """:func:`load_keyword_data`'s dataset and split name (its warnings left out)."""
    loaded = load_keyword_data(data, manifest, split)
    return loaded.dataset, loaded.split


def run_keyword_data(
    runner: StreamRunner,
    manifest: Manifest,
    model: bytes,
    config: KeywordDataConfig,
    memo: ScoreMemo | None = None,
    loaded: KeywordSplit | None = None,
) -> KeywordDataResult:
    """Stream ``config.split`` through ``runner`` as ``stream_figures`` does: each background
    recording on its own, the unknown clips in a row, the keyword clips in a row; score the
    device's detections and compare every stream with :func:`listen` on the same samples.
    ``loaded``: ``config``'s data as :func:`load_keyword_data` read it (the caller read it
    before building the runner, so that bad data is refused first); read here when None.
    """
    from tinyslm.audio.dataset import SILENCE, UNKNOWN

    if loaded is None:
        loaded = load_keyword_data(config.data, manifest, config.split)
    dataset, split = loaded.dataset, loaded.split
    labels = tuple(manifest.labels)
    spec = stream_spec(manifest)
    rate = spec.frontend.sample_rate
    predict = model_predict(manifest, model, memo)
    protocol = config.protocol
    clips = dataset.split(split)
    noise = [np.asarray(n.part(split), dtype=np.int16) for n in dataset.noise]
    noise = [n for n in noise if len(n)]
    unknown = [c.samples for c in clips if c.label == UNKNOWN]
    keywords = [
        (labels.index(c.label), c.samples) for c in clips if c.label not in (SILENCE, UNKNOWN)
    ]
    streams: list[tuple[str, Int16Array]] = [("noise", n) for n in noise]
    unknown_stream = compose([(-1, c) for c in unknown], noise, protocol, rate)
    keyword_stream = compose(keywords, noise, protocol, rate)
    if unknown:
        streams.append(("unknown", unknown_stream.samples))
    if keywords:
        streams.append(("keywords", keyword_stream.samples))

    fa = {"noise": 0, "unknown": 0}
    keyword_dets: list[Detection] = []
    parity_streams = device_n = reference_n = matching = 0
    errors: list[str] = []
    index = {name: i for i, name in enumerate(labels)}
    heard: dict[str, list[StreamResult]] = {"noise": [], "unknown": []}
    for kind, samples in streams:
        ref = listen(samples, spec, predict)  # first: it fills ``memo``
        heard.setdefault(kind, []).append(ref)
        device = parse_lines(runner(stream_bytes(samples)))
        parity = compare(device, reference_keys(ref.detections, labels))
        parity_streams += parity.identical
        device_n += parity.device
        reference_n += parity.reference
        matching += parity.matching
        errors += [f"{kind}: {e}" for e in device.errors]
        if kind == "keywords":
            keyword_dets = [
                Detection(index[d.keyword], d.t_ms, 0, d.score_milli)
                for d in device.detections
                if d.keyword in index
            ]
        else:
            fa[kind] += len(device.detections)
    figures = figures_of(
        spec.detector,
        score_keywords(keyword_dets, keyword_stream.spans, protocol),
        noise=(sum(len(n) for n in noise) / rate, fa["noise"]),
        unknown=(unknown_stream.seconds if unknown else 0.0, fa["unknown"]),
        keyword_seconds=keyword_stream.seconds if keywords else 0.0,
        fires=(
            fires_on(spec.detector, heard["noise"]),
            fires_on(spec.detector, heard["unknown"]),
            fires_on(spec.detector, heard.get("keywords", [])),
        ),
    )
    return KeywordDataResult(
        source=str(dataset.source),
        split=config.split,
        figures=figures,
        streams=len(streams),
        parity_streams=parity_streams,
        device_detections=device_n,
        reference_detections=reference_n,
        parity_detections=matching,
        errors=tuple(errors),
        labels=labels,
        own_levels=tuple(
            (labels[i], q)
            for i, q in enumerate(spec.detector.label_thresholds_q)
            if q != spec.detector.threshold_q
        ),
        warnings=loaded.warnings,
    )


def format_data_result(result: KeywordDataResult, engine: str) -> str:
    """The figures as a few readable lines."""
    f = result.figures
    per = ", ".join(f"{result.labels[label]} {hits}/{clips}" for label, clips, hits in f.per_label)
    own = ", ".join(f"{label} {q}" for label, q in result.own_levels)
    # Percentages, as eval prints the same figures; n/a where the split has no keyword clip
    # (and no keyword stream whose false accepts a 0 would claim to count).
    # A keyword stream too short for the rule to fire detected nothing to count: its
    # hits are not shown as 0 of so many.
    if not f.keyword_clips:
        detected = "n/a (no keyword clips)"
    elif not f.keywords_fire:
        clips = _count(f.keyword_clips, "clip")
        detected = f"n/a: the keyword stream is too short for the rule to fire ({clips})"
    else:
        detected = (
            f"{figure_text(result.detection_rate, percent=True)}"
            f" ({f.keyword_hits}/{f.keyword_clips}): {per}"
        )
    return "\n".join(
        [
            f"{engine}: {one_line(result.source)} [{result.split}], "
            f"{_count(result.streams, 'stream')}, "
            f"{result.stream_seconds:.0f} s of audio, threshold_q {f.threshold_q}"
            + (f" (own: {own})" if own else ""),
            f"accuracy (keyword clips detected) {detected}",
            f"false-rejection rate {figure_text(f.false_rejection_rate, percent=True)}",
            _false_accepts_text(result),
            f"PARITY with verify's Python loop: {result.parity_streams}/{result.streams} streams "
            f"identical, {result.parity_detections}/{result.reference_detections} detections "
            f"identical (device made {result.device_detections})",
        ]
    )


def _false_accepts_text(result: KeywordDataResult) -> str:
    """The false-accepts line: counted over the streams the rule could fire on, each
    stream's count ``n/a`` where it could not (or there is none)."""
    f = result.figures
    counts = f.counts()

    def count(n: int | None) -> str:
        return "n/a" if n is None else str(n)

    parts = (
        f"(noise {count(counts.noise_false_accepts)},"
        f" unknown words {count(counts.unknown_false_accepts)},"
        f" keyword stream {count(counts.keyword_false_accepts)})"
    )
    if result.fa_seconds <= 0:
        heard = f.noise_seconds + f.unknown_seconds + (f.keyword_seconds if f.keyword_clips else 0)
        why = (
            "no audio to count them over"
            if heard <= 0
            else "no stream is long enough for the rule to fire"
        )
        return f"false accepts n/a per hour: {why} {parts}"
    return (
        f"false accepts {result.false_accepts} in {result.fa_seconds:.0f} s: "
        f"{figure_text(result.fa_per_hour)} per hour {parts}"
    )


def _count(n: int, noun: str) -> str:
    """``1 stream``, ``3 streams``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def data_parity_error(result: KeywordDataResult, engine: str) -> str | None:
    """The one error line for a split whose device detections (or lines) differ from
    verify's Python loop, else None."""
    if result.parity_streams == result.streams:
        return None
    first = ""
    if result.errors:
        line = result.errors[0]
        first = f"; first device error: {line[:80] + '...' if len(line) > 80 else line}"
    return (
        f"{engine}: {result.streams - result.parity_streams} of {result.streams} streams differ "
        f"from verify's Python loop ({result.parity_detections}/{result.reference_detections} "
        f"detections identical, device made {result.device_detections}){first}"
    )


def format_detection(d: DeviceDetection) -> str:
    """One detection as a readable row."""
    return f"{d.t_ms / 1000:9.3f} s  {d.keyword:<16} {d.score_milli / 1000:.3f}  {d.us:>7} us"


def keyword_runner(
    project_dir: Path,
    engine: str,
    workdir: Path,
    *,
    tflm_dir: Path | None = None,
    memo: ScoreMemo | None = None,
) -> StreamRunner:
    """A :data:`StreamRunner` for ``engine``: ``emulator`` (host library, TFLM's Python
    runtime), ``native`` (the whole firmware on the host) or ``qemu`` (Cortex-M7 under
    QEMU); firmware is built into ``workdir`` once, then run once per stream.

    Raises:
        ProjectError: not a keyword project.
        ModelError: the compiled model array or thresholds are not ``tinyslm.json``'s.
        ToolchainError: a missing tool or tree, or a failed build.
    """
    return keyword_builder(project_dir, engine, tflm_dir=tflm_dir, memo=memo)(workdir)


def keyword_builder(
    project_dir: Path,
    engine: str,
    *,
    tflm_dir: Path | None = None,
    memo: ScoreMemo | None = None,
) -> Callable[[Path], StreamRunner]:
    """:func:`keyword_runner` in two steps: the checks that take a second (the project,
    its compiled settings, the tools and the TFLM tree), done now, and the build (up to
    minutes for ``native`` and ``qemu``), done by the function returned, given the work
    folder. ``emulate --data`` reads its data between the two: a missing or empty DATA
    was refused only after the whole firmware was compiled and linked.

    Raises:
        ProjectError, ModelError, ToolchainError: as :func:`keyword_runner`, the build's
            own failures from the function returned.
    """
    keyword_project(project_dir)
    if engine in ("native", "qemu"):
        # Their builds compile the same settings: checked as the host emulator checks them.
        check_compiled_settings(project_dir)
    if engine == "native":
        from tinyslm.toolchain.host import build_native, resolve_host_tree

        host_tree = resolve_host_tree(tflm_dir)
        return lambda workdir: native_stream_runner(
            build_native(project_dir, host_tree, workdir / "firmware")
        )
    if engine == "qemu":
        from tinyslm.emulate.qemu import check_tools
        from tinyslm.toolchain.cortex_m import build_image, resolve_cortex_m_tree

        check_tools()
        m7_tree = resolve_cortex_m_tree(tflm_dir, project_dir)
        return lambda workdir: qemu_stream_runner(
            build_image(project_dir, m7_tree, workdir / "firmware.elf")
        )
    if engine != "emulator":
        raise ValueError(f"unknown engine {engine!r}")
    return lambda _workdir: emulator_stream_runner(KeywordEmulator(project_dir, memo))


# --------------------------------------------------------------------------------------
# Instructions per second of audio on Cortex-M7 (QEMU, -icount shift=0).


@dataclass(frozen=True)
class ListenMeasure:
    """The microphone path (front end + inference + detector) of a keyword image on QEMU.

    Instruction figures are SysTick ticks x 40 (see :mod:`tinyslm.emulate.qemu`):
    ``total`` inside ``tinyslm_kws_app_feed_samples``, ``inference`` inside the TFLM
    adapter; the front end, feature window and detector are the difference.
    """

    samples: int
    inferences: int
    total: int
    inference: int
    lines: tuple[str, ...]
    sample_rate: int = 16000

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate

    @property
    def per_second(self) -> float:
        """Instructions per second of audio."""
        return self.total / self.seconds

    @property
    def inference_per_second(self) -> float:
        return self.inference / self.seconds

    @property
    def other_per_second(self) -> float:
        """Front end + feature window + detector, per second of audio."""
        return (self.total - self.inference) / self.seconds

    def duty_cycle(self, hz: float = 480e6) -> float:
        """Share of a core at ``hz`` that retires one instruction per cycle."""
        return self.per_second / hz


def measure_listen(
    image: Path, samples: Int16Array, timeout: float = RUN_TIMEOUT_S
) -> ListenMeasure:
    """Run raw PCM through a keyword image's microphone path under QEMU and count.

    Raises:
        ToolchainError: QEMU failed, or its instruction counting is not as assumed.
    """
    from tinyslm.emulate import qemu
    from tinyslm.emulate.native import device_lines

    qemu.check_tools()
    command = qemu.qemu_command(Path(image).resolve())
    at = command.index("-semihosting-config") + 1
    command[at] += ",arg=listen"
    with tempfile.TemporaryDirectory(prefix="tinyslm-qemu-listen-") as tmp:
        work = Path(tmp)
        (work / qemu.INPUT_NAME).write_bytes(np.asarray(samples, dtype="<i2").tobytes())
        try:
            proc = subprocess.run(
                command, cwd=work, stdin=subprocess.DEVNULL, capture_output=True,
                timeout=timeout, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise ToolchainError(
                f"the firmware under QEMU did not finish within {timeout:.0f} s"
            ) from exc
        out = device_lines((work / qemu.OUTPUT_NAME).read_bytes())
        uart1 = work / qemu.MEASURE_NAME
        measured = device_lines(uart1.read_bytes()) if uart1.is_file() else []
    if proc.returncode != 0:
        last = out[-1] if out else output_tail(proc.stderr, 2)
        raise ToolchainError(
            f"the firmware under QEMU exited with status {proc.returncode}: {last}"
        )
    records = [json.loads(line) for line in measured]
    if len(records) != 2 or "calibration" not in records[0] or "listen" not in records[1]:
        raise ToolchainError(f"unexpected measurement lines from the firmware: {measured[:3]}")
    cal = records[0]["calibration"]
    if not cal["ticks"] or round(cal["instructions"] / cal["ticks"]) != qemu.INSTRUCTIONS_PER_TICK:
        raise ToolchainError(
            f"QEMU ran {cal['instructions']} instructions in {cal['ticks']} SysTick ticks, not "
            f"{qemu.INSTRUCTIONS_PER_TICK} per tick: is -icount shift=0 in effect?"
        )
    rec = records[1]["listen"]
    per_tick = qemu.INSTRUCTIONS_PER_TICK
    return ListenMeasure(
        samples=int(rec["samples"]),
        inferences=int(rec["inferences"]),
        total=int(rec["total"]) * per_tick,
        inference=int(rec["inference"]) * per_tick,
        lines=tuple(out),
    )
