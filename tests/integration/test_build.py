"""``tinyslm build`` / ``flash`` against a fake ``pio`` (no network, no toolchain needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cli_support import assert_one_error_line, run_cli

from tinyslm import build as build_mod
from tinyslm.errors import ToolchainError


def test_build_reports_sizes_against_the_board(fake_pio: Path, minimal_project: Path) -> None:
    proc = run_cli("build", str(minimal_project))
    assert proc.returncode == 0, proc.stderr
    assert fake_pio.read_text().split() == ["run", "-d", str(minimal_project)]
    lines = proc.stdout.splitlines()
    ram = next(ln for ln in lines if ln.startswith("RAM:"))
    flash = next(ln for ln in lines if ln.startswith("Flash:"))
    # esp32.yaml: ram_kb 320, flash_kb 4096
    assert "17032 B used" in ram and "of PlatformIO's 327680 B" in ram and "board 320 KB" in ram
    assert "399598 B used" in flash and "board 4096 KB, 9.5%" in flash


def test_build_refuses_an_image_larger_than_the_board(
    fake_pio: Path, minimal_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PIO_RAM", str(320 * 1024 + 1))
    proc = run_cli("build", str(minimal_project))
    assert_one_error_line(proc, "327681 bytes of RAM", "esp32", "327680")


def test_build_failure_shows_platformio_tail(
    fake_pio: Path, minimal_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PIO_MODE", "fail")
    proc = run_cli("build", str(minimal_project))
    assert_one_error_line(proc, "PlatformIO failed", "exit code 1")
    tail = [ln for ln in proc.stderr.splitlines() if not ln.startswith(("error:", "building"))]
    assert len(tail) == build_mod.TAIL_LINES
    assert "'frobnicate' was not declared" in proc.stderr
    assert "[FAILED]" in tail[-1]
    assert "compile step 0" not in proc.stderr  # only the last lines


def test_flash_passes_the_port(fake_pio: Path, minimal_project: Path) -> None:
    proc = run_cli("flash", str(minimal_project), "--port", "/dev/ttyUSB9")
    assert proc.returncode == 0, proc.stderr
    assert fake_pio.read_text().split() == [
        "run", "-d", str(minimal_project), "-t", "upload", "--upload-port", "/dev/ttyUSB9",
    ]  # fmt: skip


def test_pio_found_next_to_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    pio = bindir / "pio"
    pio.write_text("#!/bin/sh\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", str(bindir / "python"))
    with pytest.raises(ToolchainError):
        build_mod.find_pio()  # not executable yet
    pio.chmod(0o755)
    assert build_mod.find_pio() == str(pio)


def test_parse_sizes_takes_platformio_lines() -> None:
    out = (
        "RAM:   [=         ]   5.2% (used 17032 bytes from 327680 bytes)\n"
        "Flash: [===       ]  25.4% (used 266597 bytes from 1048576 bytes)\n"
    )
    assert build_mod.parse_sizes(out) == {"RAM": (17032, 327680), "Flash": (266597, 1048576)}
    assert build_mod.parse_sizes("no sizes here") == {}


def test_build_not_a_project(tmp_path: Path, fake_pio: Path) -> None:
    (tmp_path / "plain").mkdir()
    assert_one_error_line(run_cli("build", str(tmp_path / "plain")), "not a tinyslm project")
    assert not fake_pio.exists()  # pio never ran
