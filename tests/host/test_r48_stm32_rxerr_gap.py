"""Round 48: a flagged byte that lands while a gap's rx_overflow goes out is still said.

On the STM32H7 text firmware the interrupt counts every byte into an open gap until the
main loop closes it, which it does after writing the gap's report. A byte the USART
flagged (framing, noise, parity) that came while ``{"error":"rx_overflow"}`` went out
was counted into that gap and its flag cleared with it: the host saw rx_overflow only,
never the rx_error that tells it to check the wiring or the baud rate. The gap now keeps
its flags until it is closed, and flags that came after its rx_overflow are said as
``{"error":"rx_error","reason":...}`` right after it (nothing is fed in between, so the
core's drop is the one rx_overflow began).

Run in test_stm32_rx_ring's harness (the generated main.cc's USART handler and loop body)
with one scenario added: an overrun breaks the second of 20 lines sent back to back (as
in its "overrun" scenario), and a byte that arrives while the gap's rx_overflow line goes
out comes flagged.
"""

from __future__ import annotations

import pytest
import test_stm32_rx_ring
from test_stm32_rx_ring import Ring, build_ring, run_ring

pytestmark = pytest.mark.toolchain

REASONS = {"fe": "framing", "ne": "noise", "pe": "parity"}

# The stand-in rx_overflow flags the host's byte that arrives `flag_in_report` byte-times
# into its line (flag_at and flag_bits move up so that it can).
_FLAG_DECLS = "static long flag_at = -1;\nstatic uint32_t flag_bits = 0;\n"
_OVERFLOW = "static void tinyslm_app_rx_overflow(tinyslm_app_t *) {\n"
_OVERFLOW_LINE = '  arrive(24);  // {"error":"rx_overflow"}\n'
_FLAG_IN_REPORT = (
    "  if (flag_in_report >= 0) {\n"
    "    flag_at = static_cast<long>(host_at) + flag_in_report;\n"
    "    flag_in_report = -1;\n"
    "  }\n"
)
_MODE = '  } else if (mode == "flagged_burst") {\n'
_NEW_MODE = """\
  } else if (mode == "flagged_in_report") {
    // As "overrun", and the byte that arrives `count` byte-times into the gap's
    // rx_overflow line comes flagged (argv[4]: fe, ne or pe).
    for (int i = 0; i < 20; ++i) host += sent_line + "\\n";
    const std::string kind = argc > 4 ? argv[4] : "fe";
    flag_bits = kind == "ne" ? USART_ISR_NE : kind == "pe" ? USART_ISR_PE : USART_ISR_FE;
    flag_in_report = count;
    send_up_to(sent_line.size());
    hold_off(3);
"""


def _harness() -> str:
    text = test_stm32_rx_ring.HARNESS
    for part in (_FLAG_DECLS, _OVERFLOW, _OVERFLOW_LINE, _MODE):
        assert text.count(part) == 1, f"test_stm32_rx_ring's harness has changed: {part!r}"
    text = text.replace(_FLAG_DECLS, "")
    text = text.replace(_OVERFLOW, _FLAG_DECLS + "static long flag_in_report = -1;\n" + _OVERFLOW)
    text = text.replace(_OVERFLOW_LINE, _FLAG_IN_REPORT + _OVERFLOW_LINE)
    return text.replace(_MODE, _NEW_MODE + _MODE)


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Ring:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(test_stm32_rx_ring, "HARNESS", _harness())
        return build_ring(tmp_path_factory.mktemp("r48_ring"))


def test_the_harness_gap_without_a_flag_is_one_rx_overflow(ring: Ring) -> None:
    # The scenario's gap, no byte flagged (the flag set after the last byte): as "overrun".
    c = run_ring(ring.exe, "flagged_in_report", "100000")
    assert (c.first, c.broken, c.reports, c.errors) == (1, 0, 1, 0)


@pytest.mark.parametrize("flag", sorted(REASONS))
@pytest.mark.parametrize("at", [0, 12, 23], ids=["first", "mid", "last"])
def test_a_byte_flagged_while_the_rx_overflow_goes_out_is_said_as_rx_error(
    ring: Ring, flag: str, at: int
) -> None:
    # Before: reports 1, errors 0 (the flag was cleared with the gap, unsaid).
    c = run_ring(ring.exe, "flagged_in_report", str(at), "-", flag)
    assert (c.broken, c.reports, c.errors, c.reason) == (0, 2, 1, REASONS[flag])
    assert c.first == 1  # the line before the gap was answered before either report
    assert c.whole > c.first  # lines after the gap are stored and answered again
