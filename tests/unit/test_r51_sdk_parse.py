"""sdkconfig files as ESP-IDF's kconfgen reads them, and what the build's configuration
holds against sdkconfig.defaults (tinyslm.toolchain.sdkconfig)."""

from __future__ import annotations

from pathlib import Path

from tinyslm.toolchain.sdkconfig import (
    Stale,
    describe,
    differences,
    parse_sdkconfig,
    pio_envs,
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


def test_pio_envs_default_envs_else_sections() -> None:
    assert pio_envs("[platformio]\ndefault_envs = board1\n\n[env:board1]\n[env:other]\n") == [
        "board1"
    ]
    assert pio_envs("[platformio]\ndefault_envs = a, b\n[env:a]\n[env:b]\n") == ["a", "b"]
    assert pio_envs("[env:esp32]\nplatform = espressif32\n[env:dev]\n") == ["esp32", "dev"]


def test_stale_options_reads_and_never_writes(tmp_path: Path) -> None:
    (tmp_path / "sdkconfig.defaults").write_text("CONFIG_A=y\nCONFIG_B=8192\n")
    config = tmp_path / "sdkconfig.mine"
    config.write_text("# CONFIG_A is not set\nCONFIG_B=4096\n")
    before = config.read_bytes()
    [(path, stale)] = stale_options(tmp_path, ["mine", "absent"])
    assert path == config and [s.option for s in stale] == ["CONFIG_A", "CONFIG_B"]
    assert config.read_bytes() == before
    assert stale_options(tmp_path / "nothing", ["mine"]) == []


def test_describe_is_one_line_naming_file_values_and_remedy(tmp_path: Path) -> None:
    config = tmp_path / "sdkconfig.esp32"
    line = describe(config, (Stale("CONFIG_I2S_ISR_IRAM_SAFE", "n", "y"),))
    assert "\n" not in line and str(config) in line
    assert "CONFIG_I2S_ISR_IRAM_SAFE unset (sdkconfig.defaults: y)" in line
    assert "delete sdkconfig.esp32" in line and "menuconfig" in line
    many = describe(config, tuple(Stale(f"CONFIG_O{i}", "1", "2") for i in range(5)))
    assert "5 options" in many and "CONFIG_O2 1" in many and "CONFIG_O3" not in many
    assert "and 2 more" in many


def test_describe_cuts_a_long_value_short(tmp_path: Path) -> None:
    line = describe(
        tmp_path / "sdkconfig.esp32", (Stale("CONFIG_S", '"' + "x" * 200 + '"', '"a"'),)
    )
    assert '"' + "x" * 36 + "..." in line and "x" * 37 not in line
