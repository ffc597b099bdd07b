"""The summary tables (train, info) leave out figures a manifest lacks instead of failing.

Metrics are informational (the manifest's content hash leaves them out), so a manifest
may hold only some of them; ``tinyslm info`` once raised ``KeyError`` on such a keyword
manifest.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tinyslm.audio.fit import summary_rows as keyword_rows
from tinyslm.manifest import load_model_dir
from tinyslm.text.fit import summary_rows as text_rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from kws import keyword_manifest  # noqa: E402


@pytest.mark.parametrize("metrics", [{}, {"eval_split": "val", "int8_accuracy": 0.5}])
def test_text_rows_with_missing_figures(metrics: dict[str, object]) -> None:
    full, _ = load_model_dir(FIXTURES / "model")
    rows = dict(text_rows(replace(full, metrics=metrics)))
    assert rows["threshold"] == f"{full.threshold:.3f} (q={full.threshold_q})"
    assert "device line limit" in rows and "float/int8 agreement" not in rows
    assert ("int8 accuracy (val, TFLM)" in rows) == ("int8_accuracy" in metrics)
    # With every figure, every row is there.
    assert {"float/int8 agreement", "out-of-scope recall", "threshold rule"} <= dict(
        text_rows(full)
    ).keys()


def test_keyword_rows_with_missing_figures() -> None:
    sparse = keyword_manifest()
    rows = dict(keyword_rows(replace(sparse, metrics={})))
    assert rows["detector threshold"] == f"{sparse.threshold:.3f} (q={sparse.threshold_q})"
    assert "weakest label" not in rows and "MACs per inference" not in rows
    metrics = {
        "eval_split": "test",
        "per_class": {"yes": [0.75, 4], "no": [1.0, 3]},
        "macs": 1234,
        "false_rejection_rate": 0.25,
        "keyword_clips": 8,
        "keyword_false_accepts": 1,
    }
    rows = dict(keyword_rows(replace(sparse, metrics=metrics)))
    assert rows["weakest label"] == "yes 75.00% of 4 clips"
    assert rows["MACs per inference"] == "1,234"
    assert rows["false rejections (test stream)"].startswith("25.00% of 8 keywords")
    assert "false accepts per hour (test)" not in rows  # its figures are missing


def test_keyword_rows_say_the_streaming_rule() -> None:
    """The rule in words, from the manifest's KeywordSpec, with the span every averaged
    window holds (KeywordSpec.seen_whole_samples: tests/unit/test_audio_stream.py)."""
    m = keyword_manifest()  # 40 ms, 3 averaged: the fixture's rule
    rows = dict(keyword_rows(m))
    assert rows["streaming rule"] == (
        "an inference every 40 ms (25 a second) on a 1.00 s window, 3 averaged (a keyword up"
        " to 0.91 s lies whole in all), 1000 ms quiet after a detection"
    )
    default = replace(m.features, stride_frames=20, average=2)
    assert dict(keyword_rows(replace(m, features=default)))["streaming rule"] == (
        "an inference every 400 ms (2.5 a second) on a 1.00 s window, 2 averaged (a keyword up"
        " to 0.59 s lies whole in both), 1000 ms quiet after a detection"
    )
    single = replace(m.features, stride_frames=10, average=1, suppression_ms=500)
    assert dict(keyword_rows(replace(m, features=single)))["streaming rule"] == (
        "an inference every 200 ms (5 a second) on a 1.00 s window, 1 averaged (a keyword up"
        " to 0.99 s lies whole in it), 500 ms quiet after a detection"
    )


def test_info_escapes_control_characters_in_names(tmp_path: Path) -> None:
    # A keyword is its folder's name; one with a newline or an ESC sequence (a model
    # trained before such folders were refused) broke the table or drove the terminal.
    from click.testing import CliRunner
    from kws import keyword_model_dir

    from tinyslm.cli import cli

    manifest = keyword_manifest()
    labels = tuple(
        "a\nb\x1b[2J" if name not in ("_silence_", "_unknown_") and i == 2 else name
        for i, name in enumerate(manifest.labels)
    )
    folder = keyword_model_dir(tmp_path / "kws", replace(manifest, labels=labels))
    result = CliRunner().invoke(cli, ["info", str(folder)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    row = next(line for line in result.output.splitlines() if line.startswith("labels"))
    assert "a\\x0ab\\x1b[2J" in row
