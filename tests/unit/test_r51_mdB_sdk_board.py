"""Round 51 mends of tinyslm.toolchain.sdkconfig: the "is this board ESP-IDF?" check lives
in board_stale_options (build and generate both ask it), and a log level quieter than WARN
chosen in menuconfig is no option the firmware needs (build and flash do not warn of it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from shared_paths import require_path, sdk_path

from tinyslm.boards import load_board
from tinyslm.toolchain.sdkconfig import (
    LEVEL_NAMES,
    LOG_LEVELS,
    REQUIRED,
    WARN_LEVEL,
    Stale,
    board_stale_options,
    required,
    stale_options,
)

APP_WARN = Stale("CONFIG_LOG_DEFAULT_LEVEL_WARN", "n", "y")
BOOT_WARN = Stale("CONFIG_BOOTLOADER_LOG_LEVEL_WARN", "n", "y")


def _project(root: Path, config: str) -> Path:
    """A project folder building env ``x``, whose configuration holds ``config``."""
    (root / "platformio.ini").write_text("[env:x]\nplatform = any\n")
    (root / "sdkconfig.defaults").write_text(
        "CONFIG_UART_ISR_IN_IRAM=y\nCONFIG_LOG_DEFAULT_LEVEL_WARN=y\n"
    )
    path = root / "sdkconfig.x"
    path.write_text(config)
    return path


def test_an_stm32_board_gives_no_stale_options_whatever_its_files(tmp_path: Path) -> None:
    path = _project(tmp_path, "# CONFIG_UART_ISR_IN_IRAM is not set\n")
    assert board_stale_options(load_board("stm32h7"), tmp_path) == []
    assert board_stale_options(load_board("stm32h7"), tmp_path, needed=True) == []
    # The same folder on an ESP-IDF board: the file is named.
    [(config, stale)] = board_stale_options(load_board("esp32"), tmp_path)
    assert config == path and [s.option for s in stale] == ["CONFIG_UART_ISR_IN_IRAM"]


@pytest.mark.parametrize(("name", "level"), [("NONE", "0"), ("ERROR", "1")])
def test_a_quieter_log_level_is_not_required(name: str, level: str) -> None:
    config = {
        f"CONFIG_LOG_DEFAULT_LEVEL_{name}": "y",
        "CONFIG_LOG_DEFAULT_LEVEL": level,
        f"CONFIG_BOOTLOADER_LOG_LEVEL_{name}": "y",
        "CONFIG_BOOTLOADER_LOG_LEVEL": level,
    }
    assert required((APP_WARN, BOOT_WARN), config) == ()


def test_a_louder_or_unknown_log_level_is_required() -> None:
    both = (APP_WARN, BOOT_WARN)
    louder = {
        "CONFIG_LOG_DEFAULT_LEVEL_INFO": "y",
        "CONFIG_LOG_DEFAULT_LEVEL": "3",
        "CONFIG_BOOTLOADER_LOG_LEVEL_VERBOSE": "y",
        "CONFIG_BOOTLOADER_LOG_LEVEL": "5",
    }
    assert required(both, louder) == both
    # Without the configuration: warned of.
    assert required(both) == both
    # A hand-edited file whose int and choice disagree: kconfiglib reads the choice.
    disagree = {"CONFIG_LOG_DEFAULT_LEVEL": "1", "CONFIG_LOG_DEFAULT_LEVEL_INFO": "y"}
    assert required((APP_WARN,), disagree) == (APP_WARN,)
    # The app's level says nothing of the bootloader's.
    app_only = {
        "CONFIG_LOG_DEFAULT_LEVEL": "1",
        "CONFIG_LOG_DEFAULT_LEVEL_ERROR": "y",
        "CONFIG_BOOTLOADER_LOG_LEVEL_INFO": "y",
    }
    assert required(both, app_only) == (BOOT_WARN,)
    # The int, whatever a hand edit made it (no number too), changes nothing: the choice
    # decides (round 52: test_r52_f1_sdk_level).
    for odd in ("\u00b2", "-1", "1.0", "", "0", "1"):
        loud = {"CONFIG_LOG_DEFAULT_LEVEL": odd, "CONFIG_LOG_DEFAULT_LEVEL_INFO": "y"}
        assert required((APP_WARN,), loud) == (APP_WARN,), odd


def test_stale_options_needed_judges_each_file_by_its_own_level(tmp_path: Path) -> None:
    quiet = _project(
        tmp_path, "CONFIG_LOG_DEFAULT_LEVEL_ERROR=y\n# CONFIG_LOG_DEFAULT_LEVEL_WARN is not set\n"
        "CONFIG_LOG_DEFAULT_LEVEL=1\n"
    )  # fmt: skip
    loud = tmp_path / "sdkconfig.loud"
    loud.write_text(
        "CONFIG_LOG_DEFAULT_LEVEL_INFO=y\n# CONFIG_LOG_DEFAULT_LEVEL_WARN is not set\n"
        "CONFIG_LOG_DEFAULT_LEVEL=3\n"
    )
    [(path, stale)] = stale_options(tmp_path, [quiet, loud], needed=True)
    assert path == loud and stale == (APP_WARN,)
    # generate's note still names every option that differs, the quieter level too.
    assert [p for p, _ in stale_options(tmp_path, [quiet, loud])] == [quiet, loud]


def test_log_level_numbers_are_esp_idf_5_3_1s() -> None:
    """LEVEL_NAMES is the order of the ints ESP-IDF derives from each choice."""
    idf = require_path(sdk_path("esp-idf-5.3.1"), "ESP-IDF 5.3.1 tree")
    kconfig = {
        "CONFIG_LOG_DEFAULT_LEVEL": idf / "components" / "log" / "Kconfig",
        "CONFIG_BOOTLOADER_LOG_LEVEL": idf / "components" / "bootloader" / "Kconfig.projbuild",
    }
    assert set(LOG_LEVELS) <= set(REQUIRED) and set(LOG_LEVELS.values()) == set(kconfig)
    assert LEVEL_NAMES[WARN_LEVEL] == "WARN"
    for option, path in kconfig.items():
        name = option[len("CONFIG_") :]
        found = re.findall(rf"default (\d) if {name}_([A-Z]+)\n", path.read_text())
        assert {member: int(n) for n, member in found} == {
            member: n for n, member in enumerate(LEVEL_NAMES)
        }, (path, found)
