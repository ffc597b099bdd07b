"""Microphone board data, `--mic-pin` overrides and the keyword glue's values."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import pytest
import yaml

from tinyslm.boards import load_board, validate_board_data, with_mic_pins
from tinyslm.emit import kws_glue
from tinyslm.errors import BoardError
from tinyslm.resources import boards_dir

SCHEMA = json.loads((boards_dir() / "schema.json").read_text())


def _raw(board_id: str) -> dict[str, Any]:
    data = yaml.safe_load((boards_dir() / f"{board_id}.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_bundled_microphones() -> None:
    esp = load_board("esp32").microphone
    assert esp is not None and esp.interface == "i2s_std" and esp.port == 0
    assert {p.signal: (p.pin, p.mic) for p in esp.pins} == {
        "bclk": ("GPIO26", "SCK"),
        "ws": ("GPIO25", "WS"),
        "din": ("GPIO33", "SD"),
    }
    stm = load_board("stm32h7").microphone
    assert stm is not None and stm.interface == "sai" and stm.peripheral == "SAI1_Block_A"
    assert {p.signal: (p.pin, p.af, p.mic) for p in stm.pins} == {
        "sck": ("PE5", 6, "SCK"),
        "fs": ("PE4", 6, "WS"),
        "sd": ("PE6", 6, "SD"),
    }
    for mic in (esp, stm):
        assert (mic.sample_rate, mic.slot_bits, mic.data_bits, mic.sample_shift) == (
            16000,
            32,
            24,
            16,
        )
        assert mic.channel == "left"


def test_sai_clock_reaches_16_khz_exactly() -> None:
    mic = load_board("stm32h7").microphone
    assert mic is not None
    clock = kws_glue.sai_clock(mic)
    # 64 MHz / 25 x 192 / 10 = 49.152 MHz; / (12 x 256) = 16 kHz.
    assert clock.reference_hz * mic.pll_m == kws_glue.STM32_PLL_SOURCE_HZ  # type: ignore[operator]
    assert clock.kernel_hz == 49_152_000
    assert clock.mckdiv == 12
    assert clock.kernel_hz == clock.mckdiv * 256 * 16_000
    assert clock.sck_hz == 64 * 16_000
    assert (clock.vci_range, clock.vco_range) == ("RCC_PLL3VCIRANGE_1", "RCC_PLL3VCOWIDE")


@pytest.mark.parametrize(
    ("m", "n", "p", "needle"),
    [
        (25, 192, 11, "not a whole number"),  # 44.68 MHz
        (25, 180, 9, "not 16000 Hz"),  # 51.2 MHz: MCKDIV 12.5 rounds to 12
        (25, 400, 10, "outside 192-836 MHz"),  # 1024 MHz VCO
        (50, 100, 5, "outside 150-420 MHz"),  # 1.28 MHz reference: medium VCO, 128 MHz
        (16, 100, 1, "MCKDIV 97"),  # 400 MHz kernel: MCKDIV above 63
    ],
)
def test_sai_clock_refuses_inexact_or_out_of_range_plans(
    m: int, n: int, p: int, needle: str
) -> None:
    mic = load_board("stm32h7").microphone
    assert mic is not None
    with pytest.raises(BoardError, match=needle):
        kws_glue.sai_clock(replace(mic, pll_m=m, pll_n=n, pll_p=p))


def test_sai_clock_below_one_mhz_reference_is_refused() -> None:
    mic = load_board("stm32h7").microphone
    assert mic is not None
    with pytest.raises(BoardError, match="outside 1-16 MHz"):
        kws_glue.sai_clock(replace(mic, pll_m=63), source_hz=32_000_000)


def test_i2s_clock_dividers_are_exact() -> None:
    mic = load_board("esp32").microphone
    assert mic is not None
    clock = kws_glue.i2s_clock(mic)
    assert (clock.div_integer, clock.div_numerator, clock.div_denominator) == (39, 1, 16)
    assert clock.source_hz * clock.div_denominator == clock.mclk_hz * (
        clock.div_integer * clock.div_denominator + clock.div_numerator
    )
    assert clock.bclk_hz == 16_000 * 2 * 32 and clock.bclk_div == 4


def test_mic_buffers_count_dma_and_work_ram() -> None:
    esp = load_board("esp32")
    assert esp.microphone is not None
    b = kws_glue.mic_buffers(esp)
    assert b.dma == esp.microphone.dma_descriptors * esp.microphone.dma_frames * 4  # type: ignore[operator]
    assert (b.dma, b.work, b.total) == (10_240, 1_920, 12_160)
    stm = load_board("stm32h7")
    b = kws_glue.mic_buffers(stm)
    assert (b.dma, b.work, b.total) == (8_192, 2_048, 10_240)
    assert kws_glue.dma_buffer_bytes(stm) == 8_192
    # Whole 32-byte cache lines per half: SCB_InvalidateDCache_by_Addr touches no neighbour.
    assert (b.dma // 2) % 32 == 0


def test_boards_without_a_microphone_are_refused() -> None:
    board = replace(load_board("esp32"), microphone=None)
    for fn in (kws_glue.mic_buffers, kws_glue.mic_context, kws_glue.wiring_rows):
        with pytest.raises(BoardError, match="has no microphone"):
            fn(board)
    with pytest.raises(BoardError, match="no microphone section"):
        with_mic_pins(board, ["ws=GPIO32"])


def test_wiring_rows() -> None:
    rows = kws_glue.wiring_rows(load_board("stm32h7"))
    assert [(r.mcu_pin, r.mic_pin, r.where) for r in rows] == [
        ("PE5 (AF6)", "SCK", "CN9 pin 18 (D58)"),
        ("PE4 (AF6)", "WS", "CN9 pin 16 (D57)"),
        ("PE6 (AF6)", "SD", "CN9 pin 20 (D59)"),
        ("3V3", "VDD", "CN8 pin 7 (3V3)"),
        ("GND", "GND", "CN9 pin 12 (GND)"),
        ("GND", "L/R", "CN9 pin 12 (GND)"),
    ]
    esp = with_mic_pins(load_board("esp32"), ["sd=GPIO35"])
    rows = kws_glue.wiring_rows(esp)
    assert (rows[2].mcu_pin, rows[2].mic_pin, rows[2].where) == ("GPIO35", "SD", "J2 pin 6 (35)")
    assert rows[0].signal == "I2S bit clock (bclk)"


def test_mic_context_names_the_sdk_symbols() -> None:
    esp = kws_glue.mic_context(load_board("esp32"))
    assert esp["port"] == "I2S_NUM_0"
    assert esp["gpio"] == {"bclk": "GPIO_NUM_26", "ws": "GPIO_NUM_25", "din": "GPIO_NUM_33"}
    assert (esp["slot_mask"], esp["data_bit_width"]) == (
        "I2S_STD_SLOT_LEFT",
        "I2S_DATA_BIT_WIDTH_32BIT",
    )
    stm = kws_glue.mic_context(load_board("stm32h7"))
    assert stm["sai"]["dma_request"] == "DMA_REQUEST_SAI1_A"
    assert stm["sai"]["clock_source"] == "RCC_SAI1CLKSOURCE_PLL3"
    assert stm["dma"]["irq_handler"] == "DMA1_Stream0_IRQHandler"
    assert stm["gpio"]["sck"]["port"] == "GPIOE" and stm["gpio"]["sck"]["pin"] == "GPIO_PIN_5"
    right = with_mic_pins(load_board("stm32h7"), [])
    assert right.microphone is not None
    right = replace(right, microphone=replace(right.microphone, channel="right"))
    assert kws_glue.mic_context(right)["slot_active"] == "SAI_SLOTACTIVE_1"
    board = load_board("stm32h7")
    assert board.microphone is not None
    sai2 = replace(board, microphone=replace(board.microphone, peripheral="SAI2_Block_B"))
    names = kws_glue.mic_context(sai2)["sai"]
    assert (names["periph_clock"], names["dma_request"]) == (
        "RCC_PERIPHCLK_SAI23",
        "DMA_REQUEST_SAI2_B",
    )
    sai4 = replace(board, microphone=replace(board.microphone, peripheral="SAI4_Block_A"))
    with pytest.raises(BoardError, match="BDMA"):
        kws_glue.mic_context(sai4)


def test_pin_overrides_accept_signal_and_microphone_names() -> None:
    esp = with_mic_pins(load_board("esp32"), ["SCK=GPIO14", "din=gpio35"])
    assert esp.microphone is not None
    assert [p.pin for p in esp.microphone.pins] == ["GPIO14", "GPIO25", "GPIO35"]
    base = load_board("stm32h7")
    stm = with_mic_pins(base, ["ws=PE4", "sd=PD6:AF6"])
    assert stm.microphone is not None
    assert (stm.microphone.pin("sd").pin, stm.microphone.pin("sd").af) == ("PD6", 6)
    assert stm.microphone.pin("sd").header == "CN9 pin 4 (D52)"  # the headers map
    # The board given is left as it was (two fresh loads compared nothing: always equal).
    assert base.microphone == load_board("stm32h7").microphone != stm.microphone


@pytest.mark.parametrize(
    ("board_id", "override", "needle"),
    [
        ("esp32", "ws", "expected NAME=PIN"),
        ("esp32", "clk=GPIO4", "has no microphone pin 'clk'"),
        ("esp32", "ws=GPIO35", "input only"),
        ("esp32", "ws=GPIO20", "not an ESP32 GPIO"),
        ("esp32", "ws=GPIO7", "SPI flash"),
        ("esp32", "ws=GPIO1", "UART0 TX"),
        ("esp32", "ws=GPIO12", "strapping pin"),
        ("esp32", "ws=GPIO33", "already used by microphone/pins/ws"),
        ("esp32", "ws=GPIO32:AF6", "for STM32 pins only"),
        ("stm32h7", "sd=PD8", "already used by serial/tx_pin"),
        ("stm32h7", "sd=PB0", "already used by led"),
        ("stm32h7", "sd=PE16", "not an STM32 pin"),
        ("stm32h7", "sd=PD6:AF16", "AF0-AF15"),
        # Round 36: PE05 was compared with the pins taken as written, so it shared PE5
        # with sck; PA13/PA14 carry the ST-LINK's SWD; the LQFP144 has no port K.
        ("stm32h7", "sd=PE05", "PE5 is already used by microphone/pins/sck"),
        ("stm32h7", "sd=PA13:AF6", "PA13 is SWDIO"),
        ("stm32h7", "sd=PA14:AF6", "PA14 is SWCLK"),
        ("stm32h7", "sd=PK15:AF6", "PK15 is not a pin of the STM32H743ZI's LQFP144"),
        ("stm32h7", "sd=PH2:AF6", "PH2 is not a pin of the STM32H743ZI's LQFP144"),
    ],
)
def test_bad_pin_overrides_are_refused(board_id: str, override: str, needle: str) -> None:
    with pytest.raises(BoardError, match=needle):
        with_mic_pins(load_board(board_id), [override])


@pytest.mark.parametrize(
    ("board_id", "override"),
    [
        ("stm32h7", "sd=PD6\n:AF6"),
        ("stm32h7", "sd=PD6\n"),
        ("esp32", "ws=GPIO32\n:"),
        ("esp32", "ws=GPIO3\n2"),
    ],
)
def test_a_newline_in_a_pin_never_reaches_the_sources(board_id: str, override: str) -> None:
    # Round 33: "^P([A-K])([0-9]{1,2})$" matched "PD6\n" ($ matches before a final
    # newline), so the pin went into main.cc and the README with a line break in it:
    # a C syntax error. Now it is stripped, or refused in one line.
    try:
        board = with_mic_pins(load_board(board_id), [override])
    except BoardError as exc:
        assert "\n" not in str(exc), str(exc)
        return
    assert all("\n" not in p.pin for p in board.microphone.pins), board.microphone.pins


def test_pin_overrides_drop_leading_zeros() -> None:
    # Round 36: GPIO04 reached the glue as GPIO_NUM_04, which ESP-IDF does not define.
    esp = with_mic_pins(load_board("esp32"), ["ws=GPIO04", "din=GPIO35"])
    assert kws_glue.mic_context(esp)["gpio"]["ws"] == "GPIO_NUM_4"
    stm = with_mic_pins(load_board("stm32h7"), ["sd=PD06:AF6", "fs=PE04"])
    assert stm.microphone is not None
    assert [p.pin for p in stm.microphone.pins] == ["PE5", "PE4", "PD6"]
    assert kws_glue.mic_context(stm)["gpio"]["sd"]["pin"] == "GPIO_PIN_6"


def test_a_signal_given_twice_is_refused() -> None:
    with pytest.raises(BoardError, match="bclk is given twice"):
        with_mic_pins(load_board("esp32"), ["bclk=GPIO14", "sck=GPIO13"])


def _edit(board_id: str, path: str, value: object) -> dict[str, Any]:
    data = copy.deepcopy(_raw(board_id))
    *parents, last = path.split("/")
    node = data
    for p in parents:
        node = node[p]
    node[last] = value
    return data


@pytest.mark.parametrize(
    ("board_id", "path", "value", "needle"),
    [
        ("esp32", "microphone/colour", "red", "is not valid under any of the given schemas"),
        ("esp32", "microphone/sample_rate", 8000, "is not valid under any"),
        ("esp32", "microphone/pins/bclk/pin", "PE5", "'PE5' does not match"),
        ("stm32h7", "microphone/pins/sck/pin", "GPIO26", "'GPIO26' does not match"),
        # ESP-IDF's DMA buffers are at most 4092 bytes: 1023 32-bit frames.
        ("esp32", "microphone/dma/frames", 1024, "greater than the maximum of 1023"),
        ("stm32h7", "microphone/dma/half_samples", 1020, "whole 32-byte cache lines"),
        ("stm32h7", "microphone/pins/sd/pin", "PD9", "already used by serial/rx_pin"),
        ("esp32", "microphone/pins/din/pin", "GPIO3", "UART0 RX"),
        ("esp32", "microphone/pins/din/pin", "GPIO04", "'GPIO04' does not match"),
        ("stm32h7", "microphone/pins/sd/pin", "PE06", "'PE06' does not match"),
        ("stm32h7", "microphone/pins/sd/pin", "PE16", "'PE16' does not match"),
        ("stm32h7", "led/pin", "PB00", "'PB00' does not match"),
        ("stm32h7", "serial/tx_pin", "PD08", "'PD08' does not match"),
        ("stm32h7", "microphone/pins/sd/pin", "PA13", "PA13 is SWDIO"),
        ("stm32h7", "microphone/pins/sd/pin", "PJ3", "not a pin of the STM32H743ZI's LQFP144"),
    ],
)
def test_bad_microphone_sections_are_rejected(
    board_id: str, path: str, value: object, needle: str
) -> None:
    data = _edit(board_id, path, value)
    with pytest.raises(BoardError, match=needle) as info:
        validate_board_data(data, SCHEMA, f"{board_id}.yaml")
    assert str(info.value).startswith(f"{board_id}.yaml: ")


def test_the_interface_must_fit_the_family() -> None:
    data = copy.deepcopy(_raw("esp32"))
    data["microphone"] = _raw("stm32h7")["microphone"]
    with pytest.raises(BoardError, match="'sai' does not fit family 'esp32'"):
        validate_board_data(data, SCHEMA, "esp32.yaml")


def test_the_microphone_is_optional() -> None:
    data = copy.deepcopy(_raw("esp32"))
    del data["microphone"]
    validate_board_data(data, SCHEMA, "esp32.yaml")
