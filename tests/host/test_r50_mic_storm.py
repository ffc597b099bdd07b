"""Round 50: a STM32H7 microphone whose SAI errs again after every restart is said failed.

``mic_poll`` (templates/stm32-audio/src/main.cc.j2) restarted the SAI's DMA at once
after each SAI/DMA error, and each restart set the stall timer (``mic_seen_ms``) afresh,
so a SAI that erred again before any half completed was never said to have failed: an
error 10 ms after each restart gave 896 restarts in 9 s, one 100 us after 80,632, and
the only line was ``mic_overrun`` "microphone audio was dropped" once a second, which
the README explains as the loop falling behind the microphone (it was not). Every SAI
error was counted into that line too.

Now ``mic_seen_ms`` is when a half last completed: no half for 4 halves' time with SAI
errors meanwhile is ``{"error":"mic_failed","reason":"SAI errors, no audio"}`` (at once,
then every 3 s, as the other ``mic_failed`` reasons); restarts after repeated errors wait
1, 2, 4 ... ms, at most 1 s (the first at once: a transient error costs one half); and a
SAI error the restart got over has its own reason under ``mic_overrun``, not the loop's.

stm32_kws_sim's harness with test_r47_stm32mic_failed's counters, and a storm that ends
at a given time (``TINYSLM_TEST_STORM_UNTIL_US``).

Review mends (round 50): the HAL lets an overrun of the SAI's FIFO run on (the SAI
``BUSY_RX``, the halves go on), so nothing is restarted; its line said "SAI error: audio
dropped, restarted" all the same. The error callback now counts by what the HAL did
(``mic_sai_error``): an overrun is ``SAI overrun: audio dropped``; only errors that
stopped the SAI (a DMA transfer or direct mode error) say "restarted", once the restart
was made. The harness's errors go through ``mic_sai_error``, with an overrun
(``TINYSLM_TEST_OVERRUN_AT_US``), a direct mode error that leaves the DMA stream on
(``TINYSLM_TEST_DMA_ERROR_AT_US``), and one error a given time after the restart that
ends a storm (``TINYSLM_TEST_ERROR_AFTER_STORM_US``); each start's time is printed
(``R <us>``).
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from kws_glue_fixture import write_kws_project
from stm32_kws_sim import (
    Line,
    build_firmware,
    insert,
    no_host,
    open_stream,
    replace_once,
    run_harness,
)
from test_r47_stm32mic_failed import _harness

from tinyslm.boards import load_board

pytestmark = pytest.mark.toolchain

HALF_US = 64_000
LAST_HALF_US = 15 * HALF_US  # the last half before an error at 1 s
STALL_US = 4 * HALF_US
NO_AUDIO = '{"error":"mic_failed","reason":"SAI errors, no audio"}'
SAI_ERROR = '{"error":"mic_overrun","reason":"SAI error: audio dropped, restarted"}'
SAI_OVERRUN = '{"error":"mic_overrun","reason":"SAI overrun: audio dropped"}'
LATE = '{"error":"mic_overrun","reason":"microphone audio was dropped"}'
TIMEOUT = '{"error":"stream_timeout"}'


def _storm_harness() -> str:
    """test_r47_stm32mic_failed's harness; the storm ends at STORM_UNTIL_US (0: never),
    and the restart after it may err once ERROR_AFTER_STORM_US later; an overrun at
    OVERRUN_AT_US, a direct mode error at DMA_ERROR_AT_US; each start printed."""
    h = replace_once(
        _harness(),
        "  if (storm_us != 0) next_error_us = now + storm_us;",
        '  printf("R %llu\\n", static_cast<unsigned long long>(now));\n'
        "  if (storm_us != 0 && (storm_until_us == 0 || now < storm_until_us)) {\n"
        "    next_error_us = now + storm_us;\n"
        "  } else if (error_after_storm_us != 0) {\n"
        "    next_error_us = now + error_after_storm_us;\n"
        "    error_after_storm_us = 0;\n"
        "  }\n"
        "  //",
    )
    h = replace_once(
        h,
        "bool restart_fails;\n",
        "bool restart_fails;\n"
        "uint64_t storm_until_us, error_after_storm_us, overrun_at_us, dma_error_at_us;\n",
    )
    # The error the sim models (the SAI READY, its DMA aborted) goes through the glue's
    # error callback, as do the overrun (the SAI left BUSY_RX, the halves go on) and the
    # direct mode error (SAI_DMAError: the SAI READY, the DMA stream left on).
    h = replace_once(h, "    mic_sai_errors = mic_sai_errors + 1u;\n", "    mic_sai_error();\n")
    h = insert(
        h,
        "  if (!sai_on) return;\n",
        "  if (overrun_at_us != 0 && now >= overrun_at_us) {\n"
        "    overrun_at_us = 0;\n"
        "    mic_sai_error();\n"
        "  }\n"
        "  if (dma_error_at_us != 0 && now >= dma_error_at_us) {\n"
        "    dma_error_at_us = 0;\n"
        "    sai_on = false;\n"
        "    hsai.State = HAL_SAI_STATE_READY;\n"
        "    mic_sai_error();\n"
        "    return;\n"
        "  }\n",
    )
    return replace_once(
        h,
        '  storm_us = env("TINYSLM_TEST_STORM_US", 0);\n',
        '  storm_us = env("TINYSLM_TEST_STORM_US", 0);\n'
        '  storm_until_us = env("TINYSLM_TEST_STORM_UNTIL_US", 0);\n'
        '  error_after_storm_us = env("TINYSLM_TEST_ERROR_AFTER_STORM_US", 0);\n'
        '  overrun_at_us = env("TINYSLM_TEST_OVERRUN_AT_US", 0);\n'
        '  dma_error_at_us = env("TINYSLM_TEST_DMA_ERROR_AT_US", 0);\n',
    )


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_firmware(tmp_path_factory, "r50_mic_storm", _storm_harness(), ("mic_poll();",))


def _run(firmware: Path, end_us: float, stream: Path, monkeypatch: pytest.MonkeyPatch,
         **env: int) -> tuple[list[Line], dict[str, int]]:  # fmt: skip
    written, _, stats = _run_starts(firmware, end_us, stream, monkeypatch, **env)
    return written, stats


def _run_starts(firmware: Path, end_us: float, stream: Path, monkeypatch: pytest.MonkeyPatch,
                **env: int) -> tuple[list[Line], list[int], dict[str, int]]:  # fmt: skip
    """As :func:`_run`, with the times the SAI's DMA was started again."""
    for name, value in env.items():
        monkeypatch.setenv(f"TINYSLM_TEST_{name}", str(value))
    written, lines, stats = run_harness(firmware, end_us, stream)
    return written, [int(us) for us in lines.get("R", [])], stats


def _every_3_s(said: list[int]) -> None:
    gaps = [b - a for a, b in pairwise(said)]
    assert gaps and all(2_999_000 <= g <= 3_001_000 for g in gaps), gaps


@pytest.mark.parametrize("error_us", [10_000, 100])
def test_a_sai_that_errs_after_each_restart_is_said_failed_and_not_restarted_in_a_loop(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error_us: int
) -> None:
    """Errors from 1 s on, each error_us after the restart: the first error said as one
    (the loop was not behind), then, 4 halves' time after the last half, the failure, and
    it every 3 s; the restarts spaced out (a handful in the first second, then one a
    second at most), not hundreds or tens of thousands."""
    lines, stats = _run(firmware, 10_000_000, no_host(tmp_path), monkeypatch,
                        SAI_ERROR_AT_US=1_000_000, STORM_US=error_us)  # fmt: skip
    texts = [line.text for line in lines]
    assert texts == [SAI_ERROR] + [NO_AUDIO] * 3, lines
    assert 1_000_000 <= lines[0].us <= 1_001_000, lines
    said = [line.us for line in lines if line.text == NO_AUDIO]
    assert LAST_HALF_US + STALL_US <= said[0] <= LAST_HALF_US + STALL_US + 2_000, said
    _every_3_s(said)
    # 1 + 2 + ... + 512 ms: 11 restarts in about a second, then one a second.
    assert 15 <= stats["starts"] <= 22, stats
    assert stats["fed"] == 15 * 1024 and stats["lost"] == 0, stats


def test_a_storm_that_ends_brings_the_microphone_back_within_a_second(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Errors 10 ms after each restart from 1 s until 5 s: said failed meanwhile, then
    the next restart (1 s apart at most by then) works, the lines stop, audio is heard."""
    lines, stats = _run(firmware, 10_000_000, no_host(tmp_path), monkeypatch,
                        SAI_ERROR_AT_US=1_000_000, STORM_US=10_000,
                        STORM_UNTIL_US=5_000_000)  # fmt: skip
    assert [line.text for line in lines] == [SAI_ERROR, NO_AUDIO, NO_AUDIO], lines
    # Back by 6 s at the latest: 4 s of halves (64) and more reach the listening loop.
    assert stats["fed"] >= (15 + 62) * 1024, stats


def test_one_sai_error_restarts_at_once_and_says_so_not_that_the_loop_fell_behind(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single SAI error at 1 s: one restart at once (the next half 64 ms after it), one
    line with the SAI error's own reason, nothing more."""
    lines, stats = _run(firmware, 5_000_000, no_host(tmp_path), monkeypatch,
                        SAI_ERROR_AT_US=1_000_000)  # fmt: skip
    assert [line.text for line in lines] == [SAI_ERROR], lines
    assert stats["starts"] == 1 and stats["lost"] == 0, stats
    # Restarted within a pass or two of 1 s: all 4 s of halves after it but the last.
    assert stats["fed"] >= (15 + 61) * 1024, stats


def test_sai_errors_during_a_stream_are_not_said_after_it(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storm from 0.5 s to 2 s, inside a stream that times out at about 4.9 s: the
    errors of that time are not said once the stream closes, nor a failure long over."""
    lines, _ = _run(firmware, 8_000_000, open_stream(tmp_path, 1.0), monkeypatch,
                    SAI_ERROR_AT_US=500_000, STORM_US=10_000,
                    STORM_UNTIL_US=2_000_000)  # fmt: skip
    assert [line.text for line in lines] == [TIMEOUT], lines


def test_slow_passes_still_say_that_the_loop_fell_behind(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Halves the loop was late for keep their reason (at most once a second)."""
    lines, stats = _run(firmware, 5_000_000, no_host(tmp_path), monkeypatch,
                        SLOW_FROM_US=1_000_000, SLOW_PASS_US=300_000)  # fmt: skip
    assert lines and {line.text for line in lines} == {LATE}, lines
    assert stats["starts"] == 0 and stats["lost"] > 0, stats


def test_an_overrun_runs_on_and_is_not_said_restarted(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An overrun of the SAI's FIFO at 1 s, which the HAL lets run on: its own line (not
    "restarted", not the loop's), no stop nor start, every half still heard."""
    lines, starts, stats = _run_starts(firmware, 5_000_000, no_host(tmp_path), monkeypatch,
                                       OVERRUN_AT_US=1_000_000)  # fmt: skip
    assert [line.text for line in lines] == [SAI_OVERRUN], lines
    assert 1_000_000 <= lines[0].us <= 1_001_000, lines
    assert starts == [] and (stats["starts"], stats["stops"]) == (0, 0), stats
    assert stats["fed"] == (5_000_000 // HALF_US) * 1024 and stats["lost"] == 0, stats


def test_an_overrun_and_a_stopping_error_each_say_their_own_reason(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An overrun at 1 s and a SAI error at 1.5 s: one line each, a second apart (one
    mic_overrun a second), only the second says restarted, and it was."""
    lines, starts, _ = _run_starts(firmware, 5_000_000, no_host(tmp_path), monkeypatch,
                                   OVERRUN_AT_US=1_000_000,
                                   SAI_ERROR_AT_US=1_500_000)  # fmt: skip
    assert [line.text for line in lines] == [SAI_OVERRUN, SAI_ERROR], lines
    assert len(starts) == 1 and 1_500_000 <= starts[0] <= 1_501_000, starts
    assert 2_000_000 <= lines[1].us <= 2_001_000, lines


def test_a_direct_mode_error_is_restarted_at_once_and_said_restarted(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DMA direct mode error at 1 s (SAI_DMAError: the SAI READY, its DMA stream left
    on): the stream stopped and the SAI started again at once; the line says restarted,
    said after the restart."""
    lines, starts, stats = _run_starts(firmware, 5_000_000, no_host(tmp_path), monkeypatch,
                                       DMA_ERROR_AT_US=1_000_000)  # fmt: skip
    assert [line.text for line in lines] == [SAI_ERROR], lines
    assert len(starts) == 1 and 1_000_000 <= starts[0] <= 1_001_000, starts
    assert starts[0] <= lines[0].us, (starts, lines)
    # The READY SAI stopped the HAL's way before the start (round 51: its FIFO flushed).
    assert stats["starts"] == 1 and stats["stops"] == 1, stats
    assert stats["fed"] >= (15 + 61) * 1024, stats


def test_after_a_storm_ends_one_error_restarts_at_once_again(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storm from 1 s to 5 s backs the restarts off to 1 s; the restart after it works
    and audio comes back, which ends the backoff: one error 0.5 s later is restarted at
    once (within a pass or two, not up to 1 s later), said as such, with no mic_failed."""
    lines, starts, stats = _run_starts(firmware, 8_000_000, no_host(tmp_path), monkeypatch,
                                       SAI_ERROR_AT_US=1_000_000, STORM_US=10_000,
                                       STORM_UNTIL_US=5_000_000,
                                       ERROR_AFTER_STORM_US=500_000)  # fmt: skip
    back = next(us for us in starts if us >= 5_000_000)  # the restart that worked
    assert back <= 6_100_000, starts
    error_us = back + 500_000
    assert starts[-1] - error_us <= 2_000 and starts[-2] == back, (error_us, starts)
    assert [line.text for line in lines] == [SAI_ERROR, NO_AUDIO, NO_AUDIO, SAI_ERROR], lines
    assert error_us <= lines[-1].us <= error_us + 2_000, (error_us, lines)
    # Every half from the restart after the storm on but the error's own.
    assert stats["fed"] >= (15 + (8_000_000 - back) // HALF_US - 2) * 1024, stats


def test_the_readme_names_the_new_reasons_and_the_firmware_prints_them(tmp_path: Path) -> None:
    """The mic_failed row explains "SAI errors, no audio"; the SAI's mic_overrun reasons
    have their own text, which does not say the loop fell behind; only the error that
    stopped the SAI says restarted; no frame sync error (a master's SAI has none)."""
    project = write_kws_project(load_board("stm32h7"), tmp_path / "p", without_tflm=True)
    readme = (project / "README.md").read_text(encoding="utf-8")
    main = (project / "src" / "main.cc").read_text(encoding="utf-8")
    failed = [r for r in readme.splitlines() if r.startswith('| `{"error":"mic_failed"')]
    assert len(failed) == 1 and "`SAI errors, no audio`:" in failed[0], failed
    assert '"SAI errors, no audio"' in main
    # One mic_overrun row (each code once), each reason said apart: the SAI error's does
    # not say the loop fell behind.
    rows = [r for r in readme.splitlines() if r.startswith('| `{"error":"mic_overrun"')]
    assert len(rows) == 1, rows
    late, rest = rows[0].split("`SAI overrun: audio dropped`:")
    overrun, error = rest.split("`SAI error: audio dropped, restarted`:")
    assert "`microphone audio was dropped`: the loop fell behind" in late
    for reason in (overrun, error):
        assert "fell behind" not in reason and "the loop was not behind" in reason, rows
    assert "nothing was restarted" in overrun and "overran" in overrun, overrun
    assert "the board restarted the microphone" in error, error
    assert "frame sync" not in rows[0] and "frame sync" not in failed[0], (rows, failed)
    assert '"SAI overrun: audio dropped"' in main
    assert '"SAI error: audio dropped, restarted"' in main
