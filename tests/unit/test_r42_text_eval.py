"""Text ``eval`` and ``emulate`` findings of round 42.

- ``eval`` on another dataset than the model's called train's figures like for like
  (``"trained_same_split": true``, a bare ``(train: 66.67%)``): only the split was
  compared, not the dataset.
- ``emulate --data`` dropped the dataset's warnings that ``eval`` prints (conflicting
  labels, duplicates, phrases with line breaks).
- An error naming a path with a line break was two lines (``error: no`` /
  ``such.csv: dataset not found``).
- ``emulate --host-model`` with a host model of other intents than the project's sent
  ``:do alarm_set``, answered ``unknown_intent``, with no word why.
- ``emulate --data --json`` gave unrounded shares (0.7741935483870968) where ``eval
  --json`` gives 5 places.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.emulate.phrases import PhraseResult, score_results
from tinyslm.errors import one_line
from tinyslm.escalate import HostModel, foreign_intents_warning
from tinyslm.evaluate import EvalConfig, _dataset_differs, format_eval, run_eval
from tinyslm.manifest import MANIFEST_NAME, MODEL_NAME, load_model_dir
from tinyslm.text.dataset import demo_dataset_path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MODEL = FIXTURES / "model"
DATA = FIXTURES / "fixture_commands.csv"


def _rows() -> list[tuple[str, str]]:
    with DATA.open(encoding="utf-8", newline="") as f:
        return [(r["text"], r["label"]) for r in csv.DictReader(f)]


def _write(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def _eval_json(data: Path) -> tuple[str, dict]:
    result = CliRunner().invoke(cli, ["eval", str(MODEL), str(data), "--json", "-"])
    assert result.exit_code == 0, result.stderr
    return result.stderr, json.loads(result.stdout)


# --- 1. eval: like for like needs the same dataset ------------------------------------


def test_eval_of_another_dataset_is_not_like_for_like(tmp_path: Path) -> None:
    """Before: ``"trained_same_split": true`` and ``(train: 75.00%)`` beside another
    file's test split, as though train had measured that file."""
    other = _write(tmp_path / "other.csv", _rows()[::2])
    table, summary = _eval_json(other)
    assert summary["trained_same_split"] is False
    assert summary["trained_same_dataset"] is False
    assert "(train: " not in table
    assert "int8 accuracy (TFLM)" in table
    assert "(train, fixture_commands.csv test split: 75.00%)" in table, table
    assert (
        "train figures from          fixture_commands.csv, split test "
        "(not other.csv, the dataset scored here)" in table
    ), table


def test_eval_of_the_training_file_stays_like_for_like() -> None:
    table, summary = _eval_json(DATA)
    assert summary["trained_same_split"] is True and summary["trained_same_dataset"] is True
    assert "(train: 75.00%)" in table and "the dataset scored here" not in table


def test_a_file_of_the_same_name_with_other_phrases_is_another_dataset(tmp_path: Path) -> None:
    """The manifest records train's file by name alone; its split's counts tell an
    edited file (or another of that name) from it."""
    edited = _write(tmp_path / DATA.name, _rows()[:-40])
    result = run_eval(EvalConfig(MODEL, edited))
    assert not result.trained_same_split and not result.trained_same_dataset
    text = format_eval(result)
    assert "(train, fixture_commands.csv test split: " in text
    assert "the file has changed since training, or is another of that name" in text
    # Another split of the same file: train's own split named, as before.
    same = run_eval(EvalConfig(MODEL, DATA, split="val"))
    assert same.trained_same_dataset and not same.trained_same_split
    assert "(train, test split: 75.00%)" in format_eval(same)


def test_the_bundled_demo_file_is_the_dataset_train_calls_demo(tmp_path: Path) -> None:
    metrics = {"dataset": "demo", "eval_split": "test"}
    demo = demo_dataset_path()
    assert _dataset_differs(metrics, demo.name, demo, "test", (1, 1)) is None
    copy = tmp_path / "mine.csv"
    shutil.copyfile(demo, copy)
    assert _dataset_differs(metrics, copy.name, copy, "test", (1, 1)) == (
        "not mine.csv, the dataset scored here"
    )
    # A manifest that names no dataset says nothing: taken as the same, as before.
    assert _dataset_differs({}, "x.csv", copy, "test", (1, 1)) is None


# --- 2. emulate --data warns what eval warns ------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tinyslm.pipeline import run_generate

    out = tmp_path_factory.mktemp("gen") / "esp32"
    run_generate("esp32", out, model_dir=MODEL)
    return out


def _messy(path: Path) -> Path:
    return _write(
        path,
        [
            ("turn on\nthe lights", "lights_on"),
            ("lock the front door", "door_lock"),
            ("lock the front door", "door_lock"),
            ("unlock the front door", "door_unlock"),
            ("unlock the front door", "door_lock"),
            ("what is the capital of peru", "oos"),
        ],
    )


def test_emulate_data_prints_the_dataset_warnings_eval_prints(
    project: Path, tmp_path: Path
) -> None:
    data = _messy(tmp_path / "messy.csv")
    runner = CliRunner()
    evaluated = runner.invoke(cli, ["eval", str(MODEL), str(data), "--split", "all"])
    assert evaluated.exit_code == 0, evaluated.stderr
    emulated = runner.invoke(
        cli, ["emulate", str(project), "--data", str(data), "--split", "all", "--json", "-"]
    )
    assert emulated.exit_code == 0, emulated.stderr
    for needle in ("carry more than one label", "duplicate row", "newline or carriage return"):
        [line] = [ln for ln in evaluated.stderr.splitlines() if needle in ln]
        assert line.startswith("warning: ")
        assert line in emulated.stderr.splitlines(), emulated.stderr
    figures = json.loads(emulated.stdout)
    assert any("newline or carriage return" in w for w in figures["warnings"])
    # The phrase with a line break is scored whole, as eval scores it (the warning says a
    # board would get it in pieces): same phrase count, same right answers.
    assert figures["phrases"] == 5 and figures["parity_identical"] == 6
    result = run_eval(EvalConfig(MODEL, data, split="all"))
    assert figures["int8_accuracy"] == round(result.int8_accuracy or 0.0, 5)


# --- 5. emulate --data --json: shares to 5 places, eval's names beside -------------


def _result(label: str, intent: str, route: str, us: int) -> PhraseResult:
    line = json.dumps({"intent": intent, "route": route, "score": 0.9, "us": us})
    return PhraseResult("x", label, False, line, intent, route, 0.9, us)


def test_emulate_json_shares_are_rounded_as_evals() -> None:
    """Before: ``"accuracy": 0.6666666666666666`` where eval gives 0.66667."""
    results = [
        _result("a", "a", "local", 10),
        _result("a", "a", "escalate", 11),
        _result("a", "b", "local", 12),
    ]
    summary = score_results(results, source="s", split="test", labels=["a", "b"]).summary()
    assert summary["accuracy"] == 0.66667 and summary["int8_accuracy"] == 0.66667
    assert summary["accuracy_at_threshold"] == 0.33333
    assert summary["int8_accuracy_at_threshold"] == 0.33333
    assert summary["escalation_rate"] == 0.33333
    assert summary["us_p95"] == round(summary["us_p95"], 1)


# --- 3. one error line, whatever a path holds ---------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["train", "no\nsuch.csv"],
        ["info", "no\nsuch"],
        ["eval", str(MODEL), "no\nsuch.csv"],
        ["emulate", "no\nsuch"],
        ["build", "no\rsuch"],
    ],
    ids=["train", "info", "eval", "emulate", "build"],
)
def test_an_error_naming_a_path_with_a_line_break_is_one_line(args: list[str]) -> None:
    """Before: ``error: no`` / ``such.csv: dataset not found``."""
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "no\\nsuch" in lines[0] or "no\\rsuch" in lines[0]


def test_one_line_escapes_what_breaks_a_line_only() -> None:
    assert one_line("plain: é 日本\ttab") == "plain: é 日本\ttab"
    assert one_line("a\nb\rc\x1b[31m\u2028\udcff") == "a\\nb\\rc\\x1b[31m\\u2028\\xff"


# --- 4. a host model with intents the device lacks ----------------------------------


def _host_with_other_intents(tmp_path: Path) -> Path:
    """The fixture model with its first two intents renamed (a model of other data)."""
    manifest, _ = load_model_dir(MODEL)
    labels = ("alarm_make", "door_bolt", *manifest.labels[2:])
    host = tmp_path / "host"
    host.mkdir()
    shutil.copyfile(MODEL / MODEL_NAME, host / MODEL_NAME)
    dataclasses.replace(manifest, labels=labels).write(host)
    assert (host / MANIFEST_NAME).is_file()
    return host


def test_foreign_intents_warning(tmp_path: Path) -> None:
    model = HostModel(MODEL)
    assert foreign_intents_warning(model, model.manifest.labels) is None
    assert foreign_intents_warning(None, ()) is None
    warning = foreign_intents_warning(model, model.manifest.labels[3:])
    assert warning is not None
    assert warning.startswith("3 of the --host-model's 20 intents are not the device's ")
    assert "('alarm_set', 'door_lock', 'door_unlock')" in warning


def test_emulate_warns_once_of_host_intents_the_device_lacks(project: Path, tmp_path: Path) -> None:
    """Before: ``:do alarm_make`` answered ``{"error":"unknown_intent"}`` with no word why."""
    host = _host_with_other_intents(tmp_path)
    result = CliRunner().invoke(
        cli, ["emulate", str(project), "--host-model", str(host), "--text", "turn on the lights"]
    )
    assert result.exit_code == 0, result.stderr
    warnings = [ln for ln in result.stderr.splitlines() if ln.startswith("warning: ")]
    assert warnings == [
        "warning: 2 of the --host-model's 20 intents are not the device's ('alarm_make', "
        "'door_bolt'): the device answers ':do' for them with unknown_intent and takes no "
        "action"
    ]
    same = CliRunner().invoke(
        cli, ["emulate", str(project), "--host-model", str(MODEL), "--text", "turn on the lights"]
    )
    assert same.exit_code == 0 and "warning" not in same.stderr
