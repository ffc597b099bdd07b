"""The STM32H7 keyword board's microphone failures are said, and tried again (round 47).

Two gaps in ``mic_poll`` (templates/stm32-audio/src/main.cc.j2):

- a SAI DMA that stalls without an error (no half completes, the SAI still ``BUSY_RX``)
  was silent: no line ever said the microphone had stopped, and the board stayed deaf
  for good. Now no half for 4 halves' time (256 ms) is a stall: the SAI is stopped
  (``HAL_SAI_DMAStop``) and started again as after an error, and
  ``{"error":"mic_failed","reason":"SAI DMA stalled"}`` says so;
- ``{"error":"mic_failed","reason":"SAI DMA restart failed"}`` was said once, never
  again (``mic_init_failed`` is said every 3 s so that a host that connects later sees
  it), and the restart never tried again. Now a ``mic_failed`` is said at once and every
  3 s while it lasts (at most that often), not while a serial stream is open (said as
  soon as it closes, as ``mic_init_failed`` is), and a failed restart is tried again
  every 3 s.

test_r47_stm32kw_clock's harness (stm32_kws_sim: main.cc's declarations, functions and
loop on a simulated clock, the HAL pieces as stand-ins state for state, its stand-in of
``HAL_SAI_DMAStop`` checked against the HAL's source below), with counts of the SAI's
starts and stops and of the microphone samples fed to the listening loop, a restart that
ends a stall, and a failed restart that works again from a given time.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from kws_glue_fixture import write_kws_project
from shared_paths import require_path, sdk_path
from stm32_kws_sim import (
    HARNESS,
    Line,
    build_firmware,
    insert,
    no_host,
    open_stream,
    replace_once,
    run_harness,
)
from test_stm32_rx_ring import _block

from tinyslm.boards import load_board

pytestmark = pytest.mark.toolchain

HALF_US = 64_000  # kMicHalf (1024) samples at 16 kHz
TIMEOUT = '{"error":"stream_timeout"}'
STALLED = '{"error":"mic_failed","reason":"SAI DMA stalled"}'
FAILED = '{"error":"mic_failed","reason":"SAI DMA restart failed"}'
OVERRUN = '{"error":"mic_overrun","reason":"microphone audio was dropped"}'


def _harness() -> str:
    """stm32_kws_sim's harness with this module's counters and scenario knobs."""
    h = insert(
        HARNESS,
        "#define tinyslm_kws_app_feed(a, data, n) harness_feed(a, data, n)\n",
        "// The microphone's samples the listening loop got, counted.\n"
        "uint64_t mic_fed = 0;\n"
        "#define tinyslm_kws_app_feed_samples(a, s, n) (mic_fed += (n), 0)\n",
    )
    h = insert(
        h,
        "bool restart_fails;\n",
        "// A failed restart works again from this time on (0: never); a restart ends the stall.\n"
        "uint64_t restart_fails_until_us;\n"
        "bool stall_ends_on_restart;\n"
        "int starts = 0, stops = 0;\n",
    )
    h = replace_once(
        h,
        '  printf("S time_us %llu lost %u code 0\\n", static_cast<unsigned long long>(now),\n'
        "         static_cast<unsigned>(mic_lost));\n",
        '  printf("S time_us %llu lost %u starts %d stops %d fed %llu code 0\\n",\n'
        "         static_cast<unsigned long long>(now), static_cast<unsigned>(mic_lost), starts,"
        " stops,\n"
        "         static_cast<unsigned long long>(mic_fed));\n",
    )
    h = insert(h, "HAL_StatusTypeDef HAL_SAI_DMAStop(SAI_HandleTypeDef *h) {\n", "  ++stops;\n")
    h = insert(h, "  if (h->State != HAL_SAI_STATE_READY) return HAL_BUSY;\n", "  ++starts;\n")
    h = replace_once(
        h,
        "  if (restart_fails) return HAL_ERROR;"
        "  // HAL_DMA_Start_IT refused: the SAI left BUSY_RX\n",
        "  // HAL_DMA_Start_IT refused: the SAI left BUSY_RX.\n"
        "  if (restart_fails && (restart_fails_until_us == 0 || now < restart_fails_until_us)) {\n"
        "    return HAL_ERROR;\n"
        "  }\n"
        "  if (stall_ends_on_restart) stall_from_us = 0;\n",
    )
    return insert(
        h,
        '  restart_fails = env("TINYSLM_TEST_RESTART_FAILS", 0) != 0;\n',
        '  restart_fails_until_us = env("TINYSLM_TEST_RESTART_FAILS_UNTIL_US", 0);\n'
        '  stall_ends_on_restart = env("TINYSLM_TEST_STALL_ENDS_ON_RESTART", 0) != 0;\n',
    )


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_firmware(tmp_path_factory, "stm32_mic", _harness(), ("mic_poll();",))


@dataclass(frozen=True)
class Run:
    lines: list[Line]
    stats: dict[str, int]

    def texts(self) -> list[str]:
        return [line.text for line in self.lines]

    def at(self, text: str) -> list[int]:
        return [line.us for line in self.lines if line.text == text]


def _run(firmware: Path, end_us: float, stream: Path, monkeypatch: pytest.MonkeyPatch,
         **env: int) -> Run:  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(f"TINYSLM_TEST_{name}", str(value))
    written, _, stats = run_harness(firmware, end_us, stream)
    return Run(written, stats)


def _every_3_s(said: list[int]) -> None:
    gaps = [b - a for a, b in pairwise(said)]
    # 3 s apart, counted in HAL_GetTick's whole milliseconds.
    assert gaps and all(2_999_000 <= g <= 3_001_000 for g in gaps), gaps


# ---------------------------------------------------------------------------------------
# Gap 1: a DMA that stalls without an error.


def test_a_stalled_dma_is_said_and_restarted(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No half from 1 s on (the last at 0.96 s); the restart ends the stall: said once,
    4 halves' time after the last half, and the microphone heard again."""
    run = _run(firmware, 5_000_000, no_host(tmp_path), monkeypatch, STALL_FROM_US=1_000_000,
               STALL_ENDS_ON_RESTART=1)  # fmt: skip
    assert run.texts() == [STALLED], run.lines
    last_half = 15 * HALF_US
    assert last_half + 4 * HALF_US <= run.lines[0].us <= last_half + 4 * HALF_US + 2_000
    assert (run.stats["stops"], run.stats["starts"]) == (1, 1)
    # Every half after the restart (at about 1.216 s) reaches the listening loop.
    after = (5_000_000 - run.lines[0].us) // HALF_US
    assert run.stats["fed"] >= (15 + after - 1) * 1024, run.stats


def test_a_dma_that_stalls_after_each_restart_is_said_every_3_s(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Restarted each 4 halves' time, said at most every 3 s while it lasts."""
    run = _run(firmware, 10_500_000, no_host(tmp_path), monkeypatch, STALL_FROM_US=1_000_000)
    assert set(run.texts()) == {STALLED} and len(run.lines) == 4, run.lines
    _every_3_s(run.at(STALLED))
    assert 30 <= run.stats["starts"] == run.stats["stops"] <= 40, run.stats


def test_a_stall_is_not_said_during_a_stream_but_as_it_closes(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream (1 s of audio from 0.1 s, its END lost) owns the line until it times
    out; the stall from 0.5 s is said right after, then every 3 s."""
    run = _run(firmware, 12_000_000, open_stream(tmp_path, 1.0), monkeypatch,
               STALL_FROM_US=500_000)  # fmt: skip
    texts = run.texts()
    assert texts[:2] == [TIMEOUT, STALLED] and set(texts[2:]) == {STALLED}, run.lines
    assert run.lines[1].us - run.lines[0].us < 5_000
    _every_3_s(run.at(STALLED))


@pytest.mark.parametrize("pass_us", [300_000, 1_000_000])
def test_long_loop_passes_are_not_taken_for_a_stall(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pass_us: int
) -> None:
    """Each pass from 1 s on takes longer than the stall's 256 ms (an inference on a
    slow board): the halves came meanwhile, so audio is dropped (mic_overrun), but the
    DMA is not restarted nor said to have stalled."""
    run = _run(firmware, 8_000_000, no_host(tmp_path), monkeypatch, SLOW_FROM_US=1_000_000,
               SLOW_PASS_US=pass_us)  # fmt: skip
    assert set(run.texts()) == {OVERRUN}, run.lines
    assert (run.stats["starts"], run.stats["stops"]) == (0, 0)


def test_a_working_microphone_says_nothing(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run(firmware, 5_000_000, no_host(tmp_path), monkeypatch)
    assert run.texts() == [] and (run.stats["starts"], run.stats["stops"]) == (0, 0)


# ---------------------------------------------------------------------------------------
# Gap 2: a failed restart, said once and never tried again.


def test_a_failed_restart_is_said_every_3_s_and_tried_again(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SAI error at 1 s, the restart failing: said at once and every 3 s, tried again
    as often (the SAI, left BUSY_RX by the failed start, stopped first)."""
    run = _run(firmware, 10_500_000, no_host(tmp_path), monkeypatch,
               SAI_ERROR_AT_US=1_000_000, RESTART_FAILS=1)  # fmt: skip
    # The SAI error's own mic_overrun is not said: the failed restart (mic_failed) is
    # (round 50; before, a SAI error was a "microphone audio was dropped" line).
    assert run.texts() == [FAILED] * 4, run.lines
    said = run.at(FAILED)
    assert 1_000_000 <= said[0] <= 1_001_000
    _every_3_s(said)
    # Every try stops the SAI first (round 51: a READY one too, which flushes its FIFO).
    assert run.stats["starts"] == 4 and run.stats["stops"] == 4, run.stats


def test_a_restart_that_works_again_brings_the_microphone_back(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The restart fails until 5 s: tried at 1, 4 and 7 s; the third works, the lines
    stop and the halves reach the listening loop again."""
    run = _run(firmware, 12_000_000, no_host(tmp_path), monkeypatch,
               SAI_ERROR_AT_US=1_000_000, RESTART_FAILS=1,
               RESTART_FAILS_UNTIL_US=5_000_000)  # fmt: skip
    assert run.texts() == [FAILED] * 2, run.lines
    assert run.stats["starts"] == 3
    # Before the error 15 halves, after the restart at 7 s about 78.
    assert run.stats["fed"] >= (15 + 75) * 1024, run.stats


def test_a_failed_restart_is_not_said_during_a_stream_but_as_it_closes(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The restart fails at 0.5 s, while a stream is open (until its timeout, about
    4.9 s): said right after the timeout, then every 3 s."""
    run = _run(firmware, 11_000_000, open_stream(tmp_path, 1.0), monkeypatch,
               SAI_ERROR_AT_US=500_000, RESTART_FAILS=1)  # fmt: skip
    texts = run.texts()
    # (The SAI error's mic_overrun is not said: a stream was open.)
    assert texts[:2] == [TIMEOUT, FAILED] and set(texts[2:]) == {FAILED}, run.lines
    assert run.lines[1].us - run.lines[0].us < 5_000
    _every_3_s(run.at(FAILED))


# ---------------------------------------------------------------------------------------
# The new stand-in against the HAL the board builds with; main.cc's margin.


def test_the_dma_stop_stand_in_follows_the_hal_source() -> None:
    root = require_path(sdk_path("stm32cubeh7"), "STM32CubeH7 framework tree")
    sai = (root / "Drivers" / "STM32H7xx_HAL_Driver" / "Src" / "stm32h7xx_hal_sai.c").read_text(
        encoding="utf-8", errors="replace"
    )
    start = sai.index("HAL_StatusTypeDef HAL_SAI_DMAStop(SAI_HandleTypeDef *hsai)\n{")
    body = " ".join(sai[start : sai.index("\n}\n", start)].split())
    parts = ["SAI_Disable(hsai)",
             "if ((hsai->State == HAL_SAI_STATE_BUSY_RX) && (hsai->hdmarx != NULL))",
             "if (HAL_DMA_Abort(hsai->hdmarx) != HAL_OK)",
             "if (hsai->hdmarx->ErrorCode != HAL_DMA_ERROR_NO_XFER)", "status = HAL_ERROR;",
             "hsai->State = HAL_SAI_STATE_READY;", "return status;"]  # fmt: skip
    at = 0
    for part in parts:
        at = body.find(part, at)
        assert at >= 0, part


def test_the_stall_margin_is_4_halves(tmp_path: Path) -> None:
    """No compiler needed: 4 halves' time, from the DMA's start (mic_init) on."""
    project = write_kws_project(load_board("stm32h7"), tmp_path / "p", without_tflm=True)
    main = (project / "src" / "main.cc").read_text(encoding="utf-8")
    assert "constexpr uint32_t kMicStallHalves = 4;" in main
    assert "mic_seen_ms = HAL_GetTick();" in _block(main, "const char *mic_init() {")
