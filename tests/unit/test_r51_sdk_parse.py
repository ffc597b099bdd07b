"""sdkconfig files as ESP-IDF's kconfgen reads them, and what the build's configuration
holds against sdkconfig.defaults (tinyslm.toolchain.sdkconfig)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tinyslm.emit.render import environment
from tinyslm.toolchain.sdkconfig import (
    AT_LEAST,
    REQUIRED,
    Stale,
    describe,
    differences,
    parse_sdkconfig,
    pio_configs,
    pio_envs,
    required,
    stale_options,
)


def test_set_unset_quoted_and_skipped_lines() -> None:
    text = (
        "# Espressif IoT Development Framework (ESP-IDF) 5.3.1 Project Configuration\n"
        "\n"
        "CONFIG_A=y\n"
        "# CONFIG_B is not set\n"
        'CONFIG_NAME="say \\"hi\\" = ok"\n'
        "CONFIG_EMPTY=\n"
        "CONFIG_NO_EQUALS\n"
        "# a comment, CONFIG_C=y in it\n"
        "   \n"
        "CONFIG_STACK=8192  \r\n"
        "CONFIG_A=n\n"
    )
    assert parse_sdkconfig(text) == {
        "CONFIG_A": "n",  # the last value wins, as in kconfiglib
        "CONFIG_B": "n",
        "CONFIG_NAME": '"say \\"hi\\" = ok"',
        "CONFIG_EMPTY": "",
        "CONFIG_STACK": "8192",
    }


def test_differences_name_only_options_held_otherwise() -> None:
    defaults = (
        'CONFIG_I2S_ISR_IRAM_SAFE=y\nCONFIG_UART_ISR_IN_IRAM=y\nCONFIG_NEW=y\nCONFIG_S="a\\\\b"\n'
    )
    config = (
        "# CONFIG_I2S_ISR_IRAM_SAFE is not set\n"
        "CONFIG_UART_ISR_IN_IRAM=y\n"  # agrees
        'CONFIG_S="a\\\\b"\n'  # the same string, escapes and all
    )  # CONFIG_NEW absent: ESP-IDF applies the default
    assert differences(defaults, config) == (Stale("CONFIG_I2S_ISR_IRAM_SAFE", "n", "y"),)
    # 'n' and "is not set" are the same value.
    assert differences("CONFIG_X=n\n", "# CONFIG_X is not set\n") == ()
    assert differences('CONFIG_S="a"\n', 'CONFIG_S="b"\n') == (Stale("CONFIG_S", '"b"', '"a"'),)


def test_two_spellings_of_one_quoted_string_are_the_same_value() -> None:
    # kconfiglib unescapes a quoted value: "a\b" reads as ab, "x\"y" as x"y.
    assert differences('CONFIG_S="ab"\n', 'CONFIG_S="a\\b"\n') == ()
    assert differences('CONFIG_S="x\\"y"\n', 'CONFIG_S="\\x\\"y"\n') == ()


def test_pio_envs_default_envs_else_sections() -> None:
    assert pio_envs("[platformio]\ndefault_envs = board1\n\n[env:board1]\n[env:other]\n") == [
        "board1"
    ]
    assert pio_envs("[platformio]\ndefault_envs = a, b\n[env:a]\n[env:b]\n") == ["a", "b"]
    assert pio_envs("[env:esp32]\nplatform = espressif32\n[env:dev]\n") == ["esp32", "dev"]


def test_pio_envs_reads_a_multi_line_default_envs() -> None:
    ini = "[platformio]\ndefault_envs =\n    dev\n    esp32\n\n[env:esp32]\n[env:dev]\n"
    assert pio_envs(ini) == ["dev", "esp32"]


def test_pio_envs_drops_inline_comments() -> None:
    ini = "[platformio]\ndefault_envs = a, b ; the boards # here\n[env:a] ; main\n[env:b]\n"
    assert pio_envs(ini) == ["a", "b"]
    assert pio_envs("[env:a] ; main\n[env:b] # other\n") == ["a", "b"]


def test_pio_envs_names_a_duplicated_env_once() -> None:
    assert pio_envs("[platformio]\ndefault_envs = esp32, esp32\n[env:esp32]\n") == ["esp32"]
    assert pio_envs("[platformio]\ndefault_envs =\n  a\n  b, a\n") == ["a", "b"]


def test_pio_envs_of_a_file_configparser_refuses_is_empty() -> None:
    assert pio_envs("default_envs = esp32\n[env:esp32]\n") == []  # no section first


def test_pio_configs_follow_sdkconfig_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Unset here whatever the caller's environment holds (it was ${sysenv.X}).
    monkeypatch.delenv("TINYSLM_T_UNSET", raising=False)
    ini = (
        "[platformio]\ndefault_envs = a, b, c, d, e\n"
        "[env]\nboard_build.esp-idf.sdkconfig_path = common.cfg\n"
        "[env:a]\nboard_build.esp-idf.sdkconfig_path = cfg/a.cfg ; mine\n"
        "[env:b]\nextends = env:a\n"  # the same file as a's: named once
        "[env:c]\n"  # [env]'s
        # An unset variable is empty, as PlatformIO reads it (49ff9ce): '/d.cfg'.
        "[env:d]\nboard_build.esp-idf.sdkconfig_path = ${sysenv.TINYSLM_T_UNSET}/d.cfg\n"
        "[env:e]\nboard_build.esp-idf.sdkconfig_path = /abs/e.cfg\n"
    )
    assert pio_configs(tmp_path, ini) == [
        tmp_path / "cfg" / "a.cfg",
        tmp_path / "common.cfg",
        Path("/d.cfg"),
        Path("/abs/e.cfg"),
    ]
    assert pio_configs(tmp_path, "[env:esp32]\n[env:dev]\n") == [
        tmp_path / "sdkconfig.esp32",
        tmp_path / "sdkconfig.dev",
    ]


def test_pio_configs_expand_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYSLM_T_CFG", "here")
    ini = "[env:a]\nboard_build.esp-idf.sdkconfig_path = $TINYSLM_T_CFG/a.cfg\n"
    assert pio_configs(tmp_path, ini) == [tmp_path / "here" / "a.cfg"]


def test_stale_options_reads_and_never_writes(tmp_path: Path) -> None:
    (tmp_path / "sdkconfig.defaults").write_text("CONFIG_A=y\nCONFIG_B=8192\n")
    config = tmp_path / "sdkconfig.mine"
    config.write_text("# CONFIG_A is not set\nCONFIG_B=4096\n")
    before = config.read_bytes()
    [(path, stale)] = stale_options(tmp_path, [config, tmp_path / "sdkconfig.absent"])
    assert path == config and [s.option for s in stale] == ["CONFIG_A", "CONFIG_B"]
    assert config.read_bytes() == before
    assert stale_options(tmp_path / "nothing", [config]) == []


def _template_options() -> set[str]:
    """The options templates/esp32/sdkconfig.defaults.j2 writes (with a microphone)."""
    text = (
        environment()
        .get_template("esp32/sdkconfig.defaults.j2")
        .render(
            pio_env="esp32",
            board={"cpu_mhz": 240, "model_flash_kb": 1024, "baud": 921600},
            glue={"main_stack": 8192, "flash_mb": 4},
            mic={"buffer_ms": 16},
        )
    )
    return set(parse_sdkconfig(text))


def test_required_options_are_ones_the_template_writes() -> None:
    written = _template_options()
    assert set(REQUIRED) <= written, set(REQUIRED) - written
    assert AT_LEAST.issubset(REQUIRED)
    assert all(why and "\n" not in why for why in REQUIRED.values())
    # Tuning a user may choose otherwise in menuconfig is not among them.
    assert not any(re.search("CPU_FREQ|OPTIMIZATION|PARTITION", o) for o in REQUIRED)


def test_required_keeps_only_what_the_firmware_needs() -> None:
    stale = (
        Stale("CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ", "160", "240"),
        Stale("CONFIG_COMPILER_OPTIMIZATION_PERF", "n", "y"),
        Stale("CONFIG_I2S_ISR_IRAM_SAFE", "n", "y"),
        Stale("CONFIG_ESP_CONSOLE_UART_BAUDRATE", "115200", "921600"),
    )
    assert required(stale) == stale[2:]
    # A larger main task stack is no fault; a smaller one is.
    assert required((Stale("CONFIG_ESP_MAIN_TASK_STACK_SIZE", "16384", "8192"),)) == ()
    small = (Stale("CONFIG_ESP_MAIN_TASK_STACK_SIZE", "4096", "8192"),)
    assert required(small) == small


def test_describe_is_one_line_naming_file_values_and_remedy(tmp_path: Path) -> None:
    config = tmp_path / "sdkconfig.esp32"
    line = describe(config, (Stale("CONFIG_I2S_ISR_IRAM_SAFE", "n", "y"),))
    assert "\n" not in line and str(config) in line
    assert "CONFIG_I2S_ISR_IRAM_SAFE unset (sdkconfig.defaults: y)" in line
    assert "delete sdkconfig.esp32" in line and "menuconfig" in line
    many = describe(config, tuple(Stale(f"CONFIG_O{i}", "1", "2") for i in range(5)))
    assert "5 options" in many and "CONFIG_O2 1" in many and "CONFIG_O3" not in many
    assert "and 2 more" in many
    assert "can stay" in line and "every build" not in line


def test_describe_for_build_says_it_repeats(tmp_path: Path) -> None:
    line = describe(
        tmp_path / "sdkconfig.esp32", (Stale("CONFIG_I2S_ISR_IRAM_SAFE", "n", "y"),), every_run=True
    )
    assert "that the firmware needs" in line
    assert line.endswith("said on every build and flash until the values agree")


def test_describe_cuts_a_long_value_short(tmp_path: Path) -> None:
    line = describe(
        tmp_path / "sdkconfig.esp32", (Stale("CONFIG_S", '"' + "x" * 200 + '"', '"a"'),)
    )
    assert '"' + "x" * 36 + "..." in line and "x" * 37 not in line
