"""Round 44: the report pages draw and print only figures that exist, legibly.

A hunter found: accuracy at threshold and in-scope escalation printed as 0.00% and drawn
as lines at 0 on a split without in-scope phrases; shortened tick labels that collided;
``report --data`` on a file of out-of-scope phrases only measured its train split and
said the file had no test or val split; a 4-label heatmap stretched to the column
(text ~3 times the other figures'); training curves ticked at epoch 1.25; and on the
keyword page, MACs printed 0 when not recorded, the threshold rule '?', and a chosen
point drawn at 0 false accepts per hour when no stream second was measured.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyslm.audio import report as audio_report
from tinyslm.audio.report import KeywordReportData, render_keyword_report
from tinyslm.boards import load_boards
from tinyslm.manifest import load_model_dir
from tinyslm.operating_point import with_label_thresholds, with_threshold
from tinyslm.report import heatmap_svg, history_svg, render_report
from tinyslm.report_data import (
    load_report_data,
    report_data_from_dataset,
    tensor_sizes,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURE_MODEL = REPO / "tests" / "fixtures" / "model"
FIXTURE_CSV = REPO / "tests" / "fixtures" / "fixture_commands.csv"
sys.path.insert(0, str(REPO / "tests" / "fixtures"))
from kws import KWS_FIXTURE, keyword_manifest  # noqa: E402


def _text(page: str) -> str:
    """The page's words without its plots and tags."""
    page = re.sub(r"<svg.*?</svg>", " ", page, flags=re.S)
    page = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", page).replace("&#x27;", "'").split())


def _svg_texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


@pytest.fixture(scope="module")
def oos_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file of 30 out-of-scope phrases, no split column (as the hunter's oosonly.csv)."""
    rows = [line for line in FIXTURE_CSV.read_text().splitlines() if line.endswith(",oos")]
    path = tmp_path_factory.mktemp("oos") / "oosonly.csv"
    path.write_text("text,label\n" + "\n".join(rows[:30]) + "\n")
    return path


@pytest.fixture(scope="module")
def model() -> tuple[object, bytes]:
    return load_model_dir(FIXTURE_MODEL, probe_arena=False)


# --- 1: no in-scope phrase, no accuracy at threshold nor escalation ----


def test_no_in_scope_phrase_gives_no_accuracy_or_escalation(
    model: tuple[object, bytes], oos_only: Path, tmp_path: Path
) -> None:
    manifest, blob = model
    moved = with_label_thresholds(with_threshold(manifest, 0.5), {"door_unlock": 0.9})  # type: ignore[arg-type]
    data = report_data_from_dataset(blob, moved, oos_only)
    assert data.n_in_scope == 0 and data.n_oos == 30
    assert all(p.accuracy_at_threshold is None and p.escalation_rate is None for p in data.curve)
    assert data.own_gate is not None and data.own_gate.escalation_rate is None
    # report.json keeps them as null and reads them back.
    (tmp_path / "report.json").write_bytes(data.to_json_bytes())
    assert load_report_data(tmp_path / "report.json") == data

    page = render_report(moved, data, load_boards(), measured_on=str(oos_only))
    text = _text(page)
    assert "accuracy at threshold 0.00%" not in text
    assert "in-scope escalated 0.00%" not in text
    assert "accuracy at threshold n/a" in text
    assert "in-scope escalated n/a" in text
    threshold = page[page.index("<h2>Threshold</h2>") : page.index("<h2>Size</h2>")]
    labels = _svg_texts(threshold)
    assert "accuracy at threshold" not in labels and "in-scope escalated" not in labels
    assert "out-of-scope recall" in labels
    assert "there is no accuracy nor in-scope escalation curve" in _text(threshold)


def test_an_old_report_json_with_zeros_is_not_printed_as_zero(
    model: tuple[object, bytes],
) -> None:
    """A report.json written before round 44 stored 0.0 for a split without in-scope
    phrases: the page reads them as n/a all the same."""
    manifest, blob = model
    moved = with_threshold(manifest, 0.5)  # type: ignore[arg-type]
    data = report_data_from_dataset(blob, moved, FIXTURE_CSV)
    k = len(data.labels)
    zeros = tuple(
        dataclasses.replace(p, accuracy_at_threshold=0.0, escalation_rate=0.0) for p in data.curve
    )
    old = dataclasses.replace(
        data, confusion=tuple((0,) * k for _ in range(k)), pairs=(), curve=zeros
    )
    page = render_report(moved, old, load_boards())
    assert "accuracy at threshold 0.00%" not in _text(page)
    threshold = page[page.index("<h2>Threshold</h2>") : page.index("<h2>Size</h2>")]
    assert "accuracy at threshold" not in _svg_texts(threshold)


# --- 2: shortened tick labels are distinct ----


def test_long_labels_sharing_their_start_get_distinct_ticks() -> None:
    prefix = "turn_the_living_room_lights_to_the_level_"
    names = [prefix + "dim", prefix + "on", prefix + "off", "lights_on"]
    svg, _ = heatmap_svg(names, np.eye(4, dtype=int).tolist(), "test")
    shown = [t for t in _svg_texts(svg) if t.startswith("turn_the")]
    assert len(shown) == 6 and len(set(shown)) == 3  # 3 rows and 3 columns, told apart
    from tinyslm.report import short_labels

    ticks = short_labels(names)
    assert len(set(ticks)) == len(ticks)
    assert all(len(t) <= 40 for t in ticks)
    assert ticks[-1] == "lights_on"
    assert ticks[0].endswith("level_dim")


def test_labels_alike_at_both_ends_are_numbered() -> None:
    from tinyslm.report import short_labels

    names = ["a" * 45 + x + "b" * 45 for x in "xyz"]
    ticks = short_labels(names)
    assert len(set(ticks)) == 3
    assert all(len(t) <= 40 for t in ticks)
    assert ticks[2].startswith("#3 ")


def test_precision_recall_bars_tell_long_intents_apart(model: tuple[object, bytes]) -> None:
    manifest, blob = model
    data = report_data_from_dataset(blob, manifest, FIXTURE_CSV)  # type: ignore[arg-type]
    prefix = "turn_the_living_room_lights_to_the_level_"
    labels = tuple(prefix + n for n in data.labels)
    page = render_report(
        dataclasses.replace(manifest, labels=labels),  # type: ignore[type-var]
        dataclasses.replace(data, labels=labels, pairs=()),
        load_boards(),
    )
    bars = page[page.index("Per-intent precision") : page.index("<details>")]
    ticks = [t for t in _svg_texts(bars) if t.startswith("turn_the")]
    assert ticks and len(set(ticks)) == len(ticks)


# --- 3: report --data on a file whose in-scope phrases have no test or val split ----


def test_a_file_of_out_of_scope_phrases_is_measured_whole(
    model: tuple[object, bytes], oos_only: Path
) -> None:
    manifest, blob = model
    data = report_data_from_dataset(blob, manifest, oos_only)  # type: ignore[arg-type]
    assert data.n_oos == 30  # 21 of the train split, 9 carved into val and test
    text = _text(render_report(manifest, data, load_boards(), measured_on=str(oos_only)))
    assert "the file has no test or val split" not in text
    assert f"measured on {oos_only}, every phrase: 0 in-scope and 30 out-of-scope phrases" in text
    assert "no in-scope phrase of the file is in a test or val split: not held out" in text
    assert f"Figures: {oos_only}, every phrase" in text
    assert "all split" not in text


def test_a_file_without_any_split_keeps_its_train_split_wording(
    model: tuple[object, bytes], tmp_path: Path
) -> None:
    manifest, blob = model
    data_file = tmp_path / "nosplit.csv"
    data_file.write_text(
        "text,label\nturn on the lights,lights_on\nturn off the lights,lights_off\n"
    )
    data = report_data_from_dataset(blob, manifest, data_file)  # type: ignore[arg-type]
    assert data.eval_split == "train"
    text = _text(render_report(manifest, data, load_boards(), measured_on=str(data_file)))
    assert "(the file has no test or val split: not held out)" in text


# --- 4: a small heatmap keeps the scale of the other figures ----


def test_a_small_heatmap_takes_its_share_of_the_column() -> None:
    svg, _ = heatmap_svg(["yes", "no", "_unknown_", "_silence_"], np.eye(4).tolist(), "test")
    m = re.match(r'<svg style="width:([0-9.]+)%"', svg)
    assert m is not None, svg[:200]
    assert 30.0 < float(m.group(1)) < 60.0
    # A heatmap as wide as the page's figures is drawn across the column, as before.
    wide, _ = heatmap_svg([f"i{n}" for n in range(30)], np.eye(30).tolist(), "test")
    assert not wide.startswith('<svg style="width')


# --- 5: whole epochs ----


def test_training_curves_tick_whole_epochs() -> None:
    history = tuple({"loss": 1.0 - 0.1 * i, "accuracy": 0.5 + 0.1 * i} for i in range(3))
    svg, _ = history_svg(history)
    # The x axes: matplotlib.axis_1 (left plot) and matplotlib.axis_3 (right plot).
    ticks = []
    for first, after in (("axis_1", "axis_2"), ("axis_3", "axis_4")):
        part = svg[svg.index(f'id="matplotlib.{first}"') : svg.index(f'id="matplotlib.{after}"')]
        ticks += [t.strip() for t in _svg_texts(part)]
    assert ticks == ["1", "2", "3", "epoch"] * 2, ticks


# --- keyword page: what was not recorded is n/a ----


def _keyword_page(
    metrics: dict[str, object], threshold_q: int = 5
) -> tuple[str, dict[str, object]]:
    manifest = dataclasses.replace(keyword_manifest(threshold_q=threshold_q), metrics=metrics)
    blob = (KWS_FIXTURE / "model.tflite").read_bytes()
    curve = tuple((q, 1.0, 0.5) for q in range(-128, 128, 4))
    seen: dict[str, object] = {}
    real = audio_report._curve_svg

    def spy(*args: object) -> tuple[str, str]:
        svg, caption = real(*args)  # type: ignore[arg-type]
        seen["fa_h"], seen["caption"], seen["svg"] = args[2], caption, svg
        return svg, caption

    patch = pytest.MonkeyPatch()
    patch.setattr(audio_report, "_curve_svg", spy)
    try:
        page = render_keyword_report(
            manifest, KeywordReportData(curve, tensor_sizes(blob)), load_boards()
        )
    finally:
        patch.undo()
    return _text(page), seen


def test_keyword_page_says_n_a_for_what_was_not_recorded() -> None:
    text, _ = _keyword_page({"eval_split": "test", "false_rejection_rate": 0.5})
    assert "MACs per inference n/a" in text
    assert "MACs per inference 0" not in text
    assert "threshold rule not recorded" in text
    assert "threshold rule ?" not in text


def test_keyword_page_without_stream_seconds_draws_no_chosen_point() -> None:
    # The level (5) is off the sampled grid and the streams' seconds are all 0.
    mt = {"eval_split": "test", "keyword_seconds": 0.0, "false_rejection_rate": 0.5}
    _, seen = _keyword_page(mt)
    assert seen["fa_h"] is None
    caption = str(seen["caption"])
    assert "records no stream seconds" in caption
    assert "does not record the keyword stream's length" not in caption
    assert "chosen P=" not in str(seen["svg"])  # no legend entry: no point


def test_in_scope_phrases_all_in_train_and_out_of_scope_held_out_is_the_whole_file(
    model: tuple[object, bytes], tmp_path: Path
) -> None:
    """In-scope phrases only in the train split, out-of-scope ones in val and test: the
    whole file is measured, and the confusions section says so (review of round 44: it
    could still say "the file's train split" unseen)."""
    manifest, blob = model
    rows = FIXTURE_CSV.read_text().splitlines()[1:]
    inside = [r for r in rows if not r.endswith(",oos")][:40]
    outside = [r for r in rows if r.endswith(",oos")][:10]
    data_file = tmp_path / "mixed.csv"
    data_file.write_text(
        "text,label,split\n"
        + "".join(f"{r},train\n" for r in inside)
        + "".join(f"{r},{'val' if i % 2 else 'test'}\n" for i, r in enumerate(outside))
    )
    data = report_data_from_dataset(blob, manifest, data_file)  # type: ignore[arg-type]
    assert (data.n_in_scope, data.n_oos) == (40, 10)
    text = _text(render_report(manifest, data, load_boards(), measured_on=str(data_file)))
    assert "These phrases are the whole file, not held out." in text
    assert "train split" not in text
