"""Round 48: user text in report figures is drawn as written.

Intent and keyword names are free text; matplotlib parses any text holding two unescaped
``$`` as mathtext: ``pay_$x$`` was drawn as ``pay_`` and an italic x, and
``price_$5_$10`` raised a ParseException that lost a whole training at its report.
"""

from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path

import pytest

from tinyslm.boards import load_boards
from tinyslm.manifest import load_model_dir
from tinyslm.report import heatmap_svg, render_report
from tinyslm.report_data import report_data_from_dataset

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DOLLARS = ("price_$5_$10", "pay_$x$", r"cost_$\frac_x$")


def _svg_texts(svg: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def test_heatmap_draws_dollar_names_verbatim() -> None:
    svg, _ = heatmap_svg(list(DOLLARS), [[3, 1, 0], [0, 4, 0], [1, 0, 2]], "test")
    texts = _svg_texts(svg)
    for name in DOLLARS:
        assert texts.count(name) == 2, (name, texts)  # both axes
    assert "oblique" not in svg  # no mathtext italics


def test_report_of_a_model_with_dollar_labels_renders_them_as_written() -> None:
    manifest, model = load_model_dir(FIXTURES / "model", probe_arena=False)
    data = report_data_from_dataset(model, manifest, FIXTURES / "fixture_commands.csv", ())
    rename = dict(zip(manifest.labels[:3], DOLLARS, strict=False))
    labels = tuple(rename.get(name, name) for name in manifest.labels)
    pairs = tuple(
        dataclasses.replace(
            p, true=rename.get(p.true, p.true), predicted=rename.get(p.predicted, p.predicted)
        )
        for p in data.pairs
    )
    data = dataclasses.replace(data, labels=labels, pairs=pairs)
    manifest = dataclasses.replace(manifest, labels=labels)
    page = render_report(manifest, data, load_boards())
    texts = _svg_texts(page)
    for name in DOLLARS:
        # Precision/recall bars (with the support) and both heatmap axes.
        assert any(t.startswith(f"{name} (") for t in texts), name
        assert texts.count(name) == 2, name
    assert "font-style: oblique" not in page


@pytest.mark.parametrize("name", DOLLARS)
def test_short_tick_labels_keep_dollars(name: str) -> None:
    svg, _ = heatmap_svg([name, "other"], [[1, 0], [0, 1]], "test")
    assert name in _svg_texts(svg)


def test_keyword_accuracy_bars_draw_dollar_names_verbatim() -> None:
    from tinyslm.audio.report import _accuracy_svg

    svg, _ = _accuracy_svg({"pay_$x$": [1.0, 3], "price_$5_$10": [0.5, 2]}, "test")
    texts = _svg_texts(svg)
    assert "pay_$x$ (3)" in texts and "price_$5_$10 (2)" in texts
