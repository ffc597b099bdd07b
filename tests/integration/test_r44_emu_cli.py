"""Round 44 emu fixes through the CLI: a project at a non-UTF-8 path emulates, and
--native/--qemu at a terminal say that they answer at Ctrl-D."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from shared_paths import require_tool

from tinyslm import cli as cli_mod
from tinyslm.cli import cli


def test_emulate_a_project_at_a_non_utf8_path(esp32_project: Path, tmp_path: Path) -> None:
    # A non-UTF-8 folder name, and a user's own header in src/ (generate keeps it): the
    # emulator's cache key raised UnicodeEncodeError (a traceback) on the name.
    require_tool("cc")
    project = tmp_path / os.fsdecode(b"p\xff")
    shutil.copytree(esp32_project, project)
    (project / "src" / os.fsdecode(b"n\xe9.h")).write_text("// the user's notes\n")
    result = CliRunner().invoke(cli, ["emulate", str(project), "--text", "hi"])
    assert result.exit_code == 0, result.output
    assert "intent" in json.loads(result.stdout.splitlines()[-1])


class _Terminal(io.BytesIO):
    """Standard input as a terminal holding ``data`` up to Ctrl-D."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("engine", ["--native", "--qemu"])
def test_native_and_qemu_at_a_terminal_say_they_answer_at_ctrl_d(
    esp32_project: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    # They run the firmware once on all of stdin: a typed line got no answer and no word.
    from tinyslm.emulate import native, qemu
    from tinyslm.toolchain import cortex_m, host

    def answers(_project: Path, _tree: Path, lines: Sequence[bytes]) -> list[str]:
        return [json.dumps({"said": line.decode()}) for line in lines]

    monkeypatch.setattr(host, "resolve_host_tree", lambda _d: Path("/tree"))
    monkeypatch.setattr(native, "run_native", answers)
    monkeypatch.setattr(cortex_m, "resolve_cortex_m_tree", lambda _d, _p: Path("/tree"))
    monkeypatch.setattr(qemu, "check_tools", lambda: None)
    monkeypatch.setattr(qemu, "run_qemu", answers)
    monkeypatch.setattr(cli_mod, "_stdin", lambda: _Terminal(b"lights on\n"))
    result = CliRunner().invoke(cli, ["emulate", str(esp32_project), engine])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ['{"said": "lights on"}']
    # (--qemu on an esp32 project also notes that it runs a stand-in CPU.)
    notes = [ln for ln in result.stderr.splitlines() if "Ctrl-D" in ln]
    assert notes == [
        f"tinyslm emulate {engine}: type phrases, one a line; they are run and answered "
        "together at Ctrl-D"
    ], result.stderr


def test_native_from_a_pipe_prints_no_note(
    esp32_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinyslm.emulate import native
    from tinyslm.toolchain import host

    monkeypatch.setattr(host, "resolve_host_tree", lambda _d: Path("/tree"))
    monkeypatch.setattr(native, "run_native", lambda _p, _t, lines: ["ok" for _ in lines])
    result = CliRunner().invoke(cli, ["emulate", str(esp32_project), "--native"], input=b"a\nb\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["ok", "ok"] and result.stderr == ""
