"""Round 44 emu fixes: non-UTF-8 paths in cache keys, the offline build/flash command,
--host-cmd that does not exit, monitor's printable rows, and spy:// logs left behind."""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import sys
from pathlib import Path

import pytest
import shell_paths

from tinyslm.emulate.library import build_key
from tinyslm.errors import ToolchainError
from tinyslm.escalate import Escalated, HostCommand
from tinyslm.monitor import open_port
from tinyslm.terminal import printable
from tinyslm.toolchain import build as build_mod
from tinyslm.toolchain import host, stm32_image

# A path byte that is not UTF-8: Python holds it as a lone surrogate (U+DCFF).
BAD = os.fsdecode(b"\xff")


def _tree(root: Path) -> tuple[Path, list[Path]]:
    """A tiny tree: one source, one header."""
    (root / "tensorflow").mkdir(parents=True)
    (root / "tensorflow" / "a.cc").write_text("int a;\n")
    (root / "tensorflow" / "a.h").write_text("#pragma once\n")
    return root, [Path("tensorflow/a.cc")]


# --- 1. non-UTF-8 path bytes in cache keys -------------------------------------------


def test_build_key_takes_a_non_utf8_file_name(tmp_path: Path) -> None:
    odd = tmp_path / os.fsdecode(b"notes\xe9.h")
    odd.write_text("// notes\n")
    assert len(build_key([odd], [f"-I{tmp_path / BAD}"])) == 24


def test_build_key_of_a_utf8_name_is_unchanged(tmp_path: Path) -> None:
    # The key it always had: an existing emulator cache stays valid.
    path = tmp_path / "caf\u00e9.h"
    path.write_text("x\n")
    flags = ["-DX=1", f"-I{tmp_path}"]
    old = hashlib.sha256()
    old.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    old.update("\0".join(flags).encode())
    assert build_key([path], flags) == old.hexdigest()[:24]


def test_tree_key_takes_a_tree_at_a_non_utf8_path(tmp_path: Path) -> None:
    tree, sources = _tree(tmp_path / f"tree{BAD}")
    assert len(host._tree_key(tree, sources, host.host_toolchain())) == 16


def test_tree_key_of_a_utf8_tree_is_unchanged(tmp_path: Path) -> None:
    tree, sources = _tree(tmp_path / "tr\u00e9e")
    toolchain = host.host_toolchain()
    old = hashlib.sha256()
    parts = [host.CACHE_VERSION, str(tree), *toolchain.cxx, *toolchain.cc]
    parts += [*toolchain.cxxflags, *toolchain.cflags, *toolchain.defines, *host.INCLUDE_DIRS]
    for part in parts:
        old.update(part.encode() + b"\0")
    for rel in sources:
        old.update(rel.as_posix().encode() + b"\0" + (tree / rel).read_bytes() + b"\0")
    for path in sorted(tree.rglob("*")):
        if path.suffix in (".h", ".hpp") and path.is_file():
            old.update(path.relative_to(tree).as_posix().encode() + b"\0")
            old.update(path.read_bytes() + b"\0")
    assert host._tree_key(tree, sources, toolchain) == old.hexdigest()[:16]


def test_project_objects_are_named_for_a_project_at_a_non_utf8_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree, _ = _tree(tmp_path / "tree")
    src = tmp_path / f"p{BAD}" / "src"
    src.mkdir(parents=True)
    (src / "core.cc").write_text("int core;\n")
    (src / os.fsdecode(b"n\xe9.h")).write_text("#pragma once\n")
    seen: list[tuple[Path, Path]] = []

    def no_compile(pairs: list[tuple[Path, Path]], *_: object, **__: object) -> list[Path]:
        seen.extend(pairs)
        return [obj for _, obj in pairs]

    monkeypatch.setattr(host, "_compile_pairs", no_compile)
    host._project_objects([src / "core.cc"], tree, tmp_path / "obj", 1, host.host_toolchain())
    assert seen and seen[0][1].name.startswith("core.cc.")


def test_stm32_key_takes_a_non_utf8_path(tmp_path: Path) -> None:
    project = tmp_path / f"h7{BAD}"
    assert len(stm32_image._key(project, f"-I{project}/src", f"-I{tmp_path / BAD}")) == 16


# --- 3. the offline build/flash command is true as printed ---------------------------


@pytest.fixture()
def offline_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ESP32 project in a folder with a space, PlatformIO's platform not installed and
    its registry unreachable."""
    return shell_paths.offline_project(tmp_path / "a b" / "p'q", tmp_path, monkeypatch)


def _suggested(message: str) -> list[str]:
    found = re.search(r"run '(.*)' on a networked machine", message)
    assert found is not None, message
    return shlex.split(found.group(1))


def test_offline_build_suggests_a_quoted_path(offline_project: Path) -> None:
    with pytest.raises(ToolchainError) as info:
        build_mod.build(offline_project)
    assert _suggested(str(info.value)) == ["tinyslm", "build", str(offline_project)]


def test_offline_flash_keeps_the_port(offline_project: Path) -> None:
    with pytest.raises(ToolchainError) as info:
        build_mod.upload(offline_project, "/dev/tty ACM0")
    words = _suggested(str(info.value))
    assert words == ["tinyslm", "flash", str(offline_project), "--port", "/dev/tty ACM0"]


# --- 4. --host-cmd that printed a line and did not exit ------------------------------


def test_a_program_that_answers_but_does_not_exit_is_not_no_answer() -> None:
    code = "import sys, time; print('hi'); sys.stdout.flush(); time.sleep(30)"
    slow = HostCommand([sys.executable, "-c", code], timeout_s=1)
    error = slow.answer(Escalated("hello", "x", 0.1))["error"]
    assert "no answer" not in error
    assert error.startswith("printed a line but did not exit within 1 s (killed)")


def test_a_silent_program_past_its_timeout_is_still_no_answer() -> None:
    slow = HostCommand([sys.executable, "-c", "import time; time.sleep(30)"], timeout_s=0.5)
    assert slow.answer(Escalated("hello", "x", 0.1))["error"] == "no answer within 0.5 s"


# --- 5. monitor rows: separators and bidi controls escaped ---------------------------


def test_printable_escapes_separators_and_bidi_controls() -> None:
    assert printable("a\u2028b\u202ec") == "a\\u2028b\\u202ec"
    assert printable("\u2029\u200e\u200f\u202a\u2066\u2069\u061c") == (
        "\\u2029\\u200e\\u200f\\u202a\\u2066\\u2069\\u061c"
    )
    # Text as a board's phrase may hold it is unchanged (a ZWJ emoji, accents, a tab).
    assert printable("caf\u00e9 \U0001f469\u200d\U0001f4bb\tx") == (
        "caf\u00e9 \U0001f469\u200d\U0001f4bb\tx"
    )


# --- 6. a spy:// port that fails to open leaves no log ------------------------------


def test_a_failed_spy_port_leaves_no_new_log(tmp_path: Path) -> None:
    log = tmp_path / "log"  # does not exist: never name an existing file in spy://
    assert not log.exists()
    with pytest.raises(ToolchainError, match="cannot open serial port"):
        open_port(f"spy://{tmp_path / 'nonexist'}?file={log}", 115200)
    assert not log.exists()
