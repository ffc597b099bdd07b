"""``tinyslm monitor`` / ``flash`` refusals and endings: a serial port that goes away,
an empty ``--port``, a ``--host-model`` folder that is not there."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import serial
from click.testing import CliRunner
from fake_serial import FakePort, use_port

from tinyslm import monitor as monitor_mod
from tinyslm.cli import cli
from tinyslm.errors import ToolchainError

# What pyserial raises on Linux when the board is unplugged mid-read.
UNPLUGGED = (
    "device reports readiness to read but returned no data "
    "(device disconnected or multiple access on port?)"
)


class GonePort(FakePort):
    """One line from the board, then it is unplugged."""

    def __init__(self, lines: bytes = b'{"intent":"fan_on","score":0.9,"route":"local","us":5}\n'):
        super().__init__(lines)

    def read(self, n: int) -> bytes:
        if self.out:
            return super().read(n)
        time.sleep(0.05)
        raise serial.SerialException(UNPLUGGED)


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if not ln.startswith("monitor: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_monitor_stops_when_the_port_closes_while_stdin_is_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The board unplugged while the user is still typing: the monitor waited for the
    next typed line (for ever on a terminal) and then exited 0."""
    port = GonePort()
    use_port(monkeypatch, port)
    read_end, write_end = os.pipe()  # stdin that stays open, nothing typed
    outcome: list[BaseException | None] = []
    rows: list[str] = []

    def run() -> None:
        with open(read_end, "rb", buffering=0) as stdin:
            try:
                monitor_mod.monitor("fake", stdin=stdin, echo=rows.append, status=lambda _: None)
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        thread.join(timeout=10)
        assert not thread.is_alive(), "the monitor still waits for stdin after the port closed"
    finally:
        os.close(write_end)  # lets the old monitor's read end, pass or fail
        thread.join(timeout=10)
    assert rows and rows[0].split()[:3] == ["fan_on", "0.900", "local"]
    assert isinstance(outcome[0], ToolchainError), outcome
    assert str(outcome[0]) == f"serial port fake closed: {UNPLUGGED}"
    assert port.closed


def test_monitor_cli_exits_1_in_one_line_when_the_port_closes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_port(monkeypatch, GonePort())
    result = CliRunner().invoke(cli, ["monitor", "--port", "fake"], input="hello\n")
    assert result.exit_code == 1, result.output
    assert _one_error_line(result.stderr) == f"error: serial port fake closed: {UNPLUGGED}"
    assert "serial port" not in result.stdout


def test_monitor_cli_exits_1_when_a_socket_connection_ends() -> None:
    """A real pyserial connection (socket://) that the other end closes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    url = f"socket://127.0.0.1:{server.getsockname()[1]}"

    def hang_up() -> None:
        conn, _ = server.accept()
        time.sleep(0.2)
        conn.close()

    closer = threading.Thread(target=hang_up, daemon=True)
    closer.start()
    try:
        result = CliRunner().invoke(cli, ["monitor", "--port", url], input="")
    finally:
        closer.join(timeout=5)
        server.close()
    assert result.exit_code == 1, result.output
    line = _one_error_line(result.stderr)
    assert line.startswith(f"error: serial port {url} closed"), line


class DeadWritePort(FakePort):
    """A port that reads nothing and refuses the first write (gone between reads)."""

    def write(self, data: bytes) -> int:
        raise serial.SerialException("write failed: [Errno 5] Input/output error")


def test_monitor_cli_exits_1_when_a_typed_line_cannot_be_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_port(monkeypatch, DeadWritePort())
    result = CliRunner().invoke(cli, ["monitor", "--port", "fake"], input="a\nb\n")
    assert result.exit_code == 1, result.output
    assert _one_error_line(result.stderr) == (
        "error: serial port fake closed: write failed: [Errno 5] Input/output error"
    )


def test_monitor_wav_exits_1_when_the_port_closes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tinyslm.audio.wav import write_wav

    wav = tmp_path / "one.wav"
    write_wav(wav, np.zeros(16000, dtype=np.int16))
    use_port(monkeypatch, GonePort(b""))
    result = CliRunner().invoke(cli, ["monitor", "--wav", str(wav), "--port", "fake", "--fast"])
    assert result.exit_code == 1, result.output
    line = [ln for ln in result.stderr.splitlines() if not ln.startswith("monitor: ")]
    assert line == [f"error: serial port fake closed: {UNPLUGGED}"], result.stderr


@pytest.mark.parametrize("value", ["", "  "])
def test_flash_refuses_an_empty_port(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from tinyslm.toolchain import build as build_mod

    uploads: list[Any] = []
    monkeypatch.setattr(build_mod, "upload", lambda *args, **kw: uploads.append(args))
    result = CliRunner().invoke(cli, ["flash", "proj", "--port", value])
    assert result.exit_code == 1, result.output
    assert uploads == []
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: Invalid value for '--port': an empty port name"), line


@pytest.mark.parametrize("value", ["", "  "])
def test_monitor_refuses_an_empty_port(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    opened: list[str] = []

    def default_port() -> str:
        opened.append("auto")
        return "loop://"

    monkeypatch.setattr(monitor_mod, "default_port", default_port)
    result = CliRunner().invoke(cli, ["monitor", "--port", value], input="")
    assert result.exit_code == 1, result.output
    assert opened == []
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: Invalid value for '--port': an empty port name"), line


def test_monitor_host_model_not_found_names_the_option() -> None:
    missing = "/nonexistent/host-model"
    result = CliRunner().invoke(
        cli, ["monitor", "--port", "loop://", "--host-model", missing], input=""
    )
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: --host-model {missing}: folder not found"), line


def test_emulate_host_model_not_found_names_the_option(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tinyslm.emulate import keywords

    monkeypatch.setattr(keywords, "is_keyword_project", lambda project: False)
    missing = str(tmp_path / "none")
    result = CliRunner().invoke(
        cli, ["emulate", str(tmp_path), "--text", "hi", "--host-model", missing]
    )
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: --host-model {missing}: folder not found"), line


def test_host_model_that_is_a_file_or_no_model_names_the_option(tmp_path: Path) -> None:
    a_file = tmp_path / "model.txt"
    a_file.write_text("x")
    result = CliRunner().invoke(
        cli, ["monitor", "--port", "loop://", "--host-model", str(a_file)], input=""
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"error: --host-model {a_file}: not a folder (give a text model folder from "
        "'tinyslm train')"
    ]
    result = CliRunner().invoke(
        cli, ["monitor", "--port", "loop://", "--host-model", str(tmp_path)], input=""
    )
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: --host-model: ") and str(tmp_path) in line, line
