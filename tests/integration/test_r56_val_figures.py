"""A text model's validation figures (round 56): ``train`` records the val split's
in-scope accuracy, float and INT8 on TFLM, prints it in its summary, and ``--json`` and
``info`` carry it; a set without a val split records none (training phrases' own
accuracy is no figure to choose a model by).

Before, ``train --json`` had test figures only, so a CI script comparing sizes or
settings could do it only on test.
"""

from __future__ import annotations

import csv
import html
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from cli_support import run_cli

from tinyslm.manifest import load_model_dir
from tinyslm.report_data import counted_metrics
from tinyslm.text.dataset import demo_dataset_path
from tinyslm.text.features import encode
from tinyslm.tflm_runtime import tflm_scores

pytestmark = pytest.mark.slow

LABELS = ("lights_off", "lights_on", "timer_set", "weather_query")
TINY = ["--buckets", "256", "--dim", "8", "--hidden", "8", "--seq-len", "16", "--epochs", "6"]
ROW = "val accuracy (float/int8)"
REPORT_ROW = "float / INT8 accuracy (TFLM; val split)"


def _rows(splits: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Four demo intents (20 phrases each) and 12 out-of-scope ones, each row given the
    next split of ``splits`` in turn (so every split gets every intent)."""
    keep: dict[str, list[str]] = defaultdict(list)
    with demo_dataset_path().open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            label = row["label"]
            cap = 12 if label == "oos" else 20
            if (label in LABELS or label == "oos") and len(keep[label]) < cap:
                keep[label].append(row["text"])
    return [
        (text, label, splits[i % len(splits)])
        for label, texts in sorted(keep.items())
        for i, text in enumerate(texts)
    ]


def _write(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "split"])
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def with_val(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str, str]]]:
    root = tmp_path_factory.mktemp("val")
    rows = _rows(("train", "train", "val", "test"))
    out = root / "model"
    data = _write(root / "set.csv", rows)
    proc = run_cli("train", str(data), "-o", str(out), "--json", str(root / "t.json"), *TINY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (root / "stdout.txt").write_text(proc.stdout, encoding="utf-8")
    return out, rows


def test_val_figures_are_the_val_phrases_scored_on_tflm(
    with_val: tuple[Path, list[tuple[str, str, str]]],
) -> None:
    out, rows = with_val
    manifest, model = load_model_dir(out)
    m = manifest.metrics
    val = [(text, label) for text, label, split in rows if split == "val" and label != "oos"]
    assert m["n_val"] == len(val) == 20
    # INT8 on TFLM, recomputed here from the val phrases, at the model's own arena.
    scores = tflm_scores(
        model, encode([t for t, _ in val], manifest.features), manifest.arena_bytes
    )
    index = {label: i for i, label in enumerate(manifest.labels)}
    right = int((np.argmax(scores, axis=1) == [index[lb] for _, lb in val]).sum())
    assert m["val_int8_accuracy"] == round(right / len(val), 5)
    # The float model's (its Keras weights are not kept): Keras measured the same
    # in-scope val phrases after the last epoch, which report.json's history keeps; the
    # gate temperature folded in afterwards moves no phrase's top intent. A share of 20
    # alone held for the float figure of the test split too.
    history = json.loads((out / "report.json").read_text(encoding="utf-8"))["history"]
    keras_right = round(history[-1]["val_accuracy"] * len(val))
    assert m["val_accuracy"] == round(keras_right / len(val), 5)


def test_the_summary_json_and_info_show_them(
    with_val: tuple[Path, list[tuple[str, str, str]]],
) -> None:
    out, _ = with_val
    m = load_model_dir(out)[0].metrics
    counted = counted_metrics(m)
    shown = f"{counted['val_accuracy'] * 100:.2f}% / {counted['val_int8_accuracy'] * 100:.2f}%"
    stdout = (out.parent / "stdout.txt").read_text(encoding="utf-8")
    line = next(ln for ln in stdout.splitlines() if ln.startswith(ROW))
    assert re.fullmatch(rf"{re.escape(ROW)}\s+{re.escape(shown)} of 20 phrases", line), line
    summary = json.loads((out.parent / "t.json").read_text(encoding="utf-8"))
    for key in ("n_val", "val_accuracy", "val_int8_accuracy"):
        assert summary["metrics"][key] == m[key], key
    info = run_cli("info", str(out))
    assert info.returncode == 0, info.stderr
    assert any(ln.startswith(ROW) and shown in ln for ln in info.stdout.splitlines()), info.stdout
    # The report train drew: its summary table has the row, as the cells read.
    assert f"{REPORT_ROW} | {shown} of 20 phrases" in _page_text(out / "report.html")


def _page_text(page: Path) -> str:
    """The page's text, each tag replaced by ' | ' and runs of them merged."""
    text = re.sub(r"<[^>]+>", " | ", page.read_text(encoding="utf-8"))
    return re.sub(r"\s*(\|\s*)+", " | ", html.unescape(text))


def _train(root: Path, splits: tuple[str, ...]) -> tuple[str, dict[str, object], Path]:
    """Train on rows given ``splits`` in turn: the summary, the manifest's metrics and
    the model folder."""
    out = root / "model"
    proc = run_cli("train", str(_write(root / "set.csv", _rows(splits))), "-o", str(out), *TINY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, load_model_dir(out)[0].metrics, out


def test_no_val_split_records_no_val_figures(tmp_path: Path) -> None:
    # Every row given train or test: the threshold is calibrated on train, whose own
    # accuracy is not recorded as a val figure.
    stdout, m, _ = _train(tmp_path, ("train", "train", "test"))
    assert m["threshold_calibrated_on"] == "train"
    assert not {"n_val", "val_accuracy", "val_int8_accuracy"} & set(m), sorted(m)
    assert ROW not in stdout


def test_without_a_test_split_the_val_figures_are_shown_once(tmp_path: Path) -> None:
    # The held-out split is val itself: its rows above already say these figures, so the
    # summary does not repeat them (the manifest still records them).
    stdout, m, out = _train(tmp_path, ("train", "train", "val"))
    assert m["eval_split"] == "val" and m["val_int8_accuracy"] == m["int8_accuracy"]
    assert "int8 accuracy (val, TFLM)" in stdout
    assert ROW not in stdout
    assert REPORT_ROW not in _page_text(out / "report.html")
