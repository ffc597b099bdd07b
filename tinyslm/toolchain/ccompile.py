"""Compile C/C++ sources with the host compiler (tests, the host emulator).

One small wrapper around ``cc``/``c++`` so that every caller gets the same
behaviour: the compiler comes from ``$CC``/``$CXX`` (default ``cc``/``c++``),
each source becomes an object with the right compiler, the link uses ``c++``
when any source is C++, and the result appears atomically at ``out`` (built in
a temporary folder next to it, fsynced, then renamed: a cache entry is never a
whole name over a short file). A missing or failing compiler
raises :class:`~tinyslm.errors.ToolchainError` with one line that ends with the
compiler's last lines of output.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

from tinyslm.errors import ToolchainError, output_tail

CXX_SUFFIXES = frozenset({".cc", ".cpp", ".cxx", ".c++", ".C"})
DefineValue = str | int | None
TEMP_PREFIX = ".tinyslm-cc-"
# tempfile's random part: 8 of these characters.
_TEMP_RANDOM = r"[a-z0-9_]{8}"


def compiler_command(language: str = "c") -> list[str]:
    """The host compiler for ``language`` ("c" or "c++") as an argv prefix.

    ``$CC``/``$CXX`` may hold a command with arguments (``ccache gcc``).

    Raises:
        ToolchainError: the compiler is not on PATH, or the variable does not parse.
    """
    if language not in ("c", "c++"):
        raise ValueError(f"language must be 'c' or 'c++', got {language!r}")
    var, default = ("CC", "cc") if language == "c" else ("CXX", "c++")
    value = os.environ.get(var, "").strip()
    try:
        argv = shlex.split(value or default)
    except ValueError as exc:  # an unbalanced quote: shlex's own error was a traceback
        raise ToolchainError(f"${var} {value!r} is not a command line ({exc})") from None
    if shutil.which(argv[0]) is None:
        raise ToolchainError(
            f"{language} compiler {argv[0]!r} not found (set ${var} or install it)"
        )
    return argv


def _define_flags(defines: Mapping[str, DefineValue] | Sequence[str]) -> list[str]:
    if isinstance(defines, Mapping):
        return [f"-D{k}" if v is None else f"-D{k}={v}" for k, v in defines.items()]
    return [f"-D{d}" for d in defines]


class CompilerGroup:
    """The compilers a build's worker threads run, stopped together from the thread that
    waits for them (:meth:`stop`).

    An interrupt (Ctrl-C, or SIGTERM/SIGHUP sent to tinyslm alone, which the CLI turns
    into one) reaches only the main thread: the compiles running in a pool went on to
    their end, seconds each, before tinyslm could exit, since nothing signalled them
    (a terminal's Ctrl-C reaches them through the process group; ``kill PID`` does not).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen[str]] = set()
        self._stopped = False

    def start(self, argv: Sequence[str]) -> subprocess.Popen[str]:
        """Start ``argv`` (output captured), unless the group was stopped.

        Raises:
            ToolchainError: the group was stopped (the interrupt is what is said).
            OSError: the program cannot be run.
        """
        with self._lock:  # a compile starting while stop() runs is stopped or never starts
            if self._stopped:
                raise ToolchainError("the build was interrupted")
            proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
            )
            self._live.add(proc)
            return proc

    def done(self, proc: subprocess.Popen[str]) -> None:
        """``proc`` has been waited for."""
        with self._lock:
            self._live.discard(proc)

    def stop(self) -> None:
        """Stop every compiler running (and what each started: cc1, as) with SIGTERM, and
        start no more."""
        from tinyslm import processes

        with self._lock:
            self._stopped = True
            for proc in self._live:
                if proc.returncode is None:  # not reaped yet: the pid is still its own
                    processes.signal_tree(proc.pid, signal.SIGTERM)


def _run(argv: Sequence[str], what: str, group: CompilerGroup | None = None) -> None:
    try:
        proc = (group or CompilerGroup()).start(argv)
    except OSError as exc:
        raise ToolchainError(f"cannot run {argv[0]!r} for {what}: {exc}") from exc
    try:
        stdout, stderr = proc.communicate()
    except BaseException:
        # Interrupted in this thread: the compiler and its children stop with tinyslm.
        from tinyslm import processes

        processes.signal_tree(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        if group is not None:
            group.done(proc)
    if proc.returncode != 0:
        tail = output_tail(stderr + stdout) or f"exit code {proc.returncode}"
        raise ToolchainError(f"{Path(argv[0]).name} failed on {what}: {tail}")


def _pick(explicit: Sequence[str] | None, language: str) -> list[str]:
    if explicit is None:
        return compiler_command(language)
    argv = list(explicit)
    if not argv or shutil.which(argv[0]) is None:
        name = argv[0] if argv else "(empty)"
        raise ToolchainError(f"{language} compiler {name!r} not found")
    return argv


def _is_cxx(src: Path) -> bool:
    return src.suffix in CXX_SUFFIXES


def _publish(tmp: Path, out: Path) -> None:
    """Rename the finished ``tmp`` to ``out``, its bytes on disk first: after a power
    cut a cache entry must not be a whole name over a short file."""
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, out)


def object_temp_prefix(out: Path) -> str:
    """The prefix of :func:`compile_object`'s temp folder for ``out`` (next to it): its
    own per object, so that whoever holds the object's lock knows that one left behind
    is a dead build's (a killed compile leaves it) and may remove it."""
    digest = hashlib.sha256(out.name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"{TEMP_PREFIX}{digest}-"


def remove_dead_temps(out: Path) -> list[Path]:
    """Remove the temp folders :func:`compile_object` left next to ``out`` (only names of
    its own pattern for this object, only real folders); return them.

    Call it only while holding ``out``'s lock: a live build of ``out`` holds it too.
    """
    pattern = re.compile(re.escape(object_temp_prefix(out)) + _TEMP_RANDOM)
    removed = []
    try:
        names = os.listdir(out.parent)
    except OSError:
        return []
    for name in names:
        path = out.parent / name
        if pattern.fullmatch(name) and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def compile_program(
    sources: Sequence[Path | str],
    out: Path | str,
    *,
    shared: bool,
    include_dirs: Sequence[Path | str] = (),
    defines: Mapping[str, DefineValue] | Sequence[str] = (),
    cflags: Sequence[str] = (),
    cxxflags: Sequence[str] = (),
    ldflags: Sequence[str] = (),
    coverage: bool = False,
    object_dir: Path | str | None = None,
    cc: Sequence[str] | None = None,
    cxx: Sequence[str] | None = None,
) -> Path:
    """Compile and link ``sources`` into ``out``: a shared library or an executable.

    Args:
        sources: .c and C++ (.cc/.cpp/...) files, compiled with $CC / $CXX.
        out: the output path; written only when every step succeeded.
        shared: link a shared library (``-shared``, for ctypes) instead of an executable.
        include_dirs, defines: ``-I`` folders; ``{"NAME": value}`` or ``["NAME=1"]``.
        cflags, cxxflags: extra flags for C and C++ compiles (both reach the link).
        ldflags: flags after the objects at link time (``-lm``).
        coverage: build with ``--coverage`` (gcov instrumentation).
        object_dir: keep objects (and .gcno/.gcda files) there instead of a temp folder.
        cc, cxx: compiler argv instead of $CC / $CXX (``["clang"]``).

    Returns:
        ``out``.

    Raises:
        ToolchainError: a compiler is missing or a step fails.
    """
    srcs = [Path(s) for s in sources]
    if not srcs:
        raise ValueError("no sources to compile")
    for src in srcs:
        if not src.is_file():
            raise ToolchainError(f"source file {src} does not exist")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    common = [f"-I{d}" for d in include_dirs] + _define_flags(defines)
    if shared:
        common.append("-fPIC")
    if coverage:
        common.append("--coverage")
    cc = _pick(cc, "c") if any(not _is_cxx(s) for s in srcs) else []
    cxx = _pick(cxx, "c++") if any(_is_cxx(s) for s in srcs) else []

    with tempfile.TemporaryDirectory(prefix=TEMP_PREFIX, dir=out.parent) as tmp:
        # Coverage data (.gcno/.gcda) lands next to the objects, so a caller
        # that wants to run gcov names a folder that outlives this call.
        objdir = Path(object_dir) if object_dir is not None else Path(tmp)
        objdir.mkdir(parents=True, exist_ok=True)
        objects: list[str] = []
        for i, src in enumerate(srcs):
            obj = objdir / f"{src.stem}.o"
            if str(obj) in objects:
                obj = objdir / f"{src.stem}.{i}.o"
            flags = [*cxx, *common, *cxxflags] if _is_cxx(src) else [*cc, *common, *cflags]
            _run([*flags, "-c", str(src), "-o", str(obj)], src.name)
            objects.append(str(obj))
        linker = cxx or cc
        link_flags = [*cflags, *cxxflags] if cxx and cc else list(cxxflags if cxx else cflags)
        tmp_out = Path(tmp) / out.name
        argv = [*linker, *link_flags, *(["-shared"] if shared else [])]
        argv += [*(["--coverage"] if coverage else []), *objects, "-o", str(tmp_out), *ldflags]
        _run(argv, out.name)
        _publish(tmp_out, out)
    return out


# The two entry points: same options, shared library (for ctypes) or executable.
compile_shared = partial(compile_program, shared=True)
compile_executable = partial(compile_program, shared=False)


def compile_object(
    source: Path | str,
    out: Path | str,
    *,
    include_dirs: Sequence[Path | str] = (),
    defines: Mapping[str, DefineValue] | Sequence[str] = (),
    flags: Sequence[str] = (),
    compiler: Sequence[str] | None = None,
    group: CompilerGroup | None = None,
) -> Path:
    """Compile one source to the object file ``out`` (``-c``), e.g. with a cross compiler.

    Args:
        compiler: argv of the compiler (``["arm-none-eabi-gcc"]``); default $CC / $CXX
            by the source's suffix.
        group: the build's :class:`CompilerGroup`, when it runs in a worker thread.

    Raises:
        ToolchainError: the compiler is missing or fails.
    """
    src, out = Path(source), Path(out)
    if not src.is_file():
        raise ToolchainError(f"source file {src} does not exist")
    argv = _pick(compiler, "c++" if _is_cxx(src) else "c")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=object_temp_prefix(out), dir=out.parent) as tmp:
        tmp_out = Path(tmp) / out.name
        argv += [f"-I{d}" for d in include_dirs] + _define_flags(defines) + list(flags)
        _run([*argv, "-c", str(src), "-o", str(tmp_out)], src.name, group)
        _publish(tmp_out, out)
    return out
