"""After ``{"error":"rx_overflow"}`` no fragment of a cut line is classified, however the
host paces the rest of it (round 46 review, finding 1).

6de92c4 (ESP32) and 6429452 (STM32H7, after a gap that ended with an overrun) ended the
core's drop with a synthetic line end once the input had been quiet a while (20-30 ms on
the ESP32, 50 ms on the STM32), on the rule that a host stops between lines. A person
typing in a raw terminal, or a radio/BLE bridge sending a line in packets, pauses inside
a line: the rest of the cut line was then answered as a whole line
(``0 lock the front door 100`` for ``n100 lock the front door 100``), and its action ran.
The drop now ends only at a line end the host really sent (on the STM32 also at once
where the interrupt read the line end that ended the gap: exact, no guess).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_esp32_rx_events import STALL, Script, assert_whole_lines_only, build_firmware, run
from test_stm32_rx_ring import Ring, build_ring, run_ring

pytestmark = pytest.mark.toolchain


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_firmware(tmp_path_factory.mktemp("resync_esp32"))


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Ring:
    return build_ring(tmp_path_factory.mktemp("resync_ring"))


@pytest.mark.parametrize("every", [600, 1500])  # a byte every 52 / 130 ms at 115200
def test_esp32_a_slow_sender_after_an_overflow_gets_no_fragment_classified(
    firmware: Path, tmp_path: Path, every: int
) -> None:
    script = Script(stall=STALL)
    script.send(100, gap=0)  # a burst behind a stall: the FIFO overflows
    script.send(3, gap=150, byte_every=every)  # then a typist, or a slow bridge
    r = run(firmware, script, tmp_path)
    assert r.stats["hw_lost"] > 0 and r.reports == 1  # the case this test is about
    assert r.broken == []
    assert_whole_lines_only(r)
    assert r.answered()[-2:] == [101, 102]  # the lines after the cut one are answered


@pytest.mark.parametrize("pause_ms", [60, 100, 1000])
def test_stm32_a_pause_mid_line_after_an_overrun_gets_no_fragment_classified(
    ring: Ring, pause_ms: int
) -> None:
    # An overrun cuts the first line, then the host pauses in it longer than the 50 ms
    # the removed quiet wait allowed, then sends the rest of it and two more lines.
    c = run_ring(ring.exe, "midline", str(pause_ms))
    assert (c.whole, c.broken, c.reports) == (2, 0, 1)
