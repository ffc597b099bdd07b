"""TFLM source trees: ``tinyslm tflm fetch``, validation, and copying into a project.

A *TFLM tree* is the output of tflite-micro's own
``tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py``: the
library's sources and headers plus ``third_party/`` (flatbuffers, gemmlowp,
ruy, kissfft and, for Cortex-M, CMSIS and CMSIS-NN). Two kinds matter here:

* ``cortex-m``: ``TARGET=cortex_m_generic TARGET_ARCH=cortex-m7+fp
  OPTIMIZED_KERNEL_DIR=cmsis_nn``, what the STM32H7 board builds from
  ``lib/tflm``. ``fetch`` makes this one.
* ``reference``: the default (host) target with reference kernels, the only
  kind that compiles for x86; ``tinyslm emulate --native`` needs it.

``fetch`` downloads the pinned tflite-micro commit from GitHub and runs the
generator (which itself downloads the third-party libraries with curl/wget/git);
nothing is downloaded anywhere else, and never at test time.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tinyslm.cache import cache_dir, cache_origin
from tinyslm.errors import OutputExistsError, ToolchainError, output_tail
from tinyslm.outdir import own_tree, tree_path_problem

TFLM_REPOSITORY = "tensorflow/tflite-micro"
TFLM_COMMIT = "90b983c2b3f1480642e040bbd2ddb37b998f3424"
ARCHIVE_URL = f"https://github.com/{TFLM_REPOSITORY}/archive/{TFLM_COMMIT}.tar.gz"
DOWNLOAD_TIMEOUT_S = 30.0

# What the STM32H7 board is built with (boards/stm32h7.yaml, tflm:).
CORTEX_M_TARGET = "cortex_m_generic"
CORTEX_M_ARCH = "cortex-m7+fp"
CORTEX_M_KERNELS = "cmsis_nn"
CORTEX_M_DEVICE = "ARMCM7"
# create_tflm_tree.py makefile options per tree kind: "cortex-m7" is what the
# STM32H7 board builds; "host" (TFLM's default target, reference kernels) is the
# kind that compiles for x86, for `tinyslm emulate --native`.
TARGETS: dict[str, tuple[str, ...]] = {
    "cortex-m7": (
        f"TARGET={CORTEX_M_TARGET}",
        f"TARGET_ARCH={CORTEX_M_ARCH}",
        f"OPTIMIZED_KERNEL_DIR={CORTEX_M_KERNELS}",
        # Use the arm-none-eabi-gcc on PATH: the default makes TFLM's makefile
        # download its own GCC, which project generation never runs.
        "TARGET_TOOLCHAIN_ROOT=/usr/bin/",
    ),
    "host": (),
}
DEFAULT_TARGET = "cortex-m7"

# Files every usable tree has; validate_tree names the first one missing.
REQUIRED_FILES = (
    "tensorflow/lite/micro/micro_interpreter.h",
    "tensorflow/lite/micro/micro_interpreter.cc",
    "tensorflow/lite/micro/micro_mutable_op_resolver.h",
    "tensorflow/lite/schema/schema_generated.h",
    "third_party/flatbuffers/include/flatbuffers/flatbuffers.h",
)
# Marks a cortex_m_generic tree (and so one that does not compile for the host).
CORTEX_M_MARKER = "tensorflow/lite/micro/cortex_m_generic/debug_log.cc"
# Written by fetch: where the tree came from (no timestamps, no absolute paths).
TREE_INFO = "tinyslm-tflm.json"
LIBRARY_JSON = "library.json"

# Include folders a TFLM build needs, relative to the tree root, when present.
# CMSIS Core and the ARMCM7 device header are left out on purpose: with
# PROJECT_GENERATION (see _library_json) no TFLM or CMSIS-NN file includes them,
# and exported to the project they would shadow the STM32Cube framework's own
# CMSIS Core (a different version) in main.cc.
INCLUDE_DIRS = (
    ".",
    "third_party/flatbuffers/include",
    "third_party/gemmlowp",
    "third_party/ruy",
    "third_party/kissfft",
    "third_party/cmsis_nn",
    "third_party/cmsis_nn/Include",
)

# Programs TFLM's makefile and download scripts call during project generation.
GENERATOR_TOOLS = ("make", "bash", "curl", "wget", "unzip", "git", "md5sum")


def default_cache_dir(target: str = DEFAULT_TARGET) -> Path:
    """``tflm/<commit>-<target>`` below the cache root (:func:`tinyslm.cache.cache_root`)."""
    _check_target(target)
    return cache_dir("tflm", f"{TFLM_COMMIT}-{target}")


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise ToolchainError(
            f"unknown TFLM tree target {target!r} (choose from {', '.join(sorted(TARGETS))})"
        )


def fetch_command(target: str = DEFAULT_TARGET) -> str:
    """The command that fetches and builds a TFLM tree of kind ``target``."""
    return "tinyslm tflm fetch" + ("" if target == DEFAULT_TARGET else f" --target {target}")


def missing_tree_hint(target: str = DEFAULT_TARGET) -> str:
    """One line telling the user how to get a TFLM tree of kind ``target``."""
    kind = "Cortex-M7 (CMSIS-NN)" if target == "cortex-m7" else "host (reference-kernel)"
    return (
        f"no {kind} TFLM source tree: run '{fetch_command(target)}' on a networked machine, "
        "or pass --tflm-dir PATH (a tree made by tflite-micro's create_tflm_tree.py)"
    )


def validate_tree(path: Path) -> None:
    """Check that ``path`` is a TFLM tree made by create_tflm_tree.py.

    Raises:
        ToolchainError: the folder is missing, lacks a required file (named), or holds a
            symbolic link to a folder or one that leads nowhere (named).
    """
    if not path.is_dir():
        raise ToolchainError(f"TFLM tree {path} does not exist or is not a folder")
    for rel in REQUIRED_FILES:
        if not (path / rel).is_file():
            raise ToolchainError(
                f"{path} is not a TFLM tree: {rel} is missing "
                "(expected the output of create_tflm_tree.py)"
            )
    _check_links(path)


def _check_links(tree: Path) -> None:
    """Refuse a tree holding a symbolic link to a folder, or one that leads nowhere.

    The choice: refused, not copied (as its folder, or as a link). create_tflm_tree.py
    makes none. Followed, ``tensorflow/loop -> .`` was copied 40 levels deep for 9 s
    before the copy failed; copied as links, the loop would be in the project for
    PlatformIO's build to walk, and a link leading outside the tree would build the
    firmware from files the project does not hold (absent on another machine, and not in
    its record). A link to a file is copied as that file, as before. Checked where a
    tree is taken (``--tflm-dir``, ``tinyslm build``'s ``lib/tflm``), before any work.

    Raises:
        ToolchainError: naming the tree, the link and where it leads.
    """
    problem = _link_problem(tree)
    if problem is not None:
        raise ToolchainError(
            f"TFLM tree {tree}: {problem}; a tree is copied into the project whole, so "
            "replace the link with what it names, or remove it"
        )


def _link_problem(tree: Path) -> str | None:
    """``REL -> WHERE is ...`` for the first link :func:`_check_links` refuses; else None."""
    # os.walk lists a link to a folder among the folders without entering it (a loop is
    # never followed); a broken one (or one that loops on itself) among the files.
    for root, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for name in sorted([*dirnames, *filenames]):
            link = Path(root) / name
            if not link.is_symlink():
                continue
            rel = link.relative_to(tree).as_posix()
            if link.is_dir():
                what = "a symbolic link to a folder"
            elif not link.exists():
                what = "a symbolic link that leads nowhere (broken or a loop)"
            else:
                continue
            return f"{rel} -> {os.readlink(link)} is {what}"
    return None


def installed_tree_problem(lib_dir: Path) -> str | None:
    """Why a project's ``lib/tflm`` cannot be built from, in a few words; None when it
    can: what :func:`validate_tree` and :func:`check_cortex_m_tree` ask of ``--tflm-dir``
    (``generate`` copies only such a tree), plus the ``library.json`` the copy adds.

    ``tinyslm build`` checked only that the folder existed: an empty one went on to
    PlatformIO, which failed minutes later on a missing header.
    """
    for path in (lib_dir.parent, lib_dir):
        stray = tree_path_problem(path)
        if stray is not None:
            # Something is there: "no lib/tflm" sent the user to a regenerate that
            # refused it; for lib itself a file, to one that failed naming lib/tflm.
            where = "" if path == lib_dir else f"{path.name} is "
            return f"no usable lib/tflm ({where}{stray})"
    if not lib_dir.is_dir():
        return "no lib/tflm"
    if not any(lib_dir.iterdir()):
        return "no usable lib/tflm (it is empty)"
    for rel in REQUIRED_FILES:
        if not (lib_dir / rel).is_file():
            return f"no usable lib/tflm ({rel} is missing)"
    link = _link_problem(lib_dir)
    if link is not None:
        return f"no usable lib/tflm ({link})"
    if not is_cortex_m_tree(lib_dir):
        return "no usable lib/tflm (a host tree with reference kernels, not CMSIS-NN)"
    if not (lib_dir / LIBRARY_JSON).is_file():
        return f"no usable lib/tflm ({LIBRARY_JSON} is missing)"
    return None


def is_cortex_m_tree(path: Path) -> bool:
    """True for a cortex_m_generic tree (its sources do not compile for the host)."""
    return (path / CORTEX_M_MARKER).is_file() or (path / "third_party" / "cmsis_nn").is_dir()


def check_cortex_m_tree(tree: Path, needed_by: str) -> Path:
    """``tree`` when it is a Cortex-M tree (CMSIS-NN kernels).

    Raises:
        ToolchainError: a host (reference-kernel) tree, naming what needs the other.
    """
    if not is_cortex_m_tree(tree):
        raise ToolchainError(
            f"{tree} is a host (reference-kernel) TFLM tree; {needed_by} needs a Cortex-M7 "
            f"tree with CMSIS-NN (what '{fetch_command()}' makes)"
        )
    return tree


def resolve_tree(tflm_dir: Path | None, target: str = DEFAULT_TARGET) -> Path | None:
    """The TFLM tree to use: ``tflm_dir`` (validated), else the fetch cache, else None.

    Raises:
        ToolchainError: ``tflm_dir`` was given and is not a usable tree.
    """
    if tflm_dir is not None:
        # realpath, not resolve(): Python 3.11's raises RuntimeError on a symlink loop.
        tree = Path(os.path.realpath(Path(tflm_dir).expanduser()))
        validate_tree(tree)
        return tree
    cached = default_cache_dir(target)
    try:
        validate_tree(cached)
    except ToolchainError:
        return None
    return cached


_COMMIT = re.compile(r"[0-9a-f]{7,40}")


def recorded_commit(tree: Path) -> str | None:
    """The tflite-micro commit ``tree`` records in its :data:`TREE_INFO` (what
    :func:`fetch` writes), else None: a tree made some other way says nothing of its
    commit, and one record that names another repository or no commit is not trusted."""
    try:
        info = json.loads((tree / TREE_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(info, dict) or info.get("repository") != TFLM_REPOSITORY:
        return None
    commit = info.get("commit")
    return commit if isinstance(commit, str) and _COMMIT.fullmatch(commit) else None


def _library_json(tree: Path) -> dict[str, object]:
    includes = [d for d in INCLUDE_DIRS if (tree / d).is_dir()]
    flags = [f"-I{d}" for d in includes]
    flags += ["-DTF_LITE_STATIC_MEMORY"]
    if is_cortex_m_tree(tree):
        flags += [
            # TFLM's cortex_m_generic micro_time.cc reads the DWT cycle counter
            # through a CMSIS device header; with PROJECT_GENERATION it compiles to
            # stubs instead, so the framework's CMSIS Core and the tree's CMSIS 6
            # never meet in one file. tinyslm times inferences itself (main.cc).
            "-DPROJECT_GENERATION",
            # What TFLM's makefile defines for OPTIMIZED_KERNEL_DIR=cmsis_nn: kernels and
            # headers (conv.h) switch on CMSIS_NN, so every file must agree on it.
            "-DCMSIS_NN",
            "-DKERNELS_OPTIMIZED_FOR_SPEED",
            # TFLM's CMSIS-NN build defaults (ext_libs/cmsis_nn.inc): int8 kernels only.
            "-DARM_NN_ENABLE_F16=0",
            "-DARM_NN_ENABLE_F32=0",
        ]
    commit = recorded_commit(tree)
    if commit is not None:
        version = "0.0.0+" + commit[:12]
        description = f"TensorFlow Lite Micro {commit} as generated by create_tflm_tree.py"
    else:
        # A tree the user made: naming the pinned commit claimed a source nobody checked.
        # Nothing from its path either, so the file stays the same wherever the tree was.
        version = "0.0.0+user-tree"
        description = (
            "TensorFlow Lite Micro from a user-supplied tree (its commit is not recorded) "
            "as generated by create_tflm_tree.py"
        )
    return {
        "name": "tflm",
        "version": version,
        "description": description,
        "license": "Apache-2.0",
        "frameworks": "*",
        "platforms": "*",
        "build": {
            "srcDir": ".",
            "includeDir": ".",
            # The sources of this tree are exactly what TFLM's makefile builds;
            # only tinyslm's own metadata is left out.
            "srcFilter": ["+<*>", f"-<{TREE_INFO}>", "-<.git/>"],
            "flags": flags,
            "libArchive": True,
        },
    }


def install_tree(tree: Path, dest_lib_dir: Path) -> None:
    """Copy the TFLM tree into a project's ``lib/tflm`` with a PlatformIO ``library.json``.

    ``dest_lib_dir`` must not exist yet (the caller writes projects atomically).

    Raises:
        ToolchainError: ``tree`` is not a usable TFLM tree, or ``dest_lib_dir`` exists.
    """
    validate_tree(tree)
    if dest_lib_dir.exists():
        raise ToolchainError(f"{dest_lib_dir} already exists; not overwriting it")
    try:
        shutil.copytree(tree, dest_lib_dir, ignore=shutil.ignore_patterns(".git", LIBRARY_JSON))
        own_tree(dest_lib_dir)  # a read-only SDK tree's copy: the owner's to change
    except shutil.Error as exc:
        # copytree goes on past a file it cannot copy (unreadable, gone meanwhile) and
        # then raises them all as one list: shown as it is, a Python list repr of
        # hundreds of characters, and the caller's "cannot write OUT" blamed the output.
        raise ToolchainError(f"cannot copy the TFLM tree {tree}: {_copy_errors(exc)}") from None
    doc = _library_json(tree)
    (dest_lib_dir / LIBRARY_JSON).write_text(json.dumps(doc, indent=2) + "\n")


def _copy_errors(exc: shutil.Error) -> str:
    """The first of the failures a ``shutil.Error`` of copytree lists (source and why),
    and how many more."""
    failures = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    if not failures:
        return str(exc)  # a message of its own, not a list
    first = failures[0]
    said = f"{first[0]}: {first[2]}" if isinstance(first, tuple) and len(first) == 3 else first
    more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
    return f"{said}{more}"


def complete_cortex_m_tree(src_root: Path, tree: Path, device: str = CORTEX_M_DEVICE) -> None:
    """Add the CMSIS headers create_tflm_tree.py leaves out of a cortex_m_generic tree.

    The generator copies ``CMSIS/Core/Include/*.h`` but not the ``m-profile/``
    folder those headers include, nor the device header (``ARMCM7.h``) that
    ``cortex_m_generic/micro_time.cc`` includes; both come from the tflite-micro
    checkout's ``downloads/cmsis`` (``src_root``).

    Raises:
        ToolchainError: the headers are not in the checkout's downloads.
    """
    cmsis = src_root / "tensorflow/lite/micro/tools/make/downloads/cmsis"
    pairs = [
        (cmsis / "CMSIS/Core/Include/m-profile", "third_party/cmsis/CMSIS/Core/Include/m-profile"),
        (
            cmsis / f"Cortex_DFP/Device/{device}/Include",
            f"third_party/cmsis/Cortex_DFP/Device/{device}/Include",
        ),
    ]
    for src, rel in pairs:
        headers = sorted(src.glob("*.h")) if src.is_dir() else []
        if not headers:
            raise ToolchainError(f"CMSIS headers missing from the tflite-micro checkout: {src}")
        dest = tree / rel
        dest.mkdir(parents=True, exist_ok=True)
        for header in headers:
            shutil.copy2(header, dest / header.name)


def _download(url: str, dest: Path, timeout: float, target: str = DEFAULT_TARGET) -> None:
    """Download ``url`` into ``dest``.

    Raises:
        ToolchainError: one line: the network failed (github.com named, and the fetch
            command for ``target``), or ``dest`` could not be written (the file and the
            system's reason: a full disk or no permission is no network problem).
    """
    try:
        # Unbuffered: a full disk shows on the write that fills it, not on a close
        # after the network part is over.
        out = dest.open("wb", buffering=0)
    except OSError as exc:
        raise _write_error(dest, exc) from None
    with out:
        try:
            resp = urllib.request.urlopen(url, timeout=timeout)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise _unreachable(target) from exc
        with resp:
            while True:
                try:
                    chunk = resp.read(_CHUNK_BYTES)
                except (http.client.HTTPException, OSError) as exc:
                    # A connection reset, a timeout or a truncated body (IncompleteRead,
                    # an HTTPException and no OSError: it went out as a traceback).
                    raise _unreachable(target) from exc
                if not chunk:
                    return
                view = memoryview(chunk)
                try:
                    while view:
                        # A raw file may take part of a chunk (a disk filling up).
                        view = view[out.write(view) :]
                except OSError as exc:
                    raise _write_error(dest, exc) from None


_CHUNK_BYTES = 1 << 16


def _write_error(dest: Path, exc: OSError) -> ToolchainError:
    return ToolchainError(f"cannot write the tflite-micro archive {dest}: {exc.strerror or exc}")


def _unreachable(target: str) -> ToolchainError:
    # Each kind of tree is taken by other commands: a host tree only by emulate --native.
    takers = (
        "'tinyslm emulate --native'"
        if target == "host"
        else "'tinyslm generate' or 'tinyslm emulate --native/--qemu'"
    )
    return ToolchainError(
        f"cannot reach github.com to download tflite-micro {TFLM_COMMIT}; "
        f"run '{fetch_command(target)}' on a networked machine, or give {takers} a tree "
        "with --tflm-dir PATH"
    )


def _extract(archive: Path, dest: Path) -> Path:
    try:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, filter="data")
            else:  # pragma: no cover - Python without extraction filters
                tar.extractall(dest)
    except (tarfile.TarError, OSError) as exc:
        raise ToolchainError(f"the tflite-micro archive is damaged: {exc}") from exc
    roots = [p for p in dest.iterdir() if p.is_dir()]
    if len(roots) != 1:
        raise ToolchainError("the tflite-micro archive does not hold one top folder")
    return roots[0]


def _check_generator_tools() -> None:
    missing = [t for t in GENERATOR_TOOLS if shutil.which(t) is None]
    if missing:
        raise ToolchainError(
            "tflite-micro's project generator needs these programs on PATH: " + ", ".join(missing)
        )
    probe = subprocess.run(
        [sys.executable, "-c", "import numpy, PIL"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        # TFLM's makefile evaluates its examples, which run generate_cc_arrays.py.
        raise ToolchainError(
            "tflite-micro's project generator needs numpy and pillow in this Python "
            "(pip install 'tinyslm[tflm]', as the README says, or pip install pillow)"
        )


def _run_generator(src_root: Path, out: Path, options: tuple[str, ...]) -> None:
    # A git clone of pigweed that only TFLM's own tests use; an existing folder
    # makes pigweed_download.sh skip it.
    (src_root / "tensorflow/lite/micro/tools/make/downloads/pigweed").mkdir(
        parents=True, exist_ok=True
    )
    env = dict(os.environ)
    # The makefile calls `python3`: make it this interpreter.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    argv = [
        sys.executable,
        "tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py",
        f"--makefile_options={' '.join(options)}",
        str(out),
    ]
    proc = subprocess.run(
        argv, cwd=src_root, env=env, capture_output=True, text=True, errors="replace", check=False
    )
    if proc.returncode != 0:
        tail = output_tail(proc.stderr + proc.stdout, 3) or f"exit code {proc.returncode}"
        if any(w in tail.lower() for w in ("could not resolve", "unable to access", "curl")):
            raise ToolchainError(
                "tflite-micro's generator could not download its third-party libraries "
                f"from github.com: {tail}"
            )
        raise ToolchainError(f"create_tflm_tree.py failed: {tail}")


def _fetched_tree(path: Path) -> bool:
    """Whether ``path`` is a tree :func:`fetch` built (its :data:`TREE_INFO` names TFLM)."""
    try:
        info = json.loads((path / TREE_INFO).read_text())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(info, dict) and info.get("repository") == TFLM_REPOSITORY


def _check_replaceable(dest: Path) -> None:
    """Refuse a destination that holds anything but a tree fetch built (or nothing).

    The tree takes the destination's place whole, so a folder of the user's named
    by mistake (``--cache-dir .``, ``--cache-dir ~/work``) would be deleted.

    Raises:
        OutputExistsError: ``dest`` is a file, or a folder with other contents.
    """
    if not dest.exists() and not dest.is_symlink():
        return
    real_folder = dest.is_dir() and not dest.is_symlink()
    if real_folder and (_fetched_tree(dest) or not any(dest.iterdir())):
        return
    raise OutputExistsError(
        f"{dest} is neither a new or empty folder nor a TFLM tree 'tinyslm tflm fetch' built; "
        "it is never replaced: give --cache-dir a new or empty folder"
    )


def fetch(
    cache_dir: Path | None = None,
    *,
    target: str = DEFAULT_TARGET,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Download tflite-micro at ``TFLM_COMMIT`` and build a TFLM tree with its generator.

    Args:
        cache_dir: where the tree goes (default :func:`default_cache_dir`).
        target: ``cortex-m7`` (CMSIS-NN, for the STM32H7 board) or ``host``
            (reference kernels, for ``tinyslm emulate --native``).
        force: rebuild even when a valid tree is already there.
        log: progress lines (one per step).

    Returns:
        The tree's folder. It appears only when complete (built in a temporary
        folder next to it, then renamed). An existing folder there is replaced
        only when it is empty or a tree this function built.

    Raises:
        ToolchainError: no network, a missing tool, the generator failed, or the new
            tree could not take the old one's place (the old one is kept).
        OutputExistsError: the destination holds something else (checked first).
    """
    _check_target(target)
    say = log or (lambda _msg: None)
    dest = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir(target)
    dest = Path(os.path.abspath(dest))
    if not force:
        try:
            validate_tree(dest)
        except ToolchainError:
            pass
        else:
            # A tree of the other kind there was called ready: a host tree named for the
            # Cortex-M7 build then failed (or emulated reference kernels) later.
            if is_cortex_m_tree(dest) != (target == "cortex-m7"):
                kind = "Cortex-M7 (CMSIS-NN)" if is_cortex_m_tree(dest) else "host"
                # --force replaces only a tree fetch built (_check_replaceable): offered
                # for one of the user's, it was then refused as "never replaced".
                how = (
                    "give another --cache-dir, or --force to replace it"
                    if _fetched_tree(dest)
                    else "'tinyslm tflm fetch' did not build it, so it is never replaced: "
                    "give another --cache-dir"
                )
                raise ToolchainError(f"{dest} holds a {kind} TFLM tree, not a {target} one: {how}")
            say(f"TFLM tree already at {dest}")
            return dest
    _check_replaceable(dest)
    where = _named_as(cache_dir, dest)
    created = _make_folders(dest.parent, where)
    try:
        _build_into(dest, target, where, say)
    except BaseException:
        # Offline, or any other failure: the folders this run made go again (a failed
        # fetch into a/b/c left a/b behind), deepest first, and only while empty.
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    say(f"TFLM tree ready at {dest}")
    return dest


def _named_as(cache_dir: Path | None, dest: Path) -> str:
    """How the user named ``dest``, to begin an error about it: the option, else the
    variable that placed the cache (an error naming only the internal path left the
    user to guess where it came from)."""
    if cache_dir is not None:
        return f"--cache-dir {cache_dir}"
    return cache_origin() or f"the TFLM cache {dest}"


def _make_folders(folder: Path, where: str) -> list[Path]:
    """Create ``folder`` and its missing parents; return those this call created,
    parents first, so that a failure can remove them.

    Raises:
        ToolchainError: one line naming ``where`` and the problem (an ancestor that is a
            file, a dangling link, no permission), instead of the raw OSError.
    """
    missing: list[Path] = []
    p = folder
    try:
        while not p.exists():
            if p.is_symlink():
                raise ToolchainError(f"{where}: {p} is a link to nothing")
            if p.parent == p:
                break
            missing.append(p)
            p = p.parent
        if not p.is_dir():
            raise ToolchainError(f"{where}: {p} is a file, not a folder")
    except OSError as exc:
        raise ToolchainError(f"{where}: cannot look at {p} ({exc.strerror or exc})") from None
    created: list[Path] = []
    for q in reversed(missing):
        try:
            q.mkdir()
        except FileExistsError:
            if q.is_dir():
                continue  # made meanwhile by someone else: not this run's to remove
            failure: OSError | str = f"{q} is a file, not a folder"
        except OSError as exc:
            failure = exc
        else:
            created.append(q)
            continue
        for made in reversed(created):
            with contextlib.suppress(OSError):
                made.rmdir()
        if isinstance(failure, OSError):
            raise ToolchainError(
                f"{where}: cannot create the folder {q} ({failure.strerror or failure})"
            ) from None
        raise ToolchainError(f"{where}: {failure}")
    return created


def _build_into(dest: Path, target: str, where: str, say: Callable[[str], None]) -> None:
    """Download, generate and put the tree at ``dest`` (its parent exists)."""
    try:
        tmp_dir = tempfile.TemporaryDirectory(prefix=".tinyslm-tflm-", dir=dest.parent)
    except OSError as exc:
        # The internal folder's name ("/proc/.tinyslm-tflm-0c49pu1g") meant nothing.
        raise ToolchainError(
            f"{where}: cannot create a folder in {dest.parent} ({exc.strerror or exc})"
        ) from None
    with tmp_dir as tmp_name:
        tmp = Path(tmp_name)
        archive = tmp / "tflite-micro.tar.gz"
        say(f"downloading {ARCHIVE_URL}")
        _download(ARCHIVE_URL, archive, DOWNLOAD_TIMEOUT_S, target)
        _check_generator_tools()
        say("extracting")
        src_root = _extract(archive, tmp / "src")
        out = tmp / "tree"
        say("running create_tflm_tree.py (it downloads its third-party libraries)")
        _run_generator(src_root, out, TARGETS[target])
        if is_cortex_m_tree(out):
            complete_cortex_m_tree(src_root, out)
        info = {
            "repository": TFLM_REPOSITORY,
            "commit": TFLM_COMMIT,
            "target": target,
            "makefile_options": list(TARGETS[target]),
        }
        (out / TREE_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        validate_tree(out)
        _check_replaceable(dest)  # again: the download and generator take minutes
        # The old tree goes aside into the temporary folder (removed with it), and
        # comes back if the new one cannot take its place.
        old = tmp / "old"
        if dest.exists():
            os.replace(dest, old)
        try:
            os.replace(out, dest)
        except OSError as exc:
            if old.exists():
                os.replace(old, dest)
            raise ToolchainError(
                f"cannot put the TFLM tree at {dest}: {exc.strerror or exc}; the old one is kept"
            ) from None
