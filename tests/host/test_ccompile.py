"""tinyslm.toolchain.ccompile: host builds, compiler selection and one-line errors."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import pytest
from shared_paths import require_tool

from tinyslm.errors import ToolchainError
from tinyslm.toolchain import ccompile


@pytest.fixture(autouse=True)
def _host_compilers() -> None:
    require_tool("cc", "c++")


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_shared_library_mixing_c_and_cxx(tmp_path: Path) -> None:
    c = _write(tmp_path / "a.c", "int twice(int x) { return 2 * x + OFFSET; }\n")
    cc = _write(
        tmp_path / "b.cc",
        'extern "C" int twice(int);\nextern "C" int quad(int x) { return twice(twice(x)); }\n',
    )
    lib = ccompile.compile_shared(
        [c, cc], tmp_path / "out" / "libab.so", defines={"OFFSET": 1}, cflags=["-O1"]
    )
    assert ctypes.CDLL(str(lib)).quad(3) == 15  # 2*(2*3+1)+1
    assert sorted(p.name for p in lib.parent.iterdir()) == ["libab.so"]  # no temp leftovers


def test_executable_with_defines_list(tmp_path: Path) -> None:
    src = _write(
        tmp_path / "m.c", '#include <stdio.h>\nint main(void){printf("%d", V);return 0;}\n'
    )
    exe = ccompile.compile_executable([src], tmp_path / "m", defines=["V=42"])
    assert subprocess.run([str(exe)], capture_output=True, check=True).stdout == b"42"


def test_compile_error_is_one_line_with_compiler_output(tmp_path: Path) -> None:
    src = _write(tmp_path / "bad.c", "int f(void) { return undefined_name; }\n")
    out = tmp_path / "libbad.so"
    with pytest.raises(ToolchainError) as info:
        ccompile.compile_shared([src], out)
    msg = str(info.value)
    assert "\n" not in msg and "bad.c" in msg and "undefined_name" in msg
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_missing_compiler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _write(tmp_path / "a.c", "int x;\n")
    monkeypatch.setenv("CC", "no-such-cc-tinyslm --flag")
    with pytest.raises(ToolchainError, match="no-such-cc-tinyslm"):
        ccompile.compile_shared([src], tmp_path / "liba.so")
    with pytest.raises(ToolchainError, match="not found"):
        ccompile.compile_object(src, tmp_path / "a.o", compiler=["no-such-cc-tinyslm"])
    with pytest.raises(ToolchainError, match="does not exist"):
        ccompile.compile_object(tmp_path / "missing.c", tmp_path / "m.o", compiler=["cc"])


@pytest.mark.parametrize("var", ["CC", "CXX"])
def test_a_compiler_variable_that_does_not_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, var: str
) -> None:
    # shlex.split's ValueError ("No closing quotation") was a traceback.
    monkeypatch.setenv(var, 'gcc "')
    with pytest.raises(ToolchainError, match=rf"\${var} 'gcc \"' is not a command line"):
        ccompile.compiler_command("c" if var == "CC" else "c++")


def test_cc_from_environment_with_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # $CC may carry flags; here one that defines the value the program prints
    src = _write(tmp_path / "m.c", "int main(void) { return V; }\n")
    monkeypatch.setenv("CC", "cc -DV=3")
    exe = ccompile.compile_executable([src], tmp_path / "m")
    assert subprocess.run([str(exe)], check=False).returncode == 3
