"""``tinyslm monitor`` through pyserial's ``loop://`` port (what is written comes back)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.errors import ToolchainError
from tinyslm.monitor import choose_port, format_device_line

INFO = (
    '{"info":{"version":"0.1.0","board":"esp32","model_sha256":"'
    + "ab" * 32
    + '","model_bytes":12345,"arena_bytes":4096,"ops":["FULLY_CONNECTED","GATHER"],'
    '"labels":8,"threshold":0.550}}'
)


def test_format_device_lines() -> None:
    local = format_device_line('{"intent":"lights_on","score":0.930,"route":"local","us":812}')
    assert local.split() == ["lights_on", "0.930", "local", "812", "us"]
    esc = format_device_line(
        '{"intent":"lights_on","score":0.412,"route":"escalate","us":799,"text":"dim \\"it\\""}'
    )
    assert esc.split()[:4] == ["lights_on", "0.412", "escalate", "799"]
    assert esc.endswith('-> escalate: "dim \\"it\\""')
    info = format_device_line(INFO)
    assert info.startswith("info: tinyslm 0.1.0 on esp32, model abababababab... (12345 B)")
    assert "ops FULLY_CONNECTED,GATHER" in info and "threshold 0.55" in info
    assert format_device_line('{"error":"line_too_long","max":256}') == (
        "device error: line_too_long (max 256)"
    )
    assert format_device_line("I (312) boot: ESP-IDF v5.3") == "I (312) boot: ESP-IDF v5.3"


def test_monitor_forwards_lines_and_pretty_prints_answers() -> None:
    # loop:// echoes what the monitor forwards, so the typed lines come back as
    # device lines: that proves forwarding (with "\n" terminators) and formatting.
    typed = '{"intent":"fan_on","score":0.875,"route":"local","us":90}\r\n' + INFO + "\n"
    result = CliRunner().invoke(cli, ["monitor", "--port", "loop://"], input=typed)
    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()
    assert rows[0].split() == ["fan_on", "0.875", "local", "90", "us"]
    assert rows[1].startswith("info: tinyslm 0.1.0 on esp32")
    assert len(rows) == 2

    raw = CliRunner().invoke(cli, ["monitor", "--port", "loop://", "--raw"], input=typed)
    assert raw.stdout.splitlines() == typed.replace("\r", "").splitlines()


def test_monitor_bad_port() -> None:
    result = CliRunner().invoke(cli, ["monitor", "--port", "/dev/nonexistent-tty"], input="")
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot open serial port /dev/nonexistent-tty")
    assert len(result.output.splitlines()) == 1


class _Port:
    """A pyserial ListPortInfo as far as choose_port looks (device, USB vid)."""

    def __init__(self, device: str, vid: int | None) -> None:
        self.device = device
        self.vid = vid


def test_choose_port_picks_the_only_usb_port() -> None:
    ports = [_Port("/dev/ttyS0", None), _Port("/dev/ttyUSB0", 0x10C4)]
    assert choose_port(ports) == "/dev/ttyUSB0"


@pytest.mark.parametrize(
    ("ports", "needles"),
    [
        ([], ("no USB serial port found; plug the board in or pass --port",)),
        # A PC's own UART (no USB id, what Linux lists as /dev/ttyS0) is never picked.
        ([_Port("/dev/ttyS0", None)], ("no USB serial port found", "not picked: /dev/ttyS0")),
        (
            [_Port("/dev/ttyUSB0", 0x10C4), _Port("/dev/ttyACM0", 0x0483)],
            ("several USB serial ports (/dev/ttyACM0, /dev/ttyUSB0)", "--port"),
        ),
    ],
    ids=["none", "only-a-legacy-uart", "ambiguous"],
)
def test_choose_port_refuses(ports: list[_Port], needles: tuple[str, ...]) -> None:
    with pytest.raises(ToolchainError) as err:
        choose_port(ports)
    for needle in needles:
        assert needle in str(err.value)


def test_monitor_without_port_refuses_a_legacy_uart(monkeypatch: pytest.MonkeyPatch) -> None:
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", lambda: [_Port("/dev/ttyS0", None)])
    result = CliRunner().invoke(cli, ["monitor"], input="")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: no USB serial port found (not USB, not picked: /dev/ttyS0); plug the board in "
        "or pass --port"
    ]


def test_monitor_says_which_port_it_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", lambda: [_Port("loop://", 0x10C4)])
    result = CliRunner().invoke(cli, ["monitor"], input="")
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "monitor: loop:// at 115200 baud (the only USB serial port)"
    ]
    named = CliRunner().invoke(cli, ["monitor", "--port", "loop://", "--baud", "9600"], input="")
    assert named.stderr.splitlines() == ["monitor: loop:// at 9600 baud"]
