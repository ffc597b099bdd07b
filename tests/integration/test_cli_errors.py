"""Every command's failure modes: exit code 1 and ONE ``error:`` line, no traceback.

Each case runs ``python -m tinyslm`` in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from cli_support import REPO, assert_one_error_line, run_cli


def test_unknown_board(tmp_path: Path, fixture_model: Path) -> None:
    proc = run_cli(
        "generate", "--board", "nosuch", "--model", str(fixture_model), "-o", str(tmp_path / "o")
    )
    assert_one_error_line(proc, "unknown board 'nosuch'", "esp32")
    assert not (tmp_path / "o").exists()


def test_unknown_board_in_project(fake_pio: Path, minimal_project: Path) -> None:
    info = json.loads((minimal_project / "tinyslm.json").read_text())
    (minimal_project / "tinyslm.json").write_text(json.dumps(dict(info, board="nosuch")))
    assert_one_error_line(run_cli("build", str(minimal_project)), "unknown board 'nosuch'")
    assert not fake_pio.exists()  # refused before running pio


@pytest.mark.parametrize(
    "args",
    [("emulate", "{p}", "--text", "hi"), ("build", "{p}"), ("flash", "{p}")],
    ids=["emulate", "build", "flash"],
)
def test_missing_project(tmp_path: Path, args: tuple[str, ...]) -> None:
    missing = tmp_path / "nowhere"
    proc = run_cli(*(a.format(p=missing) for a in args))
    assert_one_error_line(proc, str(missing), "project folder not found")


@pytest.mark.parametrize("command", ["emulate", "build", "flash"])
def test_not_a_project(tmp_path: Path, command: str) -> None:
    (tmp_path / "src").mkdir()
    proc = run_cli(command, str(tmp_path))
    assert_one_error_line(proc, "not a tinyslm project", "tinyslm.json")


@pytest.mark.parametrize(
    ("content", "needle"),
    [("{", "unreadable"), ("[]", "expected a JSON object"), ('{"board": "esp32"}', "model_sha256")],
)
def test_malformed_project_file(tmp_path: Path, content: str, needle: str) -> None:
    (tmp_path / "tinyslm.json").write_text(content)
    assert_one_error_line(run_cli("emulate", str(tmp_path), "--text", "hi"), "tinyslm.json", needle)


def test_incomplete_project(esp32_project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "p"
    shutil.copytree(esp32_project, copy)
    (copy / "src" / "tinyslm_settings.c").unlink()
    proc = run_cli("emulate", str(copy), "--text", "hi")
    assert_one_error_line(proc, "incomplete project", "src/tinyslm_settings.c")


@pytest.mark.parametrize("command", ["build", "flash"])
def test_pio_absent(minimal_project: Path, tmp_path: Path, command: str) -> None:
    # A Python whose folder holds no pio (a symlink outside any venv), and a PATH
    # without one, with this environment's packages reachable via PYTHONPATH.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    python = bindir / "python3"
    python.symlink_to(getattr(sys, "_base_executable", sys.executable))
    env = dict(os.environ)
    env["PATH"] = str(bindir)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]])
    proc = subprocess.run(
        [str(python), "-m", "tinyslm", command, str(minimal_project)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert_one_error_line(proc, "PlatformIO ('pio') not found", "pip install platformio")


@pytest.mark.parametrize("command", ["build", "flash"])
def test_registry_unreachable(
    fake_pio: Path, minimal_project: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setenv("FAKE_PIO_MODE", "offline")
    proc = run_cli(command, str(minimal_project))
    assert_one_error_line(proc, "could not reach its registry", "networked machine")
    assert fake_pio.read_text().startswith("run -d")


def _flip_model_byte(project: Path, index: int) -> None:
    path = project / "src" / "tinyslm_model_data.cc"
    text = path.read_text()
    body_start = text.index("tinyslm_model_data[] = {")
    hexes = list(re.finditer(r"0x([0-9a-f]{2})", text[body_start:]))
    m = hexes[index]
    start = body_start + m.start(1)
    flipped = f"{int(m.group(1), 16) ^ 0xFF:02x}"
    path.write_text(text[:start] + flipped + text[start + 2 :])


def test_corrupted_model_is_refused(esp32_project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "p"
    shutil.copytree(esp32_project, copy)
    ok = run_cli("emulate", str(copy), "--text", "turn on the lights")
    assert ok.returncode == 0, ok.stderr
    _flip_model_byte(copy, 1000)
    for extra in (("--text", "turn on the lights"), ("--data", str(REPO / "no.csv"))):
        proc = run_cli("emulate", str(copy), *extra)
        assert_one_error_line(proc, "tinyslm_model_data.cc", "does not match tinyslm.json")
        assert proc.stdout == ""


def test_missing_dataset_file(esp32_project: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    assert_one_error_line(
        run_cli("emulate", str(esp32_project), "--data", str(missing)),
        "missing.csv",
        "not found",
    )
    assert_one_error_line(
        run_cli("train", str(missing), "-o", str(tmp_path / "m")), "missing.csv", "not found"
    )


def test_native_without_a_tree(esp32_project: Path, tmp_path: Path) -> None:
    # An empty cache: no 'tinyslm tflm fetch --target host' tree to fall back on.
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    proc = run_cli("emulate", str(esp32_project), "--native", "--text", "hi", env=env)
    assert_one_error_line(proc, "TFLM source tree", "tinyslm tflm fetch --target host")
    proc = run_cli(
        "emulate", str(esp32_project), "--native", "--tflm-dir", str(tmp_path / "no"), env=env
    )
    assert_one_error_line(proc, "does not exist")


def test_usage_errors_exit_2(esp32_project: Path) -> None:
    proc = run_cli("emulate", str(esp32_project), "--text", "a", "--data", "b.csv")
    assert proc.returncode == 2
    assert "give --text or --data, not both" in proc.stderr
    assert "Traceback" not in proc.stderr
