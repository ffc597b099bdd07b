"""TFLM runtime checks: int8 scores, accuracy, agreement, arena probe, threshold.

Everything integer here runs on ``tflite_micro.runtime.Interpreter`` (TFLM's own
kernels), never on desktop TFLite, whose FULLY_CONNECTED can differ from TFLM by
one LSB: the firmware runs TFLM, so TFLM is the reference.

Public helpers other stages reuse:

- :func:`tflm_scores`: int8 score vectors for many id rows (the emulator's
  phrase-by-phrase reference).
- :func:`model_ops`, :func:`io_details`: read the flatbuffer without TensorFlow.
- :func:`min_arena_bytes`: the smallest arena that allocates and runs, probed in
  subprocesses because a too-small arena can crash the TFLM Python runtime.
- :func:`calibrate_threshold`, :func:`gate_metrics`: the confidence gate (its figures are
  :func:`tinyslm.decision.gate_figures`, shared with emulate).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyslm.decision import GateMetrics, decide, dequantize, gate_figures, threshold_to_q
from tinyslm.errors import ModelError
from tinyslm.manifest import ARENA_ALIGN, QuantParams, align_arena

# A generous arena for scoring when the caller has not measured one yet.
DEFAULT_ARENA_MIN = 256 * 1024
# Phrases between progress reports while scoring a large set on TFLM.
PROGRESS_ROWS = 20_000
# Upper bound of the arena search; a phrase classifier needing more is a bug.
ARENA_SEARCH_MAX = 64 * 1024 * 1024


def _schema() -> Any:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def _enum_names(enum_cls: Any) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def _root(model_bytes: bytes) -> Any:
    schema = _schema()
    try:
        model = schema.Model.GetRootAsModel(bytearray(model_bytes), 0)
        if model.SubgraphsLength() < 1:
            raise ModelError("model has no subgraph")
        return model
    except ModelError:
        raise
    except Exception as exc:  # flatbuffers raises assorted errors on garbage
        raise ModelError(f"not a TFLite flatbuffer: {exc}") from exc


def model_ops(model_bytes: bytes) -> tuple[str, ...]:
    """Sorted, unique builtin op names the model uses (e.g. ``FULLY_CONNECTED``).

    Raises:
        ModelError: not a TFLite flatbuffer, or it uses a custom op.
    """
    schema = _schema()
    names = _enum_names(schema.BuiltinOperator)
    model = _root(model_bytes)
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # Codes < 127 may live in the deprecated int8 field; the max is the real one.
        codes.append(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()))
    used: set[str] = set()
    for g in range(model.SubgraphsLength()):
        sub = model.Subgraphs(g)
        for o in range(sub.OperatorsLength()):
            builtin = codes[sub.Operators(o).OpcodeIndex()]
            if builtin == schema.BuiltinOperator.CUSTOM:
                raise ModelError("model uses a custom op, which the firmware cannot register")
            used.add(names.get(builtin, f"BUILTIN_{builtin}"))
    return tuple(sorted(used))


def embedding_rows(model_bytes: bytes) -> int | None:
    """Rows of the embedding table the ids index (``features.buckets``), or None.

    The table is the params input of the GATHER that reads the model's ids input.
    """
    schema = _schema()
    model = _root(model_bytes)
    sub = model.Subgraphs(0)
    if sub.InputsLength() < 1:
        return None
    ids = sub.Inputs(0)
    for o in range(sub.OperatorsLength()):
        op = sub.Operators(o)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        gather = builtin == schema.BuiltinOperator.GATHER and op.InputsLength() >= 2
        if gather and op.Inputs(1) == ids:
            table = sub.Tensors(op.Inputs(0))
            return int(table.Shape(0)) if table.ShapeLength() >= 1 else None
    return None


@dataclass(frozen=True)
class IoDetails:
    """Input and output tensor of subgraph 0: type name, shape, quantization."""

    input_type: str
    input_shape: tuple[int, ...]
    input_quant: QuantParams
    output_type: str
    output_shape: tuple[int, ...]
    output_quant: QuantParams


def io_details(model_bytes: bytes) -> IoDetails:
    """Read the first input and output tensor of the model (no TensorFlow needed)."""
    schema = _schema()
    types = _enum_names(schema.TensorType)
    sub = _root(model_bytes).Subgraphs(0)
    if sub.InputsLength() != 1 or sub.OutputsLength() != 1:
        raise ModelError("model must have exactly one input and one output tensor")

    def describe(index: int) -> tuple[str, tuple[int, ...], QuantParams]:
        t = sub.Tensors(index)
        q = t.Quantization()
        scale, zp = 0.0, 0
        if q is not None and q.ScaleLength() > 0:
            scale, zp = float(q.Scale(0)), int(q.ZeroPoint(0))
        shape = tuple(int(t.Shape(i)) for i in range(t.ShapeLength()))
        return types.get(t.Type(), str(t.Type())), shape, QuantParams(scale, zp)

    it, ishape, iq = describe(sub.Inputs(0))
    ot, oshape, oq = describe(sub.Outputs(0))
    return IoDetails(it, ishape, iq, ot, oshape, oq)


def _interpreter(model_bytes: bytes, arena_bytes: int | None) -> Any:
    from tflite_micro import runtime

    size = arena_bytes if arena_bytes is not None else max(DEFAULT_ARENA_MIN, 10 * len(model_bytes))
    try:
        return runtime.Interpreter.from_bytes(bytes(model_bytes), arena_size=int(size))
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"TFLM could not load the model with a {size}-byte arena: {exc}") from exc


def tflm_scores(
    model_bytes: bytes,
    ids: np.ndarray,
    arena_bytes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Run the INT8 model on TFLM, one phrase at a time, and return its raw scores.

    This is the reference the firmware must match byte for byte: the emulator
    and host tests compare their int8 scores with these, phrase by phrase.

    Args:
        model_bytes: the ``model.tflite`` flatbuffer (int32 ids in, int8 out).
        ids: ``(n, L)`` int32 bucket ids, e.g. ``tinyslm.text.features.encode(texts, spec)``.
        arena_bytes: tensor arena size; ``None`` uses a generous default. Pass
            only sizes known to allocate (see :func:`min_arena_bytes`): a
            too-small arena can crash this process.
        progress: called with (done, total) every :data:`PROGRESS_ROWS` phrases.

    Returns:
        ``(n, num_labels)`` int8 array of quantized scores.

    Raises:
        ModelError: TFLM cannot load the model or an inference fails.
    """
    rows = np.asarray(ids, dtype=np.int32)
    if rows.ndim != 2:
        raise ValueError(f"ids must be 2-D (n, seq_len), got shape {rows.shape}")
    details = io_details(model_bytes)
    if rows.shape[1] != details.input_shape[-1]:
        raise ModelError(
            f"ids have {rows.shape[1]} columns but the model expects {details.input_shape[-1]}"
        )
    interp = _interpreter(model_bytes, arena_bytes)
    out = np.zeros((len(rows), details.output_shape[-1]), dtype=np.int8)
    for i, row in enumerate(rows):
        # The input tensor is written before every invoke, as on the device.
        interp.set_input(row[None, :], 0)
        try:
            interp.invoke()
        except RuntimeError as exc:
            raise ModelError(f"TFLM inference failed on row {i}: {exc}") from exc
        out[i] = np.asarray(interp.get_output(0)).reshape(-1)
        if progress is not None and (i + 1) % PROGRESS_ROWS == 0:
            progress(i + 1, len(rows))
    return out


def probe_arena(model_path: Path, arena_bytes: int, timeout: float = 60.0) -> bool:
    """True when TFLM allocates ``model_path`` in ``arena_bytes`` and runs one inference.

    Runs in a child process (``python -m tinyslm._arena_probe``) so that a crash
    in the runtime on a too-small arena reads as "does not fit".
    """
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tinyslm._arena_probe", str(model_path), str(int(arena_bytes))],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def arena_fits(model_bytes: bytes, arena_bytes: int) -> bool:
    """True when TFLM allocates and runs the model in ``arena_bytes`` (one probe)."""
    with tempfile.TemporaryDirectory(prefix="tinyslm-arena-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(model_bytes)
        return probe_arena(path, arena_bytes)


def min_arena_bytes(model_bytes: bytes, start: int = 16 * 1024) -> int:
    """Smallest arena (a multiple of 16 bytes) in which TFLM allocates and runs the model.

    Doubles from ``start`` until a size works, then binary-searches down in
    16-byte steps. Each probe is a subprocess (see :func:`probe_arena`).

    Raises:
        ModelError: no arena up to 64 MiB works.
    """
    with tempfile.TemporaryDirectory(prefix="tinyslm-arena-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(model_bytes)
        lo, hi = 0, align_arena(start)  # lo: known to fail (0 always does), hi: candidate
        while not probe_arena(path, hi):
            lo = hi
            hi *= 2
            if hi > ARENA_SEARCH_MAX:
                raise ModelError(f"TFLM cannot run the model with an arena up to {hi // 2} bytes")
        while hi - lo > ARENA_ALIGN:
            mid = align_arena((lo + hi) // 2)
            if mid in (lo, hi):
                break
            if probe_arena(path, mid):
                hi = mid
            else:
                lo = mid
        return hi


def gate_metrics(
    scores_q: np.ndarray, true_index: np.ndarray, oos_scores_q: np.ndarray, threshold_q: int
) -> GateMetrics:
    """Gate figures for int8 scores: in-scope ``(n, k)`` with truths, oos ``(m, k)``."""
    scores_q = np.asarray(scores_q, dtype=np.int32).reshape(len(true_index), -1)
    top = np.argmax(scores_q, axis=1) if len(scores_q) else np.zeros(0, dtype=np.int64)
    top_q = scores_q.max(axis=1) if len(scores_q) else np.zeros(0, dtype=np.int32)
    oos = np.asarray(oos_scores_q, dtype=np.int32)
    oos_top = oos.reshape(len(oos), -1).max(axis=1) if len(oos) else np.zeros(0, dtype=np.int32)
    return gate_figures(top == np.asarray(true_index), top_q >= threshold_q, oos_top < threshold_q)


# Calibration rules (ThresholdChoice.rule) and the share of in-scope phrases the
# rule without out-of-scope data keeps local.
RULE_OOS = "in_scope_acc+oos_recall"
RULE_NO_OOS = "gate_accuracy+keep_95pct_local"
KEEP_LOCAL = 0.95


def describe_rule(rule: str, split: str = "val") -> str:
    """One line a user can read: how the threshold was chosen."""
    if rule == RULE_OOS:
        return f"max in-scope accuracy at threshold + out-of-scope recall on {split}"
    if rule == RULE_NO_OOS:
        return (
            f"no out-of-scope phrases: best in-scope gate accuracy on {split}, raised to "
            f"escalate at least the least confident {1 - KEEP_LOCAL:.0%}"
        )
    return rule


@dataclass(frozen=True)
class ThresholdChoice:
    """The calibrated gate: float threshold, its int8 twin, and why.

    Attributes:
        threshold: confidence in [0, 1] (rounded down to 3 decimals, as printed).
        threshold_q: ``threshold_to_q(threshold, scale, zero_point)``.
        rule: :data:`RULE_OOS` or :data:`RULE_NO_OOS` (no out-of-scope data).
        objective: the rule's objective at the threshold on the calibration data
            (accuracy at threshold + oos recall, or in-scope gate accuracy).
    """

    threshold: float
    threshold_q: int
    rule: str
    objective: float


def calibrate_threshold(
    scores_q: np.ndarray,
    true_index: np.ndarray,
    oos_scores_q: np.ndarray,
    output_quant: QuantParams,
) -> ThresholdChoice:
    """Pick the confidence threshold on validation int8 scores.

    Rule (CLINC150, Larson et al. 2019, who tune the threshold on validation):
    with out-of-scope validation phrases, maximise in-scope accuracy at the
    threshold (right AND local) plus out-of-scope recall (escalated). Every
    int8 level is a candidate; ties go to the lowest threshold (answer locally
    when in doubt).

    Without out-of-scope phrases nothing says how confident a foreign phrase
    looks. The best in-scope gate accuracy (right answers kept local plus wrong
    ones escalated) still places the threshold above the model's mistakes, but
    once the model gets validation right it picks the lowest level (q=-128:
    nothing ever escalates). So the threshold is the higher of that level and
    the one used in out-of-distribution detection (TPR 95): the highest level
    that keeps :data:`KEEP_LOCAL` (95%) of the in-scope calibration phrases
    local, so that at least the least confident 5% escalate.
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

    best_q, best = -128, -1.0
    for q in range(-128, 128):
        value = objective(q)
        if value > best + 1e-12:
            best_q, best = q, value
    rule = RULE_OOS
    if not len(oos):
        # k phrases may escalate: the (k+1)-th lowest top score keeps the rest local.
        ordered = np.sort(top_q)
        k = int(np.floor((1.0 - KEEP_LOCAL) * len(ordered) + 1e-9))
        floor_q = int(ordered[k]) if len(ordered) else -128
        best_q = max(best_q, floor_q)
        best = objective(best_q)
        rule = RULE_NO_OOS
    scale, zp = output_quant.scale, output_quant.zero_point
    # Print-friendly threshold: dequantized level rounded *down* to 3 decimals still
    # maps back to the same int8 level, because one level (1/256) exceeds 0.001.
    exact = dequantize(best_q, scale, zp)
    threshold = max(0.0, np.floor(exact * 1000.0) / 1000.0)
    if threshold_to_q(threshold, scale, zp) != best_q:
        threshold = exact
    return ThresholdChoice(float(threshold), threshold_to_q(threshold, scale, zp), rule, best)


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


def verify(
    model_bytes: bytes,
    float_scores: np.ndarray,
    eval_ids: np.ndarray,
    eval_true: np.ndarray,
    oos_eval_ids: np.ndarray,
    calib_ids: np.ndarray,
    calib_true: np.ndarray,
    oos_calib_ids: np.ndarray,
    labels: Sequence[str],
    eval_split: str = "test",
    log: Callable[[str], None] | None = None,
) -> VerifyResult:
    """Measure the INT8 model on TFLM against the float model and calibrate the gate.

    Args:
        model_bytes: the INT8 flatbuffer.
        float_scores: Keras softmax scores for ``eval_ids``.
        eval_ids, eval_true: held-out in-scope ids and label indices.
        oos_eval_ids: held-out out-of-scope ids (may be empty).
        calib_ids, calib_true, oos_calib_ids: validation data for the threshold.
        labels: intent names (for the all-padding report).
        eval_split: name of the held-out split, for the record.
        log: progress lines while large sets are scored (one phrase at a time).
    """
    ops = model_ops(model_bytes)
    details = io_details(model_bytes)
    arena = min_arena_bytes(model_bytes)
    # Everything below runs at exactly the measured arena: proof that it suffices.
    width = eval_ids.shape[1]

    def scores(what: str, ids: np.ndarray) -> np.ndarray:
        def report(done: int, total: int) -> None:
            if log is not None:
                log(f"  TFLM scoring {what}: {done} of {total} phrases")

        return tflm_scores(model_bytes, ids.reshape(-1, width), arena, progress=report)

    int8_eval = scores(f"{eval_split} phrases", eval_ids)
    int8_oos = scores(f"{eval_split} out-of-scope phrases", oos_eval_ids)
    int8_calib = scores("calibration phrases", calib_ids)
    int8_oos_calib = scores("calibration out-of-scope phrases", oos_calib_ids)
    choice = calibrate_threshold(int8_calib, calib_true, int8_oos_calib, details.output_quant)
    gate = gate_metrics(int8_eval, eval_true, int8_oos, choice.threshold_q)

    n = max(len(eval_true), 1)
    float_top = np.argmax(float_scores, axis=1) if len(float_scores) else np.zeros(0, dtype=int)
    int8_top = np.argmax(int8_eval, axis=1) if len(int8_eval) else np.zeros(0, dtype=int)
    # All-padding ids: what an empty or punctuation-only line gives the model.
    empty = tflm_scores(model_bytes, np.zeros((1, eval_ids.shape[1]), np.int32), arena)[0]
    out_q = details.output_quant
    said = decide(empty, out_q.scale, out_q.zero_point, choice.threshold_q)
    empty_info = {
        "label": labels[said.index],
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
        n_oos_eval=len(oos_eval_ids),
        empty_input=empty_info,
    )
