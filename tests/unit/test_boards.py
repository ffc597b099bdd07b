"""boards/*.yaml: schema checks, cross-field rules, lookup and the ``tinyslm boards`` table."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tinyslm.boards import (
    board_ids,
    format_board_table,
    load_board,
    load_board_file,
    load_boards,
    validate_board_data,
)
from tinyslm.errors import BoardError
from tinyslm.resources import boards_dir

SCHEMA = json.loads((boards_dir() / "schema.json").read_text())


def _raw(board_id: str) -> dict[str, Any]:
    data = yaml.safe_load((boards_dir() / f"{board_id}.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_bundled_boards_load_and_pass_the_schema() -> None:
    boards = load_boards()
    assert [b.id for b in boards] == ["esp32", "stm32h7"]
    for b in boards:
        assert b.model_flash_kb <= b.flash_kb and b.arena_ram_kb <= b.ram_kb
        assert b.platformio.get("monitor_speed") == b.serial.baud
        platform = b.platformio.get("platform")
        assert isinstance(platform, str) and "@" in platform  # pinned


def test_esp32_and_stm32h7_facts() -> None:
    esp = load_board("esp32")
    assert (esp.family, esp.platformio.get("board"), esp.platformio.get("framework")) == (
        "esp32",
        "esp32dev",
        "espidf",
    )
    assert esp.platformio.get("platform") == "espressif32@6.9.0"
    assert esp.tflm.source == "idf_component"
    assert esp.tflm.component == "espressif/esp-tflite-micro"
    stm = load_board("stm32h7")
    assert (stm.family, stm.platformio.get("board"), stm.platformio.get("framework")) == (
        "stm32",
        "nucleo_h743zi",
        "stm32cube",
    )
    flags = stm.platformio.get("build_flags")
    assert isinstance(flags, tuple)
    for flag in ("-mfpu=fpv5-d16", "-mfloat-abi=hard", "-DTF_LITE_STATIC_MEMORY", "-DCMSIS_NN"):
        assert flag in flags
    assert stm.tflm.source == "lib_tree" and stm.tflm.optimized_kernels == "cmsis_nn"
    assert (stm.serial.uart, stm.serial.tx_pin, stm.serial.rx_pin) == ("USART3", "PD8", "PD9")
    assert stm.led is not None and stm.led.pin == "PB0"


def test_stm32h7_memory_is_the_linker_layout() -> None:
    # PlatformIO links nucleo_h743zi with STM32H743ZITX_FLASH.ld (reproduced in
    # tinyslm/emulate/glue/stm32h7/): .data/.bss, so the arena, go to RAM_D1 (AXI SRAM),
    # not DTCM. The board's flash and RAM are exactly those regions.
    from tinyslm.toolchain import stm32_image

    script = stm32_image.LINKER_SCRIPT.read_text()
    assert "} >RAM_D1 AT> FLASH" in script  # .data
    assert script.count("} >RAM_D1") == 3  # .data, .bss, the heap/stack reserve
    assert "_estack = ORIGIN(RAM_D1) + LENGTH(RAM_D1);" in script
    regions = {name: length for name, _origin, length in stm32_image.REGIONS}
    for name, length in regions.items():
        assert f"{name} (" in script and f"LENGTH = {length // 1024}K" in script, name
    stm = load_board("stm32h7")
    assert stm.ram_kb * 1024 == regions["RAM_D1"] == stm32_image.MAX_RAM
    assert stm.flash_kb * 1024 == regions["FLASH"] == stm32_image.MAX_FLASH
    flags = stm.platformio.get("build_flags")
    assert isinstance(flags, tuple) and "-DNDEBUG" in flags


def test_platformio_options_keep_the_file_order() -> None:
    board = load_board("stm32h7")
    assert [k for k, _ in board.platformio.options] == list(
        _raw("stm32h7")["platformio"]["options"]
    )


def _set(data: dict[str, Any], path: str, value: object) -> None:
    *parents, last = path.split("/")
    node = data
    for p in parents:
        node = node[p]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()

BAD_EDITS = [
    ("unknown top-level key", "colour", "blue", "Additional properties"),
    ("unknown nested key", "capabilities/psram_kb", 4096, "Additional properties"),
    ("unknown platformio option", "platformio/options/upload_port", "/dev/x", "Additional"),
    ("unpinned platform", "platformio/options/platform", "espressif32", "does not match"),
    # "$" matched before a final newline: these passed and went into platformio.ini.
    ("platform with a newline", "platformio/options/platform", "espressif32@6.9.0\n", "match"),
    ("id with a newline", "id", "esp32\n", "does not match"),
    ("missing identity", "vendor", _DELETE, "'vendor' is a required property"),
    ("wrong type", "capabilities/flash_kb", "4MB", "is not of type 'integer'"),
    ("unknown family", "family", "avr", "is not one of"),
    ("bad baud", "serial/baud", 12345, "is not one of"),
    ("bad tflm source", "tflm/source", "git", "is not valid under any of the given schemas"),
    ("model budget above flash", "budgets/model_flash_kb", 8192, "exceeds capabilities/flash_kb"),
    ("arena budget above RAM", "budgets/arena_ram_kb", 1000, "exceeds capabilities/ram_kb"),
    ("monitor speed differs", "platformio/options/monitor_speed", 9600, "differs from serial/baud"),
]


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [case[1:] for case in BAD_EDITS],
    ids=[case[0] for case in BAD_EDITS],
)
def test_bad_board_documents_are_rejected(path: str, value: object, needle: str) -> None:
    data = copy.deepcopy(_raw("esp32"))
    validate_board_data(data, SCHEMA, "esp32.yaml")  # the unedited file passes
    _set(data, path, value)
    with pytest.raises(BoardError) as err:
        validate_board_data(data, SCHEMA, "esp32.yaml")
    message = str(err.value)
    assert message.startswith("esp32.yaml: ") and needle in message
    assert "\n" not in message


def test_stm32_board_needs_its_uart_pins() -> None:
    data = copy.deepcopy(_raw("stm32h7"))
    del data["serial"]["tx_pin"]
    with pytest.raises(BoardError, match="tx_pin, rx_pin and alternate_function"):
        validate_board_data(data, SCHEMA, "stm32h7.yaml")


def _copy_boards(tmp_path: Path) -> Path:
    folder = tmp_path / "boards"
    folder.mkdir()
    for p in boards_dir().iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    return folder


def test_id_must_match_the_file_name(tmp_path: Path) -> None:
    folder = _copy_boards(tmp_path)
    (folder / "esp32.yaml").rename(folder / "myboard.yaml")
    with pytest.raises(BoardError, match=r"myboard.yaml: id 'esp32' differs from the file name"):
        load_board("myboard", folder)


def test_unreadable_yaml_is_a_board_error(tmp_path: Path) -> None:
    folder = _copy_boards(tmp_path)
    (folder / "broken.yaml").write_text("id: [unclosed\n")
    with pytest.raises(BoardError, match=r"broken\.yaml is unreadable"):
        load_board_file(folder / "broken.yaml")


def test_unknown_board_lists_the_known_ones() -> None:
    with pytest.raises(BoardError) as err:
        load_board("esp8266")
    assert str(err.value) == "unknown board 'esp8266'; known boards: esp32, stm32h7"


def test_board_ids_are_the_yaml_files() -> None:
    assert board_ids() == ("esp32", "stm32h7")


def test_board_table_lists_every_board_with_its_budgets() -> None:
    table = format_board_table(load_boards()).splitlines()
    assert table[0].split()[:3] == ["id", "name", "family"]
    rows = {line.split()[0]: line for line in table[1:]}
    assert set(rows) == {"esp32", "stm32h7"}
    assert "4096 KB" in rows["esp32"] and "1024 KB" in rows["esp32"] and "96 KB" in rows["esp32"]
    assert "2048 KB" in rows["stm32h7"] and "384 KB" in rows["stm32h7"]
