"""The confidence gate, shared by Python (verify, emulate) and mirrored in C.

The device decides in the quantized domain so that Python and C agree exactly:
a phrase is answered locally when its top int8 score is at least ``threshold_q``,
the smallest int8 value whose dequantized confidence reaches the float threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

ROUTE_LOCAL = "local"
ROUTE_ESCALATE = "escalate"


@dataclass(frozen=True)
class Decision:
    index: int
    score_q: int
    confidence: float
    route: str


def dequantize(q: int, scale: float, zero_point: int) -> float:
    """Confidence in [0, 1] as the firmware computes it (float32 arithmetic)."""
    return float(np.float32(q - zero_point) * np.float32(scale))


def score_milli(q: int, scale: float, zero_point: int) -> int:
    """The score the firmware prints, in thousandths (``"score":0.930`` -> 930)."""
    return int(np.float32(dequantize(q, scale, zero_point)) * np.float32(1000.0) + np.float32(0.5))


def threshold_to_q(threshold: float, scale: float, zero_point: int) -> int:
    """Smallest int8 q with dequantize(q) >= threshold; 128 means "never local"."""
    for q in range(-128, 128):
        if dequantize(q, scale, zero_point) >= threshold:
            return q
    return 128


def level_threshold(q: int, scale: float, zero_point: int) -> float:
    """The threshold recorded for the int8 level ``q``: the level's confidence rounded
    down to 3 decimals, or in full where that would select another level (it cannot:
    one level, 1/256, exceeds 0.001; kept as a guard).

    The level, not a value typed: the firmware gates at ``q`` and its ':info' prints the
    recorded threshold, so '--threshold 0.6' (q=26, 0.6016) once recorded 0.6 and every
    display said 0.600 of a gate at 0.6016, beside the report's curve at 0.602. Rounded
    down (not to nearest), the printed value typed again selects the same level. Train's
    calibrated level (:func:`tinyslm.verify.calibrate_threshold`) and generate's
    ``--threshold`` both record it so.
    """
    exact = dequantize(q, scale, zero_point)
    shown = max(0.0, math.floor(exact * 1000.0) / 1000.0)
    return shown if threshold_to_q(shown, scale, zero_point) == q else exact


def decide(
    scores_q: npt.NDArray[Any], scale: float, zero_point: int, threshold_q: int | Sequence[int]
) -> Decision:
    """Top-1 (lowest index wins ties, as in C), its confidence and its route.

    ``threshold_q`` is one level for every label, or one per label
    (``Manifest.thresholds_q``: labels with thresholds of their own).
    """
    flat = np.asarray(scores_q, dtype=np.int32).reshape(-1)
    index = int(np.argmax(flat))  # argmax returns the first maximum, like the C loop
    q = int(flat[index])
    level = threshold_q if isinstance(threshold_q, int) else int(threshold_q[index])
    route = ROUTE_LOCAL if q >= level else ROUTE_ESCALATE
    return Decision(index, q, dequantize(q, scale, zero_point), route)


@dataclass(frozen=True)
class GateMetrics:
    """How the confidence gate does on a set of phrases.

    Attributes:
        accuracy: plain top-1 in-scope accuracy (gate ignored).
        accuracy_at_threshold: in-scope phrases predicted right AND routed local.
        local_rate: in-scope phrases routed local.
        oos_recall: out-of-scope phrases escalated (``None`` without any).
    """

    accuracy: float
    accuracy_at_threshold: float
    local_rate: float
    oos_recall: float | None


def gate_figures(
    correct: Sequence[bool] | npt.NDArray[np.bool_],
    local: Sequence[bool] | npt.NDArray[np.bool_],
    oos_escalated: Sequence[bool] | npt.NDArray[np.bool_],
) -> GateMetrics:
    """The gate's figures from per-phrase outcomes, however they were obtained.

    The one definition behind verify (int8 scores on TFLM), threshold
    calibration and emulate (the device's own answers), so the three agree.

    Args:
        correct: per in-scope phrase, whether the top intent is the expected one.
        local: per in-scope phrase, whether it was routed local.
        oos_escalated: per out-of-scope phrase, whether it was escalated.
    """
    right = np.asarray(correct, dtype=bool)
    kept = np.asarray(local, dtype=bool)
    n = max(len(right), 1)
    return GateMetrics(
        accuracy=float(right.sum() / n),
        accuracy_at_threshold=float((right & kept).sum() / n),
        local_rate=float(kept.sum() / n),
        oos_recall=float(np.mean(np.asarray(oos_escalated, dtype=bool)))
        if len(oos_escalated)
        else None,
    )
