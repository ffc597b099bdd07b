"""The emulator's shared library: a generated project's C core built for ctypes.

The project's own C core (``src/tinyslm_core.c`` and the other C files of the text
firmware), ``src/tinyslm_settings.c`` and ``src/tinyslm_model_data.cc`` are compiled
with ``tinyslm/emulate/glue/host_shim.c`` into a shared library
(:class:`tinyslm.emulate.emulator.Emulator` loads it).

Libraries are cached outside the project (``emulate/`` in
:func:`tinyslm.cache.cache_root`), keyed on the sha256 of the sources, headers and
flags, so a second run does not recompile. Coverage builds go to a fresh folder.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from tinyslm.cache import cache_dir, warn_unusable, writable_cache_dir
from tinyslm.errors import ProjectError
from tinyslm.project import Project
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


def _loads(lib: Path) -> bool:
    """Whether ``lib`` is a library this process can load; a file that is there but
    does not load (cut short, emptied) is named in one warning, so that the caller
    builds it again rather than failing on it every run."""
    if not lib.is_file():
        return False
    try:
        ctypes.CDLL(str(lib))
    except OSError as exc:
        reason = str(exc).removeprefix(f"{lib}: ")
        warn_unusable(lib, reason)
        return False
    except UnicodeDecodeError as exc:
        # ctypes decodes dlerror()'s message, which starts with the path, as strict
        # UTF-8: a cache folder with a byte that is not (TINYSLM_CACHE_DIR=$'/tmp/c\xff')
        # ended emulate in this traceback instead of the warning and a rebuild.
        message = exc.object.decode("utf-8", "surrogateescape")
        warn_unusable(lib, message.removeprefix(f"{lib}: "))
        return False
    return True


def core_sources() -> tuple[str, ...]:
    """The ``src/`` files the emulator library is built from: every C file of the text
    firmware (common + text, :func:`tinyslm.resources.firmware_files`; the TFLM adapter
    is C++ and TFLM's Python runtime stands in for it) and the generated sources."""
    c_files = sorted(name for name in firmware_files("text") if name.endswith(".c"))
    return (*c_files, *GENERATED_SOURCES)


def project_sources(project: Project, names: Sequence[str]) -> list[Path]:
    """``src/<name>`` of each name (text core or keyword app).

    Raises:
        ProjectError: one is missing (the project is incomplete).
    """
    missing = [name for name in names if not (project.src / name).is_file()]
    if missing:
        raise ProjectError(
            f"{project.root}: incomplete project, missing src/{', src/'.join(missing)} "
            "(regenerate it with 'tinyslm generate')"
        )
    return [project.src / name for name in names]


def build_key(files: Sequence[Path], flags: Sequence[str]) -> str:
    """A cache key of the files' names and bytes and the compile flags."""
    # Names and flags (which can hold paths) with surrogateescape: a non-UTF-8 path byte
    # hashes as itself instead of raising, and a UTF-8 name keeps the key it always had.
    h = hashlib.sha256()
    for path in files:
        h.update(path.name.encode("utf-8", "surrogateescape") + b"\0" + path.read_bytes() + b"\0")
    h.update("\0".join(flags).encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:24]


# Defined for a project generated before generate --label-threshold (round 37), whose
# headers have no label_threshold_q: the shims then read the model-wide level alone, so
# such a project still emulates (it has no level of its own to check).
NO_LABEL_LEVELS = "TINYSLM_EMU_NO_LABEL_LEVELS"


def label_level_defines(project: Project, header: str) -> list[str]:
    """``[NO_LABEL_LEVELS]`` when the project's ``header`` (which declares its settings
    struct) has no ``label_threshold_q``, else ``[]``."""
    try:
        text = (project.src / header).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []  # a missing header is named by the compile, as before
    return [] if "label_threshold_q" in text else [NO_LABEL_LEVELS]


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
    sources = project_sources(project, core_sources())
    defines = [
        *(["TINYSLM_EMU_COVERAGE"] if coverage else []),
        *label_level_defines(project, "tinyslm_core.h"),
    ]
    if not coverage:
        return cached_library(project, [*sources, SHIM], defines)
    if object_dir is None:
        raise ValueError("a coverage build needs an object_dir")
    out = object_dir / LIB_NAME
    ccompile.compile_shared(
        [*sources, SHIM],
        out,
        include_dirs=[project.src],
        defines=defines,
        cflags=COVERAGE_CFLAGS,
        cxxflags=COVERAGE_CXXFLAGS,
        coverage=True,
        object_dir=object_dir,
    )
    return out


def cached_library(
    project: Project,
    sources: Sequence[Path],
    defines: Sequence[str],
    prefix: str = "",
    lib_name: str = LIB_NAME,
) -> Path:
    """``sources`` (a shim among them) compiled into the shared library ``lib_name`` with
    the project's headers, cached by the content of every file and the flags (in a
    folder named ``prefix`` + key).

    Raises:
        ToolchainError: the host compiler is missing or fails, or neither the cache nor
            its fallback can be written.
    """
    headers = sorted(project.src.glob("*.h"))
    compilers = [os.environ.get("CC", "cc"), os.environ.get("CXX", "c++")]
    key = build_key([*sources, *headers], [*compilers, *CFLAGS, *CXXFLAGS, *defines])
    entry = Path(f"{prefix}{key}", lib_name)
    # An entry already in the cache is used even where the cache cannot be written (a
    # read-only copy); a missing or broken one is built where it can be written.
    primary = cache_dir("emulate") / entry
    if _loads(primary):
        return primary
    out = writable_cache_dir("emulate") / entry
    if out == primary or not _loads(out):
        ccompile.compile_shared(
            list(sources),
            out,
            include_dirs=[project.src],
            defines=list(defines),
            cflags=CFLAGS,
            cxxflags=CXXFLAGS,
        )
    return out
