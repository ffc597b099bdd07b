"""Round 51 mends of build's sdkconfig warning: warnings go to ``warn`` only (``log``
never gets a raw ``warning:`` line of its own making), and a log level quieter than WARN
chosen in menuconfig is not warned of on every build."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import run_cli

from tinyslm.toolchain import build as build_mod

# The build's configuration after menuconfig chose a quieter app and bootloader log level
# (as kconfgen writes it: the choice's members and the int it derives).
QUIET_CONFIG = (
    "CONFIG_BOOTLOADER_LOG_LEVEL_NONE=y\n"
    "# CONFIG_BOOTLOADER_LOG_LEVEL_WARN is not set\n"
    "CONFIG_BOOTLOADER_LOG_LEVEL=0\n"
    "CONFIG_LOG_DEFAULT_LEVEL_ERROR=y\n"
    "# CONFIG_LOG_DEFAULT_LEVEL_WARN is not set\n"
    "CONFIG_LOG_DEFAULT_LEVEL=1\n"
)


def _esp_idf_project(root: Path, config: str) -> Path:
    """minimal_project as an ESP-IDF project building env ``esp32``, whose defaults ask
    for the WARN log levels."""
    (root / "platformio.ini").write_text(
        "[env:esp32]\nplatform = espressif32@6.9.0\nframework = espidf\n"
    )
    (root / "sdkconfig.defaults").write_text(
        "CONFIG_BOOTLOADER_LOG_LEVEL_WARN=y\nCONFIG_LOG_DEFAULT_LEVEL_WARN=y\n"
        "CONFIG_UART_ISR_IN_IRAM=y\n"
    )
    path = root / "sdkconfig.esp32"
    path.write_text(config)
    return path


def test_warnings_go_to_warn_only(fake_pio: Path, minimal_project: Path) -> None:
    _esp_idf_project(minimal_project, "# CONFIG_UART_ISR_IN_IRAM is not set\n")
    logged: list[str] = []
    build_mod.build(minimal_project, log=logged.append)
    build_mod.upload(minimal_project, log=logged.append)
    assert not any("sdkconfig" in line for line in logged), logged
    warned: list[str] = []
    build_mod.build(minimal_project, log=logged.append, warn=warned.append)
    build_mod.upload(minimal_project, log=logged.append, warn=warned.append)
    assert len(warned) == 2 and all("CONFIG_UART_ISR_IN_IRAM" in w for w in warned), warned


@pytest.mark.parametrize("command", ["build", "flash"])
def test_a_quieter_log_level_is_not_warned_of(
    fake_pio: Path, minimal_project: Path, command: str
) -> None:
    config = _esp_idf_project(minimal_project, QUIET_CONFIG)
    proc = run_cli(command, str(minimal_project))
    assert proc.returncode == 0 and "warning:" not in proc.stderr, proc.stderr
    # A louder app level (INFO) puts log lines on the protocol's UART: warned of, alone.
    config.write_text(
        QUIET_CONFIG.replace("LEVEL_ERROR=y", "LEVEL_INFO=y").replace("LEVEL=1", "LEVEL=3")
    )
    proc = run_cli(command, str(minimal_project))
    [warning] = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert "CONFIG_LOG_DEFAULT_LEVEL_WARN unset" in warning, warning
    assert "BOOTLOADER" not in warning and str(config) in warning
