"""Round 51: a text project's hand-edited settings are refused by every engine.

``emulate`` refused an edited threshold, arena or model array, but not the tokenizer's
settings, the labels, the score quantization or the line limit: an edited
``TINYSLM_BUCKETS`` answered every phrase with another intent (exit 0), and an edited
``TINYSLM_MAX_LINE`` refused lines the board takes, while ``info`` refused the same
project. ``--native`` and ``--qemu`` run the same check first (given an empty tree
below, so only a check made before their build can name the settings).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from cli_support import assert_one_error_line, copy_project, edit_once, run_cli
from shared_paths import require_tool

from tinyslm.manifest import load_model_dir
from tinyslm.pipeline import run_generate

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"
H = "tinyslm_settings.h"
C = "tinyslm_settings.c"


@pytest.fixture(autouse=True)
def _host_compiler() -> None:
    require_tool("cc")


def _engine_args(engine: str, tmp_path: Path) -> list[str]:
    if engine == "emulator":
        return ["--text", "turn on the lights"]
    if engine == "interactive":
        return []
    empty = tmp_path / "no-tree"
    empty.mkdir(exist_ok=True)
    return [f"--{engine}", "--tflm-dir", str(empty), "--text", "turn on the lights"]


@pytest.mark.parametrize(
    ("engine", "file", "old", "new", "said"),
    [
        # The hunter's repro: the tokenizer's bucket count, on every engine.
        ("emulator", H, "BUCKETS 512", "BUCKETS 500", "TINYSLM_BUCKETS 500 does not match "
         "tinyslm.json's buckets 512"),
        ("native", H, "BUCKETS 512", "BUCKETS 500", "TINYSLM_BUCKETS 500 does not match "
         "tinyslm.json's buckets 512"),
        ("qemu", H, "BUCKETS 512", "BUCKETS 500", "TINYSLM_BUCKETS 500 does not match "
         "tinyslm.json's buckets 512"),
        ("interactive", H, "MAX_LINE 256", "MAX_LINE 16", "TINYSLM_MAX_LINE 16 does not "
         "match tinyslm.json's max_line 256"),
        ("emulator", H, "MAX_LINE 256", "MAX_LINE 16", "TINYSLM_MAX_LINE 16 does not "
         "match tinyslm.json's max_line 256"),
        # Named, not shown as the model's tensors disagreeing with "the settings".
        ("emulator", H, "SEQ_LEN 32", "SEQ_LEN 31", "TINYSLM_SEQ_LEN 31 does not match "
         "tinyslm.json's seq_len 32"),
        ("emulator", C, ".hashes = 1,", ".hashes = 2,", "hashes 2 does not match "
         "tinyslm.json's hashes 1"),
        ("emulator", C, ".bigrams = 1,", ".bigrams = 0,", "bigrams 0 does not match "
         "tinyslm.json's bigrams 1"),
        # Each feature flag has its own row in _TEXT_SETTINGS: one dropped went unseen.
        ("emulator", C, ".unigrams = 1,", ".unigrams = 0,", "unigrams 0 does not match "
         "tinyslm.json's unigrams 1"),
        ("emulator", C, ".char_trigrams = 1,", ".char_trigrams = 0,", "char_trigrams 0 does "
         "not match tinyslm.json's char_trigrams 1"),
        ("emulator", C, '"lights_on",', '"lights_up",', "label 5 'lights_up' does not "
         "match tinyslm.json's 'lights_on'"),
        ("emulator", C, ".score_zero_point = -128,", ".score_zero_point = -127,",
         "score_zero_point -127 does not match tinyslm.json's output zero point -128"),
        ("emulator", C, ".score_scale = 0.00390625f,", ".score_scale = 0.0039f,",
         "score_scale 0.0039 does not match tinyslm.json's output scale 0.00390625"),
        # :info's threshold, as the keyword emulator checks its own.
        ("emulator", C, ".threshold_milli = 402,", ".threshold_milli = 500,",
         "threshold_milli 500 does not match tinyslm.json's threshold in thousandths 402"),
        # The struct's count alone: no more names are read than the array holds.
        ("emulator", C, ".num_labels = TINYSLM_NUM_LABELS,", ".num_labels = 99,",
         "num_labels 99 does not match tinyslm.json's number of labels 20"),
    ],
)  # fmt: skip
def test_an_edited_text_setting_is_refused_naming_it(
    esp32_project: Path, tmp_path: Path, engine: str, file: str, old: str, new: str, said: str
) -> None:
    copy = copy_project(esp32_project, tmp_path)
    path = copy / "src" / file
    edit_once(path, old, new)
    proc = run_cli("emulate", str(copy), *_engine_args(engine, tmp_path), stdin="")
    line = assert_one_error_line(proc)
    assert line == f"error: {path}: {said} (the settings were edited; regenerate the project)"
    assert proc.stdout == ""


def test_an_untouched_project_still_answers(esp32_project: Path) -> None:
    proc = run_cli("emulate", str(esp32_project), "--text", "turn on the lights")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('{"intent":"lights_on"'), proc.stdout


@pytest.fixture(scope="module")
def short_line_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project of a model whose max_line (128) is under the board's (256): generate
    writes the board's 256 (emit.text.line_limit)."""
    base = tmp_path_factory.mktemp("r51_short_line")
    model = base / "m"
    shutil.copytree(FIXTURE_MODEL, model)
    manifest, _ = load_model_dir(model, probe_arena=False)
    dataclasses.replace(manifest, max_line=128).write(model)
    project = base / "p"
    run_generate("esp32", project, model_dir=model)
    assert "#define TINYSLM_MAX_LINE 256" in (project / "src" / H).read_text()
    return project


def test_a_board_raised_line_limit_is_compared_with_what_generate_writes(
    short_line_project: Path, tmp_path: Path
) -> None:
    proc = run_cli("emulate", str(short_line_project), "--text", "turn on the lights")
    assert proc.returncode == 0, proc.stderr  # what generate wrote is not an edit
    copy = copy_project(short_line_project, tmp_path)
    header = copy / "src" / H
    edit_once(header, "TINYSLM_MAX_LINE 256", "TINYSLM_MAX_LINE 300")
    want = (
        "TINYSLM_MAX_LINE 300 does not match what generate writes for board esp32 (its "
        "usual line limit, above tinyslm.json's max_line 128): 256"
    )
    emulated = assert_one_error_line(run_cli("emulate", str(copy), "--text", "hi"))
    assert emulated == f"error: {header}: {want} (the settings were edited; regenerate the project)"
    # info's line named the board's limit as tinyslm.json's max_line (which says 128).
    informed = assert_one_error_line(run_cli("info", str(copy)))
    assert informed == f"error: {header}: {want} (one of them was edited; regenerate the project)"
