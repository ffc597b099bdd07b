"""The ESP32 keyword glue's microphone (round 46): its interrupt in IRAM, a stream's timeout
with failing reads, a microphone that did not start said again.

- The I2S interrupt kept running while the flash cache is off: ``CONFIG_I2S_ISR_IRAM_SAFE``
  in the keyword project's ``sdkconfig.defaults`` (known to ESP-IDF 5.3.1's kconfgen and
  applied) and the ``on_recv_q_ovf`` callback in IRAM, as that option makes the driver
  require (``main.cc`` compiled to assembly against the real 5.3.1 headers, with
  ``arm-none-eabi-g++`` standing in for the Xtensa compiler as in test_kws_glue_esp32).
  Before, a flash operation in the user's actions held the interrupt off and, since the
  ESP32 driver queues one DMA buffer per interrupt, lost the buffers finished meanwhile
  without a ``mic_overrun``.
- A serial stream left open while the microphone's reads fail closes 2 s after the host's
  last frame, with the reads failing after their 40 ms timeout as 5.3.1's do
  (test_esp32_kws_loop's harness). Before, each failed read's wait counted for one
  20 ms buffer at most: the stream closed about 5 s after the last frame.
- A microphone that did not start is said again every 3 s (not while a stream is open),
  so a host that connects late sees it (test_r42's harness, ``i2s_new_channel``
  refusing). Before, it was said once at boot.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from esp32_fakes import run_firmware
from esp_idf import (
    CXX_FLAGS,
    CXX_STD,
    IDF_DEFINES,
    STRICT_WARNINGS,
    XTENSA_STANDIN_DEFINES,
    KconfigResult,
    component_include_dirs,
    idf_include_dirs,
    read_config,
)
from test_esp32_kws_loop import firmware
from test_kws_glue_esp32 import CXX, esp_tflm, idf, kconfig, project
from test_r42_mic_never_starts import _lost_end_stream, esp32_no_mic

from tinyslm.audio.frames import encode_stream

pytestmark = pytest.mark.toolchain
__all__ = ["esp32_no_mic", "esp_tflm", "firmware", "idf", "kconfig", "project"]

BYTE_US = 86.8  # 115200 baud, 8N1
STREAM_FROM_US = 100_000  # the harness's host starts sending at 0.1 s
TIMEOUT = '{"error":"stream_timeout"}'
NO_MIC = '{"error":"mic_init_failed","reason":"I2S port taken or no memory for it"}'

# ---------------------------------------------------------------------------------------
# The I2S interrupt in IRAM.


def _main_assembly(project: Path, idf: Path, esp_tflm: Path, kconfig: KconfigResult) -> str:
    """``src/main.cc`` compiled to assembly against ESP-IDF 5.3.1 and kconfgen's sdkconfig.h."""
    src = project / "src"
    system = [kconfig.header.parent, *idf_include_dirs(idf), *component_include_dirs(esp_tflm)]
    out = kconfig.header.parent / "main.s"
    defines = (*IDF_DEFINES, *XTENSA_STANDIN_DEFINES, "TF_LITE_STATIC_MEMORY")
    argv = [CXX, "-S", "-O2", CXX_STD, *CXX_FLAGS, *STRICT_WARNINGS, f"-I{src}"]
    argv += [f"-D{d}" for d in defines] + [f"-isystem{p}" for p in system]
    argv += ["-o", str(out), str(src / "main.cc")]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out.read_text(encoding="utf-8")


def _section_of(assembly: str, symbol: str) -> str:
    """The section the (mangled) ``symbol`` containing ``symbol`` is defined in."""
    section = ""
    for line in assembly.splitlines():
        words = line.split()
        if words and words[0] in (".text", ".data", ".bss"):
            section = words[0]
        elif words and words[0] == ".section":
            section = words[1].rstrip(",").split(",")[0]
        elif re.fullmatch(rf"\S*{symbol}\S*:", line.strip()):
            return section
    raise AssertionError(f"{symbol} is not defined in main.cc")


def test_the_keyword_sdkconfig_keeps_the_i2s_interrupt_running_without_the_cache(
    project: Path, kconfig: KconfigResult
) -> None:
    wanted = read_config(project / "sdkconfig.defaults")
    assert wanted.get("CONFIG_I2S_ISR_IRAM_SAFE") == "y"
    assert wanted.get("CONFIG_UART_ISR_IN_IRAM") == "y"  # the UART's, as before
    assert kconfig.unknown_symbols == (), kconfig.log
    assert read_config(kconfig.config).get("CONFIG_I2S_ISR_IRAM_SAFE") == "y"
    assert "#define CONFIG_I2S_ISR_IRAM_SAFE 1" in kconfig.header.read_text(encoding="utf-8")


def test_the_i2s_callback_is_in_iram_as_the_driver_then_requires(
    project: Path, idf: Path, esp_tflm: Path, kconfig: KconfigResult
) -> None:
    """With CONFIG_I2S_ISR_IRAM_SAFE, i2s_channel_register_event_callback refuses a
    callback outside IRAM (esp_ptr_in_iram): the board said "i2s callback refused" and
    was deaf. What the callback touches must be in DRAM (not flash) too."""
    main = (project / "src" / "main.cc").read_text(encoding="utf-8")
    callback = re.search(r"callbacks\.on_recv_q_ovf = (\w+);", main)
    assert callback, "main.cc no longer registers on_recv_q_ovf"
    assembly = _main_assembly(project, idf, esp_tflm, kconfig)
    assert _section_of(assembly, callback[1]).startswith(".iram1"), callback[1]
    counter = _section_of(assembly, "mic_overflows")
    assert counter.startswith((".bss", ".data", ".dram")), counter


# ---------------------------------------------------------------------------------------
# A stream's timeout while the microphone's reads fail.


def _open_stream(tmp_path: Path, seconds: float) -> tuple[Path, float]:
    """``seconds`` of quiet audio framed as the host sends it, without END; and when its
    last byte (the last frame's) arrives, in us."""
    rng = np.random.default_rng(0)
    samples = rng.integers(-200, 200, size=int(16000 * seconds), dtype=np.int16)
    data = b"".join(list(encode_stream(samples))[:-1])
    path = tmp_path / "stream.bin"
    path.write_bytes(data)
    return path, STREAM_FROM_US + len(data) * BYTE_US


def test_failing_reads_close_an_open_stream_2_s_after_its_last_frame(
    firmware: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads fail from 1 s (each after its 40 ms timeout); the host streams 2 s of audio
    from 0.1 s and stops without END. Before: the timeout came 5 s after the last byte."""
    monkeypatch.setenv("TINYSLM_TEST_READ_FAILS_FROM_US", "1000000")
    stream, last_us = _open_stream(tmp_path, 2.0)

    def written(end_us: float) -> list[str]:
        lines, stats = run_firmware([str(firmware), str(int(end_us)), "10000", str(stream)])
        assert stats["serial_lost"] == 0
        return lines.get("W", [])

    assert TIMEOUT not in written(last_us + 1_950_000)  # not before its 2 s ...
    assert TIMEOUT in written(last_us + 2_100_000)  # ... and within 0.1 s of them


# ---------------------------------------------------------------------------------------
# A microphone that did not start.


def test_a_microphone_that_did_not_start_is_said_every_3_s(
    esp32_no_mic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYSLM_TEST_NO_I2S", "1")
    quiet = tmp_path / "nothing.bin"
    quiet.write_bytes(b"")
    lines, stats = run_firmware([str(esp32_no_mic), "10000000", "0", str(quiet)])
    assert lines.get("W") == [NO_MIC] * 4  # at 0, 3, 6 and 9 s
    assert stats["wdt"] == 0


def test_a_microphone_that_did_not_start_is_not_said_during_a_stream(
    esp32_no_mic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream (from 0.1 s to about 3 s, its END lost) closes 2 s after its last
    frame: nothing but its timeout until then, the microphone said again right after."""
    monkeypatch.setenv("TINYSLM_TEST_NO_I2S", "1")
    stream, frame_us = _lost_end_stream(tmp_path, 1.0)
    lines, _ = run_firmware([str(esp32_no_mic), str(int(frame_us + 2_500_000)), "0", str(stream)])
    assert lines.get("W") == [NO_MIC, TIMEOUT, NO_MIC]


def test_the_project_readme_says_the_microphone_failure_is_repeated(
    project: Path, tmp_path: Path
) -> None:
    from kws_glue_fixture import write_kws_project

    from tinyslm.boards import load_board

    # Both keyword boards repeat it (the STM32H7's: test_r46_stm32_kws_mic_repeat.py).
    said = "Said again every 3 s while it lasts (not while a serial stream is open)"
    assert said in (project / "README.md").read_text(encoding="utf-8")
    stm32 = write_kws_project(load_board("stm32h7"), tmp_path / "h7")
    assert said in (stm32 / "README.md").read_text(encoding="utf-8")
