"""Run a generated project's firmware core on the host, TFLM's Python runtime behind it.

``tinyslm emulate`` compiles the project's own C core (``src/tinyslm_core.c`` and
the other C files of the text firmware), ``src/tinyslm_settings.c`` and
``src/tinyslm_model_data.cc`` with
``tinyslm/emulate/glue/host_shim.c`` into a shared library, loads it with ctypes,
and plugs a ``tflite_micro.runtime.Interpreter`` in as the core's inference
callback. Everything the device decides (tokenizer, settings, model array,
confidence gate, JSON output) therefore comes from the generated C; only the
TFLM kernels and the serial port are stand-ins.

The model bytes and the arena size are read from the library, never from
``model.tflite``, and the bytes must match the sha256 recorded in the
project's ``tinyslm.json``: an edited or corrupted model array is refused.

Libraries are cached outside the project (``emulate/`` in
:func:`tinyslm.cache.cache_root`), keyed on the sha256
of the sources, headers and flags, so a second run does not recompile.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyslm.cache import cache_dir
from tinyslm.decision import ROUTE_ESCALATE, ROUTE_LOCAL, gate_figures
from tinyslm.errors import ModelError, ProjectError, ToolchainError, output_tail
from tinyslm.manifest import sha256_hex
from tinyslm.project import Project, open_project
from tinyslm.resources import firmware_files
from tinyslm.toolchain import ccompile

SHIM = Path(__file__).resolve().parent / "glue" / "host_shim.c"
# Generated next to the firmware's C files (see core_sources).
GENERATED_SOURCES = ("tinyslm_settings.c", "tinyslm_model_data.cc")
LIB_NAME = "libtinyslm_emu.so"
CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra")
CXXFLAGS = ("-std=c++17", "-O2", "-Wall")
# Coverage builds trade speed for exact line counts.
COVERAGE_CFLAGS = ("-std=c99", "-O0", "-g", "-Wall", "-Wextra")
COVERAGE_CXXFLAGS = ("-std=c++17", "-O0")

_INFER_FN = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int8), ctypes.c_void_p
)
_WRITE_FN = ctypes.CFUNCTYPE(None, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t, ctypes.c_void_p)
_CLOCK_FN = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)


def _writable(folder: Path) -> Path:
    """``folder``, or a per-user temp folder when it cannot be created (read-only home)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"tinyslm-{os.getuid()}" / "emulate"
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


@dataclass(frozen=True)
class CoverageResult:
    """Line coverage of ``tinyslm_core.c`` measured by gcov."""

    file: str
    lines_executed: int
    lines_total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.lines_executed / self.lines_total if self.lines_total else 0.0


def core_sources() -> tuple[str, ...]:
    """The ``src/`` files the emulator library is built from: every C file of the text
    firmware (common + text, :func:`tinyslm.resources.firmware_files`; the TFLM adapter
    is C++ and TFLM's Python runtime stands in for it) and the generated sources."""
    c_files = sorted(name for name in firmware_files("text") if name.endswith(".c"))
    return (*c_files, *GENERATED_SOURCES)


def _sources(project: Project) -> list[Path]:
    names = core_sources()
    missing = [name for name in names if not (project.src / name).is_file()]
    if missing:
        raise ProjectError(
            f"{project.root}: incomplete project, missing src/{', src/'.join(missing)} "
            "(regenerate it with 'tinyslm generate')"
        )
    return [project.src / name for name in names]


def _build_key(sources: Sequence[Path], headers: Sequence[Path], flags: Sequence[str]) -> str:
    h = hashlib.sha256()
    for path in [*sources, *headers, SHIM]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update("\0".join(flags).encode())
    return h.hexdigest()[:24]


def build_library(
    project: Project, *, coverage: bool = False, object_dir: Path | None = None
) -> Path:
    """Compile the project's core into a shared library for ctypes.

    Args:
        project: an opened project.
        coverage: instrument with gcov; objects and ``.gcno`` land in ``object_dir``.
        object_dir: required with ``coverage`` (a fresh folder per measurement).

    Returns:
        The library path (cached unless ``coverage``).

    Raises:
        ProjectError: a source file is missing.
        ToolchainError: the host compiler is missing or fails.
    """
    sources = _sources(project)
    headers = sorted(project.src.glob("*.h"))
    cflags = COVERAGE_CFLAGS if coverage else CFLAGS
    cxxflags = COVERAGE_CXXFLAGS if coverage else CXXFLAGS
    defines = ["TINYSLM_EMU_COVERAGE"] if coverage else []
    if coverage:
        if object_dir is None:
            raise ValueError("a coverage build needs an object_dir")
        out = object_dir / LIB_NAME
    else:
        compilers = [os.environ.get("CC", "cc"), os.environ.get("CXX", "c++")]
        key = _build_key(sources, headers, [*compilers, *cflags, *cxxflags])
        out = _writable(cache_dir("emulate")) / key / LIB_NAME
        if out.is_file():
            return out
    ccompile.compile_shared(
        [*sources, SHIM],
        out,
        include_dirs=[project.src],
        defines=defines,
        cflags=cflags,
        cxxflags=cxxflags,
        coverage=coverage,
        object_dir=object_dir,
    )
    return out


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
            ModelError: the model array does not match ``tinyslm.json`` or TFLM refuses it.
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
        for name, restype in (
            ("tinyslm_emu_seq_len", ctypes.c_uint32),
            ("tinyslm_emu_num_labels", ctypes.c_uint32),
            ("tinyslm_emu_max_line", ctypes.c_uint32),
            ("tinyslm_emu_model_sha256", ctypes.c_char_p),
        ):
            getattr(lib, name).restype = restype
            getattr(lib, name).argtypes = []
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
        # The generated symbols themselves (C linkage, per docs/architecture.md).
        try:
            self.arena_size = int(ctypes.c_uint32.in_dll(lib, "tinyslm_arena_size").value)
            n = int(ctypes.c_uint.in_dll(lib, "tinyslm_model_data_len").value)
            self.model_bytes = bytes((ctypes.c_ubyte * n).in_dll(lib, "tinyslm_model_data"))
        except ValueError as exc:  # ctypes: symbol not found
            raise ProjectError(f"{self.project.root}: generated symbol missing: {exc}") from None
        self._check_model(lib.tinyslm_emu_model_sha256())
        self._interpreter = self._make_interpreter()

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

    # --- checks -------------------------------------------------------------

    def _check_model(self, compiled_sha: bytes | None) -> None:
        where = f"{self.project.src / 'tinyslm_model_data.cc'}"
        digest = sha256_hex(self.model_bytes)
        if digest != self.project.model_sha256:
            raise ModelError(
                f"{where}: model sha256 {digest[:12]}... does not match tinyslm.json "
                f"{self.project.model_sha256[:12]}... (the model array was edited or "
                "corrupted; regenerate the project)"
            )
        if compiled_sha is not None and compiled_sha.decode("ascii", "replace") != digest:
            raise ModelError(
                f"{self.project.src / 'tinyslm_settings.c'}: model sha256 in the settings "
                "does not match the model array (regenerate the project)"
            )

    def _make_interpreter(self) -> Any:
        from tflite_micro import runtime

        try:
            interp = runtime.Interpreter.from_bytes(self.model_bytes, arena_size=self.arena_size)
            in_shape = tuple(int(x) for x in interp.get_input_details(0)["shape"])
            out_shape = tuple(int(x) for x in interp.get_output_details(0)["shape"])
        except (RuntimeError, ValueError, TypeError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(
                f"{self.project.src / 'tinyslm_model_data.cc'}: TFLM refused the model: {first}"
            ) from None
        if int(np.prod(in_shape)) != self.seq_len or int(np.prod(out_shape)) != self.num_labels:
            raise ModelError(
                f"{self.project.root}: model tensors {in_shape} -> {out_shape} do not match the "
                f"settings (seq_len {self.seq_len}, {self.num_labels} labels); regenerate"
            )
        self._in_shape = in_shape
        return interp

    # --- callbacks (called from C) ------------------------------------------

    def _infer(self, ids: Any, scores: Any, _ctx: Any) -> int:
        try:
            arr = np.ctypeslib.as_array(ids, shape=(self.seq_len,)).astype(np.int32)
            self._interpreter.set_input(arr.reshape(self._in_shape), 0)
            self._interpreter.invoke()
            out = np.ascontiguousarray(self._interpreter.get_output(0), dtype=np.int8).reshape(-1)
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
        self._lib.tinyslm_emu_feed(data, len(data))
        if b"\n" not in self._out:
            return []
        done, _, rest = bytes(self._out).rpartition(b"\n")
        self._out = bytearray(rest)
        return [line.decode("utf-8") for line in done.split(b"\n")]

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


def _clock_us(_ctx: Any) -> int:
    return (time.monotonic_ns() // 1000) & 0xFFFFFFFF


_GCOV_LINES = re.compile(r"Lines executed:\s*([\d.]+)% of (\d+)")


def gcov_line_coverage(object_dir: Path, source: Path) -> CoverageResult:
    """Run gcov on ``source``'s objects in ``object_dir`` and parse its line figure."""
    gcov = shutil.which("gcov")
    if gcov is None:
        raise ToolchainError("gcov not found on PATH (it ships with gcc)")
    obj = object_dir / f"{source.stem}.o"
    with tempfile.TemporaryDirectory(prefix="tinyslm-gcov-") as tmp:
        proc = subprocess.run(
            [gcov, "-n", "-o", str(obj), str(source)],
            capture_output=True,
            text=True,
            cwd=tmp,
            check=False,
        )
    text = proc.stdout
    # gcov prints one block per file (headers too); take the block for source.
    for block in text.split("\n\n"):
        if source.name in block and "File '" in block:
            m = _GCOV_LINES.search(block)
            if m:
                total = int(m.group(2))
                executed = round(float(m.group(1)) * total / 100.0)
                return CoverageResult(source.name, executed, total)
    raise ToolchainError(f"gcov gave no line figure for {source.name}: {output_tail(text)}")


# --- datasets through the firmware path ---------------------------------------


@dataclass(frozen=True)
class PhraseResult:
    """One phrase through the device: what went in and what came out."""

    text: str
    label: str  # expected intent, or "oos" for an out-of-scope phrase
    oos: bool
    line: str  # the device's JSON line
    intent: str | None  # None when the device answered with an error
    route: str | None
    score: float | None
    us: int | None
    error: str | None = None  # the device's error code, when it answered with one


@dataclass(frozen=True)
class EmulateReport:
    """Figures of a dataset run through the firmware path.

    Attributes:
        split: which split ran (``test``, ``all``...).
        phrases: in-scope phrases run.
        oos_phrases: out-of-scope phrases run.
        accuracy: in-scope top-1 accuracy (route ignored).
        escalation_rate: share of in-scope phrases routed ``escalate``.
        accuracy_at_threshold: in-scope phrases predicted right AND routed ``local``
            (:func:`tinyslm.decision.gate_figures`, as verify counts it).
        oos_recall: share of out-of-scope phrases escalated (None without any).
        errors: phrases the device answered with an error line (counted as wrong).
        us_p50, us_p95, us_p99: per-phrase time the core measured (tokenize +
            infer + decide) with the host's monotonic clock, in microseconds.
        error_kinds: device error code -> phrases (e.g. ``line_too_long``).
        unknown_intents: expected intents the model does not have (they can
            never be right); empty when the model's labels were not given.
        warnings: what makes the figures misleading, one line each.
    """

    source: str
    split: str
    phrases: int
    oos_phrases: int
    accuracy: float
    escalation_rate: float
    accuracy_at_threshold: float
    oos_recall: float | None
    errors: int
    us_p50: float
    us_p95: float
    us_p99: float
    error_kinds: dict[str, int] = field(default_factory=dict)
    unknown_intents: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    results: tuple[PhraseResult, ...] = field(default=(), repr=False)

    def error_phrases(self, limit: int = 10) -> list[tuple[str, str]]:
        """(error code, phrase) of the first ``limit`` phrases the device refused."""
        out = [(r.error or "error", r.text) for r in self.results if r.intent is None]
        return out[:limit]

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        del d["results"]
        d["error_phrases"] = [
            {"error": code, "text": text}
            for code, text in self.error_phrases(limit=len(self.results))
        ]
        return d


def parse_line(line: str) -> dict[str, Any]:
    """Parse one device line (JSON object).

    Raises:
        ToolchainError: the line is not a JSON object (firmware that prints
            something else, e.g. an edited core or a boot banner).
    """
    try:
        obj = json.loads(line)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        shown = line if len(line) <= 80 else line[:77] + "..."
        raise ToolchainError(f"the device answered a line that is not a JSON object: {shown!r}")
    return obj


def _one_line(text: str) -> bytes:
    # A phrase is one serial line: terminators inside it become spaces, which
    # the tokenizer treats the same way (both are separators).
    return text.replace("\r", " ").replace("\n", " ").encode("utf-8")


def dataset_phrases(dataset: Any, split: str) -> list[tuple[str, str, bool]]:
    """(text, label, is_oos) for a split of a :class:`tinyslm.text.dataset.Dataset`."""
    splits = ("train", "val", "test") if split == "all" else (split,)
    rows: list[tuple[str, str, bool]] = []
    for s in splits:
        rows += [(ex.text, ex.label, False) for ex in getattr(dataset, s)]
    for s in splits:
        rows += [(text, "oos", True) for text in getattr(dataset, f"oos_{s}")]
    return rows


def run_phrases(
    run: Callable[[Sequence[bytes]], list[str]],
    rows: Sequence[tuple[str, str, bool]],
    *,
    source: str,
    split: str,
    labels: Sequence[str] | None = None,
) -> EmulateReport:
    """Send each phrase as one line through ``run`` and score the device's answers.

    Args:
        run: lines in (no terminator), exactly one device line out per input line.
        rows: (text, expected label, is_oos).
        labels: the model's intents, to warn about expected intents it lacks.
    """
    lines = run([_one_line(text) for text, _, _ in rows])
    if len(lines) != len(rows):
        raise ToolchainError(f"the device answered {len(lines)} lines for {len(rows)} phrases")
    results: list[PhraseResult] = []
    for (text, label, oos), line in zip(rows, lines, strict=True):
        obj = parse_line(line)
        results.append(
            PhraseResult(
                text=text,
                label=label,
                oos=oos,
                line=line,
                intent=obj.get("intent"),
                route=obj.get("route"),
                score=obj.get("score"),
                us=obj.get("us"),
                error=str(obj["error"]) if "error" in obj else None,
            )
        )
    return score_results(results, source=source, split=split, labels=labels)


def score_results(
    results: Sequence[PhraseResult],
    *,
    source: str,
    split: str,
    labels: Sequence[str] | None = None,
) -> EmulateReport:
    """Accuracy, escalation, out-of-scope recall and timing of device answers."""
    inscope = [r for r in results if not r.oos]
    error_kinds: dict[str, int] = {}
    for r in results:
        if r.intent is None:
            kind = r.error or "error"
            error_kinds[kind] = error_kinds.get(kind, 0) + 1
    known = set(labels) if labels is not None else None
    unknown = sorted({r.label for r in inscope if known is not None and r.label not in known})
    warnings: list[str] = []
    if unknown:
        n = sum(r.label in unknown for r in inscope)
        shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        warnings.append(
            f"{n} of {len(inscope)} in-scope phrases expect {len(unknown)} intent(s) the model "
            f"does not have ({shown}): they count as wrong; is this the model's dataset?"
        )
    if error_kinds:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(error_kinds.items()))
        warnings.append(
            f"the device answered {sum(error_kinds.values())} phrase(s) with an error "
            f"({kinds}): they count as wrong"
        )
    oos = [r for r in results if r.oos]
    gate = gate_figures(
        [r.intent == r.label for r in inscope],
        [r.route == ROUTE_LOCAL for r in inscope],
        [r.route == ROUTE_ESCALATE for r in oos],
    )
    # Not 1 - local_rate: an error line has no route and counts as escalated here.
    escalated = sum(r.route != ROUTE_LOCAL for r in inscope)
    times = [r.us for r in results if r.us is not None]
    pct = np.percentile(times, [50, 95, 99]) if times else np.zeros(3)
    return EmulateReport(
        source=source,
        split=split,
        phrases=len(inscope),
        oos_phrases=len(oos),
        accuracy=gate.accuracy,
        escalation_rate=escalated / len(inscope) if inscope else 0.0,
        accuracy_at_threshold=gate.accuracy_at_threshold,
        oos_recall=gate.oos_recall,
        errors=sum(r.intent is None for r in results),
        us_p50=float(pct[0]),
        us_p95=float(pct[1]),
        us_p99=float(pct[2]),
        error_kinds=dict(sorted(error_kinds.items())),
        unknown_intents=tuple(unknown),
        warnings=tuple(warnings),
        results=tuple(results),
    )


def emulator_runner(emu: Emulator) -> Callable[[Sequence[bytes]], list[str]]:
    """Adapt an :class:`Emulator` to :func:`run_phrases` (one line per phrase)."""

    def run(lines: Sequence[bytes]) -> list[str]:
        out: list[str] = []
        for line in lines:
            out += emu.feed(line + b"\n")
        return out

    return run


def format_report(report: EmulateReport) -> str:
    """Human-readable summary of an :class:`EmulateReport`."""
    lines = [
        f"dataset {report.source}, split {report.split}: {report.phrases} in-scope phrases"
        + (f", {report.oos_phrases} out-of-scope" if report.oos_phrases else ""),
        f"accuracy         {report.accuracy:.4f}",
        f"escalation rate  {report.escalation_rate:.4f}",
    ]
    lines.append(f"accuracy @ gate  {report.accuracy_at_threshold:.4f}")
    if report.oos_recall is not None:
        lines.append(f"oos recall       {report.oos_recall:.4f}")
    if report.errors:
        kinds = ", ".join(f"{k} {v}" for k, v in report.error_kinds.items())
        lines.append(f"device errors    {report.errors} ({kinds})")
        shown = report.error_phrases()
        for code, text in shown:
            lines.append(f"  {code}: {_preview(text)}")
        if report.errors > len(shown):
            lines.append(f"  ... and {report.errors - len(shown)} more (--json lists them all)")
    lines.append(
        f"host time (us)   p50 {report.us_p50:.0f}  p95 {report.us_p95:.0f}  "
        f"p99 {report.us_p99:.0f}"
    )
    return "\n".join(lines)


def _preview(text: str, limit: int = 80) -> str:
    """A phrase on one line for the report: JSON-quoted, long ones cut in the middle."""
    size = len(text.encode("utf-8"))
    if len(text) > limit:
        text = text[: limit // 2] + " ... " + text[-limit // 4 :]
    return f"{json.dumps(text, ensure_ascii=False)} ({size} bytes)"


def iter_stdin_chunks(stream: Any) -> Iterable[bytes]:
    """Lines from a binary stream as they arrive (works with a terminal or a pipe)."""
    while True:
        chunk = stream.readline()
        if not chunk:
            return
        yield chunk


# --- parity with the TFLM reference ---------------------------------------------


@dataclass(frozen=True)
class ParityResult:
    """Device answers against ``tinyslm.tflm_runtime.tflm_scores`` + ``tinyslm.decision``.

    Attributes:
        phrases: phrases compared.
        agree: phrases with the same top-1 label, route and printed score.
        mismatches: (text, device line, reference ``intent/score/route``), the first few.
    """

    phrases: int
    agree: int
    mismatches: tuple[tuple[str, str, str], ...]

    @property
    def agreement(self) -> float:
        return self.agree / self.phrases if self.phrases else 1.0


def reference_parity(
    results: Sequence[PhraseResult], manifest: Any, model_bytes: bytes, *, keep: int = 10
) -> ParityResult:
    """Compare device answers with the Python reference for the same phrases.

    The reference tokenizes with :mod:`tinyslm.text.features`, runs ``model.tflite``
    on TFLM (:func:`tinyslm.tflm_runtime.tflm_scores`) and decides with
    :mod:`tinyslm.decision` from the manifest: so it checks the C tokenizer, the
    generated model array and the generated settings all at once.
    """
    from tinyslm.decision import decide, score_milli
    from tinyslm.text.features import encode
    from tinyslm.tflm_runtime import tflm_scores

    texts = [_one_line(r.text) for r in results]
    scores = tflm_scores(model_bytes, encode(texts, manifest.features), manifest.arena_bytes)
    scale, zp = manifest.output_quant.scale, manifest.output_quant.zero_point
    agree = 0
    mismatches: list[tuple[str, str, str]] = []
    for r, row in zip(results, scores, strict=True):
        d = decide(row, scale, zp, manifest.threshold_q)
        label = manifest.labels[d.index]
        milli = score_milli(d.score_q, scale, zp)
        device_milli = round(r.score * 1000) if r.score is not None else None
        if (r.intent, r.route, device_milli) == (label, d.route, milli):
            agree += 1
        elif len(mismatches) < keep:
            mismatches.append((r.text, r.line, f"{label}/{milli / 1000:.3f}/{d.route}"))
    return ParityResult(len(results), agree, tuple(mismatches))
