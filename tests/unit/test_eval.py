"""``tinyslm eval`` and ``tinyslm.evaluate.run_eval`` on the committed fixture model.

The fixture model (tests/fixtures/model) was trained on fixture_commands.csv, so
scoring that file's test split must give back exactly the figures train recorded
in the manifest: the same TFLM scores, split and gate.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.decision import ROUTE_ESCALATE, ROUTE_LOCAL, decide
from tinyslm.errors import DatasetError, ModelError
from tinyslm.evaluate import EvalConfig, format_eval, run_eval
from tinyslm.manifest import load_model_dir
from tinyslm.operating_point import with_label_thresholds
from tinyslm.text.features import encode
from tinyslm.tflm_runtime import tflm_scores

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MODEL = FIXTURES / "model"
DATA = FIXTURES / "fixture_commands.csv"


def rows() -> list[tuple[str, str]]:
    with DATA.open(encoding="utf-8", newline="") as f:
        return [(r["text"], r["label"]) for r in csv.DictReader(f)]


def write_csv(path: Path, data: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(data)
    return path


def eval_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["eval", *args])
    return result.exit_code, result.stdout, result.stderr


# --- figures -----------------------------------------------------------------------


def test_eval_on_the_training_file_gives_train_figures_back() -> None:
    metrics = json.loads((MODEL / "manifest.json").read_text())["metrics"]
    result = run_eval(EvalConfig(MODEL, DATA))
    assert result.split == "test"
    assert (result.phrases, result.oos_phrases) == (metrics["n_eval"], metrics["n_oos_eval"])
    assert round(result.int8_accuracy, 5) == metrics["int8_accuracy"]
    assert round(result.accuracy_at_threshold, 5) == metrics["int8_accuracy_at_threshold"]
    assert round(result.escalation_rate, 5) == round(1 - metrics["local_rate"], 5)
    assert result.oos_recall is not None
    assert round(result.oos_recall, 5) == metrics["oos_recall"]
    assert result.unknown_intents == () and result.warnings == ()
    assert sum(f.phrases for f in result.per_intent) == result.phrases
    assert sum(f.correct for f in result.per_intent) == round(result.int8_accuracy * 100)


def test_split_all_scores_every_phrase() -> None:
    data = rows()
    result = run_eval(EvalConfig(MODEL, DATA, split="all"))
    assert result.phrases + result.oos_phrases == len(data)
    assert result.oos_phrases == sum(label == "oos" for _, label in data)


@pytest.mark.parametrize("own", [None, {"lights_on": 0.95, "lights_off": 0.1}])
def test_the_gate_is_the_devices_decide_phrase_by_phrase(
    own: dict[str, float] | None, tmp_path: Path
) -> None:
    # Independent of run_eval: each phrase through TFLM and decision.decide (the C
    # mirror's rule). The fixture has phrases whose top score is exactly threshold_q,
    # so ">=" versus ">" shows. With ``own``, a model folder whose manifest gives two
    # intents levels of their own (generate --label-threshold's format 4): each phrase
    # is compared with its top intent's level.
    manifest, model = load_model_dir(MODEL)
    folder = MODEL
    if own is not None:
        manifest = with_label_thresholds(manifest, own)
        folder = tmp_path / "own"
        shutil.copytree(MODEL, folder)
        manifest.write(folder)
    data = rows()
    scores = tflm_scores(model, encode([t for t, _ in data], manifest.features))
    quant = manifest.output_quant
    levels = manifest.thresholds_q()
    said = [decide(row, quant.scale, quant.zero_point, levels) for row in scores]
    assert any(d.score_q == levels[d.index] for d in said)
    inscope = [(d, lbl) for d, (_, lbl) in zip(said, data, strict=True) if lbl != "oos"]
    oos = [d for d, (_, lbl) in zip(said, data, strict=True) if lbl == "oos"]

    result = run_eval(EvalConfig(folder, DATA, split="all"))
    n = len(inscope)
    right = [manifest.labels[d.index] == lbl for d, lbl in inscope]
    local = [d.route == ROUTE_LOCAL for d, _ in inscope]
    assert result.int8_accuracy == pytest.approx(sum(right) / n)
    assert result.escalation_rate == pytest.approx(1 - sum(local) / n)
    assert result.accuracy_at_threshold == pytest.approx(
        sum(r and k for r, k in zip(right, local, strict=True)) / n
    )
    assert result.oos_recall == pytest.approx(
        sum(d.route == ROUTE_ESCALATE for d in oos) / len(oos)
    )
    if own is not None:  # the levels changed routes: the model-wide gate would not agree
        plain = run_eval(EvalConfig(MODEL, DATA, split="all"))
        assert (plain.escalation_rate, plain.oos_recall) != (
            result.escalation_rate,
            result.oos_recall,
        )


def test_the_levels_applied_are_printed_and_in_json(tmp_path: Path) -> None:
    # A project's --label-threshold levels changed the figures, but neither the table nor
    # --json said they were applied: only the model-wide threshold was shown.
    manifest, _ = load_model_dir(MODEL)
    own = with_label_thresholds(manifest, {"lights_on": 0.9})
    folder = tmp_path / "own"
    shutil.copytree(MODEL, folder)
    own.write(folder)
    (level,) = own.label_thresholds
    code, out, err = eval_cli(str(folder), str(DATA), "--json", str(tmp_path / "e.json"))
    assert code == 0, err
    row = f"lights_on {level.threshold:.3f} (q={level.threshold_q})"
    assert any(ln.startswith("label thresholds") and ln.endswith(row) for ln in out.splitlines())
    got = json.loads((tmp_path / "e.json").read_text())["label_thresholds"]
    assert got == {"lights_on": {"threshold": level.threshold, "threshold_q": level.threshold_q}}
    code, out, _ = eval_cli(str(MODEL), str(DATA), "--json", str(tmp_path / "plain.json"))
    assert code == 0 and "label thresholds" not in out
    assert json.loads((tmp_path / "plain.json").read_text())["label_thresholds"] == {}


def test_a_new_file_of_training_phrases_scores_what_tflm_says(tmp_path: Path) -> None:
    # Every phrase of one intent, split "all": per-intent figures add up, and the
    # intents the file lacks are named.
    data = [(t, lbl) for t, lbl in rows() if lbl in ("lights_on", "lights_off")]
    result = run_eval(EvalConfig(MODEL, write_csv(tmp_path / "new.csv", data), split="all"))
    assert [f.label for f in result.per_intent] == ["lights_off", "lights_on"]
    assert [f.phrases for f in result.per_intent] == [
        sum(lbl == "lights_off" for _, lbl in data),
        sum(lbl == "lights_on" for _, lbl in data),
    ]
    assert result.oos_recall is None
    assert any("18 of the model's 20 intents have no phrase" in w for w in result.warnings)


def test_unknown_intents_count_as_wrong_and_are_warned(tmp_path: Path) -> None:
    data = [(t, lbl) for t, lbl in rows() if lbl in ("lights_on", "lights_off")]
    data += [("make me a coffee", "coffee_make"), ("brew some coffee", "coffee_make")]
    result = run_eval(EvalConfig(MODEL, write_csv(tmp_path / "new.csv", data), split="all"))
    assert result.unknown_intents == ("coffee_make",)
    assert [f.label for f in result.per_intent] == ["lights_off", "lights_on"]
    known = sum(f.correct for f in result.per_intent)
    assert result.int8_accuracy == pytest.approx(known / len(data))
    assert any("2 of" in w and "'coffee_make'" in w for w in result.warnings)


def test_phrases_longer_than_the_device_line_are_warned(tmp_path: Path) -> None:
    data = [(t, lbl) for t, lbl in rows() if lbl in ("lights_on", "lights_off")]
    data.append(("turn the lights on " * 20, "lights_on"))  # 380 bytes > 256
    result = run_eval(EvalConfig(MODEL, write_csv(tmp_path / "new.csv", data), split="all"))
    assert result.too_long == 1
    assert any("256-byte line limit" in w for w in result.warnings)


def test_format_shows_train_figures_next_to_the_new_ones() -> None:
    text = format_eval(run_eval(EvalConfig(MODEL, DATA)))
    assert "int8 accuracy (TFLM)        75.00%  (train: 75.00%)" in text
    assert "out-of-scope recall         25.00% of 8  (train: 25.00%)" in text
    assert "weakest intents" in text


def test_data_that_could_not_train_a_model_can_still_score_one(tmp_path: Path) -> None:
    # One phrase per intent, all marked test: training would refuse the file.
    path = tmp_path / "few.csv"
    path.write_text(
        "text,label,split\nturn on the lights,lights_on,test\nlights off,lights_off,test\n"
        "what is the capital of peru,oos,test\n"
    )
    result = run_eval(EvalConfig(MODEL, path))
    assert (result.phrases, result.oos_phrases) == (2, 1)
    assert [(f.label, f.phrases) for f in result.per_intent] == [
        ("lights_off", 1),
        ("lights_on", 1),
    ]


def test_out_of_scope_phrases_alone_give_oos_recall_only(tmp_path: Path) -> None:
    path = tmp_path / "oos.csv"
    path.write_text("text,label\nwhat is the capital of peru,oos\nsing me a song,oos\n")
    result = run_eval(EvalConfig(MODEL, path, split="all"))
    assert (result.phrases, result.oos_phrases) == (0, 2)
    assert result.int8_accuracy is None and result.escalation_rate is None
    assert result.oos_recall in (0.0, 0.5, 1.0)
    assert result.warnings == ()
    assert "int8 accuracy (TFLM)        n/a" in format_eval(result)


# --- bad input ---------------------------------------------------------------------


def test_only_unknown_intents_is_an_error(tmp_path: Path) -> None:
    data = [("make me a coffee", "coffee_make"), ("brew coffee", "coffee_make")]
    data += [("water the plants", "plants_water"), ("plants need water", "plants_water")]
    with pytest.raises(DatasetError, match=r"none of its intents .* is one of the model's 20"):
        run_eval(EvalConfig(MODEL, write_csv(tmp_path / "other.csv", data), split="all"))


AUDIO_FOR_TEXT = "holds audio data (keywords), but this model was trained on text data"


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: d / "clips", AUDIO_FOR_TEXT),
        (lambda d: d / "clips" / "yes" / "a_nohash_0.wav", "holds audio data (keywords), but"),
        (lambda d: d / "list.csv", AUDIO_FOR_TEXT),
        (lambda d: d / "list.jsonl", "holds audio data (keywords), but this model"),
    ],
)
def test_audio_data_is_refused_in_one_line(tmp_path: Path, make: object, needle: str) -> None:
    (tmp_path / "clips" / "yes").mkdir(parents=True)
    (tmp_path / "clips" / "yes" / "a_nohash_0.wav").write_bytes(b"RIFF")
    (tmp_path / "list.csv").write_text("path,label\nclips/yes/a_nohash_0.wav,yes\n")
    (tmp_path / "list.jsonl").write_text('{"path": "clips/yes/a_nohash_0.wav", "label": "yes"}\n')
    data = make(tmp_path)  # type: ignore[operator]
    code, out, err = eval_cli(str(MODEL), str(data))
    assert code == 1 and out == ""
    assert err.splitlines() == [f"error: {data} {needle}" + err.split(needle, 1)[1].rstrip()]
    assert needle in err


def test_a_folder_of_files_is_not_called_audio_data(tmp_path: Path) -> None:
    # Round 36: any folder sniffed as audio, so 'eval MODEL MODEL' said the model folder
    # "holds audio data (keywords)".
    code, out, err = eval_cli(str(MODEL), str(MODEL))
    assert (code, out) == (1, "")
    assert err == (
        f"error: {MODEL} is a folder without word folders of .wav files, neither keyword data "
        "nor a text dataset: give the .csv, .tsv, .jsonl or .json file\n"
    )
    # Round 42: a folder of folders without a .wav file (report --data now takes folders,
    # and 'scratch/' was called keyword data).
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    code, out, err = eval_cli(str(MODEL), str(tmp_path))
    assert (code, out) == (1, "")
    assert err.startswith(f"error: {tmp_path} is a folder without word folders of .wav files")


def test_missing_model_or_data_is_one_line(tmp_path: Path) -> None:
    code, out, err = eval_cli(str(tmp_path / "nomodel"), str(DATA))
    assert (code, out) == (1, "")
    assert (
        err == f"error: {tmp_path / 'nomodel'}: no such model folder (run 'tinyslm train' first)\n"
    )

    code, out, err = eval_cli(str(MODEL), str(tmp_path / "none.csv"))
    assert (code, out, err) == (1, "", f"error: {tmp_path / 'none.csv'}: dataset not found\n")

    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "model.tflite").write_bytes((MODEL / "model.tflite").read_bytes())
    with pytest.raises(ModelError, match=r"manifest\.json not found"):
        run_eval(EvalConfig(tmp_path / "half", DATA))


def test_an_empty_split_is_an_error(tmp_path: Path) -> None:
    data = [(t, lbl) for t, lbl in rows() if lbl in ("lights_on", "lights_off")]
    with (tmp_path / "train_only.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", "split"])
        writer.writerows([(t, lbl, "train") for t, lbl in data])
    with pytest.raises(DatasetError, match=r"split 'test' has no phrases \(try --split all\)"):
        run_eval(EvalConfig(MODEL, tmp_path / "train_only.csv"))


def test_json_refuses_an_input_and_writes_nothing_on_error(tmp_path: Path) -> None:
    code, _, err = eval_cli(str(MODEL), str(DATA), "--json", str(DATA))
    assert code == 1 and "--json names the input" in err
    target = tmp_path / "figures.json"
    code, _, _ = eval_cli(str(MODEL), str(tmp_path / "none.csv"), "--json", str(target))
    assert code == 1 and not target.exists()


# --- CLI output --------------------------------------------------------------------


def test_cli_json_dash_prints_the_figures_alone() -> None:
    code, out, err = eval_cli(str(MODEL), str(DATA), "--json", "-")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["int8_accuracy"] == 0.75 and figures["oos_recall"] == 0.25
    assert figures["modality"] == "text"  # a keyword model's JSON named its own; text did not
    assert figures["trained"]["int8_accuracy"] == 0.75
    assert sum(v["phrases"] for v in figures["per_intent"].values()) == figures["phrases"]
    assert "int8 accuracy at threshold" in err  # the text moved to stderr


def test_cli_json_file_and_text(tmp_path: Path) -> None:
    target = tmp_path / "out" / "figures.json"
    code, out, err = eval_cli(str(MODEL), str(DATA), "--split", "all", "--json", str(target))
    assert code == 0, err
    assert "split all" in out and "480 in-scope, 40 out-of-scope" in out
    assert json.loads(target.read_text())["split"] == "all"


def test_keyword_clips_of_a_class_the_model_lacks_are_named() -> None:
    # A model trained without _unknown_ cannot give it: those clips counted as wrong with
    # no word of why (text eval warns for intents the model lacks).
    from types import SimpleNamespace

    from tinyslm.audio.evaluate import _unanswerable

    clips = [SimpleNamespace(label=lb) for lb in ("yes", "_unknown_", "_unknown_", "no")]
    (warning,) = _unanswerable(clips, ("_silence_", "no", "yes"))
    assert warning.startswith("2 of 4 clips are of a class the model does not have (_unknown_ 2)")
    assert _unanswerable(clips, ("_silence_", "_unknown_", "no", "yes")) == ()
