"""Tests of ``tinyslm/text/dataset.py``: formats, split, out-of-scope handling, errors."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from shared_paths import dataset_path, require_path

from tinyslm.errors import DatasetError, TinySlmError
from tinyslm.text.dataset import (
    OOS_LABELS,
    Dataset,
    Example,
    demo_dataset_path,
    load_dataset,
)

CLINC = dataset_path("clinc150", "data_full.json")


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def csv_rows(per_label: dict[str, int], *, oos: int = 0) -> str:
    lines = ["text,label"]
    for label, n in per_label.items():
        lines += [f"{label} phrase {i},{label}" for i in range(n)]
    lines += [f"chit chat {i},oos" for i in range(oos)]
    return "\n".join(lines) + "\n"


def all_texts(ds: Dataset) -> list[str]:
    return [e.text for e in ds.train + ds.val + ds.test]


def load_error(path: Path, **kwargs: float) -> str:
    with pytest.raises(DatasetError) as info:
        load_dataset(path, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert isinstance(info.value, TinySlmError)
    return message


# --- formats ---------------------------------------------------------------------


def test_csv_loads_strips_and_ignores_extra_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.csv",
        "id,Label , TEXT,notes\n"
        '1, lights_on ,"  turn on the lights ",x\n'
        "2,lights_on,lights on,\n"
        "3,lights_off,turn off the lights,y\n"
        "\n"
        '4,lights_off,"lights, off",\n',
    )
    ds = load_dataset(path, val_fraction=0.0, test_fraction=0.0)
    assert ds.labels == ("lights_off", "lights_on")
    assert ds.train == (
        Example("turn on the lights", "lights_on"),
        Example("lights on", "lights_on"),
        Example("turn off the lights", "lights_off"),
        Example("lights, off", "lights_off"),
    )
    assert ds.val == ds.test == ()
    assert ds.source == "d.csv"


def test_csv_blank_lines_are_not_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "text,label\r\na,x\r\n\r\n   \r\nb,x\r\nc,y\nd,y\n\n")
    ds = load_dataset(path, val_fraction=0.0, test_fraction=0.0)
    assert [e.text for e in ds.train] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("after", [20, 20_000])
def test_csv_an_unclosed_quote_is_named_on_its_own_line(tmp_path: Path, after: int) -> None:
    # The quote swallows the lines after it: the error named the line where the csv
    # module gave up (the end of the file, or where the field passed its size limit).
    lines = ["text,label", "a,x", "b,x", '"c,y', *[f"d{i},y" for i in range(after)]]
    message = load_error(write(tmp_path, "d.csv", "\n".join(lines) + "\n"))
    assert "d.csv: line 4: " in message, message
    assert "quote" in message


def test_csv_rows_after_a_quoted_line_break_keep_their_line_numbers(tmp_path: Path) -> None:
    data = 'text,label\n"a\nb",x\nc,x,extra\n'
    assert "d.csv: line 4: expected 2" in load_error(write(tmp_path, "d.csv", data))


def test_csv_excel_rows_of_empty_cells_are_not_rows(tmp_path: Path) -> None:
    # Excel writes ",,," (one comma per extra column) for rows it saw formatted.
    data = "text,label,notes\r\na,x,\r\nb,x,n\r\nc,y,\r\nd,y,\r\n" + ",,\r\n" * 4 + " , ,\r\n"
    ds = load_dataset(write(tmp_path, "d.csv", data), val_fraction=0.0, test_fraction=0.0)
    assert [e.text for e in ds.train] == ["a", "b", "c", "d"]


def test_tsv_loads_like_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "d.tsv", 'text\tlabel\nturn on, please\ton\n"off"\toff\nx\ton\ny\toff\n')
    ds = load_dataset(path, val_fraction=0.0, test_fraction=0.0)
    assert [(e.text, e.label) for e in ds.train] == [
        ("turn on, please", "on"),
        ('"off"', "off"),  # read literally: the quotes are the phrase's
        ("x", "on"),
        ("y", "off"),
    ]


def test_csv_with_split_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "d.csv",
        "text,label,split\n"
        "a1,a,train\nb1,b,TRAIN\na2,a,val\nb2,b,test\nb3,b, train \nz1,oos,test\nz2,OOS,train\n",
    )
    ds = load_dataset(path)
    assert [e.text for e in ds.train] == ["a1", "b1", "b3"]
    assert [e.text for e in ds.val] == ["a2"]
    assert [e.text for e in ds.test] == ["b2"]
    assert ds.oos_train == ("z2",)
    assert ds.oos_val == ()
    assert ds.oos_test == ("z1",)


def test_csv_bom_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", b"\xef\xbb\xbf" + csv_rows({"a": 2, "b": 2}).encode())
    assert load_dataset(path).labels == ("a", "b")


def test_jsonl_loads(tmp_path: Path) -> None:
    lines = [
        {"text": " play music ", "label": "media_play", "extra": 1},
        {"text": "pause", "label": "media_pause"},
        {"text": "play jazz", "label": "media_play"},
        {"text": "pause it", "label": "media_pause"},
        {"text": "what is love", "label": "Out_Of_Scope"},
    ]
    body = "\n".join(json.dumps(x) for x in lines[:2]) + "\n\n"
    body += "\n".join(json.dumps(x) for x in lines[2:]) + "\n"
    ds = load_dataset(write(tmp_path, "d.jsonl", body), val_fraction=0.0, test_fraction=0.0)
    assert ds.labels == ("media_pause", "media_play")
    assert ds.train[0] == Example("play music", "media_play")
    assert len(ds.train) == 4
    assert ds.oos_train == ("what is love",)


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("d.jsonl", '{"text": "turn on \\ud800", "label": "on"}\n', "line 1: text"),
        ("d.jsonl", '{"text": "turn on", "label": "o\\udfffn"}\n', "line 1: label"),
        ("d.json", '{"train": [["turn on \\ud800", "on"]]}', "text"),
    ],
)
def test_a_lone_surrogate_is_refused_in_one_line(
    tmp_path: Path, name: str, content: str, words: str
) -> None:
    # JSON can escape one; the tokenizer's UTF-8 hash raised UnicodeEncodeError (eval,
    # train), and in a label the report failed after the whole training.
    message = load_error(write(tmp_path, name, content))
    assert words in message and "lone surrogate" in message, message


def test_jsonl_with_split(tmp_path: Path) -> None:
    rows = [("a1", "a", "train"), ("a2", "a", "test"), ("b1", "b", "train"), ("b2", "b", "val")]
    body = "".join(json.dumps({"text": t, "label": lab, "split": s}) + "\n" for t, lab, s in rows)
    ds = load_dataset(write(tmp_path, "d.jsonl", body))
    assert [e.text for e in ds.train] == ["a1", "b1"]
    assert [e.text for e in ds.val] == ["b2"]
    assert [e.text for e in ds.test] == ["a2"]


def test_clinc_json_with_all_splits(tmp_path: Path) -> None:
    data = {
        "train": [["t a1", "a"], ["t b1", "b"], ["t x", "oos"]],
        "val": [["v a", "a"]],
        "test": [["s b", "b"]],
        "oos_train": [["o1", "oos"]],
        "oos_val": [["o2", "oos"]],
        "oos_test": [["o3", "oos"], ["o4", "oos"]],
    }
    ds = load_dataset(write(tmp_path, "d.json", json.dumps(data)))
    assert ds.labels == ("a", "b")
    assert [e.text for e in ds.train] == ["t a1", "t b1"]
    assert ds.val == (Example("v a", "a"),)
    assert ds.test == (Example("s b", "b"),)
    # oos rows inside "train" join oos_train; nothing oos becomes a class.
    assert ds.oos_train == ("t x", "o1")
    assert ds.oos_val == ("o2",)
    assert ds.oos_test == ("o3", "o4")
    assert ds.warnings == ()


def test_clinc_json_without_val_and_test_is_split(tmp_path: Path) -> None:
    train = [[f"{lab} {i}", lab] for lab in ("a", "b") for i in range(10)]
    data = {"train": train, "oos_train": [[f"o{i}", "oos"] for i in range(10)]}
    ds = load_dataset(write(tmp_path, "d.json", json.dumps(data)), seed=3)
    assert Counter(e.label for e in ds.train) == {"a": 7, "b": 7}
    assert Counter(e.label for e in ds.val) == {"a": 1, "b": 1}
    assert Counter(e.label for e in ds.test) == {"a": 2, "b": 2}
    assert (len(ds.oos_train), len(ds.oos_val), len(ds.oos_test)) == (7, 1, 2)


def test_clinc_json_without_test_only_carves_test(tmp_path: Path) -> None:
    train = [[f"{lab} {i}", lab] for lab in ("a", "b") for i in range(10)]
    data = {"train": train, "val": [["va", "a"], ["vb", "b"]]}
    ds = load_dataset(write(tmp_path, "d.json", json.dumps(data)))
    assert [e.text for e in ds.val] == ["va", "vb"]
    assert Counter(e.label for e in ds.test) == {"a": 2, "b": 2}
    assert len(ds.train) == 16


def test_clinc_json_unknown_keys_warn(tmp_path: Path) -> None:
    data = {"train": [["a", "a"], ["a2", "a"], ["b", "b"], ["b2", "b"]], "meta": {}}
    ds = load_dataset(
        write(tmp_path, "d.json", json.dumps(data)), val_fraction=0.0, test_fraction=0.0
    )
    assert any("meta" in w for w in ds.warnings)


# --- split -----------------------------------------------------------------------


def test_split_is_deterministic_and_seeded(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", csv_rows({"a": 30, "b": 30, "c": 30}, oos=20))
    first, again = load_dataset(path, seed=7), load_dataset(path, seed=7)
    assert first == again
    other = load_dataset(path, seed=8)
    assert {e.text for e in other.test} != {e.text for e in first.test}
    assert set(other.oos_test) != set(first.oos_test)


def test_split_is_stratified_and_a_partition(tmp_path: Path) -> None:
    counts = {"big": 40, "mid": 10, "small": 5, "pair": 2}
    path = write(tmp_path, "d.csv", csv_rows(counts))
    ds = load_dataset(path, seed=1, val_fraction=0.1, test_fraction=0.2)
    # Half-up rounding per label: n*0.2 to test, n*0.1 to val, the rest to train.
    expected = {"big": (28, 4, 8), "mid": (7, 1, 2), "small": (3, 1, 1), "pair": (2, 0, 0)}
    for label, (n_train, n_val, n_test) in expected.items():
        assert sum(e.label == label for e in ds.train) == n_train, label
        assert sum(e.label == label for e in ds.val) == n_val, label
        assert sum(e.label == label for e in ds.test) == n_test, label
    texts = all_texts(ds)
    assert len(texts) == len(set(texts)) == sum(counts.values())


def test_split_keeps_one_training_example_per_label(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", csv_rows({"a": 2, "b": 3, "c": 4}))
    ds = load_dataset(path, val_fraction=0.45, test_fraction=0.45)
    train = Counter(e.label for e in ds.train)
    assert train == {"a": 1, "b": 1, "c": 1}
    assert Counter(e.label for e in ds.test) == {"a": 1, "b": 1, "c": 2}
    assert Counter(e.label for e in ds.val) == {"b": 1, "c": 1}


def test_split_rounds_half_up(tmp_path: Path) -> None:
    # 10 * 0.25 = 2.5 -> 3 (banker's rounding would give 2); 10 * 0.15 = 1.5 -> 2.
    path = write(tmp_path, "d.csv", csv_rows({"a": 10, "b": 10}))
    ds = load_dataset(path, val_fraction=0.15, test_fraction=0.25)
    assert Counter(e.label for e in ds.test) == {"a": 3, "b": 3}
    assert Counter(e.label for e in ds.val) == {"a": 2, "b": 2}


def test_split_shrinks_test_when_val_is_empty(tmp_path: Path) -> None:
    # 2 * 0.75 rounds to 2 test rows, which would leave no training row.
    path = write(tmp_path, "d.csv", csv_rows({"a": 2, "b": 2}))
    ds = load_dataset(path, val_fraction=0.0, test_fraction=0.75)
    assert Counter(e.label for e in ds.train) == {"a": 1, "b": 1}
    assert Counter(e.label for e in ds.test) == {"a": 1, "b": 1}


def test_split_keeps_file_order_within_each_split(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", csv_rows({"a": 20, "b": 20}))
    ds = load_dataset(path, seed=5)
    order = {
        e.text: i
        for i, e in enumerate(load_dataset(path, test_fraction=0.0, val_fraction=0.0).train)
    }
    for split in (ds.train, ds.val, ds.test):
        positions = [order[e.text] for e in split]
        assert positions == sorted(positions)


@pytest.mark.parametrize("label", ["oos", "OOS", "out_of_scope", "Out-Of-Scope", " oos "])
def test_oos_labels_are_never_classes(tmp_path: Path, label: str) -> None:
    body = csv_rows({"a": 3, "b": 3}) + "".join(f"stray {i},{label}\n" for i in range(10))
    ds = load_dataset(write(tmp_path, "d.csv", body))
    assert ds.labels == ("a", "b")
    assert sorted(ds.oos_train + ds.oos_val + ds.oos_test) == sorted(
        f"stray {i}" for i in range(10)
    )
    assert (len(ds.oos_train), len(ds.oos_val), len(ds.oos_test)) == (7, 1, 2)
    assert all(e.label in ("a", "b") for e in ds.train + ds.val + ds.test)


def test_oos_label_set() -> None:
    assert {"oos", "out_of_scope", "out-of-scope"} == OOS_LABELS


def test_warnings_for_duplicates_and_conflicts(tmp_path: Path) -> None:
    body = "text,label\nturn on,a\nturn on,a\nTurn On,b\nx,b\ny,a\n"
    ds = load_dataset(write(tmp_path, "d.csv", body), val_fraction=0.0, test_fraction=0.0)
    joined = " | ".join(ds.warnings)
    assert "more than one label" in joined
    assert "1 duplicate row" in joined


# --- errors ---------------------------------------------------------------------

ERROR_CASES: list[tuple[str, str, str | bytes, str]] = [
    ("unknown extension", "d.txt", "text,label\n", r"unknown dataset format '\.txt'"),
    ("no extension", "data", "text,label\n", r"unknown dataset format '\(no extension\)'"),
    ("empty csv", "d.csv", "", r"no rows"),
    ("header only", "d.csv", "text,label\n", r"no rows"),
    ("empty jsonl", "d.jsonl", "\n\n", r"no rows"),
    ("empty json", "d.json", "", r"no rows"),
    ("json with empty lists", "d.json", '{"train": [], "val": []}', r"no rows"),
    ("missing label column", "d.csv", "text,intent\nhi,a\n", r"line 1: missing column\(s\) label"),
    (
        "missing both columns",
        "d.csv",
        "phrase,intent\nhi,a\n",
        r"missing column\(s\) text, label",
    ),
    ("duplicate column", "d.csv", "text,label,text\na,b,c\n", r"'text' appears more than once"),
    (
        "too many fields",
        "d.csv",
        "text,label\na,b\nturn on, please,lights_on\n",
        r"line 3: expected 2 fields, got 3",
    ),
    ("empty text", "d.csv", "text,label\na,x\n  ,x\nb,y\nc,y\n", r"line 3: empty text"),
    ("half-empty row", "d.csv", "text,label\na,x\n , x\nb,y\n", r"line 3: empty text"),
    (
        "semicolon csv",
        "d.csv",
        "text;label\nturn on;lights_on\n",
        r"line 1: missing column\(s\) text, label; .*header looks semicolon-separated: save it "
        r"comma-separated",
    ),
    (
        "tab-separated .csv",
        "d.csv",
        '"text"\t"label"\nturn on\tlights_on\n',
        r"header looks tab-separated: .* or name it \.tsv",
    ),
    ("comma-separated .tsv", "d.tsv", "text,label\na,b\n", r"header looks comma-separated: name"),
    ("empty label", "d.csv", "text,label\na,x\nb,\n", r"line 3: empty label"),
    (
        "non-utf8",
        "d.csv",
        b"text,label\nok,a\ncaf\xe9,a\n",
        r"line 3: not valid UTF-8 \(byte 0xe9\)",
    ),
    (
        "non-utf8 jsonl",
        "d.jsonl",
        b'{"text": "a", "label": "a"}\n{"text": "\xff", "label": "a"}\n',
        r"line 2: not valid UTF-8",
    ),
    (
        "malformed jsonl",
        "d.jsonl",
        '{"text": "a", "label": "a"}\n{"text": "b", "label": "a"}\n{"text": "c", label}\n',
        r"line 3: malformed JSON",
    ),
    ("jsonl not an object", "d.jsonl", '["a", "b"]\n', r"line 1: expected a JSON object"),
    ("jsonl missing key", "d.jsonl", '{"text": "a"}\n', r"line 1: missing key\(s\) label"),
    (
        "jsonl label not a string",
        "d.jsonl",
        '{"text": "a", "label": 3}\n',
        r"label must be a string",
    ),
    (
        "jsonl integer past the conversion limit",
        "d.jsonl",
        '{"text": "a", "label": "a"}\n{"text": "b", "label": ' + "9" * 5000 + "}\n",
        r"line 2: malformed JSON: Exceeds the limit",
    ),
    ("jsonl nested too deeply", "d.jsonl", "[" * 100_000 + "\n", r"line 1: malformed JSON: nested"),
    ("json nested too deeply", "d.json", "[" * 100_000, r"malformed JSON: nested too deeply"),
    (
        "malformed json",
        "d.json",
        '{\n  "train": [\n    ["a", "b"],\n  ]\n}\n',
        r"line 4: malformed JSON",
    ),
    ("json not an object", "d.json", '[["a", "b"]]', r"expected a JSON object"),
    ("json missing train", "d.json", '{"val": [["a", "b"]]}', r"missing key 'train'"),
    ("json list expected", "d.json", '{"train": {"a": "b"}}', r"'train' must be a list"),
    (
        "json bad pair",
        "d.json",
        '{"train": [["a", "b"], ["c"]]}',
        r"train\[1\]: expected a \[text, label\] pair",
    ),
    (
        "single intent",
        "d.csv",
        "text,label\na,x\nb,x\nc,oos\n",
        r"need at least 2 in-scope intents, found only 'x'",
    ),
    (
        "only oos",
        "d.csv",
        "text,label\na,oos\nb,oos\n",
        r"need at least 2 in-scope intents, found none",
    ),
    (
        "too few examples",
        "d.csv",
        "text,label\na1,a\na2,a\nb1,b\nc1,c\n",
        r"every intent needs at least 2 examples; too few for 'b', 'c'",
    ),
    (
        "label only in test",
        "d.csv",
        "text,label,split\na1,a,train\na2,a,test\nb1,b,train\nb2,b,train\nc1,c,val\nc2,c,test\n",
        r"intent\(s\) 'c' appear only in val/test, never in train",
    ),
    (
        "split on some rows only",
        "d.csv",
        "text,label,split\na1,a,train\na2,a,\nb1,b,train\n",
        r"line 3: no split, but other rows have one",
    ),
    (
        "bad split value",
        "d.csv",
        "text,label,split\na1,a,train\na2,a,holdout\n",
        r"line 3: split must be one of train, val, test, got 'holdout'",
    ),
    (
        "control char label",
        "d.jsonl",
        '{"text": "a", "label": "x\\u0007y"}\n',
        r"control characters",
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [c[1:] for c in ERROR_CASES],
    ids=[c[0] for c in ERROR_CASES],
)
def test_errors(tmp_path: Path, name: str, content: str | bytes, pattern: str) -> None:
    path = write(tmp_path, name, content)
    message = load_error(path)
    assert re.search(pattern, message), message
    assert str(path) in message or "unknown dataset format" in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    assert load_error(path) == f"{path}: dataset not found"


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    path = tmp_path / "dir.csv"
    path.mkdir()
    assert "not a file" in load_error(path)


def test_too_many_labels_are_listed_briefly(tmp_path: Path) -> None:
    body = "text,label\na1,a\na2,a\n" + "".join(f"t{i},l{i}\n" for i in range(8))
    message = load_error(write(tmp_path, "d.csv", body))
    assert "'l0', 'l1', 'l2', 'l3', 'l4' and 3 more" in message


@pytest.mark.parametrize(
    ("val", "test", "pattern"),
    [
        (-0.1, 0.2, r"must be in \[0, 1\)"),
        (0.1, 1.0, r"must be in \[0, 1\)"),
        (0.5, 0.5, r"below 1"),
    ],
)
def test_bad_fractions(tmp_path: Path, val: float, test: float, pattern: str) -> None:
    path = write(tmp_path, "d.csv", csv_rows({"a": 5, "b": 5}))
    assert re.search(pattern, load_error(path, val_fraction=val, test_fraction=test))


# --- the bundled demo set -----------------------------------------------------------


def test_demo_dataset_meets_its_size_requirements() -> None:
    assert demo_dataset_path().is_file()
    ds = load_dataset()
    assert ds.source == "demo"
    assert ds.warnings == ()
    assert len(ds.labels) >= 18
    counts = Counter(e.label for e in ds.train + ds.val + ds.test)
    assert min(counts.values()) >= 45, counts.most_common()[-1]
    assert len(ds.oos_train + ds.oos_val + ds.oos_test) >= 80
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", label) for label in ds.labels)
    # Every label is represented in every split, so test accuracy covers all intents.
    for split in (ds.train, ds.val, ds.test):
        assert {e.label for e in split} == set(ds.labels)


def test_demo_dataset_has_no_repeated_phrases() -> None:
    ds = load_dataset()
    texts = [t.lower() for t in all_texts(ds)] + [t.lower() for t in ds.oos_train]
    texts += [t.lower() for t in ds.oos_val + ds.oos_test]
    assert len(texts) == len(set(texts))


def test_demo_dataset_file_is_sorted_and_has_no_split_column() -> None:
    lines = demo_dataset_path().read_text(encoding="utf-8").splitlines()
    assert lines[0] == "text,label"
    ds = load_dataset(demo_dataset_path(), val_fraction=0.0, test_fraction=0.0)
    labels = [e.label for e in ds.train]
    assert labels == sorted(labels)


# --- CLINC150 ---------------------------------------------------------------------


def test_clinc150_loads_with_expected_counts() -> None:
    require_path(CLINC, "CLINC150")
    ds = load_dataset(CLINC)
    assert len(ds.labels) == 150
    assert (len(ds.train), len(ds.val), len(ds.test)) == (15000, 3000, 4500)
    assert (len(ds.oos_train), len(ds.oos_val), len(ds.oos_test)) == (100, 100, 1000)
    assert Counter(e.label for e in ds.train).most_common()[-1][1] == 100


def test_large_file_reports_progress_while_streaming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 9: a 50 MB CSV was silent while it loaded. Files over the threshold
    # (8 MiB; lowered here) report each tenth read, then the row count.
    import tinyslm.text.dataset as dataset_module

    monkeypatch.setattr(dataset_module, "PROGRESS_MIN_BYTES", 1000)
    rows = "".join(f"turn on lamp {i},on\nturn off lamp {i},off\n" for i in range(3000))
    path = write(tmp_path, "d.csv", "text,label\n" + rows)
    lines: list[str] = []
    ds = load_dataset(path, progress=lines.append)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 6000
    reading = [ln for ln in lines if ln.startswith("reading d.csv: ")]
    assert len(reading) >= 5, lines
    assert re.fullmatch(r"reading d\.csv: \d+ of 0 MiB \(\d+ s\)", reading[0])
    assert lines[-1] == "read 6000 rows; checking and splitting them ..."
    # Small files stay quiet.
    quiet: list[str] = []
    monkeypatch.setattr(dataset_module, "PROGRESS_MIN_BYTES", 10**9)
    assert load_dataset(path, progress=quiet.append) == ds
    assert quiet == []


def test_invalid_utf8_in_a_streamed_file_names_the_line(tmp_path: Path) -> None:
    data = b"text,label\n" + b"ok,a\n" * 5000 + b"caf\xe9,a\nb,b\nc,b\n"
    message = load_error(write(tmp_path, "d.csv", data))
    assert message.endswith("line 5002: not valid UTF-8 (byte 0xe9); save the file as UTF-8")


@pytest.mark.parametrize(
    ("name", "first_row"),
    [("deep.jsonl", "[" * 100_000), ("big.csv", '"' + "x" * 200_000 + '",a')],
)
def test_a_first_row_the_parsers_refuse_is_text_to_the_sniffer(
    tmp_path: Path, name: str, first_row: str
) -> None:
    """Which loader reads a file is decided from its first row; a row that makes the json
    or csv module raise goes to the text loader, which says what is wrong in one line
    (it raised RecursionError or csv.Error before round 32)."""
    from tinyslm.modality import modality_of_data

    path = tmp_path / name
    path.write_text(first_row + "\n")
    assert modality_of_data(path).name == "text"
    with pytest.raises(DatasetError):
        load_dataset(path)
