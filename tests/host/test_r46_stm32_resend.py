"""STM32H7 text glue: a whole line sent after ``{"error":"rx_overflow"}`` is answered (round 46).

Told of a loss, the core drops up to the next line end. When the bytes lost ended with a
line end (the host stopped while the loss went on: a burst that overflowed the ring
ends so), that next line end was the end of the host's next line, sent whole: the first
line a host resent after the error got no answer. The glue now ends the drop at once
where the interrupt read (and dropped) the line end that ended the gap: that path is
exact, so the host's next line is answered even without the empty line. When an
overrun's unread bytes ended the gap, nothing tells whether they held a line end, so
the drop runs to a line end the host sends: the host sends one empty line (as the
README says) and every line it resends is answered. (A 50 ms quiet wait that ended
the drop instead, from 6429452, had the rest of a line classified when the host paused
in it: see test_r46_resync_fragments.py.) Run in test_stm32_rx_ring's harness (the
generated main.cc's USART handler and loop body, a fake USART, a stand-in core with
tinyslm_core.c's overflow rule).
"""

from __future__ import annotations

import pytest
from test_stm32_rx_ring import Ring, build_ring, run_ring

pytestmark = pytest.mark.toolchain


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Ring:
    return build_ring(tmp_path_factory.mktemp("r46_ring"))


@pytest.mark.parametrize("lines", [100, 300, 2000])
@pytest.mark.parametrize("empty", ["", "empty"], ids=["no_empty_line", "empty_line"])
def test_lines_resent_after_a_burst_overflowed_the_ring_are_all_answered(
    ring: Ring, lines: int, empty: str
) -> None:
    # The interrupt dropped the burst's last line end itself: the drop ends there, so
    # the resent lines are answered with the empty line first or without it.
    c = run_ring(ring.exe, "burst", str(lines), empty)
    assert c.reports >= 1  # the burst does overflow the ring
    assert c.broken == 0  # no line with a gap in it reached the core
    assert c.resent == 5, "a whole line sent after the overflow and a pause got no answer"


@pytest.mark.parametrize("lost", [1, 2, 6])
def test_lines_resent_after_an_overrun_took_the_last_line_end_are_all_answered(
    ring: Ring, lost: int
) -> None:
    # The overrun's bytes were never read: the host's empty line ends the drop.
    c = run_ring(ring.exe, "tail", str(lost), "empty")
    assert (c.whole - c.resent, c.broken, c.reports) == (0, 0, 1)  # the cut line dropped
    assert c.resent == 5


@pytest.mark.parametrize("lost", [1, 6])
def test_without_the_empty_line_an_overrun_costs_the_first_resent_line_only(
    ring: Ring, lost: int
) -> None:
    # Why the README asks for the empty line: the drop runs to the first line end the
    # host sends, the first resent line's. That line is dropped whole, never classified.
    c = run_ring(ring.exe, "tail", str(lost))
    assert (c.broken, c.reports, c.resent) == (0, 1, 4)
