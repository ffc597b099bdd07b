"""The ESP32 keyword glue's time-based rules when the microphone's reads time out (round 47).

ESP-IDF 5.3.1's ``i2s_channel_read`` returns ``ESP_ERR_TIMEOUT`` when no DMA buffer came
within its timeout, with the bytes it had copied before (none, or part of what was
asked): a starved channel (its interrupt no longer queueing buffers) gives 0 bytes after
each 40 ms wait. The glue gave an open serial stream's timeout only the microphone
samples it read (and, for a read that failed otherwise, the time waited), so:

- a stream left open (its END lost, the host gone) while the reads time out with 0 bytes
  never closed: the microphone stayed muted and a half frame swallowed later commands;
- while they return short (a quarter of a buffer per 40 ms), it closed after 16 s, not 2 s;
- nothing said that the microphone gave no audio: the board was deaf without a word.

Now the glue gives the open stream the time on its clock (``esp_timer_get_time``), not the
samples read, and a read that timed out with nothing is said as a failed read
(``mic_read_failed``, at most once a second, not during a stream). The ``mic_overrun``
limit (once a second) and the ``mic_init_failed`` repeat (every 3 s) were on that clock
already; the tests below hold them to the README with the lines' times.

The firmware is test_esp32_kws_loop's harness (the generated ``src/main.cc`` on a
simulated clock) with three additions: the DMA stops filling buffers from a given time
(``TINYSLM_TEST_STARVE_FROM_US``), each read from a given time waits its timeout and
returns a quarter buffer with ``ESP_ERR_TIMEOUT`` (``TINYSLM_TEST_SHORT_FROM_US``), and
each line written is stamped with the time it was written (``T`` lines).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest
from esp32_fakes import build_generated, require_host_compilers, run_firmware
from test_esp32_kws_loop import APP_SOURCES, HARNESS
from test_r46_esp32_kws_mic import _open_stream  # quiet audio, END lost, and its last byte

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

pytestmark = pytest.mark.toolchain

TIMEOUT_US = 2_000_000  # TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES at 16 kHz
TIMEOUT = '{"error":"stream_timeout"}'
STARVED = '{"error":"mic_read_failed","reason":"ESP_ERR_TIMEOUT"}'
NO_MIC = '{"error":"mic_init_failed","reason":"I2S port taken or no memory for it"}'

# Inserted at the top of the harness's i2s_channel_read, after its count of reads.
READ_AT = "  ++reads;\n  *bytes_read = 0;\n"
READ_MODES = r"""  if (starve_from_us > 0 && now >= starve_from_us) {
    channel.next_done_us = INT64_MAX;  // the DMA queues nothing more: reads time out
  }
  if (short_from_us > 0 && now >= short_from_us) {
    channel.next_done_us = INT64_MAX;
    channel.queue.clear();
    block_until(now + int64_t{timeout_ms} * 1000);  // xQueueReceive's timeout
    check_end();
    memset(dest, 0, size / 4);
    *bytes_read = size / 4;  // what was copied before it
    return ESP_ERR_TIMEOUT;
  }
"""
STATE_AT = "long late_idle_runs = 0, reads = 0;\n"
STATE = "int64_t starve_from_us = 0, short_from_us = 0;\n"
WRITE_AT = "  written.append(static_cast<const char *>(src), size);\n"
STAMP = r"""  for (size_t i = 0; i < size; ++i) {
    if (static_cast<const char *>(src)[i] == '\n') printf("T %lld\n", static_cast<long long>(now));
  }
"""
ENV_AT = "  app_main();\n"
ENV = r"""  if (getenv("TINYSLM_TEST_STARVE_FROM_US") != nullptr) {
    starve_from_us = atoll(getenv("TINYSLM_TEST_STARVE_FROM_US"));
  }
  if (getenv("TINYSLM_TEST_SHORT_FROM_US") != nullptr) {
    short_from_us = atoll(getenv("TINYSLM_TEST_SHORT_FROM_US"));
  }
"""
# test_r42's microphone that never starts: i2s_new_channel refuses.
NO_I2S = (
    '  if (getenv("TINYSLM_TEST_NO_I2S") != nullptr) return ESP_ERR_NOT_FOUND;\n'
    '  if (getenv("TINYSLM_TEST_I2S_FAILS") != nullptr) return ESP_FAIL;\n'
)
NEW_CHANNEL = "  if (channel_taken || tx != nullptr || rx == nullptr"
# esp_err_to_name knows the timeout's name too.
NAME_AT = "  return code == ESP_ERR_INVALID_STATE"
NAME = '  if (code == ESP_ERR_TIMEOUT) return "ESP_ERR_TIMEOUT";\n'


def _harness() -> str:
    harness = HARNESS
    for at, extra in (
        (READ_AT, READ_MODES),
        (STATE_AT, STATE),
        (WRITE_AT, STAMP),
        (ENV_AT, ENV),
        (NEW_CHANNEL, NO_I2S),
        (NAME_AT, NAME),
    ):
        assert harness.count(at) == 1, f"test_esp32_kws_loop's harness changed: {at!r}"
        # The read modes and the stamps go after their anchor, the rest before theirs.
        after = at in (READ_AT, WRITE_AT)
        harness = harness.replace(at, at + extra if after else extra + at)
    return harness


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("r47_espkw")
    needles = ("i2s_channel_read(", "tinyslm_kws_app_idle(", "esp_timer_get_time()")
    return build_generated(
        root, keyword_model_dir(root / "model"), APP_SOURCES, _harness(), "kws_clock", needles
    )


@dataclass(frozen=True)
class Line:
    us: int
    text: str


def _run(
    firmware: Path, end_us: float, infer_ms: int = 10, stream: Path | None = None
) -> list[Line]:
    """The lines the firmware wrote in ``end_us`` of simulated time, with when."""
    args = [str(firmware), str(int(end_us)), str(infer_ms * 1000)]
    lines, stats = run_firmware(args + ([str(stream)] if stream else []))
    assert stats["serial_lost"] == 0 and stats["wdt"] == 0, stats
    written, stamps = lines.get("W", []), [int(t) for t in lines.get("T", [])]
    assert len(written) == len(stamps)
    return [Line(us, text) for us, text in zip(stamps, written, strict=True)]


def _timeout_after_last_frame(lines: list[Line], last_us: float) -> float:
    """Seconds from the stream's last byte to its stream_timeout line (inf: none)."""
    at = [line.us for line in lines if line.text == TIMEOUT]
    assert len(at) <= 1, lines
    return (at[0] - last_us) / 1e6 if at else float("inf")


# ---------------------------------------------------------------------------------------
# The stream's timeout.


@pytest.mark.parametrize("mode", ["TINYSLM_TEST_STARVE_FROM_US", "TINYSLM_TEST_SHORT_FROM_US"])
def test_an_open_stream_closes_2_s_after_its_last_frame_whatever_the_reads_return(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """From 1 s the reads time out with 0 bytes (starved) or a quarter buffer (short);
    the host streams 2 s of audio from 0.1 s (to about 5.8 s) and stops without END.
    Before: starved, never closed (20 s measured); short, closed 16 s after."""
    monkeypatch.setenv(mode, "1000000")
    stream, last_us = _open_stream(tmp_path, 2.0)
    lines = _run(firmware, last_us + 20_000_000, stream=stream)
    after = _timeout_after_last_frame(lines, last_us)
    # 2 s, within one read's 40 ms wait and a pass of the loop.
    assert TIMEOUT_US / 1e6 <= after <= TIMEOUT_US / 1e6 + 0.1, (after, lines[:5])


def test_an_open_stream_with_a_working_microphone_still_closes_after_2_s(
    firmware: Path, tmp_path: Path
) -> None:
    stream, last_us = _open_stream(tmp_path, 2.0)
    lines = _run(firmware, last_us + 5_000_000, stream=stream)
    after = _timeout_after_last_frame(lines, last_us)
    assert TIMEOUT_US / 1e6 <= after <= TIMEOUT_US / 1e6 + 0.1, (after, lines[:5])


def test_a_stream_that_keeps_coming_is_not_timed_out_by_a_starved_microphone(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock counts from the last frame only: 4 s of audio take about 11 s of line,
    with reads starved from 0.5 s: no timeout while the frames come."""
    monkeypatch.setenv("TINYSLM_TEST_STARVE_FROM_US", "500000")
    stream, last_us = _open_stream(tmp_path, 4.0)
    lines = _run(firmware, last_us + 1_900_000, stream=stream)
    assert TIMEOUT not in [line.text for line in lines], lines[:5]


# ---------------------------------------------------------------------------------------
# A starved microphone is said.


def test_a_starved_microphone_is_said_once_a_second(
    firmware: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: nothing at all (the board deaf without a word)."""
    monkeypatch.setenv("TINYSLM_TEST_STARVE_FROM_US", "2000000")
    lines = _run(firmware, 12_000_000)
    assert lines and {line.text for line in lines} == {STARVED}, lines[:5]
    times = [line.us for line in lines]
    assert times[0] < 2_200_000 and 10 <= len(times) <= 11, times
    assert all(b - a >= 1_000_000 for a, b in pairwise(times)), times


def test_a_starved_microphone_is_not_said_during_a_stream_and_is_after_it(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYSLM_TEST_STARVE_FROM_US", "1000000")
    stream, last_us = _open_stream(tmp_path, 2.0)
    lines = _run(firmware, last_us + 6_000_000, stream=stream)
    texts = [line.text for line in lines]
    at = texts.index(TIMEOUT)
    assert STARVED not in texts[:at], texts[:at]
    assert set(texts[at + 1 :]) == {STARVED} and 3 <= len(texts[at + 1 :]) <= 5, texts[at:]


def test_short_reads_are_not_said_as_failures(
    firmware: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that timed out having copied some audio gave audio: it is heard, not said."""
    monkeypatch.setenv("TINYSLM_TEST_SHORT_FROM_US", "1000000")
    assert _run(firmware, 6_000_000) == []


# ---------------------------------------------------------------------------------------
# The other time-based lines, measured with their times.


def test_mic_overrun_is_said_at_most_once_a_second_then_the_starved_microphone(
    firmware: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop slower than real time (60 ms per 40 ms of audio) drops audio until 8 s,
    when the reads start timing out."""
    monkeypatch.setenv("TINYSLM_TEST_STARVE_FROM_US", "8000000")
    lines = _run(firmware, 14_000_000, infer_ms=60)
    overruns = [line.us for line in lines if "mic_overrun" in line.text]
    assert len(overruns) >= 4, lines
    assert all(b - a >= 1_000_000 for a, b in pairwise(overruns))
    assert all(b - a <= 1_100_000 for a, b in pairwise(overruns))
    assert overruns[-1] < 9_100_000  # none once no audio comes
    starved = [line.us for line in lines if line.text == STARVED]
    assert starved and 8_000_000 <= starved[0] <= 9_100_000, lines


def test_mic_init_failed_is_said_every_3_s_around_a_stream(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A microphone that did not start: at 0 s, then every 3 s but not while a stream
    is open (0.1 s to its timeout, 2 s after its last frame), said again right after."""
    monkeypatch.setenv("TINYSLM_TEST_NO_I2S", "1")
    stream, last_us = _open_stream(tmp_path, 1.0)
    lines = _run(firmware, last_us + 8_000_000, stream=stream)
    texts = [line.text for line in lines]
    assert texts[:3] == [NO_MIC, TIMEOUT, NO_MIC] and set(texts[3:]) == {NO_MIC}, texts
    said = [line.us for line in lines if line.text == NO_MIC]
    assert said[0] == 0 and said[1] - lines[1].us < 20_000
    gaps = [b - a for a, b in pairwise(said[1:])]
    assert gaps and all(3_000_000 <= g <= 3_020_000 for g in gaps), gaps


def test_a_channel_not_created_for_another_reason_is_not_said_as_none_free(
    firmware: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only ESP_ERR_NOT_FOUND means the port is taken (or, in 5.3.1, no memory for it);
    any other failure of i2s_new_channel was said as "no free I2S channel" too, untrue."""
    monkeypatch.setenv("TINYSLM_TEST_I2S_FAILS", "1")
    texts = [line.text for line in _run(firmware, 1_000_000)]
    assert texts == ['{"error":"mic_init_failed","reason":"i2s channel not created"}'], texts
