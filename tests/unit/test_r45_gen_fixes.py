"""``tinyslm generate`` defects found in round 45, one test (or two) each.

Every test fails on the code before its fix: a traceback, a silent change, a message
that blamed the wrong thing, or a choice dropped without a word.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tinyslm.cli import cli
from tinyslm.errors import ModelError
from tinyslm.manifest import load_model_dir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from kws import keyword_manifest, keyword_model_dir  # noqa: E402

TEXT_MODEL = FIXTURES / "model"
RECORD = ".tinyslm-files.json"


def _generate(*args: str) -> Result:
    return CliRunner().invoke(cli, ["generate", "--board", "esp32", *args])


def _one_error_line(result: Result, needle: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


# --- item 2: a model cut short behind a format-1 manifest ---------------------------------


def _cut_model_folder(tmp_path: Path, short_by: int = 1000) -> Path:
    """A format-1 model folder (no content hash) whose model.tflite is cut ``short_by``
    bytes short, with its sha256 and size recorded as such: the manifest checks pass, the
    flatbuffer does not."""
    folder = tmp_path / "cut"
    folder.mkdir()
    model = (TEXT_MODEL / "model.tflite").read_bytes()
    cut = model[: len(model) - short_by]
    (folder / "model.tflite").write_bytes(cut)
    doc = json.loads((TEXT_MODEL / "manifest.json").read_text())
    doc["format_version"] = 1
    for key in ("content_sha256", "modality", "label_thresholds"):
        doc.pop(key, None)
    doc["model_sha256"] = hashlib.sha256(cut).hexdigest()
    doc["model_bytes"] = len(cut)
    (folder / "manifest.json").write_text(json.dumps(doc))
    return folder


def test_a_flatbuffer_cut_short_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    from tinyslm.flatbuffer import io_details, model_ops

    model = (TEXT_MODEL / "model.tflite").read_bytes()
    for walk in (io_details, model_ops):
        with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
            walk(model[: len(model) - 1000])
    folder = _cut_model_folder(tmp_path)
    made = _generate("--model", str(folder), "-o", str(tmp_path / "p"))
    line = _one_error_line(made, "not a TFLite flatbuffer")
    assert str(folder / "model.tflite") in line
    assert not (tmp_path / "p").exists()
    info = CliRunner().invoke(cli, ["info", str(folder)])
    _one_error_line(info, "not a TFLite flatbuffer")


# --- item 1: --force without the project's options says what it moves ----------------------


def test_force_without_the_threshold_options_says_what_moves(tmp_path: Path) -> None:
    out = tmp_path / "p"
    chosen = ("--threshold", "0.6", "--label-threshold", "door_lock=0.9")
    assert _generate("--model", str(TEXT_MODEL), "-o", str(out), "-q", *chosen).exit_code == 0
    again = _generate("--model", str(TEXT_MODEL), "-o", str(out), "--force", "-q")
    assert again.exit_code == 0, again.output
    notes = [line for line in again.stderr.splitlines() if line.startswith("note: ")]
    moved = [n for n in notes if "the threshold moves" in n]
    assert len(moved) == 1 and "(q=-25)" in moved[0] and "--threshold 0.6" in moved[0], notes
    own = [n for n in notes if "the threshold of 'door_lock' moves" in n]
    assert len(own) == 1 and "--label-threshold door_lock=0.9" in own[0], notes
    # Repeating the options keeps both, and says nothing.
    kept = _generate("--model", str(TEXT_MODEL), "-o", str(out), "--force", "-q", *chosen)
    assert kept.exit_code == 0 and "moves" not in kept.stderr, kept.stderr


def _rewrite_project_file(project: Path, rel: str, data: bytes) -> None:
    """Replace a generated file as a tinyslm that wrote it so would have (its record too)."""
    (project / rel).write_bytes(data)
    record = json.loads((project / RECORD).read_text())
    record["files"][rel] = hashlib.sha256(data).hexdigest()
    (project / RECORD).write_text(json.dumps(record))


def test_force_without_mic_pin_names_the_pin_it_moves(tmp_path: Path) -> None:
    model, out = keyword_model_dir(tmp_path / "model"), tmp_path / "kw"
    made = _generate("--model", str(model), "-o", str(out), "-q", "--mic-pin", "ws=GPIO32")
    assert made.exit_code == 0, made.output
    info = json.loads((out / "tinyslm.json").read_text())
    # tinyslm.json records the pins in effect (what the note compares against).
    assert info["microphone_pins"] == {"bclk": "GPIO26", "din": "GPIO33", "ws": "GPIO32"}
    again = _generate("--model", str(model), "-o", str(out), "--force", "-q")
    assert again.exit_code == 0, again.output
    assert (
        "note: microphone pin ws moves GPIO32 -> GPIO25 (the project read ws on GPIO32; "
        "--mic-pin ws=GPIO32 keeps it)"
    ) in again.stderr.splitlines()
    assert "GPIO26" not in again.stderr  # the pins that stay are not mentioned


def test_dropped_choices_names_each_pin_not_asked_for() -> None:
    from tinyslm.boards import load_board, with_mic_pins
    from tinyslm.pipeline import PreviousProject, dropped_choices

    manifest = keyword_manifest()
    old = PreviousProject(manifest, {"bclk": "GPIO14", "ws": "GPIO32", "din": "GPIO33"})
    spec = load_board("esp32")
    notes = dropped_choices(old, manifest, spec, threshold=None, label_thresholds={}, mic_pins=())
    assert [n.split(" (")[0] for n in notes] == [
        "microphone pin bclk moves GPIO14 -> GPIO26",
        "microphone pin ws moves GPIO32 -> GPIO25",
    ]
    # A pin given again (any spelling: the microphone's name, any case) is asked for.
    asked = ("WS=gpio25", "sck=GPIO26")
    spec = with_mic_pins(spec, asked)
    assert not dropped_choices(
        old, manifest, spec, threshold=None, label_thresholds={}, mic_pins=asked
    )
    # An older tinyslm.json without pins, or a text project: nothing said of pins.
    assert not dropped_choices(
        PreviousProject(manifest), manifest, spec, threshold=None, label_thresholds={}, mic_pins=()
    )


# --- item 4: a keyword model's dataset folder named 'demo' -----------------------------------


def test_a_keyword_dataset_named_demo_is_not_the_bundled_demo() -> None:
    from tinyslm.operating_point import demo_regenerate_note, trained_on_demo

    text, _ = load_model_dir(TEXT_MODEL, probe_arena=False)
    keywords = keyword_manifest()
    assert trained_on_demo(replace(text, metrics={**text.metrics, "dataset": "demo"}))
    on_demo = replace(keywords, metrics={**keywords.metrics, "dataset": "demo"})
    assert not trained_on_demo(on_demo)
    assert demo_regenerate_note(on_demo) == ""


# --- item 8: --model naming a folder that is no model ----------------------------------------


def test_model_folder_without_a_model_is_named_not_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "nm"
    folder.mkdir()
    monkeypatch.chdir(folder)
    made = _generate("--model", ".")
    line = _one_error_line(made, "manifest.json not found")
    assert "inside the model" not in line
    assert list(folder.iterdir()) == []


# --- item 3: a project that lost tinyslm.json ------------------------------------------------


def test_force_restores_a_lost_tinyslm_json(tmp_path: Path) -> None:
    out = tmp_path / "p"
    assert _generate("--model", str(TEXT_MODEL), "-o", str(out), "-q").exit_code == 0
    before = (out / "tinyslm.json").read_bytes()
    (out / "tinyslm.json").unlink()
    plain = _generate("--model", str(TEXT_MODEL), "-o", str(out), "-q")
    _one_error_line(plain, "use --force to replace it")
    again = _generate("--model", str(TEXT_MODEL), "-o", str(out), "--force", "-q")
    assert again.exit_code == 0, again.output
    assert (out / "tinyslm.json").read_bytes() == before


def test_a_record_alone_that_does_not_list_tinyslm_json_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    (out / RECORD).write_text(json.dumps({"files": {"notes.txt": "0" * 64}}))
    made = _generate("--model", str(TEXT_MODEL), "-o", str(out), "--force", "-q")
    _one_error_line(made, f"no tinyslm.json, and {RECORD} does not list it")
    assert sorted(p.name for p in out.iterdir()) == [RECORD, "notes.txt"]


# --- items 6 and 5: notes that an option had no effect -------------------------------------


def test_options_without_effect_are_noted_on_stderr_with_quiet(tmp_path: Path) -> None:
    manifest, _ = load_model_dir(TEXT_MODEL, probe_arena=False)
    same = f"door_lock={manifest.threshold}"
    made = _generate(
        "--model", str(TEXT_MODEL), "-o", str(tmp_path / "b"), "-q", "--label-threshold", same
    )
    assert made.exit_code == 0, made.output
    assert f"note: --label-threshold {same}: the model's own threshold" in made.stderr
    made = _generate(
        "--model", str(TEXT_MODEL), "-o", str(tmp_path / "c"), "-q", "--threshold", "0.402"
    )
    assert made.exit_code == 0, made.output
    assert "the trained one, so nothing is moved" in made.stderr


def test_label_threshold_at_thresholds_level_names_threshold(tmp_path: Path) -> None:
    made = _generate(
        "--model",
        str(TEXT_MODEL),
        "-o",
        str(tmp_path / "p"),
        "--threshold",
        "0.6",
        "--label-threshold",
        "door_lock=0.6",
    )
    assert made.exit_code == 0, made.output
    assert "the model's own threshold 0.60" not in made.output
    assert "door_lock=0.6: --threshold's level 0.60" in made.stderr


# --- item 13: the progress line names the folder on one line ---------------------------------


def test_progress_line_escapes_the_output_name(tmp_path: Path) -> None:
    made = _generate("--model", str(TEXT_MODEL), "-o", str(tmp_path / "a\nb"))
    assert made.exit_code == 0, made.output
    for line in made.stdout.splitlines():
        assert line.startswith(("writing ", "wrote ")), made.stdout


# --- items 7, 9, 10: usage errors ------------------------------------------------------------


def test_empty_paths_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _one_error_line(_generate("--model", str(TEXT_MODEL), "-o", "", "-q"), "an empty path")
    _one_error_line(_generate("--model", "", "-o", "p"), "an empty path")
    assert list(tmp_path.iterdir()) == []


def test_option_without_value_points_at_the_commands_help() -> None:
    for args in (["generate", "--board"], ["generate", "--board", "esp32", "-o"]):
        made = CliRunner().invoke(cli, args, prog_name="tinyslm")
        _one_error_line(made, "(see 'tinyslm generate --help')")


def test_a_single_valued_option_given_twice_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    made = _generate("--board", "stm32h7", "--model", str(TEXT_MODEL), "-o", "p")
    _one_error_line(made, "--board is given twice (esp32, stm32h7)")
    made = _generate("--model", str(TEXT_MODEL), f"--model={FIXTURES}", "-o", "p")
    _one_error_line(made, "--model is given twice")
    made = _generate("--model", str(TEXT_MODEL), "-o", "p", "-oq")
    _one_error_line(made, "--output is given twice (p, q)")
    made = _generate("--model", str(TEXT_MODEL), "--threshold", "0.5", "--threshold=0.6")
    _one_error_line(made, "--threshold is given twice (0.5, 0.6)")
    assert list(tmp_path.iterdir()) == []
    # A value that looks like the option is a value, not a second one.
    made = _generate("--model", str(TEXT_MODEL), "-o", "--board", "-q")
    assert made.exit_code == 0, made.output
    assert (tmp_path / "--board" / "tinyslm.json").is_file()


# --- item 12: model.tflite that is a folder --------------------------------------------------


def test_a_model_file_that_is_a_folder_is_not_called_missing(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(TEXT_MODEL, folder)
    (folder / "model.tflite").unlink()
    (folder / "model.tflite").mkdir()
    made = _generate("--model", str(folder), "-o", str(tmp_path / "x"))
    line = _one_error_line(made, "is not a file")
    assert "not found" not in line


# --- item 11: stdout that cannot be written after the project was ------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_failed_summary_says_the_project_was_written(tmp_path: Path) -> None:
    out = tmp_path / "p"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    args = ["generate", "--board", "esp32", "--model", str(TEXT_MODEL), "-o", str(out), "-q"]
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "tinyslm", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=300,
        )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and f"{out} was written" in lines[-1], lines
    assert (out / "tinyslm.json").is_file()


def test_the_starter_note_reaches_stderr_under_quiet(tmp_path: Path) -> None:
    """-q: "Print only the summary line (notes go to stderr)"; the note that
    src/tinyslm_actions.c is the user's was the one note dropped under -q."""
    made = _generate("--model", str(TEXT_MODEL), "-o", str(tmp_path / "p"), "-q")
    assert made.exit_code == 0, made.output
    assert "note: src/tinyslm_actions.c is yours" in made.stderr
    assert made.stdout.count("\n") == 1  # the summary line alone
