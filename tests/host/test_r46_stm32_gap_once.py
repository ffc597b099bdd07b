"""Round 46: one ``{"error":"rx_overflow"}`` per gap on the STM32H7 text firmware.

The main loop closed a gap by reading ``rx_lost`` and then storing it in ``rx_reported``;
a byte whose interrupt came between the two was counted into the gap being closed, and
with nothing stored since, the next pass reported the same gap again (the interrupt drops
every byte while a loss is unreported). The loop now holds interrupts off for the two.
The harness raises one byte's interrupt right after the read; its PRIMASK stand-in runs a
held-off interrupt when the loop lets them on again, as the core does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_stm32_rx_ring import build_ring, run_ring

pytestmark = pytest.mark.toolchain


@pytest.mark.parametrize("scenario", [(), ("burst", "2000")], ids=["back_to_back", "burst"])
def test_a_byte_arriving_while_a_gap_is_closed_is_not_a_second_report(
    tmp_path: Path, scenario: tuple[str, ...]
) -> None:
    plain = build_ring(tmp_path / "plain")
    raced = build_ring(tmp_path / "raced", interrupt_after="const uint32_t gap_end = rx_lost;")
    before, after = run_ring(plain.exe, *scenario), run_ring(raced.exe, *scenario)
    assert before.reports > 0  # the scenario overflows: there is a gap to close
    assert after.broken == 0
    assert after.reports == before.reports, (before, after)
