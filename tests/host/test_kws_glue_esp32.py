"""The ESP32 keyword glue (i2s_std microphone, serial frames) checked against ESP-IDF 5.3.1.

The keyword project ``generate`` writes for esp32 (``templates/esp32-audio/src/
main.cc.j2``, ``templates/audio`` settings, ``firmware/common`` and ``firmware/audio``,
the TFLM adapter; see ``kws_glue_fixture.py``) is checked as ``test_esp32_idf.py``
checks the text project, with its helpers: ``sdkconfig.h`` from kconfgen and the
project's ``sdkconfig.defaults``, every source syntax-checked with
``arm-none-eabi-g++`` standing in for the Xtensa compiler against ESP-IDF's include
folders (``esp_driver_i2s`` among them) and esp-tflite-micro's, ``-Wall -Wextra
-Werror`` on tinyslm's code. So a wrong ``i2s_std`` type, field, macro or signature
fails here as it would on the board's compiler; and every ESP-IDF header the glue
includes must come from a component ``src/CMakeLists.txt`` requires.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from esp_idf import (
    COMMON_REQUIREMENTS,
    KconfigResult,
    header_owner,
    quoted_includes,
    run_kconfgen,
)
from kws_glue_fixture import write_kws_project
from shared_paths import missing, require_path, require_tool, sdk_path
from test_esp32_idf import _requires, check_sources

from tinyslm.boards import Board, load_board, with_mic_pins
from tinyslm.resources import templates_dir

pytestmark = [pytest.mark.toolchain]

CC = "arm-none-eabi-gcc"
CXX = "arm-none-eabi-g++"
C_LIBRARY = frozenset({"stddef.h", "stdint.h", "stdio.h", "stdbool.h", "string.h", "stdlib.h"})


@pytest.fixture(scope="module")
def idf() -> Path:
    require_tool(CC, CXX)
    try:
        import kconfgen  # noqa: F401
    except ImportError:
        missing("kconfgen is not installed (pip install 'esp-idf-kconfig<3')")
    return Path(require_path(sdk_path("esp-idf-5.3.1"), "ESP-IDF 5.3.1 headers"))


@pytest.fixture(scope="module")
def esp_tflm() -> Path:
    return Path(require_path(sdk_path("esp-tflite-micro"), "esp-tflite-micro"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_kws_project(load_board("esp32"), tmp_path_factory.mktemp("kws-esp32") / "proj")


@pytest.fixture(scope="module")
def kconfig(idf: Path, project: Path, tmp_path_factory: pytest.TempPathFactory) -> KconfigResult:
    return run_kconfgen(idf, project / "sdkconfig.defaults", tmp_path_factory.mktemp("kconfig"))


def check(project: Path, idf: Path, esp_tflm: Path, kconfig: KconfigResult) -> dict[str, str]:
    return check_sources(project, idf, esp_tflm, kconfig.header.parent, (CC, CXX))


def test_keyword_project_compiles_against_esp_idf(
    project: Path, idf: Path, esp_tflm: Path, kconfig: KconfigResult
) -> None:
    assert kconfig.unknown_symbols == (), kconfig.log
    failures = check(project, idf, esp_tflm, kconfig)
    assert failures == {}, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    main = (project / "src" / "main.cc").read_text()
    assert "i2s_channel_init_std_mode" in main and "tinyslm_kws_app_feed_samples" in main
    names = {p.name for p in (project / "src").iterdir()}
    assert {"tinyslm_kws_app.c", "tinyslm_listen.c", "tinyslm_tflm.cc"} <= names


def only_main(project: Path) -> None:
    """Keep main.cc as the only source (the planted checks are about the glue)."""
    for path in (project / "src").iterdir():
        if path.suffix in (".c", ".cc") and path.name != "main.cc":
            path.unlink()


def test_overridden_pins_compile(
    tmp_path: Path, idf: Path, esp_tflm: Path, kconfig: KconfigResult
) -> None:
    board = with_mic_pins(load_board("esp32"), ["sck=GPIO14", "ws=GPIO27", "sd=GPIO35"])
    project = write_kws_project(board, tmp_path / "proj")
    only_main(project)
    assert check(project, idf, esp_tflm, kconfig) == {}
    main = (project / "src" / "main.cc").read_text()
    for gpio in ("GPIO_NUM_14", "GPIO_NUM_27", "GPIO_NUM_35"):
        assert gpio in main


def test_settings_with_keyword_levels_compile(
    tmp_path: Path, idf: Path, esp_tflm: Path, kconfig: KconfigResult
) -> None:
    """generate --label-threshold adds a table to tinyslm_settings.c: built as the board
    builds it (every other source is the same bytes as the project above)."""
    project = write_kws_project(load_board("esp32"), tmp_path / "own", own={"yes": 0.9})
    settings = (project / "src" / "tinyslm_settings.c").read_text()
    assert ".label_threshold_q = tinyslm_label_threshold_q," in settings
    only = ("tinyslm_settings.c",)
    assert check_sources(project, idf, esp_tflm, kconfig.header.parent, (CC, CXX), only) == {}


def planted(tmp: Path, board: Board, old: str, new: str) -> Path:
    root = tmp / "templates"
    shutil.copytree(templates_dir(), root)
    path = root / "esp32-audio" / "src" / "main.cc.j2"
    text = path.read_text(encoding="utf-8")
    assert old in text, f"the template no longer contains {old!r}: update the planted misuse"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    project = write_kws_project(board, tmp / "proj", root)
    only_main(project)
    return project


@pytest.mark.parametrize(
    ("old", "new", "symbol"),
    [
        # ESP-IDF 5's i2s_channel_read takes a timeout in ms as its 5th argument.
        ("&got, kMicWaitMs)", "&got)", "i2s_channel_read"),
        # The legacy driver/i2s.h spelling, gone from i2s_std.
        ("{{ mic.slot_mask }};", "I2S_CHANNEL_FMT_ONLY_LEFT;", "I2S_CHANNEL_FMT_ONLY_LEFT"),
    ],
)
def test_a_planted_api_misuse_fails_the_check(
    tmp_path: Path,
    idf: Path,
    esp_tflm: Path,
    kconfig: KconfigResult,
    old: str,
    new: str,
    symbol: str,
) -> None:
    project = planted(tmp_path, load_board("esp32"), old, new)
    failures = check(project, idf, esp_tflm, kconfig)
    assert list(failures) == ["main.cc"]
    assert symbol in failures["main.cc"]


def test_main_component_requires_what_the_glue_includes(project: Path, idf: Path) -> None:
    """Each ESP-IDF header of the keyword main.cc comes from a component that
    ``src/CMakeLists.txt`` requires (ESP-IDF 5.3 resolves includes per component)."""
    src = project / "src"
    requires = set(_requires((src / "CMakeLists.txt").read_text(encoding="utf-8")))
    assert "esp_driver_i2s" in requires
    owners = {
        h: header_owner(idf, h)
        for h in quoted_includes(src / "main.cc")
        if not (src / h).is_file() and h not in C_LIBRARY
    }
    assert owners["driver/i2s_std.h"] == "esp_driver_i2s"
    assert None not in owners.values(), owners
    assert {h: c for h, c in owners.items() if c not in requires | COMMON_REQUIREMENTS} == {}
