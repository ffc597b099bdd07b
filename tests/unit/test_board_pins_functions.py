"""Microphone pins must carry their signal: the SAI function on STM32, a module pad on ESP32.

STM32H743ZI (LQFP144) SAI1 block A, from Zephyr's hal_stm32
dts/st/h7/stm32h743zitx-pinctrl.dtsi: SCK_A PE5 AF6, FS_A PE4 AF6, SD_A PB2/PC1/PD6/PE6
AF6 (PE2 AF6 is MCLK_A). ESP32-WROOM-32 datasheet, pin description: GPIO37/GPIO38 are no
pads of the module; SENSOR_VP (GPIO36) and SENSOR_VN (GPIO39) are, input only.
Where those pins are on the boards' headers: boards/*.yaml ``headers``, sources noted there.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tinyslm.boards import _STM32_SAI_PINS, load_board, validate_board_data, with_mic_pins
from tinyslm.cli import cli
from tinyslm.emit.kws_glue import wiring_rows
from tinyslm.errors import BoardError
from tinyslm.resources import boards_dir

SCHEMA = json.loads((boards_dir() / "schema.json").read_text())


def _raw(board_id: str) -> dict[str, Any]:
    data = yaml.safe_load((boards_dir() / f"{board_id}.yaml").read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        # AF7 on PD6 is a USART function, not SAI1.
        ("sd=PD6:AF7", "microphone/pins/sd: PD6 AF7 is not SAI1_SD_A on the STM32H743ZI"),
        # PE2 AF6 is SAI1_MCLK_A, which the glue leaves off.
        ("sd=PE2:AF6", "microphone/pins/sd: PE2 AF6 is not SAI1_SD_A"),
        # PC13 has no SAI function at all.
        ("sd=PC13:AF6", "microphone/pins/sd: PC13 AF6 is not SAI1_SD_A"),
        # PD6 is SAI1_SD_A, not SAI1_SCK_A; PE6 is SD, not FS.
        ("sck=PD6:AF6", "microphone/pins/sck: PD6 AF6 is not SAI1_SCK_A"),
        ("fs=PE3", "microphone/pins/fs: PE3 AF6 is not SAI1_FS_A"),
        # The right pin on SAI4's AF.
        ("sd=PD6:AF8", "PD6 AF8 is not SAI1_SD_A"),
    ],
)
def test_stm32_pin_must_carry_its_sai_function(override: str, needle: str) -> None:
    with pytest.raises(BoardError) as info:
        with_mic_pins(load_board("stm32h7"), [override])
    message = str(info.value)
    assert needle in message and "\n" not in message
    signal = override.split("=")[0].upper()
    assert message.endswith(
        {
            "SD": "SAI1_SD_A is on PB2 AF6, PC1 AF6, PD6 AF6, PE6 AF6",
            "SCK": "SAI1_SCK_A is on PE5 AF6",
            "FS": "SAI1_FS_A is on PE4 AF6",
        }[signal]
    ), message


@pytest.mark.parametrize(
    "override", ["sd=PB2:AF6", "sd=PC1:AF6", "sd=PD6:AF6", "sd=PD6", "sd=PE6:AF6", "fs=PE4:AF6"]
)
def test_stm32_sai1_a_pins_are_accepted(override: str) -> None:
    board = with_mic_pins(load_board("stm32h7"), [override])
    assert board.microphone is not None


def test_the_stock_stm32_pins_carry_sai1_block_a() -> None:
    mic = load_board("stm32h7").microphone
    assert mic is not None and mic.peripheral == "SAI1_Block_A"
    assert [(p.signal, p.pin, p.af) for p in mic.pins] == [
        ("sck", "PE5", 6),
        ("fs", "PE4", 6),
        ("sd", "PE6", 6),
    ]


def test_a_board_file_with_a_wrong_alternate_function_is_rejected() -> None:
    data = copy.deepcopy(_raw("stm32h7"))
    data["microphone"]["pins"]["sd"]["af"] = 5
    with pytest.raises(BoardError, match=r"^stm32h7\.yaml: microphone/pins/sd: PE6 AF5 is not"):
        validate_board_data(data, SCHEMA, "stm32h7.yaml")


def test_another_sai_block_is_checked_against_its_own_pins() -> None:
    data = copy.deepcopy(_raw("stm32h7"))
    data["microphone"]["peripheral"] = "SAI1_Block_B"
    with pytest.raises(BoardError, match="PE5 AF6 is not SAI1_SCK_B"):
        validate_board_data(data, SCHEMA, "stm32h7.yaml")
    pins = data["microphone"]["pins"]
    for signal, pin in (("sck", "PF8"), ("fs", "PF9"), ("sd", "PF6")):
        pins[signal]["pin"] = pin
        del pins[signal]["header"]
    validate_board_data(data, SCHEMA, "stm32h7.yaml")


@pytest.mark.parametrize("pin", ["GPIO37", "GPIO38"])
def test_esp32_pins_the_module_lacks_are_refused(pin: str) -> None:
    with pytest.raises(BoardError) as info:
        with_mic_pins(load_board("esp32"), [f"din={pin}"])
    message = str(info.value)
    assert message == (
        f"--mic-pin: microphone/pins/din: {pin} is not brought out by the ESP32-WROOM-32 module"
    )


@pytest.mark.parametrize("pin", ["GPIO36", "GPIO39", "GPIO34", "GPIO35"])
def test_esp32_input_only_module_pins_are_accepted_for_data_in(pin: str) -> None:
    board = with_mic_pins(load_board("esp32"), [f"din={pin}"])
    assert board.microphone is not None and board.microphone.pin("din").pin == pin


def test_the_esp32_board_names_its_module() -> None:
    assert load_board("esp32").module == "ESP32-WROOM-32"
    data = copy.deepcopy(_raw("esp32"))
    data["microphone"]["pins"]["din"]["pin"] = "GPIO38"
    with pytest.raises(BoardError, match="GPIO38 is not brought out by the ESP32-WROOM-32"):
        validate_board_data(data, SCHEMA, "esp32.yaml")


@pytest.mark.parametrize(
    ("board_id", "override", "needle"),
    [
        ("stm32h7", "sd=PD6:AF7", "is not SAI1_SD_A"),
        ("esp32", "din=GPIO37", "is not brought out by the ESP32-WROOM-32 module"),
    ],
)
def test_generate_refuses_the_pin_in_one_line(
    board_id: str, override: str, needle: str, tmp_path: Path
) -> None:
    # The board check runs before the model is read: a missing model dir is never reached.
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "generate",
            "--board",
            board_id,
            "--model",
            str(tmp_path / "no-model"),
            "-o",
            str(out),
            "--mic-pin",
            override,
        ],
    )
    assert result.exit_code != 0
    assert needle in result.output and result.output.count("\n") <= 1, result.output


def test_a_moved_esp32_pin_keeps_its_place_on_the_headers() -> None:
    """The README's wiring table showed "-" for any pin --mic-pin moved: the user had to
    look up where GPIO16 is. The board file maps every usable GPIO to its header pin."""
    board = load_board("esp32")
    moved = with_mic_pins(board, ["din=GPIO16", "ws=GPIO32", "bclk=GPIO4"])
    assert moved.microphone is not None
    assert {p.signal: p.header for p in moved.microphone.pins} == {
        "bclk": "J3 pin 13 (4)",
        "ws": "J2 pin 7 (32)",
        "din": "J3 pin 12 (16)",
    }
    # The stock pins' places are the map's.
    assert board.microphone is not None
    assert all(board.header_of(p.pin) == p.header for p in board.microphone.pins)


def test_a_pin_header_that_contradicts_the_map_is_rejected() -> None:
    data = _raw("esp32")
    data["microphone"]["pins"]["din"]["header"] = "J2 pin 9 (33)"
    with pytest.raises(BoardError, match=r"microphone/pins/din: header 'J2 pin 9 \(33\)' differs"):
        validate_board_data(data, SCHEMA, "esp32.yaml")


# Where the Nucleo-144 puts each pin that can carry SAI1_SD_A (boards/stm32h7.yaml's
# headers and their sources): Zio CN9 pin 4 = D52 = PD6, CN10 pin 15 = D27 = PB2; PC1 is on
# the morpho only (CN11 pin 36) and is the Ethernet PHY's MDC by default.
@pytest.mark.parametrize(
    ("override", "where"),
    [
        ("sd=PD6:AF6", "CN9 pin 4 (D52)"),
        ("sd=PB2:AF6", "CN10 pin 15 (D27)"),
        ("sd=PC1:AF6", "CN11 pin 36 (also Ethernet MDC)"),
        ("sd=PD6", "CN9 pin 4 (D52)"),
    ],
)
def test_a_moved_stm32_pin_keeps_its_place_on_the_headers(override: str, where: str) -> None:
    """The wiring table showed "-" for an STM32 pin --mic-pin moved, as it did on ESP32."""
    moved = with_mic_pins(load_board("stm32h7"), [override])
    assert moved.microphone is not None
    assert moved.microphone.pin("sd").header == where
    # The README's wiring table (what generate renders) names the new place; the pins
    # left alone keep theirs.
    rows = {r.signal: r for r in wiring_rows(moved)}
    sd = rows["SAI data in (sd)"]
    assert (sd.mcu_pin, sd.where) == (f"{override[3:6]} (AF6)", where)
    assert rows["SAI bit clock (sck)"].where == "CN9 pin 18 (D58)"
    assert rows["SAI frame sync (fs)"].where == "CN9 pin 16 (D57)"


def test_every_stm32_sai1_a_pin_has_a_place_and_the_stock_pins_agree_with_it() -> None:
    board = load_board("stm32h7")
    mic = board.microphone
    assert mic is not None and mic.peripheral is not None
    # Every pin --mic-pin accepts for the board's SAI block has a header entry.
    for p in mic.pins:
        for pin in _STM32_SAI_PINS[board.soc][(mic.peripheral, p.signal)]:
            assert board.header_of(pin), pin
    # The stock pins' places are the map's (one place per pin).
    assert [(p.pin, p.header) for p in mic.pins] == [
        (p.pin, board.header_of(p.pin)) for p in mic.pins
    ]
    assert [p.header for p in mic.pins] == [
        "CN9 pin 18 (D58)",
        "CN9 pin 16 (D57)",
        "CN9 pin 20 (D59)",
    ]


def test_an_stm32_pin_header_that_contradicts_the_map_is_rejected() -> None:
    data = _raw("stm32h7")
    data["microphone"]["pins"]["sd"]["header"] = "CN9 pin 4 (D52)"
    with pytest.raises(BoardError, match=r"microphone/pins/sd: header 'CN9 pin 4 \(D52\)' differs"):
        validate_board_data(data, SCHEMA, "stm32h7.yaml")


@pytest.mark.parametrize(
    ("board_id", "pin", "needle"),
    [
        # LQFP144 has of port H only PH0/PH1; port I is not on the package at all.
        ("stm32h7", "PH5", "headers/PH5: PH5 is not a pin of the STM32H743ZI's LQFP144 package"),
        ("stm32h7", "PI0", "headers/PI0: PI0 is not a pin of the STM32H743ZI's LQFP144 package"),
        ("stm32h7", "PE16", "headers/PE16: 'PE16' is not an STM32 pin"),
        ("stm32h7", "GPIO4", "headers/GPIO4: 'GPIO4' is not an STM32 pin"),
        # Looked up as PE6, a key PE06 would never be found.
        ("stm32h7", "PE06", "headers/PE06: write PE6"),
        ("esp32", "GPIO20", "headers/GPIO20: 'GPIO20' is not an ESP32 GPIO"),
        ("esp32", "GPIO37", "headers/GPIO37: GPIO37 is not brought out by the ESP32-WROOM-32"),
        ("esp32", "GPIO04", "headers/GPIO04: write GPIO4"),
    ],
)
def test_a_header_for_a_pin_the_board_lacks_is_rejected(
    board_id: str, pin: str, needle: str
) -> None:
    data = _raw(board_id)
    data.setdefault("headers", {})[pin] = "CN11 pin 1"
    with pytest.raises(BoardError) as info:
        validate_board_data(data, SCHEMA, f"{board_id}.yaml")
    assert str(info.value).startswith(f"{board_id}.yaml: {needle}"), str(info.value)
