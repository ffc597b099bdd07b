"""Round 46: the STM32H7 keyword board says ``mic_init_failed`` again every 3 s.

It was said once, at boot, which a host that opens the port later (the board boots as
soon as it has power) never saw: a deaf board looked like a quiet room. As on the ESP32
(1d77708) the main loop now says it again every 3 s while it lasts, and not while a
serial stream is open (the stream's answers own the line then).

test_r42_mic_never_starts' STM32 harness (main.cc's declarations, functions and loop on
stand-in HAL pieces), with ``mic_init``'s result a failure.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from esp32_fakes import require_host_compilers, run_firmware
from kws_glue_fixture import compile_stm32_harness, stm32_main_parts, write_kws_project
from test_r42_mic_never_starts import STM32_HARNESS, TIMEOUT, _lost_end_stream
from test_stm32_rx_ring import _block

from tinyslm.boards import load_board

pytestmark = pytest.mark.toolchain

NO_MIC = '{"error":"mic_init_failed","reason":"SAI init failed"}'
MIC_RESULT = "  mic_running = mic_fails_us != 0;  // mic_init's result\n"


@pytest.fixture(scope="module")
def no_mic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("stm32_mic_repeat")
    project = write_kws_project(load_board("stm32h7"), root / "p", without_tflm=True)
    src = project / "src"
    main = (src / "main.cc").read_text(encoding="utf-8")
    declarations, functions = stm32_main_parts(main)
    loop = _block(main, "  uint8_t chunk[64];\n  for (;;) {")
    assert MIC_RESULT in STM32_HARNESS, "test_r42's harness changed"
    # mic_init failed; main said so at boot (not run here: said at time 0), so the next
    # is 3 s on.
    failed = (
        '  if (!mic_running) mic_error.reason = "SAI init failed";\n'
        "  mic_error.said = !mic_running;\n"
    )
    harness = (
        STM32_HARNESS.replace(MIC_RESULT, MIC_RESULT + failed)
        .replace("{declarations}", declarations)
        .replace("{functions}", functions)
        .replace("{loop_body}", loop)
    )
    return compile_stm32_harness(src, harness, root, "stm32_mic_repeat")


def _written(exe: Path, end_us: int, stream: Path, empty: Path) -> list[tuple[int, str]]:
    lines, _ = run_firmware([str(exe), str(end_us), "0", str(stream), str(empty), "0"])
    return [(int(t), line) for t, _, line in (w.partition(" ") for w in lines.get("W", []))]


def test_a_microphone_that_did_not_start_is_said_every_3_s(no_mic: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    written = _written(no_mic, 10_000_000, empty, empty)
    assert [line for _, line in written] == [NO_MIC] * 3
    # At 3, 6 and 9 s (the loop's passes: within a millisecond of each).
    for (at, _), due in zip(written, (3, 6, 9), strict=True):
        assert due * 1_000_000 <= at <= due * 1_000_000 + 1_000


def test_not_while_a_serial_stream_is_open(no_mic: Path, tmp_path: Path) -> None:
    # 1 s of audio from 0.1 s on (about 3 s on the line), its END lost: the stream stays
    # open until its timeout, 2 s after its last frame; only then is it said again.
    stream, frame_us = _lost_end_stream(tmp_path, 1.0)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    written = _written(no_mic, int(frame_us) + 6_000_000, stream, empty)
    lines = [line for _, line in written]
    assert lines[0] == TIMEOUT and set(lines[1:]) == {NO_MIC}, written
    timeout_at = written[0][0]
    assert written[1][0] - timeout_at < 1_000  # due long since: said once the stream closed
    gaps = [at - prev for (prev, _), (at, _) in itertools.pairwise(written[1:])]
    # 3 s apart, counted in HAL_GetTick's whole milliseconds.
    assert gaps and all(2_999_000 <= gap <= 3_001_000 for gap in gaps), gaps
