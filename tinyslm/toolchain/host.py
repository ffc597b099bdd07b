"""The firmware builder: a generated project's sources linked with a TFLM tree.

A :class:`Toolchain` says how one kind of image is compiled and linked: the host
build here (:func:`host_toolchain`: the host compiler, a *reference-kernel* TFLM
tree, ``tinyslm/emulate/glue/native_main.c`` in place of the board's ``main.cc``),
the Cortex-M7 one in :mod:`tinyslm.toolchain.cortex_m`. :func:`build_firmware`
compiles the project's own sources (core, settings, model array, the TFLM adapter;
every ``src/*.c|*.cc`` but ``main.cc``) and links them with the tree. Espressif's
``esp-tflite-micro`` component (what the esp32 project builds with) is a usable
host tree too: its reference kernels are built, its ESP-NN ones left out.

Each TFLM source takes seconds to compile, so TFLM's objects are cached per
tree (``native/<key>/obj/`` in :func:`tinyslm.cache.cache_root`, one file per
source, written atomically, so an interrupted build resumes), and only the kernels the link
asks for are compiled. The project's own objects are cached next to them under a digest
of their source and headers, so rebuilding an unchanged project only links. Flags
match the boards: ``-std=c++17 -fno-exceptions -fno-rtti -DTF_LITE_STATIC_MEMORY`` for
C++, ``-std=c99`` for C.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tinyslm.cache import cache_dir, warn_unusable, writable_cache_dir
from tinyslm.errors import ProjectError, ToolchainError, output_tail
from tinyslm.project import open_project
from tinyslm.resources import firmware_files
from tinyslm.toolchain import ccompile
from tinyslm.toolchain.tflm import (
    INCLUDE_DIRS,
    is_cortex_m_tree,
    missing_tree_hint,
    resolve_tree,
    validate_tree,
)

CXXFLAGS = ("-std=c++17", "-fno-exceptions", "-fno-rtti", "-O1")
CFLAGS = ("-std=c99", "-O1")
DEFINES = ("TF_LITE_STATIC_MEMORY",)
HOST_MAIN = Path(__file__).resolve().parent.parent / "emulate" / "glue" / "native_main.c"
# A keyword project's stand-in: the same stdin/stdout serial line into its keyword app.
HOST_KWS_MAIN = HOST_MAIN.with_name("native_kws_main.c")
CACHE_VERSION = "1"
# Parts of a reference tree the firmware never links: the signal library (not
# builtin ops, so tinyslm's resolver never registers them) with its kissfft, and
# TFLM's test helpers. Leaving them out saves a third of the compile time.
# Espressif's esp-tflite-micro tree is TFLM plus two ESP-only parts, left out so it
# builds for the host with the reference kernels it also carries: the ESP-NN
# kernels (they need the esp-nn component and redefine Register_ADD etc.) and the
# esp_timer clock under micro/esp/ (its CMakeLists swaps it for micro_time.cc).
_SKIP_PREFIXES = (
    "signal/",
    "third_party/kissfft/",
    "tensorflow/lite/micro/kernels/esp_nn/",
    "tensorflow/lite/micro/esp/",
)
_SKIP_FILES = frozenset(
    {
        "tensorflow/lite/micro/test_helpers.cc",
        "tensorflow/lite/micro/test_helper_custom_ops.cc",
        "tensorflow/lite/micro/fake_micro_context.cc",
        "tensorflow/lite/micro/mock_micro_graph.cc",
        "tensorflow/lite/micro/recording_micro_allocator.cc",
    }
)
_SOURCE_SUFFIXES = (".cc", ".cpp", ".c")
_KERNEL_PREFIX = "tensorflow/lite/micro/kernels/"


@dataclass(frozen=True)
class Toolchain:
    """How one kind of firmware image is compiled and linked (host here, Cortex-M7 in cortex_m).

    ``cc``/``cxx`` are argv prefixes (target flags included); ``ldflags`` follow the
    objects at link time; ``board_sources`` replace the board's ``main.cc``; sources
    of the tree under ``lazy_prefixes`` are compiled only when the link asks for them.
    """

    name: str
    cc: tuple[str, ...]
    cxx: tuple[str, ...]
    cflags: tuple[str, ...]
    cxxflags: tuple[str, ...]
    defines: tuple[str, ...]
    ldflags: tuple[str, ...]
    board_sources: tuple[Path, ...]
    lazy_prefixes: tuple[str, ...] = (_KERNEL_PREFIX,)


def host_toolchain(main: Path = HOST_MAIN) -> Toolchain:
    """The host build: $CC/$CXX, reference kernels, ``main`` (``native_main.c``, or
    ``native_kws_main.c`` for a keyword project) as the board.

    Raises:
        ToolchainError: the host compiler is not on PATH.
    """
    return Toolchain(
        name="native",
        cc=tuple(_compiler("c")),
        cxx=tuple(_compiler("c++")),
        cflags=CFLAGS,
        cxxflags=CXXFLAGS,
        defines=DEFINES,
        ldflags=("-lm",),
        board_sources=(main,),
    )


def default_cache_dir() -> Path:
    """``native`` below the cache root (:func:`tinyslm.cache.cache_root`)."""
    return cache_dir("native")


def check_host_tree(tree: Path) -> Path:
    """Validate ``tree`` as a TFLM tree that compiles for the host; return it resolved.

    Raises:
        ToolchainError: not a TFLM tree, or a Cortex-M one.
    """
    # realpath, not resolve(): Python 3.11's raises RuntimeError on a symlink loop.
    tree = Path(os.path.realpath(Path(tree).expanduser()))
    validate_tree(tree)
    if is_cortex_m_tree(tree):
        raise ToolchainError(
            f"{tree} is a Cortex-M (cortex_m_generic/CMSIS-NN) TFLM tree; --native needs a "
            "reference-kernel tree for the host (create_tflm_tree.py without TARGET=...)"
        )
    return tree


def resolve_host_tree(tflm_dir: Path | None) -> Path:
    """``tflm_dir``, else the ``tinyslm tflm fetch --target host`` cache; checked for the host.

    Raises:
        ToolchainError: no tree (one line saying how to get one), or an unusable one.
    """
    tree = resolve_tree(tflm_dir, target="host")
    if tree is None:
        raise ToolchainError(missing_tree_hint("host"))
    return check_host_tree(tree)


def tree_sources(tree: Path) -> list[Path]:
    """The tree's library sources the firmware may link, sorted (relative paths)."""
    found = []
    for path in tree.rglob("*"):
        if path.suffix not in _SOURCE_SUFFIXES or not path.is_file():
            continue
        rel = path.relative_to(tree).as_posix()
        if rel.startswith(_SKIP_PREFIXES) or rel in _SKIP_FILES:
            continue
        found.append(Path(rel))
    return sorted(found)


def _include_dirs(tree: Path) -> tuple[Path, ...]:
    return tuple(tree / d for d in INCLUDE_DIRS if (tree / d).is_dir())


def _compiler(language: str) -> list[str]:
    return ccompile.compiler_command(language)


def _path_bytes(text: str) -> bytes:
    """``text`` (a path, or a flag that may hold one) for a cache key: a non-UTF-8 path
    byte (a surrogate in ``text``) hashes as itself instead of raising; a UTF-8 path keeps
    the key it always had."""
    return text.encode("utf-8", "surrogateescape")


def _tree_key(tree: Path, sources: Sequence[Path], toolchain: Toolchain) -> str:
    digest = hashlib.sha256()
    parts = [CACHE_VERSION, str(tree), *toolchain.cxx, *toolchain.cc]
    parts += [*toolchain.cxxflags, *toolchain.cflags, *toolchain.defines, *INCLUDE_DIRS]
    for part in parts:
        digest.update(_path_bytes(part) + b"\0")
    # Every source and header by content (about 50 ms for a Cortex-M7 tree): sources by
    # size and mtime only, and headers not at all, let an edited tree header (or a
    # same-size edit with its mtime kept) link the old objects into the firmware.
    for rel in sources:
        digest.update(_path_bytes(rel.as_posix()) + b"\0" + (tree / rel).read_bytes() + b"\0")
    for path in sorted(tree.rglob("*")):
        if path.suffix in _HEADER_SUFFIXES and path.is_file():
            digest.update(_path_bytes(path.relative_to(tree).as_posix()) + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _object_name(rel: Path) -> str:
    return rel.as_posix().replace("/", "__") + ".o"


def _compile_all(
    root: Path,
    rels: Sequence[Path],
    objdir: Path,
    includes: Sequence[Path],
    jobs: int,
    toolchain: Toolchain,
    rebuild: frozenset[Path] = frozenset(),
) -> list[Path]:
    """Compile ``root/rel`` for each rel into ``objdir``, reusing objects already there
    (but those in ``rebuild``)."""
    objdir.mkdir(parents=True, exist_ok=True)
    pairs = [(root / rel, objdir / _object_name(rel)) for rel in rels]
    return _compile_pairs(pairs, includes, jobs, toolchain, rebuild)


@contextmanager
def _object_lock(obj: Path) -> Iterator[bool]:
    """Hold ``<obj>.lock`` exclusively while ``obj`` is compiled; give whether it is held.

    Two builds that share the cache (two ``emulate --native`` runs, parallel test
    workers) would otherwise both find an object missing and both compile it: the
    result is the same file, written atomically, but a TFLM tree's minutes of
    compiling are paid twice. The second build waits here and then finds the object.
    ``flock`` locks die with their process, so a killed build leaves no stale lock.
    Where there is no ``fcntl`` (Windows), objects are compiled without the lock, as
    before: still correct, only possibly twice.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield False
        return
    obj.parent.mkdir(parents=True, exist_ok=True)
    with open(obj.with_name(obj.name + ".lock"), "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _compile_pairs(
    pairs: Sequence[tuple[Path, Path]],
    includes: Sequence[Path],
    jobs: int,
    toolchain: Toolchain,
    rebuild: frozenset[Path] = frozenset(),
) -> list[Path]:
    """Compile each (source, object) pair whose object is not there yet, or is in
    ``rebuild`` (the link could not read it); return the objects."""

    group = ccompile.CompilerGroup()

    def compile_one(pair: tuple[Path, Path]) -> Path:
        source, obj = pair
        if obj.is_file() and obj not in rebuild:  # objects appear atomically: one there is whole
            return obj
        with _object_lock(obj) as locked:
            if locked:  # then a temp folder of this object is a killed build's
                ccompile.remove_dead_temps(obj)
            # Another build may have written it while we waited.
            if obj in rebuild or not obj.is_file():
                is_c = source.suffix == ".c"
                ccompile.compile_object(
                    source,
                    obj,
                    include_dirs=includes,
                    defines=toolchain.defines,
                    flags=toolchain.cflags if is_c else toolchain.cxxflags,
                    compiler=toolchain.cc if is_c else toolchain.cxx,
                    group=group,
                )
        return obj

    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        return list(pool.map(compile_one, pairs))
    except (KeyboardInterrupt, SystemExit):
        # Ctrl-C, or SIGTERM/SIGHUP to tinyslm's pid: the pool waited for every compile
        # running (6-18 s) before 'error: interrupted'. They are stopped now, the queued
        # ones dropped. (A failed compile still lets the others finish into the cache.)
        group.stop()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)  # the one wait: for the compilers stopped above


# Lines of a failed link that are about a symbol or only warn, not about an object file
# the linker could not read.
_SYMBOL_PROBLEMS = (
    "undefined reference",
    "multiple definition",
    "in function",
    "relocation",
    "warning:",
)


def _unreadable_objects(stderr: str, objects: Sequence[Path]) -> dict[Path, str]:
    """The cached ``objects`` that the linker's ``stderr`` says it could not read (``x.o:
    file too short``), each with the linker's words: an object cut short by a full disk
    or a partial copy of the cache failed every later link."""
    found: dict[Path, str] = {}
    for line in stderr.splitlines():
        if any(words in line for words in _SYMBOL_PROBLEMS):
            continue
        for obj in objects:
            marker = f"{obj}: "
            if marker in line and obj not in found:
                found[obj] = line.split(marker, 1)[1].strip()
    return found


_UNDEFINED = re.compile(r"undefined reference to [`'\"]([^'\"]+)['\"]")


def _identifiers(symbol: str) -> set[str]:
    """``tflite::Register_MEAN()`` -> {"Register_MEAN"}: the names to look for in sources."""
    name = symbol.split("(", 1)[0]
    for prefix in ("vtable for ", "typeinfo for ", "non-virtual thunk to "):
        name = name.removeprefix(prefix)
    while "<" in name:  # drop template arguments, innermost first
        stripped = re.sub(r"<[^<>]*>", "", name)
        if stripped == name:
            break
        name = stripped
    last = name.rsplit("::", 1)[-1].strip()
    return {last} if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", last) else set()


def _defining(name: str, texts: dict[Path, str]) -> list[Path]:
    """The sources that look like they define function ``name`` (else those that mention it).

    A definition is ``name(...)`` followed by ``{``; calls end in ``;`` or ``,``.
    Erring on the side of more files only costs compile time.
    """
    word = re.compile(rf"\b{re.escape(name)}\b")
    definition = re.compile(rf"\b{re.escape(name)}\s*\([^;{{}}]*\)\s*(?:const\s*)?\{{")
    defines = [rel for rel, text in texts.items() if definition.search(text)]
    return defines or [rel for rel, text in texts.items() if word.search(text)]


def _link(
    objects: Sequence[Path], out: Path, toolchain: Toolchain
) -> subprocess.CompletedProcess[str]:
    argv = [*toolchain.cxx, *map(str, objects), "-o", str(out), *toolchain.ldflags]
    try:
        return subprocess.run(argv, capture_output=True, text=True, errors="replace", check=False)
    except OSError as exc:
        raise ToolchainError(
            f"cannot run {argv[0]!r} to link the {toolchain.name} firmware: {exc}"
        ) from exc


def project_sources(project_dir: Path) -> list[Path]:
    """The project's firmware sources for the host: the firmware's own ``.c``/``.cc``
    files (common + the project's modality), ``tinyslm_settings.c`` and
    ``tinyslm_model_data.cc``.

    Not ``main.cc``, the user's ``tinyslm_actions.c``, nor any other source a user adds
    to ``src/``: board code (HAL calls, drivers) that only the board's build compiles;
    the host main calls no action. A ``leds.c`` including ``stm32h7xx_hal.h`` once
    failed every ``--native`` and ``--qemu`` run of a valid project.

    Raises:
        ProjectError: not a tinyslm project, or its src/ lacks a firmware source.
    """
    project = open_project(project_dir)
    src = project.src
    modality = project_modality(project_dir)
    firmware = [n for n in firmware_files(modality) if n.endswith((".c", ".cc"))]
    names = sorted({*firmware, "tinyslm_settings.c", "tinyslm_model_data.cc"})
    for needed in names:
        if not (src / needed).is_file():
            raise ProjectError(f"{src}: {needed} is missing (regenerate the project)")
    return [src / n for n in names]


def project_modality(project_dir: Path) -> str:
    """The firmware folder of a project's modality: ``audio`` for a keyword model, else
    ``text`` (also for a project whose ``tinyslm.json`` predates modalities)."""
    manifest = open_project(project_dir).manifest
    return "audio" if manifest is not None and manifest.modality == "audio" else "text"


_HEADER_SUFFIXES = (".h", ".hpp")


def _headers_digest(folder: Path, tree: Path) -> bytes:
    """The name and bytes of every header under ``folder`` (none for a folder in the tree:
    TFLM's own objects are keyed by the tree, not its headers, and so are these)."""
    if folder.is_relative_to(tree):
        return b""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.suffix in _HEADER_SUFFIXES and path.is_file():
            digest.update(_path_bytes(path.relative_to(folder).as_posix()) + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.digest()


def _project_objects(
    sources: Sequence[Path],
    tree: Path,
    objdir: Path,
    jobs: int,
    toolchain: Toolchain,
    rebuild: frozenset[Path] = frozenset(),
) -> list[Path]:
    """Compile the project's sources and the board stand-in into ``objdir``.

    ``objdir`` is shared by builds of the same tree and toolchain, so each object's
    name is a digest of what decides its bytes: the source's path (``__FILE__`` in
    TFLM's error messages) and bytes, and every header it can reach outside the tree
    (its own folder and the project's ``src/``). An edited source or header gets a
    new object; an unchanged project (tests rebuild the same one many times) skips
    its seconds-long C++ compiles.
    """
    project_src = sources[0].parent
    includes = [project_src, *_include_dirs(tree)]
    folders: dict[Path, bytes] = {}

    def named(source: Path) -> str:
        digest = hashlib.sha256(_path_bytes(str(source)) + b"\0" + source.read_bytes())
        for folder in sorted({source.parent, project_src}):
            if folder not in folders:
                folders[folder] = _headers_digest(folder, tree)
            digest.update(folders[folder])
        return digest.hexdigest()[:16]

    pairs = [
        (source, objdir / f"{source.name}.{named(source)}.o")
        for source in [*sources, *toolchain.board_sources]
    ]
    return _compile_pairs(pairs, includes, jobs, toolchain, rebuild)


def build_native(
    project_dir: Path,
    tflm_dir: Path,
    out: Path,
    *,
    cache_dir: Path | None = None,
    jobs: int | None = None,
) -> Path:
    """Build the host executable of a generated project's firmware at ``out``.

    Raises:
        ProjectError: not a usable project.
        ToolchainError: a bad tree, no compiler, or a failed compile or link.
    """
    sources = project_sources(project_dir)
    tree = check_host_tree(tflm_dir)
    main = HOST_KWS_MAIN if project_modality(project_dir) == "audio" else HOST_MAIN
    return build_firmware(sources, tree, out, host_toolchain(main), cache_dir=cache_dir, jobs=jobs)


def build_firmware(
    sources: Sequence[Path],
    tree: Path,
    out: Path,
    toolchain: Toolchain,
    *,
    cache_dir: Path | None = None,
    jobs: int | None = None,
) -> Path:
    """Link the project ``sources`` (see :func:`project_sources`) with TFLM into ``out``.

    TFLM's objects are compiled once per tree and toolchain into the cache. Only the
    sources under ``toolchain.lazy_prefixes`` (kernels) that the link asks for are
    compiled: the link is retried, each time adding the lazy sources that mention a
    still-undefined name, so a model with five ops costs a dozen kernel compiles
    rather than all of them.

    Raises:
        ToolchainError: no compiler, or a failed compile or link.
    """
    tree_srcs = tree_sources(tree)
    lazy = [p for p in tree_srcs if p.as_posix().startswith(toolchain.lazy_prefixes)]
    selected = [p for p in tree_srcs if not p.as_posix().startswith(toolchain.lazy_prefixes)]
    if not selected:
        raise ToolchainError(f"{tree} holds no TFLM sources")
    texts = {rel: (tree / rel).read_text(encoding="utf-8", errors="replace") for rel in lazy}
    key = _tree_key(tree, tree_srcs, toolchain)
    root = cache_dir
    if root is None:
        # An entry already there is used even where the cache cannot be written (a
        # read-only copy of a CI cache): its objects are whole, and compiling TFLM again
        # elsewhere costs minutes. Else, where the cache cannot be written (read-only, a
        # file in its place), a private temp folder, as the emulator library does.
        primary = default_cache_dir()
        root = primary if (primary / key).is_dir() else writable_cache_dir("native")
    objdir = root / key / "obj"
    workers = jobs or os.cpu_count() or 1
    includes = _include_dirs(tree)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rebuilt: set[Path] = set()
    rebuild: frozenset[Path] = frozenset()
    with tempfile.TemporaryDirectory(prefix=".tinyslm-native-", dir=out.parent) as tmp:
        tmp_out = Path(tmp) / out.name
        while True:
            own = _project_objects(
                sources, tree, objdir.parent / "own", workers, toolchain, rebuild
            )
            tflm_objects = _compile_all(
                tree, selected, objdir, includes, workers, toolchain, rebuild
            )
            proc = _link([*own, *tflm_objects], tmp_out, toolchain)
            if proc.returncode == 0:
                break
            # A cached object the linker cannot read is a miss: built again, once.
            unreadable = _unreadable_objects(proc.stderr, [*own, *tflm_objects])
            rebuild = frozenset(unreadable.keys() - rebuilt)
            if rebuild:
                for obj in sorted(rebuild):
                    warn_unusable(obj, unreadable[obj])
                rebuilt |= rebuild
                continue
            names: set[str] = set()
            for symbol in _UNDEFINED.findall(proc.stderr):
                names |= _identifiers(symbol)
            pending = {rel: texts[rel] for rel in lazy if rel not in selected}
            wanted = sorted({rel for n in names for rel in _defining(n, pending)})
            if not wanted:
                raise ToolchainError(
                    f"linking the {toolchain.name} firmware failed: {output_tail(proc.stderr, 3)}"
                )
            selected += wanted
        os.replace(tmp_out, out)
    return out
