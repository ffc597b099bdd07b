"""Run a generated project's firmware core in this process, TFLM's Python runtime behind it.

:func:`tinyslm.emulate.library.build_library` builds the project's C core into a
shared library; :class:`Emulator` loads it with ctypes and plugs a
``tflite_micro.runtime.Interpreter`` in as the core's inference callback.
Everything the device decides (tokenizer, settings, model array, confidence gate,
JSON output) therefore comes from the generated C; only the TFLM kernels and the
serial port are stand-ins.

The model bytes and the arena size are read from the library, never from
``model.tflite``, and the bytes must match the sha256 recorded in the
project's ``tinyslm.json``: an edited or corrupted model array is refused.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tinyslm.emulate.coverage import CoverageResult, gcov_line_coverage
from tinyslm.emulate.library import build_library
from tinyslm.errors import ModelError, ProjectError, ToolchainError
from tinyslm.manifest import sha256_hex
from tinyslm.project import Project, open_project, read_model_bytes

_INFER_FN = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int8), ctypes.c_void_p
)
_WRITE_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.c_void_p)
_CLOCK_FN = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)


def compiled_model(lib: ctypes.CDLL, project: Project) -> tuple[int, bytes]:
    """``(arena size, model bytes)`` from the generated symbols (C linkage, per
    docs/architecture.md) of a compiled project library.

    Raises:
        ProjectError: a generated symbol is missing (named by its source file when that
            file lost the model array).
    """
    try:
        arena_size = int(ctypes.c_uint32.in_dll(lib, "tinyslm_arena_size").value)
        n = int(ctypes.c_uint.in_dll(lib, "tinyslm_model_data_len").value)
        model_bytes = bytes((ctypes.c_ubyte * n).in_dll(lib, "tinyslm_model_data"))
    except ValueError as exc:  # ctypes: symbol not found
        # An emptied or truncated src/tinyslm_model_data.cc compiles, and then surfaced
        # as an undefined symbol of a cached library; the file itself is named instead.
        read_model_bytes(project)
        raise ProjectError(f"{project.root}: generated symbol missing: {exc}") from None
    return arena_size, model_bytes


def check_model(project: Project, model_bytes: bytes, compiled_sha: bytes | None) -> None:
    """The compiled model array is the project's (tinyslm.json) and the settings' model.

    Raises:
        ModelError: the model array or the settings were edited or corrupted.
    """
    digest = sha256_hex(model_bytes)
    if digest != project.model_sha256:
        raise ModelError(
            f"{project.src / 'tinyslm_model_data.cc'}: model sha256 {digest[:12]}... does not "
            f"match tinyslm.json {project.model_sha256[:12]}... (the model array was edited or "
            "corrupted; regenerate the project)"
        )
    if compiled_sha is not None and compiled_sha.decode("ascii", "replace") != digest:
        raise ModelError(
            f"{project.src / 'tinyslm_settings.c'}: model sha256 in the settings "
            "does not match the model array (regenerate the project)"
        )


def check_thresholds(project: Project, compiled: Sequence[int], base: int) -> None:
    """The compiled levels of the confidence gate are the manifest's (``tinyslm.json``).

    ``compiled`` is the level each label is compared with (its own, or ``threshold_q``)
    and ``base`` the settings' ``threshold_q``, read from the compiled settings. A project
    without a manifest copy (an older one) has nothing to compare with.

    Raises:
        ModelError: naming the settings file, the compiled level and the manifest's.
    """
    manifest = project.manifest
    if manifest is None:
        return
    settings = project.src / "tinyslm_settings.h"
    if base != manifest.threshold_q:
        raise ModelError(
            f"{settings}: TINYSLM_THRESHOLD_Q {base} does not match tinyslm.json's threshold_q "
            f"{manifest.threshold_q} (the settings were edited; regenerate the project, "
            "with --threshold for another level)"
        )
    want = manifest.thresholds_q()
    for label, got, level in zip(manifest.labels, compiled, want, strict=False):
        if got != level:
            raise ModelError(
                f"{project.src / 'tinyslm_settings.c'}: threshold_q {got} of {label!r} does not "
                f"match tinyslm.json's {level} (the settings were edited; regenerate the "
                "project, with --label-threshold for a level of its own)"
            )


class CompiledFeatures(ctypes.Structure):
    """``tinyslm_features_t`` (firmware/text/tinyslm_tokenizer.h). The one ctypes mirror of
    it: the host tests' harness (tests/host/core_harness.py) builds on it, and its size test
    holds it to the C header."""

    _fields_ = (
        ("buckets", ctypes.c_uint32),
        ("seq_len", ctypes.c_uint32),
        ("unigrams", ctypes.c_uint8),
        ("bigrams", ctypes.c_uint8),
        ("char_trigrams", ctypes.c_uint8),
        ("hashes", ctypes.c_uint8),
    )


class CompiledInfoHead(ctypes.Structure):
    """The head of ``tinyslm_model_info_t`` (firmware/text/tinyslm_core.h), the fields
    every text project has had since the first one (later ones were appended), so that
    the exported ``tinyslm_model_info`` reads the same way from any project. The host tests'
    harness appends the later fields to these, so its size test against the C header holds
    this head to it too."""

    _fields_ = (
        ("features", CompiledFeatures),
        ("labels", ctypes.POINTER(ctypes.c_char_p)),
        ("num_labels", ctypes.c_uint32),
        ("score_scale", ctypes.c_float),
        ("score_zero_point", ctypes.c_int32),
        ("threshold_q", ctypes.c_int32),
        ("threshold_milli", ctypes.c_uint32),
    )


@dataclass(frozen=True)
class SettingDifference:
    """A compiled setting that is not the manifest's: where it is set (``file``), its name
    there, the manifest's name for it (``theirs``), the compiled value and the manifest's."""

    key: str
    file: str
    name: str
    theirs: str
    got: Any
    expected: Any


def first_setting_difference(
    table: Mapping[str, tuple[str, str, str]],
    compiled: Mapping[str, Any],
    want: Mapping[str, Any],
) -> SettingDifference | None:
    """The first of ``table``'s settings (in its order) whose compiled value is not the
    manifest's, else None.

    ``table`` maps a compiled value's key to (where it is set, its name there, the
    manifest's name for it). Shared by the text and the keyword settings checks, which
    each keep their own message.
    """
    for key, (file, name, theirs) in table.items():
        if compiled[key] != want[key]:
            return SettingDifference(key, file, name, theirs, compiled[key], want[key])
    return None


# Compiled value -> (where it is set, its name there, the manifest's name for it).
_TEXT_SETTINGS = {
    "buckets": ("tinyslm_settings.h", "TINYSLM_BUCKETS", "buckets"),
    "seq_len": ("tinyslm_settings.h", "TINYSLM_SEQ_LEN", "seq_len"),
    "num_labels": ("tinyslm_settings.h", "TINYSLM_NUM_LABELS", "number of labels"),
    "info_num_labels": ("tinyslm_settings.c", "num_labels", "number of labels"),
    "unigrams": ("tinyslm_settings.c", "unigrams", "unigrams"),
    "bigrams": ("tinyslm_settings.c", "bigrams", "bigrams"),
    "char_trigrams": ("tinyslm_settings.c", "char_trigrams", "char_trigrams"),
    "hashes": ("tinyslm_settings.c", "hashes", "hashes"),
    "score_scale": ("tinyslm_settings.c", "score_scale", "output scale"),
    "score_zero_point": ("tinyslm_settings.c", "score_zero_point", "output zero point"),
    "threshold_milli": ("tinyslm_settings.c", "threshold_milli", "threshold in thousandths"),
}


def compiled_text_settings(lib: ctypes.CDLL, array_labels: int) -> dict[str, Any]:
    """The tokenizer's spec, the labels, the score quantization and ``:info``'s threshold
    as a compiled text library holds them (its exported ``tinyslm_model_info``).

    ``array_labels`` is ``TINYSLM_NUM_LABELS``, the size of the names array: no more
    names are read than it holds, whatever an edited ``.num_labels`` says.
    """
    info = CompiledInfoHead.in_dll(lib, "tinyslm_model_info")
    spec = info.features
    names = min(int(info.num_labels), array_labels) if info.labels else 0
    return {
        "buckets": int(spec.buckets),
        "seq_len": int(spec.seq_len),
        "num_labels": array_labels,
        "info_num_labels": int(info.num_labels),
        "unigrams": int(spec.unigrams),
        "bigrams": int(spec.bigrams),
        "char_trigrams": int(spec.char_trigrams),
        # A project from before the option leaves it 0, which the tokenizer takes as 1.
        "hashes": max(1, int(spec.hashes)),
        # Shortest text of the float32 (0.0039, not 0.0038999998942017555) for messages.
        "score_scale": np.float32(info.score_scale),
        "score_zero_point": int(info.score_zero_point),
        "threshold_milli": int(info.threshold_milli),
        "labels": [info.labels[i] or b"" for i in range(names)],
    }


def check_text_settings(project: Project, compiled: dict[str, Any], max_line: int) -> None:
    """The compiled tokenizer, labels, score quantization, ``:info``'s threshold and line
    limit are the ones generate writes for the manifest (``tinyslm.json``).

    :func:`check_thresholds` covers the gate's levels; these were not checked, so an
    edited ``TINYSLM_BUCKETS`` answered every phrase wrongly (exit 0) and an edited
    ``TINYSLM_MAX_LINE`` refused lines the board takes. A project without a manifest
    copy (an older one) has nothing to compare with.

    Raises:
        ModelError: naming the settings file, the value compiled and the manifest's.
    """
    from tinyslm.manifest import threshold_milli
    from tinyslm.project import generated_line_limit
    from tinyslm.text.features import FeatureSpec

    manifest = project.manifest
    if manifest is None or not isinstance(manifest.features, FeatureSpec):
        return
    spec, q = manifest.features, manifest.output_quant
    want: dict[str, Any] = {
        "buckets": spec.buckets,
        "seq_len": spec.seq_len,
        "num_labels": len(manifest.labels),
        "info_num_labels": len(manifest.labels),
        "unigrams": int(spec.unigrams),
        "bigrams": int(spec.bigrams),
        "char_trigrams": int(spec.char_trigrams),
        "hashes": spec.hashes,
        # The settings hold it as a float32 (c_float.f literal), compared as one.
        "score_scale": np.float32(q.scale),
        "score_zero_point": q.zero_point,
        "threshold_milli": threshold_milli(manifest.threshold),
    }
    regenerate = "the settings were edited; regenerate the project"
    diff = first_setting_difference(_TEXT_SETTINGS, compiled, want)
    if diff is not None:
        raise ModelError(
            f"{project.src / diff.file}: {diff.name} {diff.got!s} does not match tinyslm.json's "
            f"{diff.theirs} {diff.expected!s} ({regenerate})"
        )
    labels = [label.encode("utf-8") for label in manifest.labels]
    for index, (got, label) in enumerate(zip(compiled["labels"], labels, strict=False)):
        if got != label:
            raise ModelError(
                f"{project.src / 'tinyslm_settings.c'}: label {index} "
                f"{got.decode('utf-8', 'replace')!r} does not match tinyslm.json's "
                f"{label.decode('utf-8')!r} ({regenerate})"
            )
    line, what = generated_line_limit(project, manifest)
    if max_line != line:
        raise ModelError(
            f"{project.src / 'tinyslm_settings.h'}: TINYSLM_MAX_LINE {max_line} does not "
            f"match {what} {line} ({regenerate})"
        )


def check_compiled_settings(project_dir: Path | str) -> None:
    """Before a ``--native`` or ``--qemu`` run: the project's compiled settings (model
    array, arena, thresholds; a text project's tokenizer, labels, score quantization and
    line limit) checked as the host emulator checks them, on the same sources built for
    the host (cached).

    Those builds compile the same ``src/tinyslm_settings.{h,c}`` but read nothing back,
    so a hand-edited threshold was run at the edited level, unnamed.

    Raises:
        ProjectError, ModelError, ToolchainError: as :class:`Emulator` (or the keyword
            emulator) raises them.
    """
    from tinyslm.emulate.keywords import KeywordEmulator, is_keyword_project

    if is_keyword_project(project_dir):
        KeywordEmulator(project_dir)
    else:
        Emulator(project_dir).close()


def check_arena(project: Project, model_bytes: bytes, arena_size: int) -> None:
    """The compiled ``TINYSLM_ARENA_SIZE`` can hold the model on this machine's TFLM.

    TFLM's Python runtime crashes the process (a segfault, not an error) on an arena too
    small for its own bookkeeping, and a hand-edited ``src/tinyslm_settings.h`` gave it
    one. Below the arena the model was measured to need (``tinyslm.json``'s manifest; a
    probe in a child process without one) it could not run here anyway.

    Raises:
        ModelError: naming the header, the compiled size and what the model needs.
    """
    from tinyslm.tflm_runtime import ARENA_SEARCH_MAX, arena_fits

    header = project.src / "tinyslm_settings.h"
    needed = project.manifest.arena_bytes if project.manifest is not None else None
    if arena_size > ARENA_SEARCH_MAX:
        raise ModelError(
            f"{header}: TINYSLM_ARENA_SIZE {arena_size} is over {ARENA_SEARCH_MAX} bytes, "
            "more than any board has; regenerate the project"
        )
    if needed is not None and arena_size >= needed:
        return
    if needed is None and arena_fits(model_bytes, arena_size):
        return
    need = (
        f"the {needed} bytes the model was measured to need" if needed else "what the model needs"
    )
    raise ModelError(
        f"{header}: TINYSLM_ARENA_SIZE {arena_size} is below {need} on TFLM here; "
        "regenerate the project"
    )


def project_interpreter(
    project: Project,
    model_bytes: bytes,
    arena_size: int,
    sizes: tuple[int, int],
    settings: str,
) -> tuple[Any, tuple[int, ...]]:
    """TFLM's Python runtime on the project's model, and its input shape.

    ``sizes`` is the (input elements, labels) the compiled settings say; ``settings``
    names them for the message.

    Raises:
        ModelError: TFLM refuses the model, or its tensors are not the settings' sizes.
    """
    from tflite_micro import runtime

    try:
        interp = runtime.Interpreter.from_bytes(model_bytes, arena_size=arena_size)
        in_shape = tuple(int(x) for x in interp.get_input_details(0)["shape"])
        out_shape = tuple(int(x) for x in interp.get_output_details(0)["shape"])
    except (RuntimeError, ValueError, TypeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"{project.src / 'tinyslm_model_data.cc'}: TFLM refused the model: {first}"
        ) from None
    if (int(np.prod(in_shape)), int(np.prod(out_shape))) != sizes:
        raise ModelError(
            f"{project.root}: model tensors {in_shape} -> {out_shape} do not match the "
            f"settings ({settings}); regenerate"
        )
    return interp, in_shape


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """The model array a compiled project library carries, checked against the project
    and loaded on TFLM's Python runtime (the text and keyword emulators' inference)."""

    arena_size: int
    model_bytes: bytes
    interpreter: Any
    input_shape: tuple[int, ...]

    def scores(self, values: npt.NDArray[Any]) -> npt.NDArray[np.int8]:
        """The int8 output vector for one input (any shape with the input's elements)."""
        self.interpreter.set_input(values.reshape(self.input_shape), 0)
        self.interpreter.invoke()
        return np.ascontiguousarray(self.interpreter.get_output(0), dtype=np.int8).reshape(-1)


def load_compiled_model(
    project: Project,
    lib: ctypes.CDLL,
    compiled_sha: bytes | None,
    sizes: tuple[int, int],
    settings: str,
) -> CompiledModel:
    """:func:`compiled_model`, :func:`check_model` and :func:`project_interpreter` in turn.

    Raises:
        ProjectError: a generated symbol is missing.
        ModelError: the model was edited, TFLM refuses it, or its tensors are not the
            settings' ``sizes`` (named by ``settings`` in the message).
    """
    arena_size, model_bytes = compiled_model(lib, project)
    check_model(project, model_bytes, compiled_sha)
    check_arena(project, model_bytes, arena_size)
    interpreter, input_shape = project_interpreter(
        project, model_bytes, arena_size, sizes, settings
    )
    return CompiledModel(arena_size, model_bytes, interpreter, input_shape)


class Emulator:
    """The project's firmware core in this process, fed like a serial port.

    One instance per library at a time: the core's state lives in the
    library's statics, as on the board.
    """

    def __init__(
        self,
        project_dir: Path | str,
        *,
        coverage_dir: Path | None = None,
    ) -> None:
        """Build (or reuse) the library, check the model, create the interpreter.

        Args:
            project_dir: a ``tinyslm generate`` output folder.
            coverage_dir: build with gcov into this (empty) folder; see :meth:`coverage`.

        Raises:
            ProjectError: not a tinyslm project, or sources are missing.
            ModelError: the model array or a compiled setting does not match
                ``tinyslm.json``, or TFLM refuses the model.
            ToolchainError: the host compiler is missing or fails.
        """
        self.project = open_project(project_dir)
        self.coverage_dir = coverage_dir
        if coverage_dir is not None:
            coverage_dir.mkdir(parents=True, exist_ok=True)
        self.lib_path = build_library(
            self.project, coverage=coverage_dir is not None, object_dir=coverage_dir
        )
        lib = ctypes.CDLL(str(self.lib_path))
        self._lib = lib
        self._closed = False
        try:
            self._start(lib)
        except BaseException:
            # A coverage build's counters are written when the library is unloaded: left
            # loaded, gcov recreated the caller's removed coverage folder at exit.
            self.close()
            raise

    def _start(self, lib: ctypes.CDLL) -> None:
        for name, restype in (
            ("tinyslm_emu_seq_len", ctypes.c_uint32),
            ("tinyslm_emu_num_labels", ctypes.c_uint32),
            ("tinyslm_emu_max_line", ctypes.c_uint32),
            ("tinyslm_emu_model_sha256", ctypes.c_char_p),
            ("tinyslm_emu_answers", ctypes.c_uint32),
            ("tinyslm_emu_bad_answers", ctypes.c_uint32),
        ):
            getattr(lib, name).restype = restype
            getattr(lib, name).argtypes = []
        lib.tinyslm_emu_threshold_q.restype = ctypes.c_int32
        lib.tinyslm_emu_threshold_q.argtypes = [ctypes.c_uint32]
        lib.tinyslm_emu_init.restype = ctypes.c_int
        lib.tinyslm_emu_init.argtypes = [_INFER_FN, _WRITE_FN, _CLOCK_FN]
        lib.tinyslm_emu_feed.restype = None
        lib.tinyslm_emu_feed.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        lib.tinyslm_emu_tokenize.restype = ctypes.c_size_t
        lib.tinyslm_emu_tokenize.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_int32),
        ]

        self.seq_len = int(lib.tinyslm_emu_seq_len())
        self.num_labels = int(lib.tinyslm_emu_num_labels())
        self.max_line = int(lib.tinyslm_emu_max_line())
        # Before the model: an edited TINYSLM_SEQ_LEN is named, not shown as the model's
        # tensors disagreeing with "the settings".
        compiled = compiled_text_settings(lib, self.num_labels)
        check_text_settings(self.project, compiled, self.max_line)
        self._model = load_compiled_model(
            self.project,
            lib,
            lib.tinyslm_emu_model_sha256(),
            (self.seq_len, self.num_labels),
            f"seq_len {self.seq_len}, {self.num_labels} labels",
        )
        self.arena_size, self.model_bytes = self._model.arena_size, self._model.model_bytes
        check_thresholds(
            self.project,
            [int(lib.tinyslm_emu_threshold_q(i)) for i in range(self.num_labels)],
            int(lib.tinyslm_emu_threshold_q(self.num_labels)),
        )

        self._out = bytearray()
        self.last_exception: BaseException | None = None
        # Keep the callbacks referenced: ctypes does not, and C holds them.
        self._callbacks = (
            _INFER_FN(self._infer),
            _WRITE_FN(self._write),
            _CLOCK_FN(_clock_us),
        )
        if lib.tinyslm_emu_init(*self._callbacks) != 0:
            raise ProjectError(f"{self.project.root}: the core refused the generated settings")

    # --- callbacks (called from C) ------------------------------------------

    def _infer(self, ids: Any, scores: Any, _ctx: Any) -> int:
        if interrupted(self):
            return 1  # the rest of the chunk fails fast (and no later error hides the interrupt)
        try:
            arr = np.ctypeslib.as_array(ids, shape=(self.seq_len,)).astype(np.int32)
            out = self._model.scores(arr)
            ctypes.memmove(scores, out.ctypes.data, self.num_labels)
            return 0
        except BaseException as exc:  # an exception must not unwind through C
            self.last_exception = exc
            return 1

    def _write(self, data: Any, length: int, _ctx: Any) -> None:
        self._out += ctypes.string_at(data, length)

    # --- feeding -------------------------------------------------------------

    def feed(self, data: bytes) -> list[str]:
        """Feed raw serial bytes; return the device lines completed meanwhile (no newline)."""
        if self._closed:
            raise ProjectError(f"{self.project.root}: the emulator was closed")
        calls = self._lib.tinyslm_emu_answers, self._lib.tinyslm_emu_bad_answers
        before = [int(f()) for f in calls]
        self._lib.tinyslm_emu_feed(data, len(data))
        reraise_interrupt(self)
        hooked, bad = (int(f()) - b for f, b in zip(calls, before, strict=True))
        if b"\n" not in self._out:
            lines: list[str] = []
        else:
            done, _, rest = bytes(self._out).rpartition(b"\n")
            self._out = bytearray(rest)
            lines = [line.decode("utf-8") for line in done.split(b"\n")]
        check_hook_calls(self.project.root, (hooked, bad), lines, "answer")
        return lines

    def run_line(self, text: str | bytes) -> list[str]:
        """One line in (a terminator is added), the device's output lines back."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        return self.feed(data + b"\n")

    def tokenize(self, text: str | bytes) -> list[int]:
        """The core's tokenizer (C), for comparison with :func:`tinyslm.text.features.tokenize`."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        ids = (ctypes.c_int32 * self.seq_len)()
        self._lib.tinyslm_emu_tokenize(data, len(data), ids)
        return list(ids)

    def close(self) -> None:
        """Unload a coverage build's library; the emulator cannot be fed afterwards.

        gcov writes its counters again when the library is unloaded, which for a
        library left loaded is at process exit: after the caller has removed
        ``coverage_dir``, so gcov recreated that folder and left it behind. Unloading
        here writes them while the folder still exists. Plain builds are cached and
        shared, so they stay loaded.
        """
        if self.coverage_dir is None or self._closed:
            return
        import _ctypes

        self._closed = True
        _ctypes.dlclose(self._lib._handle)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def coverage(self) -> CoverageResult:
        """Dump gcov counters and measure line coverage of ``tinyslm_core.c`` so far.

        Raises:
            ToolchainError: not a coverage build, or gcov is missing or fails.
        """
        if self.coverage_dir is None:
            raise ToolchainError("coverage needs an emulator built with coverage_dir")
        if self._closed:
            raise ProjectError(f"{self.project.root}: the emulator was closed")
        self._lib.tinyslm_emu_coverage_dump()
        return gcov_line_coverage(self.coverage_dir, self.project.src / "tinyslm_core.c")


_HOOKED_LINES = {"answer": ('{"intent":', "tinyslm_app_on_answer", "the core"),
                 "keyword": ('{"keyword":', "tinyslm_kws_app_on_keyword", "the app")}  # fmt: skip


# What a shim's bad call got wrong (host_shim.c, host_kws_shim.c).
_BAD_CALL = {"answer": "values (index and label name, or its route flags)",
             "keyword": "an index and a label name"}  # fmt: skip


def check_hook_calls(root: Path, calls: tuple[int, int], lines: Sequence[str], kind: str) -> None:
    """The board calls the user's actions once per answer or detection line, after it; the
    emulators' shims count their own hook's calls in one feed (and those whose index and
    label name disagree), which must match its lines.

    Raises:
        ProjectError: they differ (the project's C calls the hook wrongly).
    """
    start, setter, who = _HOOKED_LINES[kind]
    hooked, bad = calls
    if bad:
        raise ProjectError(
            f"{root}: the {kind} hook was given {_BAD_CALL[kind]} that disagree "
            f"in {bad} of {hooked} calls ({who}'s {setter} is broken)"
        )
    count = sum(1 for line in lines if line.startswith(start))
    if hooked != count:
        what = "answer" if kind == "answer" else "detection"
        raise ProjectError(
            f"{root}: the {kind} hook ran {hooked} times for {count} {what} lines "
            f"({who}'s {setter} is broken)"
        )


def _clock_us(_ctx: Any) -> int:
    return (time.monotonic_ns() // 1000) & 0xFFFFFFFF


def emulator_runner(emu: Emulator) -> Callable[[Sequence[bytes]], list[str]]:
    """Adapt an :class:`Emulator` to :func:`run_phrases` (one line per phrase)."""

    def run(lines: Sequence[bytes]) -> list[str]:
        out: list[str] = []
        for line in lines:
            out += emu.feed(line + b"\n")
        return out

    return run


def interrupted(emu: Any) -> bool:
    """Whether a Ctrl-C (or SIGTERM/SIGHUP, which the CLI turns into one) landed in the
    model call during this feed: the callback kept it from unwinding through C."""
    caught = emu.last_exception
    return caught is not None and not isinstance(caught, Exception)


def reraise_interrupt(emu: Any) -> None:
    """Raise the interrupt :func:`interrupted` saw, once C has returned (stored, it was
    lost, and the process ignored every later SIGTERM). The answers the interrupted feed
    wrote go with it: they are not the device's, and a next feed would count them."""
    if interrupted(emu):
        caught = emu.last_exception
        emu.last_exception = None
        emu._out = bytearray()
        raise caught
