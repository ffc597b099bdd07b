"""One measurement, one number, in train's table, info and eval's ``(train: ...)`` too.

A manifest stores a share rounded to 5 decimals: 78 of 95 clips is 0.82105, which a
percentage of 2 decimals read as 82.10% (0.82105 * 100 is 82.10499...) in train's and
info's tables and beside eval's own 82.11%, on one eval line. The report (fxrep, round
49) shows the count's figure; these rows follow it.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from tinyslm.audio.evaluate import format_keyword_eval
from tinyslm.audio.fit import summary_rows as keyword_summary_rows
from tinyslm.evaluate import EvalResult, format_eval
from tinyslm.manifest import load_model_dir
from tinyslm.text.fit import summary_rows as text_summary_rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from kws import keyword_manifest  # noqa: E402
from test_r49_counted_shares import keyword_eval  # noqa: E402

# 78 of 95 on the diagonal.
CONFUSION = [[3, 0, 0, 0, 0], [0, 17, 1, 14, 0], [2, 0, 22, 0, 0], [0, 0, 0, 36, 0], [0] * 5]
METRICS = {"eval_split": "test", "int8_accuracy": 0.82105, "float_accuracy": 0.82105}


def test_keyword_train_and_info_rows_show_the_count() -> None:
    manifest = keyword_manifest()
    metrics = {**manifest.metrics, **METRICS, "confusion": CONFUSION, "n_test": 95}
    rows = dict(keyword_summary_rows(replace(manifest, metrics=metrics)))
    assert rows["int8 accuracy (test clips, TFLM)"] == "82.11%"
    assert rows["float accuracy (test clips)"] == "82.11%"


def test_text_train_and_info_rows_show_the_count() -> None:
    manifest, _ = load_model_dir(FIXTURES / "model", probe_arena=False)
    metrics = {**manifest.metrics, **METRICS, "n_eval": 95}
    rows = dict(text_summary_rows(replace(manifest, metrics=metrics)))
    assert rows["int8 accuracy (test, TFLM)"] == "82.11%"
    assert rows["float accuracy (test)"] == "82.11%"
    # No count behind it: the stored figure as it is.
    rows = dict(text_summary_rows(replace(manifest, metrics={**metrics, "n_eval": None})))
    assert rows["int8 accuracy (test, TFLM)"] == "82.10%"


def test_keyword_eval_shows_trains_figure_as_its_count() -> None:
    result = keyword_eval({**METRICS, "confusion": CONFUSION, "n_test": 95})
    table = format_keyword_eval(result)
    assert "95 (82.11% right, INT8 on TFLM)  (train: 82.11% of 95)" in table, table


def test_text_eval_shows_trains_figure_as_its_count() -> None:
    result = EvalResult(
        source="demo_commands.csv", split="test", model_sha256="0" * 64, model_bytes=1,
        arena_bytes=1, threshold=0.5, threshold_q=0, phrases=95, oos_phrases=0,
        int8_accuracy=78 / 95, accuracy_at_threshold=0.5, escalation_rate=0.5,
        oos_recall=None, per_intent=(), trained={**METRICS, "n_eval": 95},
    )  # fmt: skip
    table = format_eval(result)
    assert "82.11%  (train: 82.11%)" in table, table
