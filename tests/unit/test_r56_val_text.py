"""The one text of a text model's val figures that train's summary, ``info`` and the
report all show (``report_data.val_figures_text``, round 56's re-read: the three had
two near-copies of it)."""

from __future__ import annotations

import math

import pytest

from tinyslm.report_data import val_figures_text

RECORDED = {
    "eval_split": "test",
    "n_val": 140,
    "val_accuracy": 0.95714,
    "val_int8_accuracy": 0.96429,
}


def test_recorded_figures_read_from_their_count() -> None:
    assert val_figures_text(RECORDED) == "95.71% / 96.43% of 140 phrases"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # A hand-edited manifest without the count: no 'of ? phrases'.
        ({"n_val": None}, "95.71% / 96.43%"),
        # Nothing measured (NaN) or the float figure left out: n/a, never 'nan%'.
        ({"val_accuracy": math.nan}, "n/a / 96.43% of 140 phrases"),
        ({"val_accuracy": None}, "n/a / 96.43% of 140 phrases"),
        # No INT8 figure (no val split, a model from before round 56): no row at all.
        ({"val_int8_accuracy": None}, None),
        # The held-out split is val itself: its rows already show these figures.
        ({"eval_split": "val"}, None),
    ],
)
def test_what_is_missing_is_said_so(change: dict[str, object], expected: str | None) -> None:
    metrics = {k: v for k, v in {**RECORDED, **change}.items() if v is not None}
    assert val_figures_text(metrics) == expected
