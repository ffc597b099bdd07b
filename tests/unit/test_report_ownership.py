"""'tinyslm report': figures belong to their model, and every refusal says why in one line.

- ``--data`` is read with ``eval``'s rules and its errors name ``--data FILE``;
- a model folder without ``report.json`` may have been trained with ``--no-report``;
- a keyword ``report.json`` records its model's sha256 and another model's is refused.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import pytest

from tinyslm.errors import DatasetError, ModelError
from tinyslm.manifest import MODEL_NAME, load_model_dir, sha256_hex
from tinyslm.modality import modality
from tinyslm.report_data import REPORT_JSON

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE_MODEL = FIXTURES / "model"
FIXTURE_CSV = FIXTURES / "fixture_commands.csv"


def _page(folder: Path, data: Path | None = None) -> str:
    """What 'tinyslm report FOLDER [--data DATA]' draws (pipeline.run_report's call),
    the page's source; the page itself is not written."""
    manifest, model = load_model_dir(folder, probe_arena=False)
    kind = modality(manifest.modality)
    page, source = kind.report_page(folder, manifest, model, folder / REPORT_JSON, data)
    assert page.startswith("<!DOCTYPE html>")
    return source


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.fixture
def text_model(tmp_path: Path) -> Path:
    model = tmp_path / "m2"
    shutil.copytree(FIXTURE_MODEL, model)
    assert not (model / REPORT_JSON).exists()  # as after 'train --no-report'
    return model


def test_report_data_with_other_intents_names_the_option_and_file(
    text_model: Path, tmp_path: Path
) -> None:
    # It said "label 'bar' is not one of the training labels": no file, no option.
    data = tmp_path / "mismatch.csv"
    data.write_text("text,label\nset an alarm,foo\nturn off the light,bar\n")
    with pytest.raises(DatasetError) as info:
        _page(text_model, data)
    message = _one_line(info)
    assert message.startswith(f"--data {data}: intent(s) 'bar', 'foo' ")
    assert "not among the model's" in message


def test_report_data_errors_of_the_loader_name_the_option(text_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("phrase,label\nx,y\n")
    with pytest.raises(DatasetError) as info:
        _page(text_model, data)
    assert _one_line(info).startswith(f"--data {data}: line 1: missing column(s) text")


def test_report_data_takes_what_eval_takes(text_model: Path, tmp_path: Path) -> None:
    # One phrase per intent was refused with training's "at least 2 examples" rule,
    # though 'eval' scores the same file.
    with FIXTURE_CSV.open(newline="") as stream:
        rows = list(csv.reader(stream))
    first: dict[str, list[str]] = {}
    for row in rows[1:]:
        first.setdefault(row[1], row)
    data = tmp_path / "one_each.csv"
    with data.open("w", newline="") as stream:
        csv.writer(stream).writerows([rows[0], *first.values()])
    assert _page(text_model, data) == str(data)


def test_a_text_model_without_report_json_may_be_a_no_report_one(
    text_model: Path, tmp_path: Path
) -> None:
    # It said "the model was trained before tinyslm wrote one" of a --no-report model.
    with pytest.raises(ModelError) as info:
        _page(text_model)
    message = _one_line(info)
    assert "no report.json (the model was trained with --no-report, or before" in message
    assert "--data DATASET" in message


# --- keyword models (the committed fixture; no training) ---------------------------------


@pytest.fixture(scope="module")
def kws_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The keyword fixture's model folder, without report.json (its manifest measures the
    arena on TFLM: made once, copied by each test)."""
    sys.path.insert(0, str(FIXTURES))
    try:
        from kws import keyword_model_dir
    finally:
        sys.path.remove(str(FIXTURES))
    return keyword_model_dir(tmp_path_factory.mktemp("kws") / "model")


def _keyword_folder(kws_folder: Path, folder: Path) -> Path:
    shutil.copytree(kws_folder, folder)
    return folder


def _keyword_report(model: bytes) -> bytes:
    from tinyslm.audio.report import keyword_report_data

    curve = [(q, 0.5, 0.1) for q in range(-128, 128, 32)]
    history = [{"loss": 1.0, "accuracy": 0.5, "val_accuracy": 0.4}]
    return keyword_report_data(model, curve, history).to_json_bytes()


def test_a_keyword_report_json_records_its_model(kws_folder: Path, tmp_path: Path) -> None:
    folder = _keyword_folder(kws_folder, tmp_path / "ab2")
    model = (folder / MODEL_NAME).read_bytes()
    (folder / REPORT_JSON).write_bytes(_keyword_report(model))
    assert json.loads((folder / REPORT_JSON).read_text())["model_sha256"] == sha256_hex(model)
    assert _page(folder) == str(folder / REPORT_JSON)


def test_another_keyword_models_report_json_is_refused(kws_folder: Path, tmp_path: Path) -> None:
    # Copied from another model of the same architecture (same tensor sizes), its
    # curves were drawn as this model's without a word.
    folder = _keyword_folder(kws_folder, tmp_path / "aswap2")
    model = (folder / MODEL_NAME).read_bytes()
    doc = json.loads(_keyword_report(model))
    doc["model_sha256"] = "0" * 64  # another model's figures, tensors alike
    (folder / REPORT_JSON).write_text(json.dumps(doc))
    with pytest.raises(ModelError) as info:
        _page(folder)
    assert _one_line(info) == (
        f"{folder / REPORT_JSON} belongs to another model (its model_sha256 differs)"
    )


def test_an_older_keyword_report_json_is_read_by_its_tensor_sizes(
    kws_folder: Path, tmp_path: Path
) -> None:
    # Written before model_sha256 was recorded: its figures cannot be measured again,
    # so it is still drawn, tied to the model by the tensor sizes as before.
    folder = _keyword_folder(kws_folder, tmp_path / "old")
    doc = json.loads(_keyword_report((folder / MODEL_NAME).read_bytes()))
    del doc["model_sha256"]
    (folder / REPORT_JSON).write_text(json.dumps(doc))
    assert _page(folder) == str(folder / REPORT_JSON)
    doc["tensors"] = doc["tensors"][1:]
    (folder / REPORT_JSON).write_text(json.dumps(doc))
    with pytest.raises(ModelError, match=r"belongs to another model \(its tensor sizes differ\)"):
        _page(folder)


def test_a_keyword_model_without_report_json_may_be_a_no_report_one(
    kws_folder: Path, tmp_path: Path
) -> None:
    folder = _keyword_folder(kws_folder, tmp_path / "nr")
    with pytest.raises(ModelError) as info:
        _page(folder)
    assert "no report.json (the model was trained with --no-report" in _one_line(info)
