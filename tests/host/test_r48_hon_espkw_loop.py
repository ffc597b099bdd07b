"""ESP32 keyword glue (round 48's test-honesty audit, items 10 and 11), in
test_r47_espkw_clock's harness (the generated ``src/main.cc`` on a simulated clock):

- the time an open stream's last frame waited before the loop read it is given to the
  stream before the frame (``stream_clock()`` before ``tinyslm_kws_app_feed``): the
  frame restarts the 2 s count, so the stream closes 2 s after the board took the frame,
  not that wait earlier. Here the loop reads the last bytes 0.5 s late
  (``TINYSLM_TEST_LATE_US``);
- a failed read that already waited its timeout does not also sleep a tick (only one
  that gave up at once does, so the loop never spins): the loop's pace is the reads'.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from esp32_fakes import build_generated, require_host_compilers, run_firmware
from test_esp32_kws_loop import APP_SOURCES
from test_r46_esp32_kws_mic import _open_stream
from test_r47_espkw_clock import STARVED, TIMEOUT, TIMEOUT_US
from test_r47_espkw_clock import _harness as r47_harness

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

pytestmark = pytest.mark.toolchain

LATE_US = 500_000
# The harness's uart_read_bytes, as it hands over the bytes that arrived.
COPY_AT = "  memcpy(buf, host.data() + host_at, n);\n"
LATE = r"""  if (late_us > 0 && host_at + n == host.size()) {  // the stream's last bytes
    now += late_us;  // the loop comes to read them late (another task ran)
    late_us = 0;
  }
"""
STATE_AT = "long late_idle_runs = 0, reads = 0;\n"
STATE = "int64_t late_us = 0;\n"
ENV_AT = "  app_main();\n"
ENV = r"""  if (getenv("TINYSLM_TEST_LATE_US") != nullptr) {
    late_us = atoll(getenv("TINYSLM_TEST_LATE_US"));
  }
"""


def _harness() -> str:
    harness = r47_harness()
    for at, extra in ((COPY_AT, LATE), (STATE_AT, STATE), (ENV_AT, ENV)):
        assert harness.count(at) == 1, f"test_r47_espkw_clock's harness changed: {at!r}"
        harness = harness.replace(at, extra + at)
    return harness


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("r48_hon_espkw")
    needles = ("i2s_channel_read(", "tinyslm_kws_app_idle(", "esp_timer_get_time()")
    return build_generated(
        root, keyword_model_dir(root / "model"), APP_SOURCES, _harness(), "kws_hon", needles
    )


def _lines(firmware: Path, end_us: float, stream: Path | None = None) -> tuple[list, dict]:
    """(the lines written with their times, the harness's statistics)."""
    args = [str(firmware), str(int(end_us)), "10000"] + ([str(stream)] if stream else [])
    lines, stats = run_firmware(args)
    assert stats["serial_lost"] == 0 and stats["wdt"] == 0, stats
    stamps = [int(t) for t in lines.get("T", [])]
    return list(zip(stamps, lines.get("W", []), strict=True)), stats


def test_a_last_frame_read_late_restarts_the_2_s_count_when_it_is_taken(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream's last bytes are read 0.5 s after they came: its timeout comes 2 s
    after that read. Given after the frame, the wait closed it 0.5 s early (1.5 s)."""
    monkeypatch.setenv("TINYSLM_TEST_LATE_US", str(LATE_US))
    stream, last_us = _open_stream(tmp_path, 1.0)
    lines, _ = _lines(firmware, last_us + LATE_US + 4_000_000, stream)
    at = [us for us, text in lines if text == TIMEOUT]
    assert len(at) == 1, lines[:5]
    taken_us = last_us + LATE_US
    after = (at[0] - taken_us) / 1e6
    assert TIMEOUT_US / 1e6 <= after <= TIMEOUT_US / 1e6 + 0.1, (after, lines[:5])


def test_a_read_that_waited_its_timeout_is_not_followed_by_a_tick_of_sleep(
    firmware: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starved from 1 s: each read waits its 40 ms and returns nothing (said once a
    second). About 125 such reads in 5 s; a tick's sleep after each made the loop's pace
    50 ms, not 40, and the sleeps are counted here (vTaskDelay calls)."""
    monkeypatch.setenv("TINYSLM_TEST_STARVE_FROM_US", "1000000")
    lines, stats = _lines(firmware, 6_000_000)
    assert {text for _, text in lines} == {STARVED}, lines[:5]
    assert stats["reads"] >= 100, stats
    assert stats["delays"] <= 2, stats
