"""Round 52 (F1 #2a): PlatformIO's ``${...}`` in ``board_build.esp-idf.sdkconfig_path``.

An env whose sdkconfig_path held PlatformIO's ``${...}`` was skipped without a word.
PlatformIO resolves ``${<section>.<option>}``, ``${this.<option>}``, ``${this.__env__}``,
``${sysenv.<name>}`` and ``${PROJECT_DIR}`` from platformio.ini and the environment:
tinyslm now does too (an unset ``${sysenv.<name>}`` as empty, as PlatformIO reads it),
and says in one line which env it could not check (a build variable not set here, an
option's PlatformIO default such as ``${platformio.packages_dir}``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyslm.boards import load_board
from tinyslm.pipeline import _stale_sdkconfig_notes
from tinyslm.toolchain import sdkconfig
from tinyslm.toolchain.sdkconfig import board_stale_options, pio_configs

PATH = "board_build.esp-idf.sdkconfig_path"
DEFAULTS = "CONFIG_UART_ISR_IN_IRAM=y\nCONFIG_LOG_DEFAULT_LEVEL_WARN=y\n"


def test_interpolations_platformio_resolves_are_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: every one of these envs was left out (``[]``)."""
    monkeypatch.setenv("TINYSLM_T_CFG", "fromenv")
    ini = (
        "[platformio]\ndefault_envs = a, b, c, d, e, f\n"
        "[common]\ndir = cfgs\n"
        "[env]\nboard_build.esp-idf.sdkconfig_path = ${common.dir}/${this.__env__}.cfg\n"
        "[env:a]\n"  # [env]'s, its ${this.__env__} the env's name
        f"[env:b]\n{PATH} = ${{env:a.{PATH}}}\n"
        f"[env:c]\ncustom_dir = mine\n{PATH} = ${{this.custom_dir}}/c.cfg\n"
        "[env:d]\nboard_build.esp-idf.sdkconfig_path = ${sysenv.TINYSLM_T_CFG}/d.cfg\n"
        "[env:e]\nboard_build.esp-idf.sdkconfig_path = ${PROJECT_DIR}/e.cfg\n"
        "[env:f]\nextends = common\nboard_build.esp-idf.sdkconfig_path = ${env.x}${this.dir}/f\n"
        "[env]\nx = x_\n"
    )  # fmt: skip
    assert pio_configs(tmp_path, ini) == [
        tmp_path / "cfgs" / "a.cfg",  # b's names the same file: once
        tmp_path / "mine" / "c.cfg",
        tmp_path / "fromenv" / "d.cfg",
        tmp_path / "e.cfg",
        tmp_path / "x_cfgs" / "f",
    ]
    assert sdkconfig.unchecked_configs(tmp_path, ini) == []


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("${platformio.packages_dir}/a.cfg", "${platformio.packages_dir}, which platformio.ini"),
        ("${UNIX_TIME}.cfg", "${UNIX_TIME}, which PlatformIO computes"),
        ("${TINYSLM_T_UNSET}/a.cfg", "${TINYSLM_T_UNSET}, a variable not set here"),
        ("${this.board_build.esp-idf.sdkconfig_path}", "a ${...} that refers to itself"),
    ],
)
def test_an_interpolation_tinyslm_cannot_resolve_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, why: str
) -> None:
    """Before: the env was left out and nothing said (``unchecked_configs`` did not exist;
    generate's notes and build's warnings were empty)."""
    monkeypatch.delenv("TINYSLM_T_UNSET", raising=False)
    ini = f"[env:esp32]\nboard_build.esp-idf.sdkconfig_path = {value}\n[env:other]\n"
    assert pio_configs(tmp_path, ini) == [tmp_path / "sdkconfig.other"]
    [line] = sdkconfig.unchecked_configs(tmp_path, ini)
    assert line.startswith("env esp32: its board_build.esp-idf.sdkconfig_path holds " + why)
    assert line.endswith("was not checked against sdkconfig.defaults") and "\n" not in line


def _esp_idf_project(root: Path, ini: str) -> None:
    (root / "platformio.ini").write_text(ini)
    (root / "sdkconfig.defaults").write_text(DEFAULTS)


def test_a_resolved_path_is_checked_and_an_unresolved_one_said_by_generate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TINYSLM_T_UNSET", raising=False)
    _esp_idf_project(
        tmp_path,
        "[platformio]\ndefault_envs = esp32, ci\n"
        "[env]\nboard_build.esp-idf.sdkconfig_path = configs/${this.__env__}.sdkconfig\n"
        "[env:esp32]\n"
        "[env:ci]\nboard_build.esp-idf.sdkconfig_path = ${platformio.packages_dir}/ci\n",
    )
    config = tmp_path / "configs" / "esp32.sdkconfig"
    config.parent.mkdir()
    config.write_text("# CONFIG_UART_ISR_IN_IRAM is not set\n")
    esp32 = load_board("esp32")
    [(path, stale)] = board_stale_options(esp32, tmp_path, needed=True)
    assert path == config and [s.option for s in stale] == ["CONFIG_UART_ISR_IN_IRAM"]
    # generate's notes: the file checked, and the env that could not be, in one line.
    notes = _stale_sdkconfig_notes(esp32, tmp_path)
    assert len(notes) == 2 and str(config) in notes[0], notes
    assert notes[1].startswith("env ci: its board_build.esp-idf.sdkconfig_path holds "), notes
    assert sdkconfig.board_unchecked_configs(esp32, tmp_path) == notes[1:]
    # No ESP-IDF build reads these files on an STM32 board: nothing said.
    assert sdkconfig.board_unchecked_configs(load_board("stm32h7"), tmp_path) == []
