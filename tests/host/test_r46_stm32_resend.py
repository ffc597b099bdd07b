"""STM32H7 text glue: a whole line sent after ``{"error":"rx_overflow"}`` is answered (round 46).

Told of a loss, the core drops up to the next line end. When the bytes lost ended with a
line end (the host stopped while the loss went on: a burst that overflowed the ring
ends so), that next line end was the end of the host's next line, sent whole: the first
line a host resent after the error got no answer. The glue now ends the drop where the
gap ended with a line end: at once when the interrupt read that line end (it reads
every byte the ring has no room for), and, when an overrun's unread bytes ended the gap,
once the line has stayed quiet for the glue's ``kQuietMs``. Run in
test_stm32_rx_ring's harness (the generated main.cc's USART handler and loop body, a
fake USART, a stand-in core with tinyslm_core.c's overflow rule).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_stm32_rx_ring import Ring, build_ring, run_ring

pytestmark = pytest.mark.toolchain


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Ring:
    return build_ring(tmp_path_factory.mktemp("r46_ring"))


@pytest.mark.parametrize("lines", [100, 300, 2000])
def test_lines_resent_after_a_burst_overflowed_the_ring_are_all_answered(
    ring: Ring, lines: int
) -> None:
    c = run_ring(ring.exe, "burst", str(lines))
    assert c.reports >= 1  # the burst does overflow the ring
    assert c.broken == 0  # no line with a gap in it reached the core
    assert c.resent == 5, "a whole line sent after the overflow and a pause got no answer"


@pytest.mark.parametrize("lost", [1, 2, 6])
def test_lines_resent_after_an_overrun_took_the_last_line_end_are_all_answered(
    ring: Ring, lost: int
) -> None:
    # The overrun's bytes were never read: the glue waits for the line to go quiet.
    c = run_ring(ring.exe, "tail", str(lost))
    assert (c.whole - c.resent, c.broken, c.reports) == (0, 0, 1)  # the cut line dropped
    assert c.resent == 5


def _quiet_ms(main: str) -> int:
    m = re.search(r"constexpr uint32_t kQuietMs = (\d+);", main)
    assert m is not None, "kQuietMs moved"
    return int(m[1])


def test_a_pause_shorter_than_the_quiet_time_mid_line_keeps_the_drop(ring: Ring) -> None:
    # An overrun cuts the first line and the host pauses in it, shorter than kQuietMs:
    # the rest of the line is still the broken line's, dropped, not classified.
    pause = _quiet_ms(ring.main) * 3 // 4
    c = run_ring(ring.exe, "midline", str(pause))
    assert (c.whole, c.broken, c.reports) == (2, 0, 1)


def test_the_quiet_time_stays_inside_the_wait_the_readme_asks_for() -> None:
    # README: wait a quarter of a second after the error before resending.
    template = Path(__file__).resolve().parents[2] / "templates" / "stm32-text" / "src"
    assert 0 < _quiet_ms((template / "main.cc.j2").read_text(encoding="utf-8")) < 250
