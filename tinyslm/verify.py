"""Verify an INT8 model on TFLM: accuracy, agreement with the float model, the threshold.

The integer figures run on TFLM's Python runtime (:mod:`tinyslm.tflm_runtime`), at
exactly the smallest arena the model runs in; the flatbuffer is read with
:mod:`tinyslm.flatbuffer`. This module owns what is left: the confidence gate's
calibration (:func:`calibrate_threshold`, :func:`gate_metrics`, whose figures are
:func:`tinyslm.decision.gate_figures`, shared with emulate) and :func:`verify`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tinyslm.decision import (
    GateMetrics,
    decide,
    gate_figures,
    level_threshold,
    threshold_to_q,
)
from tinyslm.flatbuffer import TensorSpec, check_input, io_details, model_ops
from tinyslm.manifest import QuantParams
from tinyslm.tflm_runtime import min_arena_bytes, tflm_scores


def gate_metrics(
    scores_q: npt.NDArray[Any],
    true_index: npt.NDArray[Any],
    oos_scores_q: npt.NDArray[Any],
    threshold_q: int | Sequence[int],
) -> GateMetrics:
    """Gate figures for int8 scores: in-scope ``(n, k)`` with truths, oos ``(m, k)``.

    ``threshold_q`` is one level for every label or one per label
    (``Manifest.thresholds_q``): each phrase is compared with its top label's level,
    as the firmware compares it. A truth of -1 (an intent the model lacks) is never
    right.
    """

    def rows(a: npt.NDArray[Any], n: int) -> npt.NDArray[np.int32]:
        # numpy cannot infer -1 for an empty array: eval may have out-of-scope phrases only.
        a = np.asarray(a, dtype=np.int32)
        return a.reshape(n, -1) if a.size else np.zeros((0, 1), dtype=np.int32)

    scores_q = rows(scores_q, len(true_index))
    oos = rows(oos_scores_q, len(oos_scores_q))
    levels = np.asarray(threshold_q, dtype=np.int32)
    if levels.ndim == 0:  # one level for every label: as many as there are scores
        k = max(scores_q.shape[1] if len(scores_q) else 0, oos.shape[1] if len(oos) else 0, 1)
        levels = np.full(k, levels, dtype=np.int32)
    top = np.argmax(scores_q, axis=1) if len(scores_q) else np.zeros(0, dtype=np.int64)
    top_q = scores_q.max(axis=1) if len(scores_q) else np.zeros(0, dtype=np.int32)
    oos_top = np.argmax(oos, axis=1) if len(oos) else np.zeros(0, dtype=np.int64)
    oos_q = oos.max(axis=1) if len(oos) else np.zeros(0, dtype=np.int32)
    return gate_figures(
        top == np.asarray(true_index), top_q >= levels[top], oos_q < levels[oos_top]
    )


# Calibration rules (ThresholdChoice.rule) and the share of in-scope phrases the
# rule without out-of-scope data keeps local. RULE_OOS_STEP is the rule models
# trained before the smoothed one record; their manifests still describe it.
RULE_OOS = "in_scope_acc+oos_recall,smoothed"
RULE_OOS_STEP = "in_scope_acc+oos_recall"
RULE_NO_OOS = "gate_accuracy+keep_95pct_local"
KEEP_LOCAL = 0.95
# The int8 output levels, every one a candidate threshold.
LEVELS = np.arange(-128, 128)
# The narrowest kernel, a tenth of a level: scores that all sit on one level (zero
# spread) then count as the plain step does (to 3e-7 of a phrase).
MIN_BANDWIDTH = 0.1


def describe_rule(rule: str, split: str = "val") -> str:
    """One line a user can read: how the threshold was chosen.

    A rule of labels with levels of their own is training's rule, '; ', and what set
    them (``in_scope_acc+oos_recall,smoothed; own levels set with generate ...``): its
    head is described as a rule alone is, the rest kept as written.
    """
    head, sep, rest = rule.partition("; ")
    return _describe_rule_id(head, split) + sep + rest


def _describe_rule_id(rule: str, split: str) -> str:
    """:func:`describe_rule` of a rule id; any other text unchanged."""
    if rule == RULE_OOS:
        return (
            f"max in-scope accuracy at threshold + out-of-scope recall on {split}, "
            "both curves kernel-smoothed"
        )
    if rule == RULE_OOS_STEP:
        return f"max in-scope accuracy at threshold + out-of-scope recall on {split}"
    if rule == RULE_NO_OOS:
        # The higher of two levels (choose_threshold): the first can escalate any share
        # (a model wrong on a third of val escalates a third), the second is a floor.
        return (
            f"no out-of-scope phrases: the higher of the level with the best in-scope gate "
            f"accuracy on {split} (a right answer kept local or a wrong one escalated counts "
            "as right; it may escalate any share) and the highest level that keeps "
            f"{KEEP_LOCAL:.0%} of its phrases local (it escalates at most the least "
            f"confident {1 - KEEP_LOCAL:.0%}, rounded down: none of fewer than 20)"
        )
    return rule


@dataclass(frozen=True)
class ThresholdChoice:
    """The calibrated gate: float threshold, its int8 twin, and why.

    Attributes:
        threshold: confidence in [0, 1] (rounded down to 3 decimals, as printed).
        threshold_q: ``threshold_to_q(threshold, scale, zero_point)``.
        rule: :data:`RULE_OOS` or :data:`RULE_NO_OOS` (no out-of-scope data).
        objective: the measured figure at the threshold on the calibration data
            (accuracy at threshold + oos recall, unsmoothed, or in-scope gate accuracy).
        escalated: in-scope calibration phrases whose top score is below the threshold.
        calibrated_on: in-scope calibration phrases.
    """

    threshold: float
    threshold_q: int
    rule: str
    objective: float
    # What the threshold does on the calibration phrases, counted rather than aimed
    # at: 5% of fewer than 20 phrases rounds down to none escalated.
    escalated: int = 0
    calibrated_on: int = 0


_erf = np.vectorize(math.erf, otypes=[np.float64])


def bandwidth(values: npt.NDArray[Any]) -> float:
    """Silverman's rule of thumb (1.06 sigma n^-1/5) in int8 levels, at least a tenth of one."""
    if len(values) < 2:
        return MIN_BANDWIDTH
    spread = float(np.std(np.asarray(values, dtype=np.float64)))
    return max(MIN_BANDWIDTH, 1.06 * spread * math.pow(len(values), -0.2))


def smoothed_below(values_q: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """For every level q, how many of ``values_q`` lie below q, each spread by a kernel.

    Each int8 value v counts as a Gaussian of :func:`bandwidth` around v, and the
    count below level q is its mass under q - 0.5 (the step between q-1 and q), so
    with a narrow kernel this is the plain count of ``values_q < q``. Only the 256
    levels' counts enter, so its cost does not grow with the number of phrases.
    """
    values = np.asarray(values_q, dtype=np.int64)
    counts = np.bincount(values + 128, minlength=256).astype(np.float64)
    z = (LEVELS[:, None] - 0.5 - LEVELS[None, :]) / (bandwidth(values) * math.sqrt(2.0))
    return np.asarray(0.5 * (1.0 + _erf(z)) @ counts)


def calibrate_threshold(
    scores_q: npt.NDArray[Any],
    true_index: npt.NDArray[Any],
    oos_scores_q: npt.NDArray[Any],
    output_quant: QuantParams,
) -> ThresholdChoice:
    """Pick the confidence threshold on validation int8 scores.

    Rule (CLINC150, Larson et al. 2019, who tune the threshold on validation):
    with out-of-scope validation phrases, maximise in-scope accuracy at the
    threshold (right AND local) plus out-of-scope recall (escalated). Every
    int8 level is a candidate; ties go to the lowest threshold (answer locally
    when in doubt).

    Both curves are kernel-smoothed (:func:`smoothed_below`) before the maximum is
    taken. Validation has few out-of-scope phrases (CLINC150: 100, each worth a
    point of recall), so the raw sum is a staircase whose highest step sits where
    one phrase happens to fall, and a threshold picked there lands, on test, 1.5
    points of the sum below the best test point on average (6 seeds plain, 3
    distilled). Smoothing each score by Silverman's bandwidth halves that gap (0.7)
    and has no knob to tune; it was chosen on val alone, by picking on one half of
    val and scoring on the other (docs/architecture.md, "Round 14"). ``objective``
    stays the raw, measured sum at the chosen level.

    Without out-of-scope phrases nothing says how confident a foreign phrase
    looks. The best in-scope gate accuracy (right answers kept local plus wrong
    ones escalated) still places the threshold above the model's mistakes, but
    once the model gets validation right it picks the lowest level (q=-128:
    nothing ever escalates). So the threshold is the higher of that level and
    the one used in out-of-distribution detection (TPR 95): the highest level
    that keeps :data:`KEEP_LOCAL` (95%) of the in-scope calibration phrases
    local, so that the least confident 5% escalate (rounded down to whole
    phrases: of fewer than 20, none). ``escalated`` counts what it does.
    """
    scores = np.asarray(scores_q, dtype=np.int32).reshape(len(true_index), -1)
    truth = np.asarray(true_index)
    oos = np.asarray(oos_scores_q, dtype=np.int32)
    top_q = scores.max(axis=1) if len(scores) else np.zeros(0, dtype=np.int32)
    correct = (np.argmax(scores, axis=1) == truth) if len(scores) else np.zeros(0, dtype=bool)
    oos_top = oos.reshape(len(oos), -1).max(axis=1) if len(oos) else np.zeros(0, dtype=np.int32)
    n = max(len(truth), 1)

    def objective(q: int) -> float:
        local = top_q >= q
        if len(oos):
            gate = gate_figures(correct, local, oos_top < q)
            assert gate.oos_recall is not None
            return gate.accuracy_at_threshold + gate.oos_recall
        return float(((correct & local) | (~correct & ~local)).sum() / n)

    if len(oos):
        right = top_q[correct]
        smoothed = (len(right) - smoothed_below(right)) / n + smoothed_below(oos_top) / len(oos)
        best_q = int(LEVELS[int(np.argmax(smoothed))])  # the first maximum: the lowest level
        rule = RULE_OOS
    else:
        best_q, best = -128, -1.0
        for q in range(-128, 128):
            value = objective(q)
            if value > best + 1e-12:
                best_q, best = q, value
        # k phrases may escalate: the (k+1)-th lowest top score keeps the rest local.
        ordered = np.sort(top_q)
        k = int(np.floor((1.0 - KEEP_LOCAL) * len(ordered) + 1e-9))
        floor_q = int(ordered[k]) if len(ordered) else -128
        best_q = max(best_q, floor_q)
        rule = RULE_NO_OOS
    best = objective(best_q)
    scale, zp = output_quant.scale, output_quant.zero_point
    # Print-friendly threshold: the level rounded *down* to 3 decimals, which maps back
    # to the same int8 level.
    threshold = level_threshold(best_q, scale, zp)
    threshold_q = threshold_to_q(threshold, scale, zp)
    return ThresholdChoice(
        float(threshold),
        threshold_q,
        rule,
        best,
        escalated=int((top_q < threshold_q).sum()),
        calibrated_on=len(top_q),
    )


@dataclass(frozen=True)
class VerifyResult:
    """Float vs INT8 (TFLM) figures for one model; ``to_metrics`` feeds the manifest."""

    float_accuracy: float
    int8_accuracy: float
    agreement: float
    threshold: ThresholdChoice
    test_gate: GateMetrics
    ops: tuple[str, ...]
    model_bytes: int
    arena_bytes: int
    eval_split: str
    n_eval: int
    n_oos_eval: int
    empty_input: dict[str, Any] = field(default_factory=dict)
    # The in-scope calibration phrases' accuracy, float and INT8 on TFLM (None: no float
    # scores given for them), and their count. train records them as the val split's
    # figures: what a user compares sizes or settings by without touching test.
    calib_float_accuracy: float | None = None
    calib_int8_accuracy: float | None = None
    n_calib: int = 0

    def to_metrics(self) -> dict[str, Any]:
        return {
            "eval_split": self.eval_split,
            "n_eval": self.n_eval,
            "n_oos_eval": self.n_oos_eval,
            "float_accuracy": round(self.float_accuracy, 5),
            "int8_accuracy": round(self.int8_accuracy, 5),
            "agreement": round(self.agreement, 5),
            "int8_accuracy_at_threshold": round(self.test_gate.accuracy_at_threshold, 5),
            "local_rate": round(self.test_gate.local_rate, 5),
            "oos_recall": None
            if self.test_gate.oos_recall is None
            else round(self.test_gate.oos_recall, 5),
            "threshold_rule": self.threshold.rule,
            "threshold_objective_val": round(self.threshold.objective, 5),
            "empty_input": self.empty_input,
        }


@dataclass(frozen=True, eq=False)
class VerifyData:
    """What :func:`verify` measures an INT8 model on (ids already encoded).

    Attributes:
        float_scores: the float model's softmax scores for ``eval_ids``.
        eval_ids, eval_true: held-out in-scope ids and label indices.
        oos_eval_ids: held-out out-of-scope ids (may be empty).
        calib_ids, calib_true, oos_calib_ids: validation data for the threshold.
        labels: label names in output order (for the all-padding report).
        expected_input: the model's input as the modality defines it
            (text: :func:`tinyslm.text.features.model_input`); checked first.
        eval_split: name of the held-out split, for the record.
        calib_float_scores: the float model's softmax scores for ``calib_ids``
            (``None``: the calibration phrases' accuracy is not measured).
    """

    float_scores: npt.NDArray[np.float32]
    eval_ids: npt.NDArray[np.int32]
    eval_true: npt.NDArray[np.int32]
    oos_eval_ids: npt.NDArray[np.int32]
    calib_ids: npt.NDArray[np.int32]
    calib_true: npt.NDArray[np.int32]
    oos_calib_ids: npt.NDArray[np.int32]
    labels: Sequence[str]
    expected_input: TensorSpec
    eval_split: str = "test"
    calib_float_scores: npt.NDArray[np.float32] | None = None


def verify(
    model_bytes: bytes, data: VerifyData, log: Callable[[str], None] | None = None
) -> VerifyResult:
    """Measure the INT8 model on TFLM against the float model and calibrate the gate.

    Args:
        model_bytes: the INT8 flatbuffer.
        data: the encoded phrases and their labels.
        log: progress lines while large sets are scored (one phrase at a time).

    Raises:
        ModelError: the model's input or output is not what ``data`` expects, or TFLM
            cannot run it.
    """
    details = io_details(model_bytes)
    check_input(details, data.expected_input, "the INT8 model")
    ops = model_ops(model_bytes)
    arena = min_arena_bytes(model_bytes)
    # Everything below runs at exactly the measured arena: proof that it suffices.
    width = data.eval_ids.shape[1]

    def scores(what: str, ids: npt.NDArray[Any]) -> npt.NDArray[np.int8]:
        def report(done: int, total: int) -> None:
            if log is not None:
                log(f"  TFLM scoring {what}: {done} of {total} phrases")

        return tflm_scores(model_bytes, ids.reshape(-1, width), arena, progress=report)

    eval_split = data.eval_split
    int8_eval = scores(f"{eval_split} phrases", data.eval_ids)
    int8_oos = scores(f"{eval_split} out-of-scope phrases", data.oos_eval_ids)
    int8_calib = scores("calibration phrases", data.calib_ids)
    int8_oos_calib = scores("calibration out-of-scope phrases", data.oos_calib_ids)
    choice = calibrate_threshold(int8_calib, data.calib_true, int8_oos_calib, details.output_quant)
    gate = gate_metrics(int8_eval, data.eval_true, int8_oos, choice.threshold_q)

    eval_true = data.eval_true
    n = max(len(eval_true), 1)
    float_scores = data.float_scores
    float_top = np.argmax(float_scores, axis=1) if len(float_scores) else np.zeros(0, dtype=int)
    int8_top = np.argmax(int8_eval, axis=1) if len(int8_eval) else np.zeros(0, dtype=int)
    # All-padding ids: what an empty or punctuation-only line gives the model.
    zeros = np.zeros(data.expected_input.shape, dtype=data.expected_input.dtype)
    empty = tflm_scores(model_bytes, zeros, arena)[0]
    calib_float = calib_int8 = None
    if data.calib_float_scores is not None and len(data.calib_true):
        calib_float = _top_share(data.calib_float_scores, data.calib_true)
        calib_int8 = _top_share(int8_calib, data.calib_true)
    out_q = details.output_quant
    said = decide(empty, out_q.scale, out_q.zero_point, choice.threshold_q)
    empty_info = {
        "label": data.labels[said.index],
        "score_q": said.score_q,
        "uniform": bool(np.all(empty == empty[0])),
        "route": said.route,
    }
    return VerifyResult(
        float_accuracy=float((float_top == eval_true).sum() / n),
        int8_accuracy=float((int8_top == eval_true).sum() / n),
        agreement=float((float_top == int8_top).sum() / n),
        threshold=choice,
        test_gate=gate,
        ops=ops,
        model_bytes=len(model_bytes),
        arena_bytes=arena,
        eval_split=eval_split,
        n_eval=len(eval_true),
        n_oos_eval=len(data.oos_eval_ids),
        empty_input=empty_info,
        calib_float_accuracy=calib_float,
        calib_int8_accuracy=calib_int8,
        n_calib=len(data.calib_true),
    )


def _top_share(scores: npt.NDArray[Any], true: npt.NDArray[np.int32]) -> float:
    """The share of rows whose top score is their label's."""
    return float((np.argmax(scores, axis=1) == true).sum() / len(true))
