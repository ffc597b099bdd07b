"""Round 42: every statement of the report pages is true of the figures they show.

A hunter checked ``report.html`` against its data: the summary put training's figures
beside curves measured on a ``--data`` file it never named; 'No confusions: every
held-out phrase was answered right' was said of out-of-scope phrases answered locally,
of a file without in-scope phrases and of phrases not held out; precision left out the
out-of-scope phrases answered as the intent; the keyword page's chosen point sat on
another time base than its curve; long labels clipped the plots and printed matplotlib's
warnings; and a handful of captions and messages said what was not so.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tinyslm.audio import fit
from tinyslm.audio import report as audio_report
from tinyslm.audio.report import KeywordReportData, render_keyword_report
from tinyslm.boards import load_boards
from tinyslm.cli import cli
from tinyslm.errors import ModelError
from tinyslm.manifest import load_model_dir
from tinyslm.report import heatmap_svg, render_report
from tinyslm.report_data import (
    ConfusedPair,
    ReportData,
    report_data_from_dataset,
    tensor_sizes,
    text_report_page,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURE_MODEL = REPO / "tests" / "fixtures" / "model"
FIXTURE_CSV = REPO / "tests" / "fixtures" / "fixture_commands.csv"
sys.path.insert(0, str(REPO / "tests" / "fixtures"))
from kws import KWS_FIXTURE, keyword_manifest  # noqa: E402


@pytest.fixture(scope="module")
def model() -> tuple[object, bytes, ReportData]:
    manifest, blob = load_model_dir(FIXTURE_MODEL, probe_arena=False)
    return manifest, blob, report_data_from_dataset(blob, manifest, FIXTURE_CSV)


def _text(page: str) -> str:
    """The page's words without its plots and tags."""
    page = re.sub(r"<svg.*?</svg>", " ", page, flags=re.S)
    page = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", page).replace("&#x27;", "'").split())


def _perfect(data: ReportData, **changes: object) -> ReportData:
    """``data`` with every in-scope phrase right (a diagonal confusion matrix)."""
    k = len(data.labels)
    diag = tuple(tuple(2 if i == j else 0 for j in range(k)) for i in range(k))
    return dataclasses.replace(data, confusion=diag, pairs=(), **changes)  # type: ignore[arg-type]


# --- 1: the summary says whose figures are whose ------------------------------------------


def test_a_data_page_names_the_file_and_tags_trainings_figures(
    model: tuple[object, bytes, ReportData], tmp_path: Path
) -> None:
    manifest, blob, _ = model
    data = tmp_path / "mine.csv"
    data.write_text(
        "text,label,split\nturn on the lights,lights_on,test\nturn off the lights,lights_off,test\n"
        "bake me a cake,oos,test\n"
    )
    page, source = text_report_page(FIXTURE_MODEL, manifest, blob, tmp_path / "none.json", data)
    text = _text(page)
    assert source == str(data)
    assert f"Figures: {data} test split" in text
    assert f"measured on {data}, test split: 2 in-scope and 1 out-of-scope phrases" in text
    mt = manifest.metrics  # type: ignore[attr-defined]
    tag = f"(train, {mt['dataset']} {mt['eval_split']} split)"
    # Training's figures are labelled as training's, as eval labels them.
    assert f"float accuracy {tag}" in text
    assert f"out-of-scope recall {tag}" in text
    assert "out-of-scope recall (mine.csv test split)" in text
    # One bracket, not two in a row ('INT8 accuracy (TFLM) (train, ...)').
    assert f"INT8 accuracy (TFLM; {tag[1:]}" in text
    assert ") (" not in text


def test_a_file_without_splits_is_not_called_held_out(
    model: tuple[object, bytes, ReportData], tmp_path: Path
) -> None:
    manifest, blob, _ = model
    data = tmp_path / "nosplit.csv"
    data.write_text("text,label\nturn on the lights,lights_on\nturn off the lights,lights_off\n")
    page, _ = text_report_page(FIXTURE_MODEL, manifest, blob, tmp_path / "none.json", data)
    text = _text(page)
    assert f"Figures: {data} train split" in text
    # The banner said 'train split' beside a row 'float accuracy (test)'.
    assert "float accuracy (test)" not in text
    assert "not held out" in text
    assert "held-out phrase was answered" not in text


# --- 2: 'no confusions' is true of what was measured ----------------------------------------


def test_no_confusions_mentions_out_of_scope_phrases_answered_locally(
    model: tuple[object, bytes, ReportData],
) -> None:
    manifest, _, data = model
    leaky = _perfect(
        data,
        n_oos=4,
        curve=tuple(dataclasses.replace(p, oos_recall=0.75) for p in data.curve),
    )
    text = _text(render_report(manifest, leaky, load_boards()))
    assert "every held-out phrase was answered right" not in text
    assert "1 of 4 out-of-scope phrases passed the gate" in text


def test_no_in_scope_phrases_is_not_no_confusions(
    model: tuple[object, bytes, ReportData],
) -> None:
    manifest, _, data = model
    k = len(data.labels)
    empty = dataclasses.replace(
        data, confusion=tuple((0,) * k for _ in range(k)), pairs=(), n_oos=2
    )
    text = _text(render_report(manifest, empty, load_boards()))
    assert "every held-out phrase was answered right" not in text
    assert "No in-scope phrase was scored" in text
    assert "there is no recall to draw" in text


# --- 3: precision counts out-of-scope phrases answered as the intent --------------------------


def test_precision_counts_out_of_scope_phrases_answered_as_the_intent(
    model: tuple[object, bytes, ReportData],
) -> None:
    _, _, data = model
    # The fixture's held-out out-of-scope phrases all have a top-1 intent.
    assert data.oos_top1 is not None and sum(data.oos_top1) == data.n_oos
    k = len(data.labels)
    oos = tuple(3 if i == 0 else 0 for i in range(k))
    # n_oos is the phrases oos_top1 counts, as in every report.json tinyslm writes (one
    # top-1 per phrase): report.json's reader refuses a file where they differ.
    perfect = _perfect(data, oos_top1=oos, n_oos=sum(oos))
    rows = perfect.per_intent()
    assert rows[0][1] == pytest.approx(2 / 5)  # 2 right, 3 out-of-scope answered as it
    assert rows[1][1] == 1.0
    again = ReportData.from_dict(json.loads(perfect.to_json_bytes()))
    assert again.oos_top1 == oos and again.per_intent() == rows


# --- 4: the keyword page's chosen point is on the curve's basis --------------------------------


def test_the_curve_samples_the_chosen_level_and_the_manifest_records_keyword_seconds() -> None:
    import test_audio_fit as af  # the stand-in model and streams of test_audio_fit

    dataset = af.dataset.__wrapped__()  # type: ignore[attr-defined]
    from tinyslm.audio.detector import DetectorSpec
    from tinyslm.audio.stream import StreamSpec

    spec = StreamSpec(DetectorSpec(num_labels=4, threshold_q=0))
    material = fit.stream_material(dataset, "test", spec, af.graded_model)
    curve = fit.detection_curve(material, spec, also=(5,))
    assert [c[0] for c in curve] == sorted([*range(-128, 128, 4), 5])
    metrics = fit.stream_metrics(fit.figures_at(material, spec, 5), af.LABELS)
    assert metrics["keyword_seconds"] == round(material.keyword_seconds, 1) > 0


def test_an_off_grid_chosen_point_uses_the_curves_time_base(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest = keyword_manifest(threshold_q=5)  # off the 4-level grid
    mt = {
        "eval_split": "test",
        "noise_seconds": 9.0,
        "unknown_seconds": 9.0,
        "keyword_seconds": 18.0,
        "noise_false_accepts": 1,
        "unknown_false_accepts": 0,
        "keyword_false_accepts": 1,
        "false_rejection_rate": 0.5,
    }
    manifest = dataclasses.replace(manifest, metrics=mt)
    blob = (KWS_FIXTURE / "model.tflite").read_bytes()
    curve = tuple((q, 1.0, 0.5) for q in range(-128, 128, 4))
    data = KeywordReportData(curve, tensor_sizes(blob))
    seen: dict[str, object] = {}
    real = audio_report._curve_svg

    def spy(*args: object) -> tuple[str, str]:
        seen["fa_h"] = args[2]
        seen["caption"] = real(*args)[1]  # type: ignore[arg-type]
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(audio_report, "_curve_svg", spy)
    render_keyword_report(manifest, data, load_boards())
    # 2 false accepts over noise + unknown + keyword seconds (36 s), as the curve counts.
    assert seen["fa_h"] == pytest.approx(2 * 3600 / 36)
    assert "every threshold" not in str(seen["caption"])
    assert "one INT8 level in 4" in str(seen["caption"])


# --- 5: long labels, and no library warnings on the terminal -----------------------------------


def test_a_long_label_is_shortened_in_the_plots_without_warnings(
    model: tuple[object, bytes, ReportData], capfd: pytest.CaptureFixture[str]
) -> None:
    manifest, _, data = model
    long = "turn_" + "x" * 155
    labels = (long, *data.labels[1:])
    page = render_report(
        dataclasses.replace(manifest, labels=labels),  # type: ignore[type-var]
        dataclasses.replace(data, labels=labels),
        load_boards(),
    )
    err = capfd.readouterr().err
    assert "Warning" not in err, err
    svg_texts = re.findall(r"<text[^>]*>([^<]*)</text>", page)
    assert not any(long in t for t in svg_texts)
    assert any(t.startswith(long[:30]) and "\u2026" in t for t in svg_texts)
    # The full name is still on the page, in the table.
    assert f"<td>{long}</td>" in page


def test_library_layout_warnings_do_not_reach_the_terminal() -> None:
    """A figure whose labels leave its axes no room: matplotlib warned on savefig, and the
    UserWarning went to the user's stderr (twice, even with -q)."""
    import warnings

    from tinyslm.report import figure, svg_element

    fig = figure(1.0, 1.0)
    ax = fig.add_subplot()
    ax.set_yticks([0], ["x" * 300])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        svg_element(fig, "collapsed")
    assert not [str(w.message) for w in caught]


# --- 6: an intent without phrases is not drawn as 0% nor ranked ----------------------------------


def test_an_intent_without_phrases_is_not_ranked(
    model: tuple[object, bytes, ReportData],
) -> None:
    manifest, _, data = model
    k = len(data.labels)
    m = np.asarray(_perfect(data).confusion)
    m[0, :] = 0
    m[:, 0] = 0
    empty = dataclasses.replace(
        data, confusion=tuple(tuple(int(v) for v in r) for r in m), pairs=(), oos_top1=(0,) * k
    )
    page = render_report(manifest, empty, load_boards())
    bars = page[page.index("Per-intent precision") : page.index("<details>")]
    assert f"{data.labels[0]} (0)" not in bars
    assert "1 intent(s) without phrases in the split are left out" in _text(bars)


# --- 7, 8: captions and edge statements ----------------------------------------------------------


def test_heatmap_caption_without_confusions() -> None:
    labels = [f"intent_{i}" for i in range(35)]
    _, caption = heatmap_svg(labels, np.eye(35, dtype=int).tolist(), "test")
    assert "involved in the most confusions" not in caption
    assert "none is confused" in caption


def test_training_caption_follows_the_recorded_regularisation(
    model: tuple[object, bytes, ReportData],
) -> None:
    manifest, _, data = model
    history = ({"loss": 1.0, "accuracy": 0.5}, {"loss": 0.8, "accuracy": 0.6})
    config = {**manifest.train_config, "dropout": 0.0, "label_smoothing": 0.0}  # type: ignore[attr-defined]
    bare = dataclasses.replace(manifest, train_config=config)  # type: ignore[type-var]
    text = _text(render_report(bare, dataclasses.replace(data, history=history), load_boards()))
    assert "dropout and label smoothing active" not in text
    assert "no dropout or label smoothing" in text


def test_confused_pairs_table_says_it_is_a_selection(
    model: tuple[object, bytes, ReportData],
) -> None:
    manifest, _, data = model
    k = len(data.labels)
    full = tuple(tuple(1 for _ in range(k)) for _ in range(k))  # every pair confused once
    pairs = tuple(ConfusedPair(data.labels[0], data.labels[i], 1, ()) for i in range(1, 9))
    text = _text(
        render_report(
            manifest, dataclasses.replace(data, confusion=full, pairs=pairs), load_boards()
        )
    )
    assert f"The 8 most confused pairs of {k * (k - 1)}" in text


def test_keyword_page_statements() -> None:
    manifest = keyword_manifest()
    mt = {
        "eval_split": "val",
        "stream_split": "val",
        "best_epoch": 2,
        "noise_seconds": 9.0,
        "unknown_seconds": 9.0,
        "false_rejection_rate": 0.5,
    }
    manifest = dataclasses.replace(manifest, metrics=mt)
    blob = (KWS_FIXTURE / "model.tflite").read_bytes()
    curve = tuple((q, 1.0, 0.5) for q in range(-128, 128, 4))
    history = tuple({"loss": 1.0 / (i + 1), "accuracy": 0.1 * i} for i in range(4))
    text = _text(
        render_keyword_report(
            manifest, KeywordReportData(curve, tensor_sizes(blob), history), load_boards()
        )
    )
    assert "(test stream" not in text
    assert "false rejections (val stream)" in text
    assert "speakers not seen" not in text
    assert "epoch 2, whose weights the model kept" in text


# --- 9, 10: one true line for bad input ----------------------------------------------------------


def test_report_refuses_keyword_data_for_a_text_model(tmp_path: Path) -> None:
    from tinyslm.audio.wav import write_wav

    words = tmp_path / "kwd"
    (words / "yes").mkdir(parents=True)
    write_wav(words / "yes" / "a.wav", np.zeros(16000, dtype=np.int16))
    listing = tmp_path / "kwlist.csv"
    listing.write_text("path,label\nkwd/yes/a.wav,yes\n")
    for data in (words, listing):
        result = CliRunner().invoke(
            cli, ["report", str(FIXTURE_MODEL), "--data", str(data), "-o", str(tmp_path / "r.html")]
        )
        assert result.exit_code != 0
        assert f"{data} holds audio data" in result.output, result.output
        assert "is a directory" not in result.output and "missing column" not in result.output


def test_report_says_an_empty_output_is_empty(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", str(FIXTURE_MODEL), "-o", ""])
    assert result.exit_code != 0
    assert "-o is empty" in result.output
    assert "is a folder" not in result.output


def test_a_renamed_label_is_named(model: tuple[object, bytes, ReportData], tmp_path: Path) -> None:
    manifest, blob, data = model
    doc = json.loads(data.to_json_bytes())
    doc["model_sha256"] = manifest.model_sha256  # type: ignore[attr-defined]
    doc["labels"][3] = "renamed"
    stored = tmp_path / "report.json"
    stored.write_text(json.dumps(doc))
    with pytest.raises(ModelError) as err:
        text_report_page(FIXTURE_MODEL, manifest, blob, stored, None)
    assert f"label 4 is 'renamed', the manifest's is {data.labels[3]!r}" in str(err.value)
