"""``tinyslm monitor`` shows the CPU clock the text firmware's ``:info`` says (round 47).

``:info`` gained ``"cpu_hz"`` (the clock the board runs at, read after its clock set-up:
an STM32H7 that fell back to its HSI says 64000000). The readable ``info:`` row shows it
in MHz; ``--raw`` passes the line as it came; an ``:info`` without it (the host
emulators, older firmware) reads as before.
"""

from __future__ import annotations

import pytest

from tinyslm.monitor import format_device_line, shown_line


def _info(extra: str = "") -> str:
    return (
        '{"info":{"version":"0.1.0","board":"stm32h7"' + extra + ',"model_sha256":"'
        + "ab" * 32
        + '","model_bytes":12345,"arena_bytes":4096,"ops":["FULLY_CONNECTED"],'
        '"labels":8,"threshold":0.550}}'
    )  # fmt: skip


@pytest.mark.parametrize(
    ("hz", "shown"),
    [
        (400_000_000, "400"),
        (64_000_000, "64"),
        (240_000_000, "240"),
        (80_500_000, "80.5"),
        (1, "0.000001"),
        (4_294_967_295, "4294.967295"),
        (10**30 + 5, "1000000000000000000000000.000005"),  # exact: no float overflow
    ],
)
def test_the_info_row_shows_the_clock_in_mhz(hz: int, shown: str) -> None:
    row = format_device_line(_info(f',"cpu_hz":{hz}'))
    assert row.startswith(f"info: tinyslm 0.1.0 on stm32h7 at {shown} MHz, model abababababab...")
    assert "threshold 0.55" in row and row.endswith("ops FULLY_CONNECTED")


def test_an_info_without_the_clock_reads_as_before() -> None:
    row = format_device_line(_info())
    assert row.startswith("info: tinyslm 0.1.0 on stm32h7, model abababababab... (12345 B)")
    assert "MHz" not in row


@pytest.mark.parametrize("value", ['"400"', "-1", "true", "null", "4.0e8", "{}"])
def test_a_clock_of_another_shape_is_shown_as_it_came(value: str) -> None:
    # Not what the firmware's writer sends: no made-up row (and no traceback).
    line = _info(f',"cpu_hz":{value}')
    assert format_device_line(line) == shown_line(line)


def test_raw_passes_the_line_as_it_came() -> None:
    line = _info(',"cpu_hz":64000000')
    assert shown_line(line) == line
