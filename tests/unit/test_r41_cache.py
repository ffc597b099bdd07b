"""Round 41: damaged, read-only and planted caches, and temps left by killed runs.

A cut-short cache entry (a full disk, a power cut, a partial copy of the cache) failed
every later run until the user found and removed it; a read-only cache whose
``emulate/`` folder existed failed ``emulate`` instead of using the temp fallback; the
fallback in the shared temp folder loaded whatever library another user had put there;
two keyword trainings shared one temp name; the teacher cache raised numpy's own error
on a cut-short entry; a killed native build left its temp folders in the cache forever.
"""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
import sys
import tempfile
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from tinyslm.cache import save_array
from tinyslm.emulate import library
from tinyslm.errors import ToolchainError
from tinyslm.project import Project
from tinyslm.toolchain import ccompile, host

LIB_SOURCE = "int tinyslm_r41_answer(void) { return 41; }\n"


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp folder of this test's own (the fallback lives below it)."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def fake_project(tmp_path: Path) -> tuple[Project, list[Path]]:
    """A project stand-in for :func:`library.cached_library` (it reads only ``src``)."""
    src = tmp_path / "project" / "src"
    src.mkdir(parents=True)
    (src / "answer.c").write_text(LIB_SOURCE)
    return cast(Project, types.SimpleNamespace(src=src)), [src / "answer.c"]


def answer(lib: Path) -> int:
    return int(ctypes.CDLL(str(lib)).tinyslm_r41_answer())


def needs_cc() -> None:
    try:
        ccompile.compiler_command("c")
        ccompile.compiler_command("c++")
    except ToolchainError as exc:
        pytest.skip(str(exc))


# --- 1. a damaged entry is a miss, rebuilt once with one warning -------------------------


def test_an_emptied_cached_library_is_rebuilt_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    needs_cc()
    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(tmp_path / "cache"))
    project, sources = fake_project(tmp_path)
    lib = library.cached_library(project, sources, [])
    assert lib.is_relative_to(tmp_path / "cache" / "emulate")
    lib.write_bytes(b"")  # what a full disk or a partial copy leaves
    capsys.readouterr()
    again = library.cached_library(project, sources, [])
    assert again == lib
    assert answer(again) == 41  # it was "file too short" on every later run
    warnings = capsys.readouterr().err.splitlines()
    assert warnings == [
        f"warning: the cache entry {lib} is unusable (file too short); rebuilding it"
    ]
    library.cached_library(project, sources, [])
    assert capsys.readouterr().err == ""  # whole again: no more warnings


def tiny_tree(tmp_path: Path) -> tuple[Path, list[Path], host.Toolchain]:
    """A one-source "TFLM tree", a project source that calls it, the host toolchain."""
    tree = tmp_path / "tree"
    (tree / "lib").mkdir(parents=True)
    (tree / "lib" / "part.c").write_text("int part(void) { return 7; }\n")
    src = tmp_path / "project" / "src"
    src.mkdir(parents=True)
    (src / "main.c").write_text("int part(void);\nint main(void) { return part() - 7; }\n")
    toolchain = host.Toolchain(
        name="native",
        cc=tuple(ccompile.compiler_command("c")),
        cxx=tuple(ccompile.compiler_command("c++")),
        cflags=("-O0",),
        cxxflags=("-O0",),
        defines=(),
        ldflags=(),
        board_sources=(),
    )
    return tree, [src / "main.c"], toolchain


def test_a_cut_short_cached_object_is_rebuilt_with_one_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    needs_cc()
    tree, sources, toolchain = tiny_tree(tmp_path)
    store = tmp_path / "cache"
    out = host.build_firmware(sources, tree, tmp_path / "fw1", toolchain, cache_dir=store)
    assert subprocess.run([str(out)], check=False).returncode == 0
    (obj,) = store.glob("*/obj/lib__part.c.o")
    obj.write_bytes(obj.read_bytes()[:40])  # an ELF header and no more
    capsys.readouterr()
    out = host.build_firmware(sources, tree, tmp_path / "fw2", toolchain, cache_dir=store)
    assert subprocess.run([str(out)], check=False).returncode == 0
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"warning: the cache entry {obj} is unusable (")
    assert line.endswith("); rebuilding it")
    host.build_firmware(sources, tree, tmp_path / "fw3", toolchain, cache_dir=store)
    assert capsys.readouterr().err == ""
    # Only an object the linker cannot read is a miss: an undefined name is the user's.
    sources[0].write_text("int nowhere(void);\nint main(void) { return nowhere(); }\n")
    with pytest.raises(ToolchainError, match=r"linking the native firmware failed: .*nowhere"):
        host.build_firmware(sources, tree, tmp_path / "fw4", toolchain, cache_dir=store)
    assert "warning" not in capsys.readouterr().err


# --- 2. a cache that cannot be written: the fallback, for emulate and --native alike ------


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Make a folder behave as on a read-only file system (root ignores mode bits, so
    chmod cannot): creating anything below it fails with EROFS."""
    roots: list[Path] = []
    real_mkdir, real_open = os.mkdir, os.open

    def blocked(path: Any) -> bool:
        return any(Path(os.fsdecode(path)).is_relative_to(root) for root in roots)

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if blocked(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))
        real_mkdir(path, *args, **kwargs)

    def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT and blocked(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(os, "open", open_)
    return roots.append


def test_a_read_only_cache_with_an_emulate_folder_falls_back(
    tmp_path: Path,
    temp_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    read_only: Callable[[Path], None],
) -> None:
    # mkdir(exist_ok=True) of the existing emulate/ succeeded, so the fallback was never
    # taken: "error: .../emulate/<key>: Read-only file system".
    needs_cc()
    root = tmp_path / "cache"
    (root / "emulate").mkdir(parents=True)
    read_only(root)
    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(root))
    project, sources = fake_project(tmp_path)
    lib = library.cached_library(project, sources, [])
    assert lib.is_relative_to(temp_root / f"tinyslm-{os.getuid()}" / "emulate")
    assert answer(lib) == 41


@pytest.mark.parametrize("damage", ["read-only", "a file", "read-only, entry there"])
def test_native_builds_fall_back_as_emulate_does(
    damage: str,
    tmp_path: Path,
    temp_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    read_only: Callable[[Path], None],
) -> None:
    # --native failed "error: .../native: Read-only file system" and
    # ".../native/<key>/own: Not a directory" where the plain emulator fell back. An entry
    # already in a read-only cache is used as it is (the review of round 41: the first
    # fallback took every read-only cache, so a complete CI copy compiled all of TFLM
    # again in the temp folder).
    needs_cc()
    tree, sources, toolchain = tiny_tree(tmp_path)
    root = tmp_path / "cache"
    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(root))
    if damage == "a file":
        root.write_text("x")
    elif damage == "read-only":
        (root / "native").mkdir(parents=True)
    else:
        host.build_firmware(sources, tree, tmp_path / "fw0", toolchain)
    if damage != "a file":
        read_only(root)
    out = host.build_firmware(sources, tree, tmp_path / "fw", toolchain)
    assert subprocess.run([str(out)], check=False).returncode == 0
    fallback = temp_root / f"tinyslm-{os.getuid()}"
    if damage == "read-only, entry there":
        assert not fallback.exists()
        assert len(list(root.glob("native/*/obj/lib__part.c.o"))) == 1
    else:
        assert list(fallback.glob("native/*/obj/lib__part.c.o"))


# --- 3. the fallback in the shared temp folder must be this user's own --------------------


def test_the_fallback_is_created_private(
    tmp_path: Path, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    needs_cc()
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(blocked))
    project, sources = fake_project(tmp_path)
    lib = library.cached_library(project, sources, [])
    base = temp_root / f"tinyslm-{os.getuid()}"
    assert lib.is_relative_to(base)
    assert (base.stat().st_mode & 0o777) == 0o700


@pytest.mark.parametrize("planted", ["group-writable", "a link", "another user's"])
def test_a_planted_fallback_is_refused_in_one_line(
    planted: str, tmp_path: Path, temp_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A library in someone else's /tmp/tinyslm-<uid>/emulate/<key>/ was loaded and run.
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(blocked))
    uid = os.getuid()
    if planted == "another user's":
        uid += 1  # the folder below is then not owned by "us"
        monkeypatch.setattr(os, "getuid", lambda: uid)
    base = temp_root / f"tinyslm-{uid}"
    if planted == "a link":
        (tmp_path / "elsewhere").mkdir()
        base.symlink_to(tmp_path / "elsewhere")
    else:
        base.mkdir()
        if planted == "group-writable":
            base.chmod(0o777)
    project, sources = fake_project(tmp_path)
    with pytest.raises(ToolchainError) as info:
        library.cached_library(project, sources, [])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot write the cache folder {blocked / 'emulate'} (")
    assert f"set by TINYSLM_CACHE_DIR={blocked}" in message
    assert f"the fallback {base} " in message
    reason = {
        "group-writable": "can be written by other users (mode 777)",
        "a link": "is a symbolic link",
        "another user's": f"belongs to user id {os.stat(base).st_uid}, not to you ({uid})",
    }[planted]
    assert reason in message
    assert not list(temp_root.rglob("*.so"))  # nothing built or loaded there
    with pytest.raises(ToolchainError, match="the fallback .* " + reason.split(" (")[0]):
        host.build_firmware([], tmp_path, tmp_path / "fw", _never_toolchain())


def _never_toolchain() -> host.Toolchain:
    return host.Toolchain("native", ("false",), ("false",), (), (), (), (), ())


# --- 4. concurrent keyword trainings: a temp file each ------------------------------------


def synthetic_dataset() -> Any:
    from tinyslm.audio.dataset import AudioDataset, Clip

    rng = np.random.default_rng(0)
    clips = tuple(
        Clip(
            label,
            split,
            f"s{i}",
            f"{label}/{split}{i}.wav",
            rng.integers(-900, 900, 16000).astype(np.int16),
        )
        for label in ("no", "yes")
        for i, split in enumerate(("train", "val", "test"))
    )
    return AudioDataset(labels=("no", "yes"), clips=clips, noise=(), source="synthetic")


def test_feature_cache_temps_are_unique_and_removed_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two trainings of the same data wrote "x_train.tmp.npy" both, and one renamed the
    # other's half-written file into the cache; a failed write left the temp behind.
    from tinyslm.audio.train import AudioTrainConfig, feature_sets

    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(tmp_path / "cache"))
    real_save = np.save
    targets: list[str] = []
    fail = [True]

    def save(file: Any, array: Any, *args: Any, **kwargs: Any) -> None:
        name = getattr(file, "name", file)
        if isinstance(name, int):  # an os.fdopen()ed temp: its path from /proc
            name = os.readlink(f"/proc/self/fd/{name}")
        name = os.fsdecode(name)
        targets.append(name)
        real_save(file, array, *args, **kwargs)
        if fail[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "save", save)
    data = synthetic_dataset()
    config = AudioTrainConfig(size="small", augment_copies=0, balance_classes=False)
    said: list[str] = []
    feature_sets(data, config, said.append)
    assert any("not cached" in line for line in said), said
    (entry,) = (tmp_path / "cache" / "audio-features").iterdir()
    assert list(entry.iterdir()) == []  # no temp left behind
    fail[0] = False
    feature_sets(data, config)
    for _ in range(2):
        for path in entry.iterdir():
            path.unlink()
        feature_sets(data, config)
    x_train = [t for t in targets if Path(t).name.startswith(("x_train", ".x_train"))]
    assert len(x_train) == 4 and len(set(x_train)) == 4  # a temp of its own each time
    assert sorted(p.name for p in entry.iterdir()) == sorted(
        f"{n}.npy" for n in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
    )


# --- 5. the teacher cache: a cut-short entry is a miss; a read-only one is a warning -------


def test_a_cut_short_teacher_logits_entry_is_computed_again(tmp_path: Path) -> None:
    from tinyslm.text import distill

    path = tmp_path / "logits" / "key.npy"
    save_array(path, np.ones((50, 4), np.float32))
    path.write_bytes(path.read_bytes()[:100])
    said: list[str] = []
    got = distill._cached_logits(
        path, lambda: np.full((50, 4), 2.0), said.append, "fitting", said.append
    )
    assert np.array_equal(got, np.full((50, 4), 2.0, np.float32))
    assert said[0].startswith(f"teacher cache entry {path} is unreadable (")
    assert said[1] == "fitting"
    assert np.array_equal(np.load(path), got)  # written again, whole


def test_an_unwritable_teacher_cache_is_a_warning_not_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tinyslm.text import distill

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    said: list[str] = []
    got = distill._cached_logits(
        blocked / "key.npy", lambda: np.ones((3, 2)), said.append, "x", said.append
    )
    assert got.shape == (3, 2)
    assert said[-1].startswith(f"teacher results not cached ({blocked}: ")
    distill._cached_logits(blocked / "key.npy", lambda: np.ones((3, 2)), None, "x")
    assert capsys.readouterr().err.startswith("warning: teacher results not cached (")


@pytest.fixture
def fake_teacher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """The ``distill`` extra faked: a SentenceTransformer that records what it embeds."""
    from tinyslm.text import distill

    calls: list[list[str]] = []

    class SentenceTransformer:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def encode(self, texts: list[str], **kwargs: Any) -> Any:
            calls.append(list(texts))
            return np.ones((len(texts), 4), np.float32)

    folder = tmp_path / "teacher-model"
    folder.mkdir()
    monkeypatch.setattr(distill, "_teacher_dir", lambda: folder)
    hf_logging = types.SimpleNamespace(
        disable_progress_bar=lambda: None, set_verbosity_error=lambda: None
    )
    fakes = {
        "torch": types.SimpleNamespace(set_num_threads=lambda n: None),
        "sentence_transformers": types.SimpleNamespace(SentenceTransformer=SentenceTransformer),
        "transformers": types.SimpleNamespace(),
        "transformers.utils": types.SimpleNamespace(logging=hf_logging),
    }
    for name, module in fakes.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    yield calls


def test_a_cut_short_teacher_embedding_entry_is_computed_again(
    tmp_path: Path, fake_teacher: list[list[str]]
) -> None:
    from tinyslm.text import distill

    texts = ["turn on the lights", "what time is it"]
    store = tmp_path / "teacher"
    first = distill.embed_texts(texts, cache_dir=store)
    (entry,) = store.rglob("*.npy")
    entry.write_bytes(entry.read_bytes()[:60])
    said: list[str] = []
    again = distill.embed_texts(texts, cache_dir=store, warn=said.append)
    assert np.array_equal(again, first)
    assert len(fake_teacher) == 2  # computed again, not a numpy traceback
    assert said[0].startswith(f"teacher cache entry {entry} is unreadable (")
    assert np.array_equal(np.load(entry), first)


# --- 6. a killed native build's temp folders are removed by the next build ---------------


KILLER = "#!/bin/sh\nkill -9 $PPID\nsleep 2\n"


def test_temp_folders_of_a_killed_build_are_removed_under_the_lock(tmp_path: Path) -> None:
    needs_cc()
    killer = tmp_path / "killer-cc"
    killer.write_text(KILLER)
    killer.chmod(0o755)
    src = tmp_path / "part.c"
    src.write_text("int part(void) { return 7; }\n")
    objdir = tmp_path / "obj"
    obj = objdir / "part.c.o"
    code = (
        "import sys\nfrom pathlib import Path\nfrom tinyslm.toolchain import host\n"
        "tc = host.Toolchain('k', (sys.argv[1],), (sys.argv[1],), (), (), (), (), ())\n"
        "host._compile_pairs([(Path(sys.argv[2]), Path(sys.argv[3]))], [], 1, tc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(host.__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(killer), str(src), str(obj)], env=env, check=False
    )
    assert proc.returncode == -9
    left = [p.name for p in objdir.iterdir() if p.name.startswith(".tinyslm-cc-")]
    assert len(left) == 1 and not obj.exists()  # what kill -9 leaves
    # Not ours to remove: a compile_program temp and a name outside the pattern.
    (objdir / ".tinyslm-cc-abcdefgh").mkdir()
    (objdir / ".tinyslm-cc-notours").mkdir()
    toolchain = host.Toolchain(
        "native", tuple(ccompile.compiler_command("c")), ("c++",), (), (), (), (), ()
    )
    host._compile_pairs([(src, obj)], [], 1, toolchain)
    assert obj.is_file()
    remaining = sorted(p.name for p in objdir.iterdir() if p.name.startswith(".tinyslm-cc-"))
    assert remaining == [".tinyslm-cc-abcdefgh", ".tinyslm-cc-notours"]
