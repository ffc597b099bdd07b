"""Round 49 (hrep #1, #4-#7): a report page's seal in another shape, one measurement
as one number, the heatmap's colour-bar label, labels holding a comma, and a distilled
model's page."""

from __future__ import annotations

import dataclasses
import html
import re
import sys
from functools import cache
from pathlib import Path

import pytest

from tinyslm.audio.fit import summary_rows
from tinyslm.audio.report import KeywordReportData, render_keyword_report
from tinyslm.boards import load_boards
from tinyslm.info import ModelInfo, format_info
from tinyslm.manifest import Manifest, load_model_dir
from tinyslm.pipeline import _check_report_page
from tinyslm.report import (
    BANNER,
    heatmap_svg,
    is_report_page,
    page_edited,
    render_report,
    seal_page,
)
from tinyslm.report_data import ReportData, report_data_from_dataset, tensor_sizes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from kws import KWS_FIXTURE, keyword_manifest  # noqa: E402

PAGE = f"<!DOCTYPE html>\n<html><body>{BANNER}0.1.0.</p>\n<h2>Summary</h2>\n</body></html>\n"


def _cell(page: str, row: str) -> str:
    """The summary table's value beside ``row`` (HTML-escaped as the page has it)."""
    found = re.search(rf"<td>{re.escape(html.escape(row))}</td><td>([^<]*)</td>", page)
    assert found is not None, row
    return found.group(1)


# --- #1: a seal that no longer parses is an edit ----------------------------------------------


def test_a_sealed_page_saved_with_crlf_is_edited(tmp_path: Path) -> None:
    """A Windows editor (or git's autocrlf) saves the page with CRLF: the strict seal did
    not match, the page was taken for one drawn before seals, and 'report -o' and
    'train --force' replaced or deleted the user's notes in it."""
    sealed = seal_page(PAGE).encode()
    assert not page_edited(sealed)
    noted = sealed.replace(b"<h2>Summary</h2>", b"<h2>Summary</h2><p>MY NOTES</p>")
    for edit in (
        noted.replace(b"\n", b"\r\n"),
        sealed.replace(b"\n", b"\r\n"),  # only converted: saved by another program
        sealed.replace(b"page sha256 ", b"page sha256  "),  # a seal line retyped
        sealed.replace(b"<!DOCTYPE html>\n", b"<!DOCTYPE html>\n\n", 1),  # a line put before it
    ):
        assert page_edited(edit) and not is_report_page(edit)
        page = tmp_path / "report.html"
        page.write_bytes(edit)
        # What train --force (with or without --no-report) checks the model's page with.
        assert _check_report_page(page) == "edited since tinyslm wrote it"
    # A page from before the seal (no seal in its head) is still tinyslm's, as it was.
    assert is_report_page(PAGE.encode()) and is_report_page(PAGE.replace("\n", "\r\n").encode())


# --- #4: one measurement, one number ----------------------------------------------------------

# 78 of 95 clips: 82.105...%, stored rounded to 0.82105, which reads 82.10% (0.82105 * 100
# is 82.10499...) where eval, from the count, says 82.11%.
CONFUSION = [[3, 0, 0, 0, 0], [0, 17, 1, 14, 0], [2, 0, 22, 0, 0], [0, 0, 0, 36, 0], [0] * 5]


def test_counted_share_is_the_count_the_stored_figure_rounds() -> None:
    from tinyslm.report_data import counted_share

    assert counted_share(0.82105, 95) == 78 / 95
    assert counted_share(0.82105, 95, 78) == 78 / 95
    # A count that does not round to the stored figure (an edited manifest): kept as stored.
    assert counted_share(0.82105, 95, 77) == 0.82105
    assert counted_share(0.5, 95) == 0.5  # 47.5 of 95 is no count
    assert counted_share(0.82105, None) == 0.82105
    assert counted_share(None, 95) is None
    assert counted_share(True, 95) is None


@cache
def _keyword_manifest() -> Manifest:
    return keyword_manifest()


def _keyword_page(manifest: Manifest) -> str:
    blob = (KWS_FIXTURE / "model.tflite").read_bytes()
    return render_keyword_report(manifest, KeywordReportData((), tensor_sizes(blob)), load_boards())


def test_keyword_report_shows_the_accuracy_eval_shows() -> None:
    metrics = {
        "eval_split": "test",
        "int8_accuracy": 0.82105,
        "float_accuracy": 0.82105,
        "confusion": CONFUSION,
        "n_test": 95,
    }
    page = _keyword_page(dataclasses.replace(_keyword_manifest(), metrics=metrics))
    assert _cell(page, "INT8 accuracy (TFLM)") == "82.11%"
    assert _cell(page, "float accuracy (test clips)") == "82.11%"


@pytest.fixture(scope="module")
def text_model() -> tuple[Manifest, ReportData]:
    manifest, model = load_model_dir(FIXTURES / "model", probe_arena=False)
    data = report_data_from_dataset(model, manifest, FIXTURES / "fixture_commands.csv", ())
    return manifest, data


def test_text_report_shows_the_accuracy_eval_shows(text_model: tuple[Manifest, ReportData]) -> None:
    manifest, data = text_model
    metrics = {**manifest.metrics, "int8_accuracy": 0.82105, "float_accuracy": 0.82105}
    page = render_report(dataclasses.replace(manifest, metrics={**metrics, "n_eval": 95}), data, ())
    assert _cell(page, "INT8 accuracy (TFLM)") == "82.11%"
    assert _cell(page, "float accuracy (test)") == "82.11%"
    # Without the count behind it, the stored figure as it is.
    page = render_report(
        dataclasses.replace(manifest, metrics=metrics | {"n_eval": None}), data, ()
    )
    assert _cell(page, "INT8 accuracy (TFLM)") == "82.10%"


# --- #5: the colour-bar label inside the figure -----------------------------------------------


@pytest.mark.parametrize("noun", ["label", "intent"])
# Long names (rev2 #4): their rotated ticks took the height, and the bar's label ran off
# the top for 2 intents of 24 characters or more.
@pytest.mark.parametrize("length", [0, 16, 24, 28, 40])
def test_heatmap_colour_bar_label_stays_inside_the_svg(noun: str, length: int) -> None:
    for k in range(2, 17):
        labels = [f"{noun}_{i}".rjust(length, "x") for i in range(k)]
        confusion = [[5 if r == c else 1 for c in range(k)] for r in range(k)]
        svg, _ = heatmap_svg(labels, confusion, "test", noun)
        box = re.search(r'viewBox="0 0 ([0-9.]+) ([0-9.]+)"', svg)
        assert box is not None
        width, height = float(box.group(1)), float(box.group(2))
        rotated = re.finditer(
            r'font-size: ([0-9.]+)px[^"]*" x="([0-9.]+)" y="([0-9.]+)" '
            r'transform="rotate\(-90[^"]*">([^<]*)</text>',
            svg,
        )
        # The colour bar's: the one turned up that is neither a tick nor the axis' label.
        bar = [t for t in rotated if t.group(4) not in (*labels, f"true {noun}")]
        assert len(bar) == 1, k
        label = bar[0]
        size, x, y = (float(label.group(i)) for i in (1, 2, 3))
        # Rotated: the text runs up and down from y, half its length (~0.6 em a glyph) each way.
        half = 0.3 * len(label.group(4)) * size
        assert half <= y <= height - half, (k, y, half, height)
        # x is the baseline: turned up, the glyphs' descent (~0.24 em) lies right of it.
        assert x + 0.25 * size <= width, (k, x, width)


# --- #6: a label holding a comma --------------------------------------------------------------


def test_a_label_holding_a_comma_is_one_label_on_every_row() -> None:
    labels = ("_silence_", "_unknown_", "stop", "yes, no")
    manifest = dataclasses.replace(_keyword_manifest(), labels=labels)
    page = _keyword_page(manifest)
    assert _cell(page, "labels") == html.escape('["_silence_", "_unknown_", "stop", "yes, no"]')
    # train's and info's keywords row (summary_rows serves both).
    assert dict(summary_rows(manifest))["keywords"] == '["stop", "yes, no"]'
    info = format_info(ModelInfo(Path("m"), "model folder", None, manifest, 4096, ()))
    assert re.search(r'^keywords +\["stop", "yes, no"\]$', info, re.M), info
    # One rule, shared: info's labels row's.
    from tinyslm.info import labels_text

    assert labels_text(labels) == '["_silence_", "_unknown_", "stop", "yes, no"]'
    assert labels_text(("a", "b c")) == "a, b c"


# --- #7: a distilled model's page says so -----------------------------------------------------


def _history_caption(page: str) -> str:
    found = re.search(r"<figcaption>(Training curves[^<]*)</figcaption>", page)
    assert found is not None
    return html.unescape(found.group(1))


def test_a_distilled_models_page_names_its_loss_and_teacher(
    text_model: tuple[Manifest, ReportData],
) -> None:
    manifest, data = text_model
    history = tuple(
        {"loss": 7.1 - e, "accuracy": 0.5, "val_loss": 6.1, "val_accuracy": 0.7} for e in range(2)
    )
    data = dataclasses.replace(data, history=history)
    plain = render_report(manifest, data, ())
    assert "teacher" not in plain and "distillation" not in plain
    distilled = dataclasses.replace(
        manifest,
        train_config={**manifest.train_config, "distill_alpha": 0.5, "distill_temperature": 2.0},
        metrics={
            **manifest.metrics,
            "teacher_train_accuracy_crossfit": 0.97174,
            "teacher_folds": 5,
        },
    )
    page = render_report(distilled, data, ())
    caption = _history_caption(page)
    assert "distillation objective" in caption and "alpha 0.5, T 2" in caption
    assert ">distillation loss</text>" in page  # the loss plot's title
    assert _cell(page, "teacher (distillation)") == (
        "all-MiniLM-L6-v2, 97.17% on train (5-fold cross-fitted)"
    )
    # As train printed it: from the count of training phrases (78 of 95 is 82.11%).
    counted = {"teacher_train_accuracy_crossfit": 0.82105, "n_train": 95}
    counted_page = render_report(
        dataclasses.replace(distilled, metrics={**distilled.metrics, **counted}), data, ()
    )
    assert _cell(counted_page, "teacher (distillation)").startswith("all-MiniLM-L6-v2, 82.11%")
    one_fold = dataclasses.replace(distilled, metrics={**distilled.metrics, "teacher_folds": 1})
    assert _cell(render_report(one_fold, data, ()), "teacher (distillation)").endswith(
        "(in-sample, not cross-fitted)"
    )
