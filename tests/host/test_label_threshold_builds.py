"""``generate --label-threshold``: the settings table as the boards build it.

A project whose labels have thresholds of their own differs from the plain one only in
``src/tinyslm_settings.c`` (tests/integration/test_generate_threshold.py), which gains a
table of levels (text: and one of the thresholds as recorded, for ``:info``). Here that
file is compiled for the STM32H7's Cortex-M7 with the board's flags and ``-Werror`` for a
text and a keyword project, and the tables must be ``const`` data in flash: ``.rodata``
grows by exactly one entry of each per label and RAM not at all.
(The ESP32 builds: tests/host/test_esp32_idf.py and test_kws_glue_esp32.py.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from m7_object import CORTEX_M7_C99, M7Object, build_m7_object

from tinyslm.pipeline import run_generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

pytestmark = pytest.mark.toolchain

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"
# The keyword settings check the model's window with _Static_assert (C11), as PlatformIO's
# gnu11 default for C allows.
FLAGS = tuple("-std=c11" if f == "-std=c99" else f for f in CORTEX_M7_C99)


def settings_object(project: Path, out: Path) -> M7Object:
    src = project / "src"
    return build_m7_object(src / "tinyslm_settings.c", out, [src], FLAGS)


@pytest.mark.parametrize(
    ("kind", "own", "level_bytes"),
    # Text: an int32 level and a uint32 threshold in thousandths (for :info) per label.
    [("text", {"door_unlock": 0.9, "lights_on": 0.2}, 8), ("keywords", {"yes": 0.9}, 1)],
)
def test_the_table_is_flash_only(
    kind: str, own: dict[str, float], level_bytes: int, tmp_path: Path
) -> None:
    model = FIXTURE_MODEL if kind == "text" else keyword_model_dir(tmp_path / "model")
    plain, mine = tmp_path / "plain", tmp_path / "own"
    run_generate("stm32h7", plain, model_dir=model)
    run_generate("stm32h7", mine, model_dir=model, label_thresholds=own)
    assert "tinyslm_label_threshold_q" in (mine / "src" / "tinyslm_settings.c").read_text()
    labels = (mine / "src" / "tinyslm_settings.h").read_text().split("#define TINYSLM_NUM_LABELS ")
    count = int(labels[1].split()[0])
    before = settings_object(plain, tmp_path / "plain.o")
    after = settings_object(mine, tmp_path / "own.o")
    print(f"\n{kind}: settings .rodata {before.rodata} -> {after.rodata} B, {count} labels")
    assert after.rodata - before.rodata == level_bytes * count
    assert after.static == before.static == 0
    assert after.text == before.text
