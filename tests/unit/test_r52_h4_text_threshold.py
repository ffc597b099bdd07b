"""Round 52 (H4): train warns when its threshold leaves the board no right local answer.

A 3-epoch training on 12 phrases chose a threshold at which its held-out "int8 accuracy
at threshold" was 0.00%, a row of the summary and nothing more: a firmware engineer
flashing that model gets a board that answers nothing right on its own. The threshold
itself is kept as chosen; train says so in one line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyslm.decision import GateMetrics
from tinyslm.text import fit
from tinyslm.text.features import FeatureSpec
from tinyslm.verify import RULE_NO_OOS, ThresholdChoice, VerifyResult

TWELVE = [
    ("turn on the light", "on"),
    ("switch the light on", "on"),
    ("lights on please", "on"),
    ("turn off the light", "off"),
    ("switch the light off", "off"),
    ("lights off please", "off"),
    ("open the door", "open"),
    ("unlock the door", "open"),
    ("let me in", "open"),
    ("close the door", "close"),
    ("lock the door", "close"),
    ("shut the door", "close"),
]


def _result(accuracy: float, at_threshold: float, local: float, n: int = 4) -> VerifyResult:
    return VerifyResult(
        float_accuracy=accuracy,
        int8_accuracy=accuracy,
        agreement=1.0,
        threshold=ThresholdChoice(0.273, -58, RULE_NO_OOS, 1.0, escalated=1, calibrated_on=1),
        test_gate=GateMetrics(accuracy, at_threshold, local, None),
        ops=(),
        model_bytes=0,
        arena_bytes=0,
        eval_split="test",
        n_eval=n,
        n_oos_eval=0,
    )


def test_no_right_local_answer_is_warned_with_counts_and_a_fix() -> None:
    warning = fit._nothing_right_locally(_result(accuracy=0.25, at_threshold=0.0, local=0.25))
    assert warning == (
        "no test phrase is answered right locally at threshold 0.273 (q=-58) (3 of 4 "
        "escalated, 1 answered wrong; the 1 it gets right all score under the threshold): "
        "a board flashed with this model answers nothing right on its own; train longer "
        "(--epochs) or give each intent more phrases"
    )
    # Every phrase escalated, none right even before the gate: said as such.
    warning = fit._nothing_right_locally(_result(accuracy=0.0, at_threshold=0.0, local=0.0))
    assert warning is not None
    assert "(4 of 4 escalated; it gets none right even before the threshold)" in warning


@pytest.mark.parametrize("n", [4, 0])
def test_a_model_with_a_right_local_answer_or_nothing_held_out_is_not_warned(n: int) -> None:
    assert (
        fit._nothing_right_locally(_result(accuracy=0.5, at_threshold=0.25, local=0.5, n=n)) is None
    )
    if n == 0:
        assert fit._nothing_right_locally(_result(0.0, 0.0, 0.0, n=0)) is None


def test_a_short_training_on_twelve_phrases_warns_and_keeps_its_threshold(
    tmp_path: Path,
) -> None:
    from tinyslm.text.train import TrainConfig

    data = tmp_path / "twelve.csv"
    data.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in TWELVE), encoding="utf-8")
    cfg = TrainConfig(features=FeatureSpec(buckets=256, seq_len=32), dim=8, hidden=16, epochs=3)
    fitted = fit.fit_text(data, cfg, report=False)
    metrics = fitted.manifest.metrics
    assert metrics["int8_accuracy_at_threshold"] == 0.0, metrics  # the case itself
    ours = [w for w in fitted.warnings if w.startswith("no test phrase is answered right")]
    assert len(ours) == 1, fitted.warnings
    # The threshold named is the one recorded: the warning moves nothing.
    m = fitted.manifest
    assert f"at threshold {m.threshold:.3f} (q={m.threshold_q})" in ours[0], (ours, m.threshold)
    assert "train longer (--epochs)" in ours[0]
