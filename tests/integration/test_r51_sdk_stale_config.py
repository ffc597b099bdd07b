"""An ESP32 project's sdkconfig.<env> (the build's configuration, kept by ESP-IDF over
sdkconfig.defaults) holding an option otherwise than the defaults: generate --force
notes it, build and flash warn, and the file is never touched."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from cli_support import FIXTURE_MODEL, run_cli
from click.testing import CliRunner

from tinyslm.cli import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

# A text project's first build writes this: no I2S option in its defaults.
TEXT_BUILD_CONFIG = (
    "# Espressif IoT Development Framework (ESP-IDF) 5.3.1 Project Configuration\n"
    "CONFIG_UART_ISR_IN_IRAM=y\n"
    "# CONFIG_I2S_ISR_IRAM_SAFE is not set\n"
    "CONFIG_ESP_MAIN_TASK_STACK_SIZE=8192\n"
)


@pytest.fixture(scope="module")
def kws_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return keyword_model_dir(tmp_path_factory.mktemp("kws") / "model")


def _generate(out: Path, model: Path, *extra: str) -> list[str]:
    """Generate (or regenerate) the esp32 project; its stderr lines naming sdkconfig."""
    result = CliRunner().invoke(
        cli, ["generate", "--board", "esp32", "--model", str(model), "-o", str(out), *extra]
    )
    assert result.exit_code == 0, result.output
    return [ln for ln in result.stderr.splitlines() if "sdkconfig" in ln]


def test_regenerating_a_built_text_project_as_keywords_names_the_kept_option(
    tmp_path: Path, kws_model: Path
) -> None:
    out = tmp_path / "proj"
    _generate(out, FIXTURE_MODEL, "-q")
    config = out / "sdkconfig.esp32"
    config.write_text(TEXT_BUILD_CONFIG)
    before = config.read_bytes()
    lines = _generate(out, kws_model, "--force")
    assert len(lines) == 1, lines
    [note] = lines
    assert note.startswith("note: ") and str(config) in note
    assert "CONFIG_I2S_ISR_IRAM_SAFE unset (sdkconfig.defaults: y)" in note
    # The options that agree are not named.
    assert "UART" not in note and "STACK" not in note
    assert "delete sdkconfig.esp32" in note
    assert config.read_bytes() == before  # neither edited nor deleted


def test_no_note_for_a_fresh_project_or_an_agreeing_configuration(
    tmp_path: Path, kws_model: Path
) -> None:
    out = tmp_path / "proj"
    assert _generate(out, kws_model) == []
    (out / "sdkconfig.esp32").write_text(
        TEXT_BUILD_CONFIG.replace(
            "# CONFIG_I2S_ISR_IRAM_SAFE is not set", "CONFIG_I2S_ISR_IRAM_SAFE=y"
        )
    )
    assert _generate(out, kws_model, "--force") == []


def _esp_idf_project(root: Path, env: str, config: str) -> Path:
    """minimal_project as an ESP-IDF project building ``env``, with its defaults and
    a configuration."""
    (root / "platformio.ini").write_text(
        f"[platformio]\ndefault_envs = {env}\n\n[env:{env}]\n"
        "platform = espressif32@6.9.0\nframework = espidf\n"
    )
    (root / "sdkconfig.defaults").write_text(
        "CONFIG_I2S_ISR_IRAM_SAFE=y\nCONFIG_UART_ISR_IN_IRAM=y\n"
    )
    path = root / f"sdkconfig.{env}"
    path.write_text(config)
    return path


@pytest.mark.parametrize("command", ["build", "flash"])
def test_build_and_flash_warn_of_a_kept_option_before_pio_runs(
    fake_pio: Path, minimal_project: Path, command: str
) -> None:
    # The env is read from platformio.ini: not the board id.
    config = _esp_idf_project(minimal_project, "devkit", TEXT_BUILD_CONFIG)
    before = config.read_bytes()
    proc = run_cli(command, str(minimal_project))
    assert proc.returncode == 0, proc.stderr  # a warning, not a refusal
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1, proc.stderr
    assert str(config) in warnings[0] and "CONFIG_I2S_ISR_IRAM_SAFE unset" in warnings[0]
    lines = proc.stderr.splitlines()
    assert lines.index(warnings[0]) < next(
        i for i, ln in enumerate(lines) if ln.startswith("building")
    )
    assert fake_pio.exists() and config.read_bytes() == before


def test_build_says_nothing_of_an_agreeing_or_absent_configuration(
    fake_pio: Path, minimal_project: Path
) -> None:
    config = _esp_idf_project(minimal_project, "esp32", "CONFIG_I2S_ISR_IRAM_SAFE=y\n")
    proc = run_cli("build", str(minimal_project))
    assert proc.returncode == 0 and "warning:" not in proc.stderr, proc.stderr
    config.unlink()
    proc = run_cli("build", str(minimal_project))
    assert proc.returncode == 0 and "warning:" not in proc.stderr, proc.stderr


def test_build_warns_of_a_needed_option_only_and_says_it_repeats(
    fake_pio: Path, minimal_project: Path
) -> None:
    # A tuning choice made in menuconfig (a slower clock) is not warned of on every build.
    config = _esp_idf_project(minimal_project, "esp32", TEXT_BUILD_CONFIG)
    (minimal_project / "sdkconfig.defaults").write_text(
        "CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ=240\nCONFIG_UART_ISR_IN_IRAM=y\n"
        "CONFIG_ESP_MAIN_TASK_STACK_SIZE=8192\n"
    )
    config.write_text(
        "CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ=160\nCONFIG_UART_ISR_IN_IRAM=y\n"
        "CONFIG_ESP_MAIN_TASK_STACK_SIZE=16384\n"  # larger than needed: no fault
    )
    proc = run_cli("build", str(minimal_project))
    assert proc.returncode == 0 and "warning:" not in proc.stderr, proc.stderr
    config.write_text("CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ=160\n# CONFIG_UART_ISR_IN_IRAM is not set\n")
    proc = run_cli("build", str(minimal_project))
    [warning] = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert "CONFIG_UART_ISR_IN_IRAM unset" in warning and "CPU_FREQ" not in warning
    assert warning.endswith("said on every build and flash until the values agree")


def test_generate_notes_a_tuning_choice_the_build_does_not_warn_of(
    tmp_path: Path, kws_model: Path
) -> None:
    out = tmp_path / "proj"
    _generate(out, kws_model, "-q")
    (out / "sdkconfig.esp32").write_text("CONFIG_COMPILER_OPTIMIZATION_PERF=n\n")
    [note] = _generate(out, kws_model, "--force")
    assert "CONFIG_COMPILER_OPTIMIZATION_PERF unset (sdkconfig.defaults: y)" in note


def test_build_warns_once_per_file_of_each_env_pio_builds(
    fake_pio: Path, minimal_project: Path
) -> None:
    config = _esp_idf_project(minimal_project, "esp32", TEXT_BUILD_CONFIG)
    ini = minimal_project / "platformio.ini"
    # A duplicated env (with an inline comment) is built once: one warning.
    ini.write_text(
        ini.read_text().replace("default_envs = esp32", "default_envs = esp32, esp32 ; x")
    )
    proc = run_cli("build", str(minimal_project))
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and str(config) in warnings[0], proc.stderr
    # A multi-line default_envs: the second env's file is named too.
    ini.write_text(
        ini.read_text().replace(
            "default_envs = esp32, esp32 ; x", "default_envs =\n    dev\n    esp32"
        )
        + "\n[env:dev]\nextends = env:esp32\n"
    )
    (minimal_project / "sdkconfig.dev").write_text(TEXT_BUILD_CONFIG)
    proc = run_cli("build", str(minimal_project))
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert [str(config) in w for w in warnings] == [False, True], proc.stderr
    assert str(minimal_project / "sdkconfig.dev") in warnings[0]


def test_build_reads_the_configuration_sdkconfig_path_names(
    fake_pio: Path, minimal_project: Path
) -> None:
    default = _esp_idf_project(minimal_project, "esp32", "CONFIG_I2S_ISR_IRAM_SAFE=y\n")
    custom = minimal_project / "configs" / "board.cfg"
    custom.parent.mkdir()
    custom.write_text(TEXT_BUILD_CONFIG)
    ini = minimal_project / "platformio.ini"
    ini.write_text(ini.read_text() + "board_build.esp-idf.sdkconfig_path = configs/board.cfg\n")
    default.write_text(TEXT_BUILD_CONFIG)  # not the build's: not named
    proc = run_cli("build", str(minimal_project))
    [warning] = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert str(custom) in warning and "delete board.cfg" in warning, proc.stderr
