"""report_data / report: figures measured on TFLM agree with the manifest; the page is stable."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tinyslm.boards import load_boards
from tinyslm.errors import ModelError
from tinyslm.manifest import load_model_dir
from tinyslm.report import render_report
from tinyslm.report_data import (
    ConfusedPair,
    ReportData,
    load_report_data,
    report_data_from_dataset,
    tensor_sizes,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURE_MODEL = REPO / "tests" / "fixtures" / "model"
FIXTURE_CSV = REPO / "tests" / "fixtures" / "fixture_commands.csv"
HISTORY = tuple(
    {"loss": 2.0 - 0.1 * i, "accuracy": 0.4 + 0.05 * i, "val_accuracy": 0.3 + 0.05 * i}
    for i in range(6)
)


@pytest.fixture(scope="module")
def fixture() -> tuple[object, bytes, ReportData]:
    manifest, model = load_model_dir(FIXTURE_MODEL, probe_arena=False)
    return manifest, model, report_data_from_dataset(model, manifest, FIXTURE_CSV, HISTORY)


def test_figures_agree_with_the_manifest_measured_in_training(
    fixture: tuple[object, bytes, ReportData],
) -> None:
    """Same model, same split, same TFLM: the confusion matrix and the curve at the chosen
    level give exactly the accuracies train recorded."""
    manifest, _, data = fixture
    mt = manifest.metrics  # type: ignore[attr-defined]
    m = np.asarray(data.confusion)
    assert data.eval_split == mt["eval_split"] == "test"
    assert m.sum() == mt["n_eval"] and data.n_oos == mt["n_oos_eval"]
    assert round(float(np.trace(m) / m.sum()), 5) == mt["int8_accuracy"]
    point = {p.q: p for p in data.curve}[manifest.threshold_q]  # type: ignore[attr-defined]
    assert point.accuracy_at_threshold == mt["int8_accuracy_at_threshold"]
    assert point.oos_recall == mt["oos_recall"]
    assert round(1.0 - point.escalation_rate, 5) == mt["local_rate"]
    assert [p.q for p in data.curve] == list(range(-128, 128))
    # Raising the threshold never keeps more phrases local.
    rates = [p.escalation_rate for p in data.curve]
    assert rates == sorted(rates)


def test_per_intent_and_pairs_come_from_the_confusion_matrix(
    fixture: tuple[object, bytes, ReportData],
) -> None:
    _, _, data = fixture
    m = np.asarray(data.confusion)
    rows = data.per_intent()
    assert [r[0] for r in rows] == list(data.labels)
    for i, (_, precision, recall, support) in enumerate(rows):
        assert support == m[i].sum()
        if recall is not None:
            assert recall == pytest.approx(m[i, i] / m[i].sum())
        if precision is not None:
            # Out-of-scope phrases answered as the intent count against it (gate
            # ignored): round 42.
            oos = data.oos_top1[i] if data.oos_top1 is not None else 0
            assert precision == pytest.approx(m[i, i] / (m[:, i].sum() + oos))
    assert data.pairs, "the fixture model is 75% accurate: it confuses something"
    counts = [p.count for p in data.pairs]
    assert counts == sorted(counts, reverse=True)
    for pair in data.pairs:
        t, p = data.labels.index(pair.true), data.labels.index(pair.predicted)
        assert t != p and m[t, p] == pair.count
        assert 1 <= len(pair.examples) <= min(pair.count, 3)


def test_tensor_sizes_read_the_flatbuffer(fixture: tuple[object, bytes, ReportData]) -> None:
    manifest, model, data = fixture
    sizes = {(t.layer, t.role): t for t in tensor_sizes(model)}
    spec = manifest.features  # type: ignore[attr-defined]
    dim = manifest.train_config["dim"]  # type: ignore[attr-defined]
    hidden = manifest.train_config["hidden"]  # type: ignore[attr-defined]
    table = sizes[("embed", "table")]
    assert (table.op, table.shape, table.dtype) == ("GATHER", (spec.buckets, dim), "INT8")
    assert table.bytes == spec.buckets * dim
    assert sizes[("hidden", "weights")].bytes == hidden * dim
    assert sizes[("hidden", "bias")].bytes == 4 * hidden  # int32 bias
    assert sizes[("logits", "weights")].shape == (len(data.labels), hidden)
    assert sum(t.bytes for t in data.tensors) < len(model)


def test_tensor_sizes_of_a_model_without_names_tell_its_layers_apart() -> None:
    # Keyword models carry no tensor names (flatbuffer.compact): each bar of the
    # size plot is still its own layer, by op and place, with its weights and bias.
    model = (Path(__file__).resolve().parents[1] / "fixtures/kws_model/model.tflite").read_bytes()
    sizes = tensor_sizes(model)
    keys = [(t.layer, t.role) for t in sizes]
    assert len(set(keys)) == len(keys) == 20  # 10 layers (conv, 4 x (dw, pw), fc) x 2
    assert keys[:4] == [
        ("conv_2d 0", "weights"),
        ("conv_2d 0", "bias"),
        ("depthwise_conv_2d 1", "weights"),
        ("depthwise_conv_2d 1", "bias"),
    ]
    assert keys[-2:] == [("fully_connected 10", "weights"), ("fully_connected 10", "bias")]
    assert sum(t.bytes for t in sizes) < len(model)


def test_report_json_round_trip_and_refusals(
    fixture: tuple[object, bytes, ReportData], tmp_path: Path
) -> None:
    _, _, data = fixture
    path = tmp_path / "report.json"
    path.write_bytes(data.to_json_bytes())
    assert load_report_data(path) == data
    # Stored rounded to 6 decimals; the data in memory is already the stored data.
    assert data.history == tuple({k: round(v, 6) for k, v in h.items()} for h in HISTORY)
    raw = json.loads(path.read_text())
    raw["format_version"] = 99
    path.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="format_version 99"):
        load_report_data(path)
    del raw["curve"]
    raw["format_version"] = 1
    path.write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="malformed"):
        load_report_data(path)


def test_page_is_deterministic_self_contained_and_escaped(
    fixture: tuple[object, bytes, ReportData],
) -> None:
    manifest, _, data = fixture
    hostile = ConfusedPair(data.labels[0], data.labels[1], 1, ("<script>alert(1)</script> & co",))
    data = ReportData(**{**data.__dict__, "pairs": (hostile, *data.pairs)})
    page = render_report(manifest, data, load_boards())
    assert page == render_report(manifest, data, load_boards())
    # Five plots, all inline: precision/recall, confusion, threshold, size, training.
    assert page.count("<svg") == 5
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "@import" not in page and "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert manifest.model_sha256 in page  # type: ignore[attr-defined]
    for board in load_boards():
        assert f"{board.id} model" in page and f"{board.id} arena" in page
    # No dates or paths in the banner: only version and hash identify it.
    assert str(REPO) not in page and "Date" not in page


def test_page_without_history_says_so(fixture: tuple[object, bytes, ReportData]) -> None:
    manifest, _, data = fixture
    page = render_report(manifest, ReportData(**{**data.__dict__, "history": ()}), load_boards())
    assert page.count("<svg") == 4
    assert "No training history was recorded" in page


def test_model_row_names_the_ids_per_n_gram_only_when_more_than_one(
    fixture: tuple[object, bytes, ReportData],
) -> None:
    import dataclasses

    manifest, _, data = fixture
    assert "ids per n-gram" not in render_report(manifest, data, load_boards())
    two = dataclasses.replace(
        manifest,
        features=dataclasses.replace(manifest.features, hashes=2),  # type: ignore[attr-defined]
    )
    assert "seq_len 32, 2 ids per n-gram, dim 8" in render_report(two, data, load_boards())


def test_val_row_without_a_count_reads_as_info_reads_it(
    fixture: tuple[object, bytes, ReportData],
) -> None:
    """A manifest with val_int8_accuracy but no n_val or val_accuracy (edited): the
    summary row gives what it has, as train's summary and info do, not 'of ? phrases'."""
    import dataclasses

    manifest, _, data = fixture
    row = "float / INT8 accuracy (TFLM; val split)"
    assert row not in render_report(manifest, data, load_boards())
    metrics = {**manifest.metrics, "val_int8_accuracy": 0.96429}  # type: ignore[attr-defined]
    page = render_report(dataclasses.replace(manifest, metrics=metrics), data, load_boards())
    assert f"<td>{row}</td><td>n/a / 96.43%</td>" in page
    counted = dataclasses.replace(manifest, metrics={**metrics, "n_val": 140, "val_accuracy": 0.5})
    page = render_report(counted, data, load_boards())
    assert f"<td>{row}</td><td>50.00% / 96.43% of 140 phrases</td>" in page
