"""ESP32 glue values checked on the rendered project (round 43).

- serial/uart: the glue sets no pins (no ``uart_set_pin``), so only UART0, whose pads
  the ROM's IOMUX defaults connect and which is the console sdkconfig assumes, can
  carry the protocol. UART1..UART9 rendered before (UART3..UART9 do not even exist on
  the ESP32) while the message claimed "UART0-UART2".
- the audio that can wait for the loop: the driver's receive queue is
  ``dma_desc_num - 1`` buffers deep (the DMA always writes one), so 7 x 20 ms, not the
  DMA's 8 x 20 ms, which the comments used to claim.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tinyslm.boards import board_from_data, validate_board_data
from tinyslm.emit import render_project
from tinyslm.errors import BoardError
from tinyslm.resources import boards_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))
from kws_glue_fixture import keyword_model

SCHEMA = json.loads((boards_dir() / "schema.json").read_text(encoding="utf-8"))


def _esp32(**serial: str) -> dict[str, Any]:
    data = yaml.safe_load((boards_dir() / "esp32.yaml").read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["serial"].update(serial)
    return data


def _main_cc(data: dict[str, Any]) -> str:
    plan = render_project(board_from_data(data), *keyword_model())
    return plan.as_mapping()["src/main.cc"].decode()


@pytest.mark.parametrize("uart", ["UART1", "UART2", "UART5", "UART9", "USART0", "LPUART0"])
def test_esp32_serial_uart_other_than_uart0_is_refused_in_one_line(uart: str) -> None:
    data = _esp32(uart=uart)
    validate_board_data(data, SCHEMA, "esp32.yaml")  # the schema lets these through ...
    with pytest.raises(BoardError) as info:  # ... the glue, which sets no pins, does not
        _main_cc(data)
    message = str(info.value)
    assert "\n" not in message
    assert "must be UART0" in message and uart in message
    assert "UART2" not in message.replace(uart, "")  # no longer claims UART0-UART2


def test_esp32_serial_uart0_still_renders() -> None:
    assert "constexpr uart_port_t kUart = UART_NUM_0;" in _main_cc(_esp32(uart="UART0"))


def test_esp32_audio_that_can_wait_is_the_queue_not_the_whole_dma() -> None:
    data = _esp32()
    dma = data["microphone"]["dma"]
    descriptors, frames = dma["descriptors"], dma["frames"]
    rate = data["microphone"]["sample_rate"]
    main = _main_cc(data)
    queue_ms = (descriptors - 1) * frames * 1000 // rate
    dma_ms = descriptors * frames * 1000 // rate
    assert (queue_ms, dma_ms) == (140, 160)  # the bundled board: 7 and 8 buffers of 20 ms
    said = re.search(r"holds the other (\d+) \((\d+) ms of audio that can wait", main)
    assert said is not None, "the DMA comment moved"
    assert (int(said.group(1)), int(said.group(2))) == (descriptors - 1, queue_ms)
    assert f"which the driver's queue ({queue_ms} ms) absorbs" in main
    # The whole DMA's figure is still given, as the DMA's, never as what can wait.
    assert f"({dma_ms} ms, " in main
    assert "absorb" not in main.replace(f"which the driver's queue ({queue_ms} ms) absorbs", "")


@pytest.mark.parametrize(("stride", "average", "said"), [
    (20, 2, "a keyword up to 0.59 s long lies whole in every window averaged"),
    (49, 16, "the windows averaged share no audio, so no keyword lies whole in all of them"),
])  # fmt: skip
def test_the_readme_says_when_no_keyword_lies_whole(stride: int, average: int, said: str) -> None:
    # "a keyword up to 0.00 s long lies whole in every window averaged" hid that a rule of
    # 980 ms x 16 averages windows that share no audio (kwopts review).
    from dataclasses import replace

    manifest, model = keyword_model()
    features = replace(manifest.features, stride_frames=stride, average=average)
    plan = render_project(
        board_from_data(yaml.safe_load((boards_dir() / "esp32.yaml").read_text())),
        replace(manifest, features=features),
        model,
    )
    assert said in plan.as_mapping()["README.md"].decode()
