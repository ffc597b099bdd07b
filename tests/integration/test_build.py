"""``tinyslm build`` / ``flash`` against a fake ``pio`` (no network, no toolchain needed)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_support import REPO, assert_one_error_line, run_cli

from tinyslm.errors import ToolchainError
from tinyslm.toolchain import build as build_mod


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


def test_build_failure_shows_platformio_output(
    fake_pio: Path, minimal_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PIO_MODE", "fail")
    proc = run_cli("build", str(minimal_project))
    assert_one_error_line(proc, "PlatformIO failed", "exit code 1", "output is above")
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"building {minimal_project} with PlatformIO")
    # PlatformIO's output as it came, once (streamed, not repeated as a tail), then the error.
    assert lines[1].startswith("Processing esp32")
    assert lines.count("compile step 0") == 1
    assert lines[-2].startswith("========== [FAILED]")
    assert lines[-1].startswith("error: ")


def test_build_checks_the_project_before_saying_building(tmp_path: Path, fake_pio: Path) -> None:
    (tmp_path / "plain").mkdir()
    proc = run_cli("build", str(tmp_path / "plain"))
    assert_one_error_line(proc, "not a tinyslm project")
    assert "building" not in proc.stderr


def test_stm32h7_without_lib_tflm_is_reported_before_pio_runs(
    fake_pio: Path, minimal_project: Path
) -> None:
    info = json.loads((minimal_project / "tinyslm.json").read_text())
    (minimal_project / "tinyslm.json").write_text(json.dumps(dict(info, board="stm32h7")))
    for command in ("build", "flash"):
        proc = run_cli(command, str(minimal_project))
        assert_one_error_line(proc, "no lib/tflm", "stm32h7", "tinyslm tflm fetch")
        assert "building" not in proc.stderr
    assert not fake_pio.exists()  # pio never ran


def test_stm32h7_with_an_unusable_lib_tflm_is_reported_before_pio_runs(
    fake_pio: Path, minimal_project: Path
) -> None:
    """An empty lib/tflm passed (only is_dir was checked) and PlatformIO started, to fail
    on a missing header: build asks what generate asks of --tflm-dir (the required files,
    a Cortex-M tree, no link to a folder) and the library.json the copy adds."""
    from tinyslm.toolchain import tflm

    info = json.loads((minimal_project / "tinyslm.json").read_text())
    (minimal_project / "tinyslm.json").write_text(json.dumps(dict(info, board="stm32h7")))
    lib = minimal_project / "lib" / "tflm"
    lib.mkdir(parents=True)
    proc = run_cli("build", str(minimal_project))
    assert_one_error_line(proc, "no usable lib/tflm (it is empty)", "stm32h7", "tflm fetch")
    for rel in (*tflm.REQUIRED_FILES, "tensorflow/lite/micro/kernels/softmax.cc"):
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        (lib / rel).write_text(f"// {rel}\n")
    (lib / "tensorflow/lite/micro/micro_interpreter.cc").unlink()
    proc = run_cli("flash", str(minimal_project))
    assert_one_error_line(proc, "no usable lib/tflm (tensorflow/lite/micro/micro_interpreter.cc")
    (lib / "tensorflow/lite/micro/micro_interpreter.cc").write_text("//\n")
    proc = run_cli("build", str(minimal_project))
    assert_one_error_line(proc, "no usable lib/tflm (a host tree with reference kernels")
    (lib / tflm.CORTEX_M_MARKER).parent.mkdir(parents=True, exist_ok=True)
    (lib / tflm.CORTEX_M_MARKER).write_text("//\n")
    (lib / "tensorflow" / "loop").symlink_to(".")
    proc = run_cli("build", str(minimal_project))
    assert_one_error_line(proc, "no usable lib/tflm (tensorflow/loop -> . is a symbolic link")
    (lib / "tensorflow" / "loop").unlink()
    proc = run_cli("build", str(minimal_project))
    assert_one_error_line(proc, "no usable lib/tflm (library.json is missing)")
    assert "building" not in proc.stderr
    assert not fake_pio.exists()  # pio never ran
    # As generate writes it: PlatformIO runs.
    (lib / "library.json").write_text("{}\n")
    proc = run_cli("build", str(minimal_project))
    assert fake_pio.exists(), proc.stderr


@pytest.mark.parametrize("command", ["build", "flash"])
def test_first_build_offline_fails_at_once(
    fake_pio: Path,
    minimal_project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    # Nothing installed yet and the registry unreachable: pio would retry for a
    # minute (FAKE_PIO_RETRY_S) before saying so. Port 9 on localhost refuses at once.
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(tmp_path / "empty-core"))
    monkeypatch.setenv("TINYSLM_PIO_REGISTRY", "127.0.0.1:9")
    monkeypatch.setenv("FAKE_PIO_MODE", "offline")
    monkeypatch.setenv("FAKE_PIO_RETRY_S", "60")
    start = time.monotonic()
    proc = run_cli(command, str(minimal_project), timeout=100)
    assert_one_error_line(proc, "could not reach its registry", "networked machine")
    assert time.monotonic() - start < 30
    assert not fake_pio.exists()  # pio never started its minute of retries


@pytest.mark.parametrize("missing", ["tool-scons", "toolchain-xtensa-esp32", "framework-espidf"])
def test_an_installed_platform_without_its_packages_is_a_first_build(
    fake_pio: Path, minimal_project: Path, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    # The platform folder alone passed as installed, so an interrupted first build (or
    # another project's platform) left pio retrying the registry for its minute.
    ini = minimal_project / "platformio.ini"
    ini.write_text(ini.read_text() + "framework = espidf\n")
    monkeypatch.setenv("TINYSLM_PIO_REGISTRY", "127.0.0.1:9")
    monkeypatch.setenv("FAKE_PIO_RETRY_S", "60")
    core = Path(os.environ["PLATFORMIO_CORE_DIR"])
    # Everything there: builds offline, the registry never asked.
    assert run_cli("build", str(minimal_project), timeout=100).returncode == 0
    fake_pio.unlink()
    monkeypatch.setenv("FAKE_PIO_MODE", "offline")
    (core / "packages" / missing).rmdir()
    start = time.monotonic()
    proc = run_cli("build", str(minimal_project), timeout=100)
    assert_one_error_line(proc, "could not reach its registry", "networked machine")
    assert time.monotonic() - start < 30
    assert not fake_pio.exists()  # pio never started its minute of retries


def test_offline_pio_is_stopped_at_the_first_sign(
    fake_pio: Path, minimal_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The platform is installed but something else must be downloaded: pio says
    # HTTPClientError and would go on retrying; tinyslm stops it there.
    monkeypatch.setenv("FAKE_PIO_MODE", "offline")
    monkeypatch.setenv("FAKE_PIO_AFTER_S", "60")
    start = time.monotonic()
    proc = run_cli("build", str(minimal_project), timeout=100)
    assert_one_error_line(proc, "could not reach its registry")
    assert time.monotonic() - start < 30


@pytest.mark.parametrize(("mode", "code"), [("noisy", 0), ("noisy_fail", 1)])
def test_build_lines_naming_a_network_error_are_not_offline(
    fake_pio: Path, minimal_project: Path, monkeypatch: pytest.MonkeyPatch, mode: str, code: int
) -> None:
    # Any line with "ConnectionError" stopped a good build as "no network?", and a
    # compile error quoting it was reported as the registry being unreachable.
    monkeypatch.setenv("FAKE_PIO_MODE", mode)
    proc = run_cli("build", str(minimal_project), timeout=100)
    assert proc.returncode == code, proc.stderr
    assert "could not reach its registry" not in proc.stderr


def test_build_streams_platformio_output(fake_pio: Path, minimal_project: Path) -> None:
    env = dict(os.environ, FAKE_PIO_MODE="slow", FAKE_PIO_RETRY_S="20")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    # A registry that answers: at pio's "Installing" line tinyslm asks it, and an
    # unreachable one would stop pio there.
    server = socket.create_server(("127.0.0.1", 0))
    env["TINYSLM_PIO_REGISTRY"] = f"127.0.0.1:{server.getsockname()[1]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tinyslm", "build", str(minimal_project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("Platform Manager: Installing"):
                break
        # PlatformIO is still working (20 s to go) and its line is already shown.
        assert seen and seen[-1].startswith("Platform Manager: Installing"), seen
        assert proc.poll() is None, seen
        assert seen[0].startswith("building ")
    finally:
        proc.kill()
        proc.wait()
        server.close()


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


def _state(pid: int) -> str:
    """The process's state letter (Z: a zombie, dead), or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_an_interrupted_build_stops_what_pio_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM to tinyslm (an interrupt, as Ctrl-C) killed pio alone: scons and the
    compilers under it ran on, reparented to init. Its whole tree is signalled now."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    pio = bindir / "pio"
    pio.write_text('#!/bin/sh\nsleep 120 &\necho "compiler $!"\nwait\n')
    pio.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    started: list[int] = []

    def log(line: str) -> None:
        if line.startswith("compiler "):
            started.append(int(line.split()[1]))
            raise KeyboardInterrupt  # as the CLI's SIGTERM handler raises it

    project = build_mod.Project.__new__(build_mod.Project)
    with pytest.raises(KeyboardInterrupt):
        build_mod.run_pio(["run"], project, "build", log)
    (child,) = started
    deadline = time.monotonic() + 10
    while _state(child) not in ("", "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _state(child) in ("", "Z"), "pio's child outlived the interrupted build"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process group from /proc")
def test_pio_stays_in_tinyslms_process_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session of its own took pio off the terminal (no /dev/tty for a git or ssh
    prompt) and out of the group a supervisor or Ctrl-Z signals."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    pio = bindir / "pio"
    pio.write_text(
        '#!/bin/sh\nread -r pid comm state ppid pgrp rest < /proc/$$/stat\necho "$pgrp"\n'
    )
    pio.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    project = build_mod.Project.__new__(build_mod.Project)
    out = build_mod.run_pio(["run"], project, "build")
    assert int(out.split()[-1]) == os.getpgrp()


@pytest.mark.parametrize("value", ["nohost", "localhost:abc", "localhost:99999", ":80", "::1:80"])
def test_a_malformed_registry_variable_is_refused_in_one_line(
    fake_pio: Path, minimal_project: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # It was ignored without a word: PlatformIO's registry was checked instead of the
    # mirror the user meant to name.
    monkeypatch.setenv("TINYSLM_PIO_REGISTRY", value)
    proc = run_cli("build", str(minimal_project), timeout=100)
    line = assert_one_error_line(proc, f"TINYSLM_PIO_REGISTRY={value!r}", "host:port")
    assert line == (
        f"error: TINYSLM_PIO_REGISTRY={value!r} is not host:port with a port from 1 to 65535 "
        "(e.g. registry.example.com:443, or [::1]:8080 for an IPv6 address)"
    )
    assert not fake_pio.exists()  # refused before pio ran


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mirror.local:8080", ("mirror.local", 8080)),
        ("[::1]:443", ("::1", 443)),
        ("", build_mod.PIO_REGISTRY),
    ],
)
def test_the_registry_variable_names_a_mirror(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: tuple[str, int]
) -> None:
    monkeypatch.setenv("TINYSLM_PIO_REGISTRY", value)
    assert build_mod._registry() == expected
