"""STM32H7 text firmware (round 48's test-honesty audit, item 1): the byte flagged in one
gap (a framing error) is said once, as rx_error; it is cleared when that gap is reported,
so a later plain overrun is said as rx_overflow, not as the old rx_error. Run in
test_stm32_rx_ring's harness (the generated main.cc's USART handler and loop body)."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_stm32_rx_ring
from test_stm32_rx_ring import build_ring, run_ring

_MODE = '  } else if (mode == "burst") {'
_NEW_MODE = """\
  } else if (mode == "flag_then_burst") {
    // One line whose byte 9 comes with a framing error; the host stops for 250 ms, then
    // sends 2000 lines back to back: more than the ring holds, so plain overruns.
    host = sent_line + "\\n";
    flag_at = 9;
    flag_bits = USART_ISR_FE;
    run();
    pause_ms(250);
    for (int i = 0; i < 2000; ++i) host += sent_line + "\\n";
"""


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = test_stm32_rx_ring.HARNESS
    assert text.count(_MODE) == 1, "test_stm32_rx_ring's harness has changed"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(test_stm32_rx_ring, "HARNESS", text.replace(_MODE, _NEW_MODE + _MODE))
        return build_ring(tmp_path_factory.mktemp("r48_hon_flag")).exe


def test_overruns_after_a_flagged_byte_are_said_as_rx_overflow(ring: Path) -> None:
    c = run_ring(ring, "flag_then_burst")
    assert c.broken == 0, c
    assert c.reports >= 3, c  # the flagged byte's gap, and the burst's overruns
    # Only the flagged byte's gap is said as rx_error (before: every later gap too).
    assert (c.errors, c.reason) == (1, "framing"), c
