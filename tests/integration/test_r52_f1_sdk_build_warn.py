"""Round 52 (F1 #2a): build and flash say an env whose build configuration could not be
checked (its sdkconfig_path holds a ``${...}`` only PlatformIO resolves), and check the one
a ``${...}`` names that tinyslm resolves as PlatformIO does. Before: nothing was said of
either (``warning:`` lines: none)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import run_cli

INI = (
    "[platformio]\ndefault_envs = esp32, ci\n"
    "[env]\nplatform = espressif32@6.9.0\nframework = espidf\n"
    "board_build.esp-idf.sdkconfig_path = cfg/${this.__env__}.sdkconfig\n"
    "[env:esp32]\n"
    "[env:ci]\nboard_build.esp-idf.sdkconfig_path = ${platformio.packages_dir}/ci.sdkconfig\n"
)


@pytest.mark.parametrize("command", ["build", "flash"])
def test_build_warns_of_a_resolved_config_and_an_unresolved_env(
    fake_pio: Path, minimal_project: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.delenv("TINYSLM_T_UNSET", raising=False)
    (minimal_project / "platformio.ini").write_text(INI)
    (minimal_project / "sdkconfig.defaults").write_text("CONFIG_UART_ISR_IN_IRAM=y\n")
    config = minimal_project / "cfg" / "esp32.sdkconfig"
    config.parent.mkdir()
    config.write_text("# CONFIG_UART_ISR_IN_IRAM is not set\n")
    proc = run_cli(command, str(minimal_project))
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 2, proc.stderr
    assert str(config) in warnings[0] and "CONFIG_UART_ISR_IN_IRAM unset" in warnings[0]
    assert warnings[1].startswith(
        "warning: env ci: its board_build.esp-idf.sdkconfig_path holds "
        "${platformio.packages_dir}, which platformio.ini does not set"
    ), warnings
    assert config.read_text() == "# CONFIG_UART_ISR_IN_IRAM is not set\n"  # never written
