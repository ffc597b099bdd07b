"""What a review of round 48's text-side change found, each fixed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_r48_cli_text import MODEL, _rows, _write

from tinyslm.cli import cli
from tinyslm.emulate.phrases import (
    PhraseResult,
    check_intents_known,
    format_report,
    score_results,
)
from tinyslm.errors import DatasetError
from tinyslm.text.dataset import load_dataset


def test_emulate_datas_refusal_names_the_models_spelling_as_evals() -> None:
    # The refusal of data whose every intent is respelled: eval named the spelling,
    # emulate --data (check_intents_known alone) did not.
    rows = [("turn on the lights", "Lights_On", False), ("lock the door", "Door_Lock", False)]
    with pytest.raises(DatasetError) as info:
        check_intents_known("resp.csv", rows, ("door_lock", "lights_on"))
    assert "'Lights_On' differs from the model's intent 'lights_on' only in case" in str(info.value)


@pytest.mark.parametrize("typed", ["demo/", "./demo"])
def test_a_demo_path_that_does_not_exist_is_not_the_bundled_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, typed: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["eval", str(MODEL), typed])
    assert result.exit_code != 0
    assert "no such file or folder ('demo' alone names the bundled demo set)" in result.output
    # 'demo' itself still is.
    assert CliRunner().invoke(cli, ["eval", str(MODEL), "demo", "--json", "-"]).exit_code == 0


def test_an_os_error_line_escapes_a_bidi_override(tmp_path: Path) -> None:
    name = "x\u202e" + "a" * 300  # over 255 bytes: the file system refuses the name
    result = CliRunner().invoke(cli, ["info", str(tmp_path / name)])
    assert result.exit_code == 1
    assert "\u202e" not in result.output and "x\\u202e" in result.output, result.output


def test_emulate_datas_summary_escapes_the_file_name() -> None:
    results = [
        PhraseResult("turn on the lights", "lights_on", False, "{}", "lights_on", "local", 0.9, 5)
    ]
    text = format_report(score_results(results, source="e\u202e.csv", split="all"))
    assert "\u202e" not in text and "e\\u202e.csv" in text


def test_a_clinc_file_that_is_no_object_says_any_list_will_do(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps([]), encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_dataset(path, for_training=False)
    assert "expected a JSON object with one or more of the train/val/test" in str(info.value)


def test_respelled_only_data_in_emulate_data_cli(tmp_path: Path) -> None:
    rows = [(t, "Lights_On") for t, _ in _rows(("lights_on",))]
    data = _write(tmp_path / "resp.csv", rows)
    with pytest.raises(DatasetError, match="spell it 'lights_on'"):
        check_intents_known(data, [(t, lb, False) for t, lb in rows], ("lights_off", "lights_on"))
