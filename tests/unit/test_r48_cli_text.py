"""Round 48's text-side defects after training (texthunt items 5, 7, 9 and 11's fifth):
label names escaped on the terminal, ``demo`` taken by eval and emulate --data as by
report --data, the README's escalation example, and a respelled intent named."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import types
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tinyslm import evaluate, pipeline
from tinyslm.boards import load_board
from tinyslm.cli import _say_generated, cli
from tinyslm.emit.project import render_project
from tinyslm.emulate.phrases import respelled_intents
from tinyslm.errors import DatasetError
from tinyslm.evaluate import EvalConfig, EvalResult, IntentFigure, format_eval, run_eval
from tinyslm.manifest import load_model_dir
from tinyslm.text.dataset import demo_dataset_path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MODEL = FIXTURES / "model"
DATA = FIXTURES / "fixture_commands.csv"
# What a terminal acts on or reorders: a line separator, a C1 CSI, a bidi override.
ODD = ("a\u2028b", "c\x9bd", "e\u202ef")


def _rows(labels: tuple[str, ...]) -> list[tuple[str, str]]:
    with DATA.open(encoding="utf-8", newline="") as f:
        return [(r["text"], r["label"]) for r in csv.DictReader(f) if r["label"] in labels]


def _write(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def _raw(text: str) -> list[str]:
    return [ch for ch in ("\u2028", "\x9b", "\u202e") if ch in text]


# --- item 5: label names reach the terminal escaped, as info shows them ---------------


def _result(labels: tuple[str, ...]) -> EvalResult:
    return EvalResult(
        source="data.csv",
        split="all",
        model_sha256="0" * 64,
        model_bytes=1,
        arena_bytes=1,
        threshold=0.5,
        threshold_q=0,
        phrases=len(labels),
        oos_phrases=0,
        int8_accuracy=0.0,
        accuracy_at_threshold=0.0,
        escalation_rate=0.0,
        oos_recall=None,
        per_intent=tuple(IntentFigure(label, 1, 0) for label in labels),
    )


def test_eval_prints_the_weakest_intents_escaped() -> None:
    text = format_eval(_result(ODD))
    assert _raw(text) == []
    for shown in ("a\\u2028b", "c\\x9bd", "e\\u202ef"):
        assert re.search(rf"^  {re.escape(shown)} +0/1 \(0%\)$", text, re.M), text


def test_notes_and_warnings_go_to_the_terminal_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    note = f"the model's labels changed (new: {', '.join(ODD)}); src/tinyslm_actions.c is yours"
    result = types.SimpleNamespace(
        notes=(note,),
        tflm_tree=None,
        report=None,
        out=Path("p"),
        files=(),
        board="esp32",
        model_bytes=1,
        arena_size=1,
        modality="text",
    )
    _say_generated(result, quiet=True)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert _raw(err) == [], err
    assert "note: the model's labels changed (new: a\\u2028b, c\\x9bd, e\\u202ef)" in err


def test_an_error_line_escapes_a_bidi_override_too(tmp_path: Path) -> None:
    missing = tmp_path / "\u202egnp.csv"
    result = CliRunner().invoke(cli, ["eval", str(MODEL), str(missing)])
    assert result.exit_code == 1
    assert _raw(result.stderr) == [], result.stderr
    assert "\\u202egnp.csv: dataset not found" in result.stderr


# --- item 7: 'demo' is the bundled set for eval and emulate --data as for report ---


def test_demo_names_the_bundled_set_unless_a_file_of_that_name_is_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert evaluate.demo_or_path(Path("demo")) == demo_dataset_path()
    assert evaluate.demo_or_path(Path("other")) == Path("other")
    assert pipeline._demo_or(Path("demo")) == demo_dataset_path()  # report's, the same rule
    Path("demo").symlink_to(tmp_path / "nowhere")  # a dangling link is the user's too
    assert evaluate.demo_or_path(Path("demo")) == Path("demo")
    Path("demo").unlink()
    Path("demo").mkdir()
    assert evaluate.demo_or_path(Path("demo")) == Path("demo")


def test_eval_takes_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    by_name = run_eval(EvalConfig(MODEL, Path("demo")))
    by_path = run_eval(EvalConfig(MODEL, demo_dataset_path()))
    assert by_name.source == by_path.source == demo_dataset_path().name
    keep = ("phrases", "oos_phrases", "int8_accuracy", "accuracy_at_threshold", "oos_recall")
    assert [getattr(by_name, k) for k in keep] == [getattr(by_path, k) for k in keep]
    result = CliRunner().invoke(cli, ["eval", str(MODEL), "demo", "--json", "-"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["int8_accuracy"] == round(by_path.int8_accuracy or 0, 5)


def test_emulate_data_takes_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyslm.emulate import keywords

    monkeypatch.chdir(tmp_path)
    seen: list[Path] = []

    def fake_text(config: pipeline.EmulateConfig) -> Any:
        seen.append(config.data)
        return None

    monkeypatch.setattr(keywords, "is_keyword_project", lambda _: False)
    monkeypatch.setattr(pipeline, "_emulate_text", fake_text)
    pipeline.run_emulate(pipeline.EmulateConfig(tmp_path, Path("demo")))
    assert seen == [demo_dataset_path()]


@pytest.mark.parametrize("command", ["eval", "emulate", "report"])
def test_help_says_demo_is_the_bundled_set(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    text = " ".join(result.output.split())
    assert "'demo': the bundled demo set" in text or "DATA 'demo' is the bundled demo set" in text
    assert "unless a file or folder named demo is" in text


# --- item 9: the README's escalation example is a score the board can print ---------


def _readme(**changes: Any) -> str:
    manifest, model = load_model_dir(MODEL, probe_arena=False)
    plan = render_project(load_board("esp32"), dataclasses.replace(manifest, **changes), model)
    return plan.as_mapping()["README.md"].decode()


def _escalation_score(readme: str) -> float | None:
    m = re.search(r'"score":([\d.]+),"route":"escalate"', readme)
    return None if m is None else float(m[1])


def test_a_two_intent_models_example_is_at_least_one_half() -> None:
    # 2 intents: the top score is never below 0.5; the gate at 0.507 is q=2 (level 130).
    readme = _readme(labels=("lights_off", "lights_on"), threshold=0.507, threshold_q=2)
    score = _escalation_score(readme)
    assert score is not None and 0.5 <= score < 0.507, score


def test_the_trained_gate_shows_a_score_between_one_kth_and_the_threshold() -> None:
    readme = _readme()  # 20 intents, threshold 0.402 (q=-25)
    score = _escalation_score(readme)
    assert score is not None and 1 / 20 <= score < 0.402, score
    assert "none escalates" not in readme


def test_a_gate_no_top_score_is_below_says_nothing_escalates() -> None:
    # --threshold 0.0001: q=-127 (0.003), below a 20-way tie's 0.051: nothing escalates.
    readme = _readme(threshold=0.003, threshold_q=-127)
    assert _escalation_score(readme) is None
    text = " ".join(readme.split())
    assert (
        "With 20 intents the top score is never below 1/20 (a 20-way tie's score, which the board "
        "prints as 0.051), and this project's highest threshold is 0.003: every phrase is "
        "answered locally and none escalates" in text
    )


def test_own_levels_all_under_the_tie_escalate_nothing_whatever_the_global() -> None:
    # A review found: --threshold 0.9 with every intent's own level at 0.04 showed an
    # escalation at 0.473, which the board never prints (it never reads the global level
    # for a label with its own).
    from tinyslm.manifest import LABEL_THRESHOLDS_FORMAT, LabelThreshold

    manifest, _ = load_model_dir(MODEL, probe_arena=False)
    own = tuple(LabelThreshold(label, 0.04, -117) for label in manifest.labels)
    fmt = LABEL_THRESHOLDS_FORMAT
    readme = _readme(threshold=0.902, threshold_q=103, label_thresholds=own, format_version=fmt)
    assert _escalation_score(readme) is None
    assert "highest threshold is 0.040: every phrase is answered locally" in " ".join(
        readme.split()
    )
    one_high = (LabelThreshold(manifest.labels[0], 0.6, 25), *own[1:])
    score = _escalation_score(
        _readme(threshold=0.902, threshold_q=103, label_thresholds=one_high, format_version=fmt)
    )
    assert score is not None and 1 / 20 <= score < 0.6, score


# --- item 11, fifth bullet: an intent spelled otherwise is named with the model's -----


def test_an_intent_in_another_case_names_the_models_spelling(tmp_path: Path) -> None:
    rows = [
        (t, "Lights_On" if lb == "lights_on" else lb)
        for t, lb in _rows(("lights_on", "lights_off"))
    ]
    result = run_eval(EvalConfig(MODEL, _write(tmp_path / "case.csv", rows), split="all"))
    assert result.unknown_intents == ("Lights_On",)
    [warning] = [w for w in result.warnings if "Lights_On" in w]
    assert "'Lights_On' differs from the model's intent 'lights_on' only in case" in warning
    assert "spell it 'lights_on'" in warning and "is this the model's dataset" not in warning


def test_data_only_of_respelled_intents_is_refused_naming_the_spelling(tmp_path: Path) -> None:
    rows = [(t, "LIGHTS_ON") for t, _ in _rows(("lights_on",))]
    with pytest.raises(DatasetError) as err:
        run_eval(EvalConfig(MODEL, _write(tmp_path / "case.csv", rows), split="all"))
    assert "none of its intents ('LIGHTS_ON') is one of the model's 20" in str(err.value)
    assert "'LIGHTS_ON' differs from the model's intent 'lights_on' only in case" in str(err.value)


def test_a_unicode_form_is_named_with_the_form_to_write() -> None:
    nfd, nfc = "cafe\u0301", "caf\u00e9"
    [clause] = respelled_intents([nfd], (nfc, "tea"))
    assert "only in Unicode form (NFD against NFC)" in clause
    assert clause.endswith(f"spell it {nfc!r} in NFC")
    assert respelled_intents(["coffee"], (nfc, "tea")) == []


def test_emulate_data_names_the_models_spelling_too() -> None:
    # emulate --data warned "is this the model's dataset?" where eval names the spelling:
    # one warning for both now (phrases.unknown_intents_warning).
    from tinyslm.emulate.phrases import PhraseResult, score_results

    results = [
        PhraseResult("turn on the lights", "Lights_On", False, "{}", "lights_on", "local", 0.9, 5),
        PhraseResult(
            "turn off the lights", "lights_off", False, "{}", "lights_off", "local", 0.9, 5
        ),
    ]
    report = score_results(results, source="x", split="all", labels=("lights_off", "lights_on"))
    assert report.warnings == (
        "1 of 2 in-scope phrases expect 1 intent(s) the model does not have ('Lights_On'):"
        " they count as wrong; 'Lights_On' differs from the model's intent 'lights_on' only in"
        " case: spell it 'lights_on'",
    )
