"""Round 48: text data read to score a trained model, and the first bytes of a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinyslm.errors import DatasetError
from tinyslm.text.dataset import load_dataset


def _json(tmp_path: Path, obj: object) -> Path:
    path = tmp_path / "held_out.json"
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def test_clinc_test_lists_alone_score_a_model(tmp_path: Path) -> None:
    """A CLINC test set (``test`` and ``oos_test``, no ``train``) is what eval, report
    --data and emulate --data score: 'DATA need not meet training's rules'."""
    path = _json(
        tmp_path,
        {"test": [["turn on the lights", "lights_on"]], "oos_test": [["what is love", "oos"]]},
    )
    data = load_dataset(path, for_training=False)
    assert [(e.text, e.label) for e in data.test] == [("turn on the lights", "lights_on")]
    assert data.oos_test == ("what is love",)
    assert not data.train and not data.val


def test_training_still_needs_the_train_list(tmp_path: Path) -> None:
    path = _json(tmp_path, {"test": [["turn on the lights", "lights_on"]]})
    with pytest.raises(DatasetError, match=r"missing key 'train' \(CLINC layout\)"):
        load_dataset(path)


def test_scoring_data_without_any_clinc_list_is_refused_in_one_line(tmp_path: Path) -> None:
    path = _json(tmp_path, {"tests": [["turn on the lights", "lights_on"]]})
    with pytest.raises(DatasetError) as caught:
        load_dataset(path, for_training=False)
    message = str(caught.value)
    assert "\n" not in message
    assert "no train/val/test/oos_train/oos_val/oos_test list (only 'tests')" in message
    path.write_text("[]", encoding="utf-8")
    wanted = r"JSON object with one or more of the train/val/test/.* lists"
    with pytest.raises(DatasetError, match=wanted):
        load_dataset(path, for_training=False)


@pytest.mark.parametrize(
    ("suffix", "body"),
    [
        (".csv", "text,label\nturn on the lights,lights_on\nturn off the lights,lights_off\n"),
        (".tsv", "text\tlabel\nturn on the lights\tlights_on\nturn off the lights\tlights_off\n"),
        (
            ".jsonl",
            '{"text": "turn on the lights", "label": "lights_on"}\n'
            '{"text": "turn off the lights", "label": "lights_off"}\n',
        ),
        (
            ".json",
            '{"train": [["turn on the lights", "lights_on"], '
            '["turn off the lights", "lights_off"]]}',
        ),
    ],
    ids=["csv", "tsv", "jsonl", "json"],
)
@pytest.mark.parametrize("boms", [2, 3])
def test_a_run_of_byte_order_marks_is_no_part_of_the_file(
    tmp_path: Path, suffix: str, body: str, boms: int
) -> None:
    """A BOM file re-saved by a program that adds one has two: the header reads
    text,label and was refused as 'missing column(s) text'."""
    path = tmp_path / f"twice{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" * boms + body.encode())
    data = load_dataset(path, for_training=False)
    phrases = sorted((e.text, e.label) for s in (data.train, data.val, data.test) for e in s)
    assert phrases == [("turn off the lights", "lights_off"), ("turn on the lights", "lights_on")]


def test_a_byte_order_mark_inside_the_file_stays(tmp_path: Path) -> None:
    """Only the file's opening run goes: one in a phrase is the phrase's."""
    path = tmp_path / "inner.csv"
    path.write_bytes(b"\xef\xbb\xbftext,label\n\xef\xbb\xbfturn on,lights_on\n")
    data = load_dataset(path, for_training=False)
    texts = [e.text for s in (data.train, data.val, data.test) for e in s]
    assert texts == ["\ufeffturn on"]
