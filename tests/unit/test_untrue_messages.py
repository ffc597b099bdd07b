"""Messages that said something untrue or beside the point (found in round 40).

The threshold warning's count, the newline-in-a-phrase warning, "dataset not found"
for a missing extensionless path, ``--force`` suggested only where it works, a text
dataset given to ``--extra-train`` and ``report --data`` on a keyword model folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from tinyslm.audio.report import keyword_report_page
from tinyslm.cli import cli
from tinyslm.errors import DatasetError, ModelError, OutputExistsError
from tinyslm.manifest import QuantParams
from tinyslm.outdir import Ownership, check_target
from tinyslm.text.dataset import demo_dataset_path, load_dataset
from tinyslm.verify import RULE_NO_OOS, calibrate_threshold

SOFTMAX_Q = QuantParams(1 / 256, -128)
NO_OOS = np.zeros((0, 3), np.int8)
MODEL = Ownership(kind="model folder", marker="manifest.json")


def _scores(q: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Every phrase right (top class = truth), with top score ``q[i]``."""
    s = np.full((len(q), 3), -128, dtype=np.int8)
    truth = np.array([i % 3 for i in range(len(q))])
    for i, v in enumerate(q):
        s[i, truth[i]] = v
    return s, truth


# --- the threshold without out-of-scope phrases counts what it escalates -------------


@pytest.mark.parametrize(
    ("n", "escalated"),
    [(10, 0), (19, 0), (20, 1), (40, 2)],
)
def test_threshold_without_oos_counts_the_phrases_it_escalates(n: int, escalated: int) -> None:
    # 5% of fewer than 20 phrases rounds down to none: "at least the least confident
    # 5%" was untrue there (local_rate 1.0); the count is what the warning now says.
    scores, truth = _scores(list(range(n)))
    choice = calibrate_threshold(scores, truth, NO_OOS, SOFTMAX_Q)
    assert choice.rule == RULE_NO_OOS
    assert (choice.escalated, choice.calibrated_on) == (escalated, n), choice
    top = scores.max(axis=1)
    assert choice.escalated == int((top < choice.threshold_q).sum())


# --- a phrase the device cannot receive as one line ----------------------------------


def _rows(extra: list[str]) -> str:
    lines = ["text,label"]
    lines += [f"turn on light {i},on" for i in range(6)]
    lines += [f"turn off light {i},off" for i in range(6)]
    return "\n".join(lines + extra) + "\n"


def test_a_phrase_with_a_line_break_is_warned_about_with_its_line(
    tmp_path: Path,
) -> None:
    data = tmp_path / "d.csv"
    # Line 14 opens a quoted phrase that runs on to line 15; line 16 holds a CR.
    data.write_text(
        _rows(['"turn on\nthe lamp",on', '"lamp\roff",off', "plain,off"]), encoding="utf-8"
    )
    ds = load_dataset(data)
    found = [w for w in ds.warnings if "newline" in w]
    assert found == [
        "2 phrase(s) hold a newline or carriage return (first: line 14): the device "
        "ends a line at a newline or carriage return, so it never receives them whole"
    ], ds.warnings
    assert "turn on\nthe lamp" in {e.text for e in ds.train + ds.val + ds.test}


def test_a_line_break_in_a_jsonl_phrase_is_warned_about_and_a_nul_is_not(
    tmp_path: Path,
) -> None:
    # A NUL is a byte like any other to the firmware's line reader: received whole.
    data = tmp_path / "d.jsonl"
    rows = [{"text": f"on {i}", "label": "on"} for i in range(5)]
    rows += [{"text": f"off {i}", "label": "off"} for i in range(4)]
    rows += [{"text": "off\u0000now", "label": "off"}, {"text": "off\nnow", "label": "off"}]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    warnings = load_dataset(data).warnings
    assert any("1 phrase(s) hold a newline" in w and "line 11" in w for w in warnings), warnings


def test_plain_phrases_get_no_line_break_warning() -> None:
    assert not [w for w in load_dataset(demo_dataset_path()).warnings if "newline" in w]


# --- a missing path is "not found", whatever its name --------------------------------


@pytest.mark.parametrize("name", ["nosuchdir", "nope.csv", "notes.txt"])
def test_a_missing_dataset_is_not_found(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    assert str(info.value) == f"{path}: dataset not found"


def test_train_on_a_missing_folder_says_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nosuchdir"
    result = CliRunner().invoke(cli, ["train", str(missing), "-o", str(tmp_path / "z")])
    assert result.exit_code != 0
    assert result.output.strip() == f"error: {missing}: dataset not found", result.output


# --- --force is suggested only for a folder it accepts -------------------------------


def test_a_folder_of_other_files_is_not_told_to_use_force(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep")
    with pytest.raises(OutputExistsError) as info:
        check_target(target, force=False, ownership=MODEL)
    message = str(info.value)
    assert "--force" not in message.replace("that --force could replace", ""), message
    assert message == (
        f"{target} exists and is not empty, and is not a tinyslm model folder "
        "(no manifest.json) that --force could replace; choose a new or empty folder"
    )
    # And --force indeed refuses it: the old advice led there.
    with pytest.raises(OutputExistsError, match="not a tinyslm model folder"):
        check_target(target, force=True, ownership=MODEL)


def test_the_current_folder_is_not_told_to_use_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --force refuses the current folder (or a parent of it) whatever it holds.
    (tmp_path / "notes.txt").write_text("keep")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputExistsError) as info:
        check_target(Path("."), force=False, ownership=MODEL)
    assert str(info.value) == (
        ". exists and is not empty, and is the current folder or a parent of it; "
        "choose a new or empty folder"
    )
    with pytest.raises(OutputExistsError, match="current folder or a parent of it"):
        check_target(Path("."), force=True, ownership=MODEL)


def test_a_model_folder_is_still_told_to_use_force(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "manifest.json").write_text("{}")
    with pytest.raises(OutputExistsError, match=r"use --force to replace it\)$"):
        check_target(target, force=False, ownership=MODEL)


def test_train_into_a_foreign_folder_does_not_suggest_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    result = CliRunner().invoke(cli, ["train", "-o", str(out), "-q"])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "use --force" not in lines[0] and "choose a new or empty folder" in lines[0]


# --- --extra-train with text data ----------------------------------------------------


def test_extra_train_with_a_text_dataset_names_the_modality(tmp_path: Path) -> None:
    words = tmp_path / "kws"
    (words / "yes").mkdir(parents=True)  # a keyword folder: DATA is audio
    demo = demo_dataset_path()
    result = CliRunner().invoke(
        cli, ["train", str(words), "--extra-train", str(demo), "-o", str(tmp_path / "m")]
    )
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert lines == [
        f"error: --extra-train {demo} holds text data (intents), but DATA is audio data "
        "(keywords): give it audio data as well"
    ], result.output


# --- report --data on a keyword model folder -------------------------------------------


def test_report_data_on_a_keyword_model_folder_says_to_leave_it_out(tmp_path: Path) -> None:
    folder = tmp_path / "kws_model"
    folder.mkdir()
    with pytest.raises(ModelError) as info:
        keyword_report_page(folder, None, b"", folder / "report.json", tmp_path / "x.csv")
    message = str(info.value)
    assert "give that folder" not in message, message
    assert "--data measures text models only; leave it out for a keyword model" in message


def test_a_keyword_reports_figures_that_are_not_a_file_are_said_so(tmp_path: Path) -> None:
    folder = tmp_path / "kws_model"
    (folder / "report.json").mkdir(parents=True)  # a folder where the figures belong
    with pytest.raises(ModelError) as info:
        keyword_report_page(folder, None, b"", folder / "report.json", None)
    assert str(info.value).startswith(f"{folder / 'report.json'}: not a file;"), info.value


# --- the keyword fit returns its threshold warning too (train --json lists it) --------


def trained_stand_in(manifest: Any) -> Any:
    """What train_audio returns, standing in for a run: the committed keyword fixture's
    model and figures of 1 (test_r48_hon_fit_progress uses it too)."""
    import sys
    from types import SimpleNamespace

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
    from kws import KWS_FIXTURE

    return SimpleNamespace(
        model=(KWS_FIXTURE / "model.tflite").read_bytes(),
        output_quant=manifest.output_quant,
        input_quant=manifest.input_quant,
        arena_bytes=manifest.arena_bytes,
        ops=manifest.ops,
        history=(),
        int8_accuracy=1.0,
        float_accuracy=1.0,
        val_accuracy=1.0,
        per_class=(),
        confusion=(),
        macs=0,
        params=0,
        epochs_run=1,
        best_epoch=1,
        n_train=1,
        n_train_examples=3,
        n_val=1,
        n_test=1,
        feature_seconds=0.0,
        train_seconds=0.0,
        convert_seconds=0.0,
        verify_seconds=0.0,
    )


def stand_in_fit(
    monkeypatch: pytest.MonkeyPatch,
    *,
    warnings: tuple[str, ...] = (),
    spec: Any = None,
    test_material: Any = None,
    threshold_q: int = 127,
    threshold_found: bool = False,
) -> Any:
    """Loading, training and streaming stand in for ``fit_audio`` (the committed keyword
    fixture's labels and model): only what fit_audio itself does is real. Returns the
    streams' stand-in (test_r48_hon_fit_progress uses it too)."""
    import sys
    from types import SimpleNamespace

    import tinyslm.audio.dataset
    import tinyslm.audio.train
    from tinyslm.audio import fit

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
    from kws import keyword_manifest

    manifest = keyword_manifest()
    dataset = SimpleNamespace(
        warnings=warnings,
        labels=manifest.labels,
        source="kws",
        split=lambda s: (),
        noise=(),  # fit_audio measures the streams' lengths (round 43: a rule that cannot fire)
    )
    trained = trained_stand_in(manifest)
    streams = SimpleNamespace(
        spec=spec,
        threshold_q=threshold_q,
        threshold_found=threshold_found,
        test_material=test_material,
        figures=None,
        val_noise_seconds=0.0,
        val_unknown_seconds=0.0,
    )
    monkeypatch.setattr(tinyslm.audio.dataset, "load_audio_dataset", lambda *a: dataset)
    monkeypatch.setattr(tinyslm.audio.train, "train_audio", lambda *a: trained)
    monkeypatch.setattr(fit, "keyword_spec", lambda *a: manifest.features)
    monkeypatch.setattr(fit, "evaluate_streams", lambda *a: streams)
    monkeypatch.setattr(fit, "stream_metrics", lambda *a: {})
    return streams


def test_keyword_fit_returns_every_warning_it_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading, training and streaming stand in: only what fit_audio warns about is real."""
    from types import SimpleNamespace

    from tinyslm.audio import fit

    streams = stand_in_fit(
        monkeypatch, warnings=("a dataset finding",), threshold_q=127, threshold_found=False
    )
    printed: list[str] = []
    fitted = fit.fit_audio(tmp_path, None, warn=printed.append, report=False)
    assert len(printed) == 2 and "false accepts at every threshold" in printed[1], printed
    assert list(fitted.warnings) == printed
    # The other end: no false accept even at the loosest level (a model that detected
    # nothing took threshold 0.000 without a word, and generate shipped it).
    monkeypatch.setattr(
        fit, "evaluate_streams", lambda *a: SimpleNamespace(**{**vars(streams),
                                                               "threshold_q": -128,
                                                               "threshold_found": True})
    )  # fmt: skip
    printed.clear()
    fitted = fit.fit_audio(tmp_path, None, warn=printed.append, report=False)
    assert len(printed) == 2 and "even at the loosest threshold" in printed[1], printed
    assert list(fitted.warnings) == printed
