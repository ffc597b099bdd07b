"""The STM32H7 keyword glue's stream timeout when the microphone gives no audio (round 47).

An open serial stream (its END lost, the host gone) must close with
``{"error":"stream_timeout"}`` 2 s after its last frame (templates/audio/README.md.j2).
The app counts the samples it is fed or idled (``TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES``);
the glue fed it the DMA halves it read and, with no microphone running at all
(``mic_running`` false), the time passed in whole milliseconds (``mic_absent_tick``, at
most one DMA half's time, 64 ms, a pass). Measured here before round 47, from the
host's last frame (at 2.92 s) to the line:

- the SAI's DMA stalling without an error from 1 s (no half completes, the SAI still
  BUSY_RX): never (none in the 22 s run): the microphone muted, a half frame swallowing
  the next command;
- a SAI error from 1 s and again 10 ms after each restart, before any half completes
  (``HAL_SAI_IRQHandler`` aborting the DMA each time): never either;
- audio lost to overruns (each loop pass taking 100 ms from 2 s: one half fed of each
  1.56 that completed): 3.100 s;
- no microphone, each pass taking 100 ms: 3.100 s (64 ms counted a pass);
- a working microphone: 2.006 s; the DMA restart failing after the last frame: 1.986 s;
  no microphone: 1.9996 s (whole halves and whole milliseconds: tens of ms either way).

Now the glue gives an open stream the time on its clock (``clock_us``: the DWT cycle
counter, which the latencies and the old count without a microphone used), whatever
the microphone does: while a stream is open its halves are not fed (the app would drop
them), and ``stream_clock`` gives ``tinyslm_kws_app_idle`` the time since its last call
in whole samples, the fraction carried to the next call (no loss), by unsigned 32-bit
differences (``clock_us`` wraps every 71.6 min). It is called at the top of each loop
pass and after ``tinyslm_kws_app_feed`` (a frame restarts the count inside it: the time
before is given before it, its inferences' after). All the cases above: 2.0000 s (a
sample's fraction early at most; a 100 ms pass late at most). ``mic_overrun`` (at most
once a second) and ``mic_init_failed`` (every 3 s) were on ``HAL_GetTick`` already and
right; measured here with the lines' times.

The firmware: as in test_r42_mic_never_starts, main.cc's parts run on a simulated clock
(stm32_kws_sim's harness, as it is).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from stm32_kws_sim import HARNESS, Line, build_firmware, open_stream, run_harness

pytestmark = pytest.mark.toolchain

STREAM_FROM_US = 100_000  # the harness's host starts sending at 0.1 s
TIMEOUT_S = 2.0  # TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES at 16 kHz
SAMPLE_S = 1 / 16000
TIMEOUT = '{"error":"stream_timeout"}'
FAILED = '{"error":"mic_failed","reason":"SAI DMA restart failed"}'
OVERRUN = '{"error":"mic_overrun","reason":"microphone audio was dropped"}'
NO_MIC = '{"error":"mic_init_failed","reason":"SAI init failed"}'


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    loop_needs = ("mic_poll();", "tinyslm_kws_app_feed(")
    return build_firmware(tmp_path_factory, "stm32_clock", HARNESS, loop_needs)


@dataclass(frozen=True)
class Run:
    lines: list[Line]
    last_feed_us: int
    lost: int

    def texts(self) -> list[str]:
        return [line.text for line in self.lines]

    def timeout_after_last_frame(self) -> float:
        """Seconds from the stream's last frame to its stream_timeout line (inf: none)."""
        at = [line.us for line in self.lines if line.text == TIMEOUT]
        assert len(at) <= 1, self.lines
        return (at[0] - self.last_feed_us) / 1e6 if at else float("inf")


def _run(firmware: Path, end_us: float, stream: Path) -> Run:
    written, lines, stats = run_harness(firmware, end_us, stream)
    return Run(written, int(lines["F"][0]), stats["lost"])


# ---------------------------------------------------------------------------------------
# The stream's timeout, whatever the microphone does. 1 s of audio from 0.1 s (its last
# frame at about 3 s), without END.

SCENARIOS = {
    # The DMA completes no half from 1 s on, the SAI still BUSY_RX: no error at all.
    "dma-stalls": {"TINYSLM_TEST_STALL_FROM_US": "1000000"},
    # A SAI error at 1 s, and again 10 ms after each restart: never a half.
    "errors-after-each-restart": {
        "TINYSLM_TEST_SAI_ERROR_AT_US": "1000000",
        "TINYSLM_TEST_STORM_US": "10000",
    },
    # A SAI error at 3.1 s, after the last frame, and a restart that fails.
    "restart-fails": {
        "TINYSLM_TEST_SAI_ERROR_AT_US": "3100000",
        "TINYSLM_TEST_RESTART_FAILS": "1",
    },
    # From 2 s on each pass takes 100 ms (1.56 halves): halves lost to overruns.
    "overruns": {"TINYSLM_TEST_SLOW_FROM_US": "2000000", "TINYSLM_TEST_SLOW_PASS_US": "100000"},
    # Each inference takes 30 ms: the frames' own inferences.
    "slow-inferences": {"TINYSLM_TEST_INFER_US": "30000"},
    "working": {},
    # clock_us wraps (2^32 us) 1 s after the last frame.
    "clock-wraps": {"TINYSLM_TEST_CLOCK_FROM_US": str(2**32 - 4_000_000)},
    "no-microphone": {"TINYSLM_TEST_NO_MIC": "1"},
    # No microphone, and from 2 s on each pass takes 100 ms.
    "no-microphone-slow-passes": {
        "TINYSLM_TEST_NO_MIC": "1",
        "TINYSLM_TEST_SLOW_FROM_US": "2000000",
        "TINYSLM_TEST_SLOW_PASS_US": "100000",
    },
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_an_open_stream_closes_2_s_after_its_last_frame_whatever_the_microphone_does(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str
) -> None:
    for name, value in SCENARIOS[scenario].items():
        monkeypatch.setenv(name, value)
    run = _run(firmware, 25_000_000, open_stream(tmp_path, 1.0))
    after = run.timeout_after_last_frame()
    # 2 s: early by a sample's fraction at most (the part carried over from before the
    # frame); late by a loop pass at most (100 ms in the slow one) and a line written.
    late = 0.11 if "TINYSLM_TEST_SLOW_PASS_US" in SCENARIOS[scenario] else 0.01
    assert TIMEOUT_S - SAMPLE_S <= after <= TIMEOUT_S + late, (after, run.lines[:5])


def test_a_stream_that_keeps_coming_is_not_timed_out_by_a_stalled_microphone(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock counts from the last frame only: 2 s of audio take about 5.8 s of line,
    the DMA stalled from 0.5 s: no timeout while the frames come, nor 1.9 s after."""
    monkeypatch.setenv("TINYSLM_TEST_STALL_FROM_US", "500000")
    stream = open_stream(tmp_path, 2.0)
    last_feed_us = _run(firmware, 10_000_000, stream).last_feed_us
    assert last_feed_us > 5_000_000
    run = _run(firmware, last_feed_us + 1_900_000, stream)
    assert run.texts() == [], run.lines


# ---------------------------------------------------------------------------------------
# The other time-based lines, measured with their times (on HAL_GetTick already).


def test_mic_overrun_is_said_at_most_once_a_second_and_not_during_a_stream(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From 1 s each loop pass takes 100 ms: halves lost all along; said once the stream
    closed (not before), then once a second."""
    monkeypatch.setenv("TINYSLM_TEST_SLOW_FROM_US", "1000000")
    monkeypatch.setenv("TINYSLM_TEST_SLOW_PASS_US", "100000")
    stream = open_stream(tmp_path, 0.2)
    run = _run(firmware, 30_000_000, stream)
    texts = run.texts()
    assert texts[0] == TIMEOUT and set(texts[1:]) == {OVERRUN}, texts
    said = [line.us for line in run.lines[1:]]
    assert said[0] - run.lines[0].us <= 110_000  # the next pass after the stream closed
    gaps = [b - a for a, b in pairwise(said)]
    # Once a second: a HAL_GetTick second, the pass that found it due (100 ms) at most.
    assert len(gaps) >= 5 and all(1_000_000 <= g <= 1_110_000 for g in gaps), gaps


def test_mic_init_failed_is_said_every_3_s_around_a_stream(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 0 s (main), then every 3 s, not while the stream is open (0.1 s to 2 s after its
    last frame), said right after it closes."""
    monkeypatch.setenv("TINYSLM_TEST_NO_MIC", "1")
    run = _run(firmware, 16_000_000, open_stream(tmp_path, 1.0))
    texts = run.texts()
    assert texts[:3] == [NO_MIC, TIMEOUT, NO_MIC] and set(texts[3:]) == {NO_MIC}, texts
    said = [line.us for line in run.lines if line.text == NO_MIC]
    assert said[0] == 0 and said[1] - run.lines[1].us < 5_000
    gaps = [b - a for a, b in pairwise(said[1:])]
    # 3 s apart, counted in HAL_GetTick's whole milliseconds.
    assert len(gaps) >= 2 and all(2_999_000 <= g <= 3_001_000 for g in gaps), gaps
