"""Round 50: the STM32H7 keyword board's three repeated error lines, all at once.

Its glue had five functions for them (``clock_error_say``, ``mic_error_say``,
``clock_error_repeat``, ``mic_error_repeat``, ``mic_failed_repeat``), each with its own
``*_said_ms``; they are one pair now (``error_say``, ``error_repeat``) over an
``ErrorLine`` each. The modules of rounds 43 to 47 check each line alone; here all of
them are due in one run, on stm32_kws_sim's clock, so that the order of the lines (the
boot's clock then microphone; the loop's ``mic_failed`` from ``mic_poll``, then the
clock's, then the microphone's) and their wording and times are pinned. The boot's two
lines are planted as ``main`` says them, in whichever shape ``main.cc`` has (the checks
pass on the five functions too: the refactoring's proof).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from esp32_fakes import require_host_compilers
from kws_glue_fixture import compile_stm32_harness, stm32_main_parts, write_kws_project
from stm32_kws_sim import HARNESS, no_host, open_stream, replace_once, run_harness
from test_stm32_rx_ring import _block

from tinyslm.boards import load_board

pytestmark = pytest.mark.toolchain

CLOCK = '{"error":"clock_init_failed","reason":"running on the 64 MHz HSI"}'
NO_MIC = '{"error":"mic_init_failed","reason":"SAI init failed"}'
STALLED = '{"error":"mic_failed","reason":"SAI DMA stalled"}'
TIMEOUT = '{"error":"stream_timeout"}'
LINE_US = 868 / 10  # a byte at 115200 baud, as the harness's HAL_UART_Transmit takes

NO_MIC_BLOCK = """  if (env("TINYSLM_TEST_NO_MIC", 0) != 0) {
    mic_running = false;
    sai_on = false;
    mic_error.reason = "SAI init failed";
    error_say(mic_error);
  }
"""

# main's start-up lines, as it says them: the clock's as soon as the serial line is up,
# the microphone's once mic_init has failed. {clock} and {mic}: in main.cc's shape.
BOOT = """  if (env("TINYSLM_TEST_CLOCK_FAILED", 0) != 0) {
{clock}
  }
  if (env("TINYSLM_TEST_NO_MIC", 0) != 0) {
    mic_running = false;
    sai_on = false;
{mic}
  }
"""
NEW_SHAPE = (
    '    clock_error.reason = "running on the 64 MHz HSI";\n    error_say(clock_error);',
    '    mic_error.reason = "SAI init failed";\n    error_say(mic_error);',
)
OLD_SHAPE = (
    "    clock_slow = true;\n    clock_error_say();",
    '    mic_error = "SAI init failed";\n    mic_error_say();',
)


def _harness(main: str) -> str:
    clock, mic = NEW_SHAPE if "struct ErrorLine {" in main else OLD_SHAPE
    return replace_once(HARNESS, NO_MIC_BLOCK, BOOT.replace("{clock}", clock).replace("{mic}", mic))


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """stm32_kws_sim's build (its build_firmware), the boot planted in main.cc's shape."""
    require_host_compilers()
    root = tmp_path_factory.mktemp("r50_error_lines")
    src = write_kws_project(load_board("stm32h7"), root / "p", without_tflm=True) / "src"
    main = (src / "main.cc").read_text(encoding="utf-8")
    declarations, functions = stm32_main_parts(main)
    loop = _block(main, "  uint8_t chunk[64];\n  for (;;) {")
    assert "mic_poll();" in loop, "the main loop moved"
    source = (
        _harness(main)
        .replace("<harness>", "r50_error_lines")
        .replace("{declarations}", declarations)
        .replace("{functions}", functions)
        .replace("{loop_body}", loop)
    )
    return compile_stm32_harness(src, source, root, "r50_error_lines")


def _run(firmware: Path, end_us: float, stream: Path, monkeypatch: pytest.MonkeyPatch,
         **env: int) -> list[tuple[int, str]]:  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(f"TINYSLM_TEST_{name}", str(value))
    written, _, _ = run_harness(firmware, end_us, stream)
    return [(line.us, line.text) for line in written]


def _line_us(text: str) -> float:
    return (len(text) + 1) * LINE_US


def _every_3_s(said: list[int]) -> None:
    gaps = [b - a for a, b in pairwise(said)]
    # 3 s apart, counted in HAL_GetTick's whole milliseconds.
    assert gaps and all(2_999_000 <= g <= 3_001_000 for g in gaps), gaps


def test_a_slow_clock_and_a_dead_microphone_are_said_at_boot_and_every_3_s(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _run(firmware, 10_000_000, no_host(tmp_path), monkeypatch, CLOCK_FAILED=1, NO_MIC=1)
    assert [text for _, text in lines] == [CLOCK, NO_MIC] * 4, lines
    # At boot the clock's first, the microphone's as soon as it is out.
    assert lines[0][0] == 0 and lines[1][0] == int(_line_us(CLOCK))
    # Then each 3 s after it was last said: the clock's at 3 s, the microphone's as soon as
    # its own 3 s are up (the clock's line took 6 ms), so in the same order.
    _every_3_s([at for at, text in lines if text == CLOCK])
    _every_3_s([at for at, text in lines if text == NO_MIC])
    for (clock_at, _), (mic_at, _) in zip(lines[2::2], lines[3::2], strict=True):
        assert clock_at < mic_at < clock_at + 2 * _line_us(CLOCK), lines


def test_a_stall_is_said_between_the_clock_s_repeats(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock failed at boot; the DMA stalls from 1 s on after each restart: the stall
    said 4 halves' time after the last half (1.216 s), then every 3 s, the clock at 0, 3,
    6 and 9 s, neither holding the other back."""
    lines = _run(firmware, 10_500_000, no_host(tmp_path), monkeypatch, CLOCK_FAILED=1,
                 STALL_FROM_US=1_000_000)  # fmt: skip
    assert [text for _, text in lines] == [CLOCK, STALLED] * 4, lines
    clock = [at for at, text in lines if text == CLOCK]
    stalled = [at for at, text in lines if text == STALLED]
    assert clock[0] == 0 and all(3_000_000 * i <= at <= 3_000_000 * i + 1_000 for i, at in
                                 enumerate(clock)), clock  # fmt: skip
    assert 1_216_000 <= stalled[0] <= 1_218_000, stalled
    _every_3_s(stalled)


def test_after_a_stream_all_due_lines_are_said_in_the_loop_s_order(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream (1 s of audio from 0.1 s, its END lost) owns the line until its timeout
    (about 4.9 s); the clock's repeat (due at 3 s) and a stall from 0.5 s wait for it, then
    come in one pass: the stall (mic_poll) before the clock."""
    lines = _run(firmware, 7_000_000, open_stream(tmp_path, 1.0), monkeypatch, CLOCK_FAILED=1,
                 STALL_FROM_US=500_000)  # fmt: skip
    assert [text for _, text in lines] == [CLOCK, TIMEOUT, STALLED, CLOCK], lines
    timeout_at, stalled_at, clock_at = lines[1][0], lines[2][0], lines[3][0]
    assert stalled_at - timeout_at < _line_us(TIMEOUT) + 1_000
    assert stalled_at < clock_at < stalled_at + _line_us(STALLED) + 1_000


def test_after_a_stream_the_clock_comes_before_the_microphone(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both start-up failures wait for the stream, then come in the loop's order."""
    lines = _run(firmware, 6_000_000, open_stream(tmp_path, 1.0), monkeypatch, CLOCK_FAILED=1,
                 NO_MIC=1)  # fmt: skip
    assert [text for _, text in lines] == [CLOCK, NO_MIC, TIMEOUT, CLOCK, NO_MIC], lines
    timeout_at, clock_at, mic_at = lines[2][0], lines[3][0], lines[4][0]
    assert clock_at - timeout_at < _line_us(TIMEOUT) + 1_000
    assert clock_at < mic_at < clock_at + _line_us(CLOCK) + 1_000
