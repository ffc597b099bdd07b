"""tinyslm.toolchain.tflm and the tree checks of tinyslm.toolchain.host.

Validation, lookup, install, fetch offline.

Trees here are small fakes with the files the code looks for; the real trees are
exercised by tests/host/test_native.py (TINYSLM_TFLM_DIR).
"""

from __future__ import annotations

import errno
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.errors import OutputExistsError, ToolchainError
from tinyslm.toolchain import host, tflm

# 'tinyslm tflm fetch' itself has no --tflm-dir: the message sends the tree to the
# commands that take one (test_offline_message_offers_options_that_exist checks it).
OFFLINE_MESSAGE = (
    f"cannot reach github.com to download tflite-micro {tflm.TFLM_COMMIT}; "
    "run 'tinyslm tflm fetch' on a networked machine, or give 'tinyslm generate' or "
    "'tinyslm emulate --native/--qemu' a tree with --tflm-dir PATH"
)


def make_tree(root: Path, *, cortex_m: bool = False) -> Path:
    """A fake create_tflm_tree.py output: the required files, a kernel, a signal source."""
    for rel in tflm.REQUIRED_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"// {rel}\n")
    extra = [
        "third_party/gemmlowp/fixedpoint/fixedpoint.h",
        "third_party/ruy/ruy/profiler/instrumentation.h",
        "tensorflow/lite/micro/kernels/softmax.cc",
        "tensorflow/lite/micro/test_helpers.cc",
        "signal/src/window.cc",
        "third_party/kissfft/kiss_fft.c",
    ]
    if cortex_m:
        extra += [
            tflm.CORTEX_M_MARKER,
            "third_party/cmsis_nn/Include/arm_nnfunctions.h",
            "third_party/cmsis/CMSIS/Core/Include/cmsis_compiler.h",
        ]
    for rel in extra:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"// {rel}\n")
    return root


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.delenv("TINYSLM_CACHE_DIR", raising=False)  # it would win over XDG_CACHE_HOME
    return home


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """urlopen fails like a machine without a route to github.com; records the URLs tried."""
    tried: list[str] = []

    def no_network(url: str, *args: object, **kwargs: object) -> None:
        tried.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return tried


# --- validate_tree / resolve_tree ----------------------------------------------


def test_validate_tree_accepts_a_complete_tree(tmp_path: Path) -> None:
    tflm.validate_tree(make_tree(tmp_path / "t"))


def test_validate_tree_names_the_missing_file(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t")
    (tree / "tensorflow/lite/micro/micro_interpreter.h").unlink()
    with pytest.raises(ToolchainError, match=r"tensorflow/lite/micro/micro_interpreter\.h"):
        tflm.validate_tree(tree)


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_validate_tree_rejects_non_folders(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x"
    if kind == "file":
        path.write_text("not a tree")
    with pytest.raises(ToolchainError, match="does not exist or is not a folder"):
        tflm.validate_tree(path)


def test_resolve_tree_prefers_the_explicit_folder(tmp_path: Path, cache_home: Path) -> None:
    make_tree(tflm.default_cache_dir())
    explicit = make_tree(tmp_path / "mine")
    assert tflm.resolve_tree(explicit) == explicit.resolve()


def test_resolve_tree_explicit_but_broken_is_an_error(tmp_path: Path, cache_home: Path) -> None:
    make_tree(tflm.default_cache_dir())  # a good cache must not hide the bad explicit path
    with pytest.raises(ToolchainError, match="not a TFLM tree"):
        tflm.resolve_tree(tmp_path)


def test_resolve_tree_falls_back_to_the_cache(cache_home: Path) -> None:
    assert tflm.resolve_tree(None) is None
    cached = make_tree(tflm.default_cache_dir())
    assert cached == cache_home / "tinyslm" / "tflm" / f"{tflm.TFLM_COMMIT}-cortex-m7"
    assert tflm.resolve_tree(None) == cached
    assert tflm.resolve_tree(None, target="host") is None


def test_qemu_uses_the_projects_own_tree(tmp_path: Path, cache_home: Path) -> None:
    # Round 36: emulate --qemu on an STM32H7 project took the fetch cache (or refused
    # without one) and never the project's lib/tflm, which the board build compiles.
    from tinyslm.toolchain.cortex_m import resolve_cortex_m_tree

    project = tmp_path / "proj"
    own = make_tree(project / "lib" / "tflm", cortex_m=True)
    # What generate's copy adds, and build asks of lib/tflm (round 49: --qemu asks it too).
    (own / tflm.LIBRARY_JSON).write_text("{}\n")
    assert resolve_cortex_m_tree(None, project) == own.resolve()
    cached = make_tree(tflm.default_cache_dir(), cortex_m=True)
    assert resolve_cortex_m_tree(None, project) == own.resolve()  # not the cache
    explicit = make_tree(tmp_path / "mine", cortex_m=True)
    assert resolve_cortex_m_tree(explicit, project) == explicit.resolve()
    assert resolve_cortex_m_tree(None, tmp_path / "esp32") == cached  # no lib/tflm
    # A broken lib/tflm is named, not emulated with another tree.
    (own / tflm.REQUIRED_FILES[0]).unlink()
    with pytest.raises(ToolchainError, match=rf"{own}.* is not a TFLM tree"):
        resolve_cortex_m_tree(None, project)


def test_missing_tree_hint_is_one_line_naming_the_command() -> None:
    for target, command in (("cortex-m7", "'tinyslm tflm fetch'"), ("host", "--target host")):
        hint = tflm.missing_tree_hint(target)
        assert "\n" not in hint
        assert command in hint
        assert "--tflm-dir PATH" in hint


# --- install_tree ---------------------------------------------------------------


def test_install_tree_copies_and_writes_library_json(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree", cortex_m=True)
    (tree / ".git").mkdir()
    (tree / ".git" / "HEAD").write_text("ref\n")
    dest = tmp_path / "proj" / "lib" / "tflm"
    tflm.install_tree(tree, dest)

    for rel in tflm.REQUIRED_FILES:
        assert (dest / rel).read_text() == (tree / rel).read_text()
    assert not (dest / ".git").exists()
    doc = json.loads((dest / "library.json").read_text())
    assert doc["name"] == "tflm"
    build = doc["build"]
    assert build["srcDir"] == "." and build["includeDir"] == "."
    flags = build["flags"]
    # Include folders that exist, and only those.
    for inc in (
        "-I.",
        "-Ithird_party/flatbuffers/include",
        "-Ithird_party/gemmlowp",
        "-Ithird_party/ruy",
        "-Ithird_party/cmsis_nn/Include",
    ):
        assert inc in flags
    # Not exported: it would shadow the board framework's CMSIS Core in main.cc.
    assert "-Ithird_party/cmsis/CMSIS/Core/Include" not in flags
    for flag in flags:
        if flag.startswith("-I"):
            assert (dest / flag[2:]).is_dir(), flag
    assert "-DTF_LITE_STATIC_MEMORY" in flags
    assert "-DPROJECT_GENERATION" in flags
    assert "-DCMSIS_NN" in flags


def test_install_tree_reference_tree_has_no_cortex_m_flags(tmp_path: Path) -> None:
    dest = tmp_path / "lib" / "tflm"
    tflm.install_tree(make_tree(tmp_path / "tree"), dest)
    flags = json.loads((dest / "library.json").read_text())["build"]["flags"]
    assert "-DPROJECT_GENERATION" not in flags
    assert not any("cmsis" in f.lower() for f in flags)


def test_install_tree_refuses_an_existing_destination(tmp_path: Path) -> None:
    dest = tmp_path / "lib" / "tflm"
    dest.mkdir(parents=True)
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(ToolchainError, match="already exists"):
        tflm.install_tree(make_tree(tmp_path / "tree"), dest)
    assert (dest / "keep.txt").read_text() == "mine"


def test_install_tree_validates_first(tmp_path: Path) -> None:
    dest = tmp_path / "lib" / "tflm"
    with pytest.raises(ToolchainError, match="not a TFLM tree"):
        tflm.install_tree(tmp_path, dest)
    assert not dest.exists()


# --- complete_cortex_m_tree -------------------------------------------------------


def test_complete_cortex_m_tree_adds_the_cmsis_headers(tmp_path: Path) -> None:
    cmsis = tmp_path / "src/tensorflow/lite/micro/tools/make/downloads/cmsis"
    headers = {
        "CMSIS/Core/Include/m-profile/cmsis_gcc_m.h": "gcc",
        "CMSIS/Core/Include/m-profile/armv7m_cachel1.h": "cache",
        "Cortex_DFP/Device/ARMCM7/Include/ARMCM7.h": "device",
        "Cortex_DFP/Device/ARMCM7/Include/system_ARMCM7.h": "system",
    }
    for rel, text in headers.items():
        (cmsis / rel).parent.mkdir(parents=True, exist_ok=True)
        (cmsis / rel).write_text(text)
    tree = make_tree(tmp_path / "tree", cortex_m=True)
    tflm.complete_cortex_m_tree(tmp_path / "src", tree)
    for rel, text in headers.items():
        assert (tree / "third_party/cmsis" / rel).read_text() == text


def test_complete_cortex_m_tree_without_downloads_is_an_error(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree", cortex_m=True)
    with pytest.raises(ToolchainError, match="m-profile"):
        tflm.complete_cortex_m_tree(tmp_path / "src", tree)


# --- fetch ------------------------------------------------------------------------


def test_fetch_offline_is_one_line_and_leaves_nothing(tmp_path: Path, offline: list[str]) -> None:
    dest = tmp_path / "cache" / "tree"
    with pytest.raises(ToolchainError) as info:
        tflm.fetch(dest)
    assert str(info.value) == OFFLINE_MESSAGE
    assert offline == [tflm.ARCHIVE_URL]
    # No half-written temporary folder, nor the parent made for the tree.
    assert list(tmp_path.iterdir()) == []


def _fetched_info(tree: Path) -> Path:
    """Mark a fake tree as fetch's own (the record fetch writes into every tree it builds)."""
    info = {"repository": tflm.TFLM_REPOSITORY, "commit": tflm.TFLM_COMMIT, "target": "host"}
    (tree / tflm.TREE_INFO).write_text(json.dumps(info))
    return tree


def test_fetch_reuses_a_valid_tree_without_the_network(tmp_path: Path, offline: list[str]) -> None:
    dest = _fetched_info(make_tree(tmp_path / "tree", cortex_m=True))
    assert tflm.fetch(dest) == dest
    assert offline == []
    with pytest.raises(ToolchainError, match=r"cannot reach github\.com"):
        tflm.fetch(dest, force=True)
    tflm.validate_tree(dest)  # a failed --force rebuild keeps the old tree


@pytest.mark.parametrize(("cortex_m", "target"), [(False, "cortex-m7"), (True, "host")])
def test_fetch_refuses_a_tree_of_the_other_kind(
    tmp_path: Path, offline: list[str], cortex_m: bool, target: str
) -> None:
    # Round 36: 'tflm fetch --cache-dir HOST_TREE' said "TFLM tree already at ..." for
    # the Cortex-M7 target, and --target host took a CMSIS-NN tree.
    dest = _fetched_info(make_tree(tmp_path / "tree", cortex_m=cortex_m))
    with pytest.raises(ToolchainError, match=rf"TFLM tree, not a {target} one: .*--force"):
        tflm.fetch(dest, target=target)
    assert offline == []


def test_fetch_offers_force_only_for_its_own_tree(tmp_path: Path, offline: list[str]) -> None:
    # A tree of the user's (not fetched) of the other kind was answered "give another
    # --cache-dir, or --force to replace it", and --force then said it is never replaced.
    dest = make_tree(tmp_path / "tree", cortex_m=False)
    with pytest.raises(ToolchainError) as err:
        tflm.fetch(dest, target="cortex-m7")
    assert str(err.value) == (
        f"{dest} holds a host TFLM tree, not a cortex-m7 one: 'tinyslm tflm fetch' did not "
        "build it, so it is never replaced: give another --cache-dir"
    )
    with pytest.raises(OutputExistsError, match="never replaced"):
        tflm.fetch(dest, target="cortex-m7", force=True)
    assert offline == []


def test_a_failed_fetch_removes_only_the_folders_it_made(
    tmp_path: Path, offline: list[str]
) -> None:
    # Offline into a/b/c: the parents a/b were made before the download and left behind.
    (tmp_path / "x").mkdir()
    with pytest.raises(ToolchainError, match=r"cannot reach github\.com"):
        tflm.fetch(tmp_path / "x" / "a" / "b" / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]
    assert list((tmp_path / "x").iterdir()) == [], "folders of the failed fetch were left"


@pytest.mark.parametrize("case", ["file-parent", "env-file", "proc", "dangling"])
def test_fetch_cache_dir_problems_are_one_line_naming_the_users_path(
    tmp_path: Path, offline: list[str], monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    # Raw OSError texts: "/tmp/h/afile: File exists", an internal temporary folder
    # "/proc/.tinyslm-tflm-0c49pu1g: No such file or directory", "afile/tflm: Not a directory".
    afile = tmp_path / "afile"
    afile.write_text("x")
    if case == "file-parent":
        args = ["--cache-dir", str(afile / "sub")]
        said = f"--cache-dir {afile / 'sub'}: {afile} is a file, not a folder"
    elif case == "env-file":
        monkeypatch.setenv("TINYSLM_CACHE_DIR", str(afile))
        args, said = [], f"TINYSLM_CACHE_DIR={afile}: {afile} is a file, not a folder"
    elif case == "dangling":
        link = tmp_path / "gone"
        link.symlink_to(tmp_path / "nothing-here")
        args = ["--cache-dir", str(link / "sub")]
        said = f"--cache-dir {link / 'sub'}: {link} is a link to nothing"
    else:
        if not Path("/proc/self").is_dir():
            pytest.skip("needs Linux /proc, which takes no new folder")
        args = ["--cache-dir", "/proc/x"]
        said = "--cache-dir /proc/x: cannot create a folder in /proc (No such file or directory)"
    result = CliRunner().invoke(cli, ["tflm", "fetch", *args])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error: {said}"]
    assert offline == []  # refused before the download


@pytest.fixture
def fake_generator(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """fetch's download and generator replaced by a fake tree; records the downloads."""
    downloads: list[str] = []

    def download(url: str, archive: Path, timeout: float, target: str) -> None:
        downloads.append(url)
        archive.write_bytes(b"archive")

    def extract(archive: Path, into: Path) -> Path:
        into.mkdir()
        return into

    monkeypatch.setattr(tflm, "_download", download)
    monkeypatch.setattr(tflm, "_check_generator_tools", lambda: None)
    monkeypatch.setattr(tflm, "_extract", extract)
    monkeypatch.setattr(tflm, "_run_generator", lambda src, out, options: make_tree(out))
    return downloads


def test_fetch_never_replaces_a_folder_it_did_not_build(
    tmp_path: Path, fake_generator: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # --cache-dir naming a folder of the user's: the tree would take its place whole.
    mine = tmp_path / "work"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    user_tree = make_tree(tmp_path / "own-tree")  # made by hand with create_tflm_tree.py
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for dest, force in ((mine, False), (user_tree, True), (a_file, False)):
        with pytest.raises(OutputExistsError) as err:
            tflm.fetch(dest, target="host", force=force)
        assert str(err.value) == (
            f"{dest} is neither a new or empty folder nor a TFLM tree 'tinyslm tflm fetch' "
            "built; it is never replaced: give --cache-dir a new or empty folder"
        )
    assert fake_generator == []  # refused before the download
    assert (mine / "notes.txt").read_text() == "mine" and a_file.read_text() == "x"
    tflm.validate_tree(user_tree)
    assert not (user_tree / tflm.TREE_INFO).exists()
    monkeypatch.chdir(mine)
    result = CliRunner().invoke(cli, ["tflm", "fetch", "--cache-dir", "."])
    assert result.exit_code == 1 and "is never replaced" in result.output
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_fetch_builds_into_an_empty_folder_and_replaces_its_own_tree(
    tmp_path: Path, fake_generator: list[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert tflm.fetch(empty, target="host") == empty
    assert tflm._fetched_tree(empty) and fake_generator == [tflm.ARCHIVE_URL]
    (empty / "stale.h").write_text("from the old tree")
    assert tflm.fetch(empty, target="host", force=True) == empty
    assert not (empty / "stale.h").exists() and tflm._fetched_tree(empty)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # nothing left aside


def test_fetch_keeps_the_old_tree_when_the_new_one_cannot_take_its_place(
    tmp_path: Path, fake_generator: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "tree"
    dest.mkdir()
    tflm.fetch(dest, target="host")
    (dest / "mark.h").write_text("the old tree")
    real_replace = os.replace

    def full_disk(src: str | Path, dst: str | Path) -> None:
        if Path(src).name == "tree" and Path(dst) == dest:  # the new tree into place
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(tflm.os, "replace", full_disk)
    with pytest.raises(ToolchainError) as err:
        tflm.fetch(dest, target="host", force=True)
    assert str(err.value) == (
        f"cannot put the TFLM tree at {dest}: No space left on device; the old one is kept"
    )
    assert (dest / "mark.h").read_text() == "the old tree" and tflm._fetched_tree(dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree"]


def test_fetch_unknown_target(tmp_path: Path, offline: list[str]) -> None:
    with pytest.raises(ToolchainError, match="unknown TFLM tree target 'riscv'"):
        tflm.fetch(tmp_path / "t", target="riscv")
    assert offline == []


def test_cli_tflm_fetch_offline(tmp_path: Path, offline: list[str]) -> None:
    dest = tmp_path / "tree"
    result = CliRunner().invoke(cli, ["tflm", "fetch", "--cache-dir", str(dest)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == f"error: {OFFLINE_MESSAGE}"
    assert "Traceback" not in result.output
    assert not dest.exists()


def test_offline_message_offers_options_that_exist() -> None:
    """--tflm-dir is offered to generate and emulate, which have it, never to tflm fetch."""

    def options(*path: str) -> set[str]:
        command: click.Command = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        return {opt for param in command.params for opt in getattr(param, "opts", [])}

    assert "--tflm-dir" not in options("tflm", "fetch")
    assert {"--tflm-dir", "--native", "--qemu"} <= options("emulate")
    assert "--tflm-dir" in options("generate")
    before, _, after = OFFLINE_MESSAGE.partition("--tflm-dir")
    assert "tinyslm tflm fetch" not in after
    assert before.rfind("'tinyslm tflm fetch'") < before.rfind("'tinyslm generate'")


def test_cli_tflm_fetch_prints_an_existing_tree(tmp_path: Path, offline: list[str]) -> None:
    dest = make_tree(tmp_path / "tree")
    result = CliRunner().invoke(
        cli, ["tflm", "fetch", "--target", "host", "--cache-dir", str(dest)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(dest)


# --- native: which trees and sources ----------------------------------------------


def test_native_refuses_a_cortex_m_tree(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree", cortex_m=True)
    with pytest.raises(ToolchainError, match=r"Cortex-M .* --native needs a reference-kernel tree"):
        host.check_host_tree(tree)
    assert host.check_host_tree(make_tree(tmp_path / "ref")) == (tmp_path / "ref").resolve()


def test_a_host_tree_in_a_symlink_loop_is_a_toolchain_error(tmp_path: Path) -> None:
    # Path.resolve() raised RuntimeError (a traceback from emulate --native) on the loop.
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ToolchainError, match="does not exist or is not a folder"):
        host.check_host_tree(tmp_path / "a")


def test_the_object_cache_key_follows_the_tree_content(tmp_path: Path) -> None:
    # Keyed by the sources' size and mtime only: an edited tree header, or a same-size
    # source edit with its mtime kept, linked the stale cached objects.
    import os

    tree = make_tree(tmp_path / "tree")
    sources = host.tree_sources(tree)
    toolchain = host.host_toolchain()
    base = host._tree_key(tree, sources, toolchain)
    assert host._tree_key(tree, sources, toolchain) == base
    header = tree / "tensorflow/lite/micro/micro_interpreter.h"
    header.write_text(header.read_text() + "#error stale\n")
    assert host._tree_key(tree, sources, toolchain) != base
    edited = host._tree_key(tree, sources, toolchain)
    source = tree / sources[0]
    st = source.stat()
    text = source.read_text()
    source.write_text(text[:-2] + ("x" if text[-2] != "x" else "y") + text[-1])
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert source.stat().st_size == st.st_size
    assert host._tree_key(tree, sources, toolchain) != edited


def test_tree_files_nested_too_deeply_are_one_line(tmp_path: Path) -> None:
    # RecursionError (not a ValueError) went past the readers of a tree's marker and of
    # lib/tflm/library.json.
    from tinyslm.errors import ProjectError
    from tinyslm.toolchain import stm32_image

    deep = "[" * 100_000
    (tmp_path / tflm.TREE_INFO).write_text(deep)
    assert not tflm._fetched_tree(tmp_path)
    (tmp_path / "library.json").write_text(deep)
    with pytest.raises(ProjectError, match=r"library\.json: unreadable"):
        stm32_image._tflm_lib_flags(tmp_path)


def test_native_without_a_tree_says_what_is_missing(cache_home: Path) -> None:
    with pytest.raises(ToolchainError) as info:
        host.resolve_host_tree(None)
    assert str(info.value) == tflm.missing_tree_hint("host")
    cached = make_tree(tflm.default_cache_dir("host"))
    assert host.resolve_host_tree(None) == cached.resolve()


def test_native_tree_sources_leave_out_signal_and_test_helpers(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    rels = [p.as_posix() for p in host.tree_sources(tree)]
    assert rels == sorted(rels)
    assert "tensorflow/lite/micro/micro_interpreter.cc" in rels
    assert "tensorflow/lite/micro/kernels/softmax.cc" in rels
    assert not any(r.startswith(("signal/", "third_party/kissfft/")) for r in rels)
    assert "tensorflow/lite/micro/test_helpers.cc" not in rels


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("tflite::Register_FULLY_CONNECTED()", {"Register_FULLY_CONNECTED"}),
        (
            "tflite::micro::GetTensorShape(TfLiteEvalTensor const*)",
            {"GetTensorShape"},
        ),
        (
            "void tflite::reference_ops::Mean<signed char, int>(tflite::MeanParams const&)",
            {"Mean"},
        ),
        ("vtable for tflite::MicroResourceVariables", {"MicroResourceVariables"}),
        ("operator new(unsigned long)", set()),
    ],
)
def test_native_identifiers_of_undefined_symbols(symbol: str, expected: set[str]) -> None:
    assert host._identifiers(symbol) == expected


def test_native_defining_prefers_definitions_over_calls() -> None:
    texts = {
        Path("a.cc"): "int Foo(int x) {\n  return x;\n}\n",
        Path("b.cc"): "void Bar() {\n  int y = Foo(1);\n  Baz(y, Foo(2));\n}\n",
        Path("c.cc"): "// mentions Qux only in a comment\n",
    }
    assert host._defining("Foo", texts) == [Path("a.cc")]
    assert host._defining("Bar", texts) == [Path("b.cc")]
    # No definition anywhere: fall back to the files that mention the name.
    assert host._defining("Qux", texts) == [Path("c.cc")]
    assert host._defining("Nowhere", texts) == []


@pytest.mark.parametrize(
    ("link", "to", "said"),
    [
        ("tensorflow/loop", ".", "tensorflow/loop -> . is a symbolic link to a folder"),
        ("third_party/up", "../..", "third_party/up -> ../.. is a symbolic link to a folder"),
        (
            "tensorflow/gone.h",
            "nowhere.h",
            "tensorflow/gone.h -> nowhere.h is a symbolic link "
            "that leads nowhere (broken or a loop)",
        ),
        (
            "tensorflow/self.h",
            "self.h",
            "tensorflow/self.h -> self.h is a symbolic link that leads nowhere",
        ),
    ],
    ids=["loop", "outside", "broken", "self"],
)
def test_a_tree_with_a_link_to_a_folder_or_nowhere_is_refused_in_one_line(
    tmp_path: Path, link: str, to: str, said: str
) -> None:
    """'ln -s . tree/tensorflow/loop': install_tree followed the loop 40 levels deep for 9 s,
    then generate failed with 'cannot write OUT: [(...)]', a list repr of 800 characters
    blaming the output folder. The tree is refused when it is taken, naming the link."""
    tree = make_tree(tmp_path / "tree", cortex_m=True)
    (tree / link).symlink_to(to)
    with pytest.raises(ToolchainError) as info:
        tflm.validate_tree(tree)
    message = str(info.value)
    assert message.startswith(f"TFLM tree {tree}: {said}"), message
    assert "\n" not in message and "[(" not in message
    with pytest.raises(ToolchainError, match="symbolic link"):
        tflm.install_tree(tree, tmp_path / "proj" / "lib" / "tflm")
    assert not (tmp_path / "proj").exists()
    # Through generate: the one line, before any work, nothing written.
    (tmp_path / "model").symlink_to(Path(__file__).resolve().parents[1] / "fixtures" / "model")
    result = CliRunner().invoke(
        cli,
        [
            "generate",
            "--board",
            "stm32h7",
            "--model",
            str(tmp_path / "model"),
            "-o",
            str(tmp_path / "gl"),
            "--tflm-dir",
            str(tree),
        ],
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == f"error: {message}", result.stderr
    assert not (tmp_path / "gl").exists()


def test_a_link_to_a_file_is_copied_as_the_file(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    (tree / "tensorflow/alias.h").symlink_to("lite/micro/micro_interpreter.h")
    tflm.install_tree(tree, tmp_path / "lib" / "tflm")
    copied = tmp_path / "lib" / "tflm" / "tensorflow/alias.h"
    assert not copied.is_symlink()
    assert copied.read_text() == "// tensorflow/lite/micro/micro_interpreter.h\n"


def test_a_copy_that_fails_is_one_line_naming_the_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """copytree raises every file it could not copy as one shutil.Error (an OSError): the
    caller showed its list repr as 'cannot write OUT: [('/tree/...', ...), ...]'."""
    import shutil

    tree = make_tree(tmp_path / "tree")
    failures = [
        (str(tree / f"k{i}.cc"), str(tmp_path / f"lib/tflm/k{i}.cc"), "[Errno 5] I/O error")
        for i in range(3)
    ]

    def failing(*args: object, **kwargs: object) -> None:
        raise shutil.Error(failures)

    monkeypatch.setattr(shutil, "copytree", failing)
    with pytest.raises(ToolchainError) as info:
        tflm.install_tree(tree, tmp_path / "lib" / "tflm")
    assert str(info.value) == (
        f"cannot copy the TFLM tree {tree}: {tree / 'k0.cc'}: [Errno 5] I/O error (and 2 more)"
    )
