"""verify, flatbuffer and tflm_runtime on the committed fixture model and on synthetic scores."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tinyslm.decision import dequantize, threshold_to_q
from tinyslm.errors import ModelError
from tinyslm.flatbuffer import io_details, model_ops
from tinyslm.manifest import QuantParams, load_model_dir
from tinyslm.text.features import FeatureSpec, encode
from tinyslm.tflm_runtime import min_arena_bytes, probe_arena, tflm_scores
from tinyslm.verify import (
    LEVELS,
    RULE_NO_OOS,
    RULE_OOS,
    RULE_OOS_STEP,
    bandwidth,
    calibrate_threshold,
    describe_rule,
    gate_metrics,
    smoothed_below,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "model"
SOFTMAX_Q = QuantParams(1 / 256, -128)


@pytest.fixture(scope="module")
def fixture_model() -> tuple[dict[str, object], bytes]:
    _, model = load_model_dir(FIXTURE)  # checks the sha256
    return json.loads((FIXTURE / "manifest.json").read_text()), model


def test_ops_are_the_tflm_int8_set(fixture_model: tuple[dict[str, object], bytes]) -> None:
    manifest, model = fixture_model
    ops = model_ops(model)
    assert ops == ("FULLY_CONNECTED", "GATHER", "L2_NORMALIZATION", "MEAN", "SOFTMAX")
    assert list(ops) == manifest["ops"]


def test_io_details_int32_ids_in_int8_scores_out(
    fixture_model: tuple[dict[str, object], bytes],
) -> None:
    manifest, model = fixture_model
    d = io_details(model)
    features = manifest["features"]
    assert isinstance(features, dict)
    assert (d.input_type, d.input_shape) == ("INT32", (1, features["seq_len"]))
    assert (d.output_type, d.output_shape) == ("INT8", (1, len(manifest["labels"])))  # type: ignore[arg-type]
    assert d.output_quant == QuantParams(**manifest["output_quant"])  # type: ignore[arg-type]


def test_garbage_is_not_a_model() -> None:
    with pytest.raises(ModelError):
        model_ops(b"definitely not a flatbuffer")


def test_arena_is_minimal_to_16_bytes(
    fixture_model: tuple[dict[str, object], bytes], tmp_path: Path
) -> None:
    manifest, model = fixture_model
    arena = min_arena_bytes(model)
    assert arena == manifest["arena_bytes"]
    assert arena % 16 == 0
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    # The search ends with arena - 16 probed as failing, so both checks must hold.
    assert probe_arena(path, arena)
    assert not probe_arena(path, arena - 16)


def test_the_probe_ignores_the_working_folder_and_fails_loudly(
    fixture_model: tuple[dict[str, object], bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Round 33: the probe ran "python -m" in the user's folder, whose tinyslm.py was
    # imported in the child instead; the import error read as "arena too small", and
    # generate refused a valid model with a false message.
    manifest, model = fixture_model
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    work = tmp_path / "work"
    work.mkdir()
    (work / "tinyslm.py").write_text("raise SystemExit('not tinyslm')\n")
    (work / "numpy.py").write_text("raise ImportError('not numpy')\n")
    monkeypatch.chdir(work)
    assert probe_arena(Path("../model.tflite"), int(manifest["arena_bytes"]))  # type: ignore[call-overload]
    # A probe that cannot run is an error, not a verdict on the arena.
    broken = work / "python"
    broken.write_text("#!/bin/sh\necho 'ModuleNotFoundError: no tflite_micro' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr("sys.executable", str(broken))
    with pytest.raises(ModelError, match=r"probe failed \(exit 1\): ModuleNotFoundError"):
        probe_arena(path, int(manifest["arena_bytes"]))  # type: ignore[call-overload]


def test_tflm_scores_same_at_min_arena_and_large_arena(
    fixture_model: tuple[dict[str, object], bytes],
) -> None:
    manifest, model = fixture_model
    spec = FeatureSpec.from_dict(manifest["features"])  # type: ignore[arg-type]
    texts = ["turn on the lights", "what's the weather like tomorrow", "set a timer for 5 minutes"]
    ids = encode(texts, spec)
    small = tflm_scores(model, ids, int(manifest["arena_bytes"]))  # type: ignore[call-overload]
    large = tflm_scores(model, ids)
    assert small.dtype == np.int8 and small.shape == (3, len(manifest["labels"]))  # type: ignore[arg-type]
    np.testing.assert_array_equal(small, large)
    labels = manifest["labels"]
    assert isinstance(labels, list)
    assert labels[int(np.argmax(small[0]))] == "lights_on"


def test_all_padding_input_runs(fixture_model: tuple[dict[str, object], bytes]) -> None:
    """An empty or punctuation-only line is all padding ids: TFLM must still answer."""
    manifest, model = fixture_model
    spec = FeatureSpec.from_dict(manifest["features"])  # type: ignore[arg-type]
    ids = encode(["", "?!..."], spec)
    assert not ids.any()
    scores = tflm_scores(model, ids)
    np.testing.assert_array_equal(scores[0], scores[1])
    empty = manifest["metrics"]["empty_input"]  # type: ignore[index]
    assert int(scores[0].max()) == empty["score_q"]


def test_tflm_scores_rejects_wrong_width(fixture_model: tuple[dict[str, object], bytes]) -> None:
    _, model = fixture_model
    with pytest.raises(ModelError, match="columns"):
        tflm_scores(model, np.zeros((1, 5), np.int32))


def _onehotish(tops: list[int], q: list[int], k: int = 3) -> np.ndarray:
    """Scores whose top class is ``tops[i]`` with int8 value ``q[i]``."""
    s = np.full((len(tops), k), -128, dtype=np.int8)
    for i, (t, v) in enumerate(zip(tops, q, strict=True)):
        s[i, t] = v
    return s


def _smoothed_sum_by_phrase(
    top_q: np.ndarray, correct: np.ndarray, oos_q: np.ndarray
) -> list[float]:
    """The rule's smoothed objective at every level, summed phrase by phrase.

    An independent path to what calibrate_threshold maximises: no histogram, no
    matrix, Silverman's bandwidth written out.
    """

    def h(v: np.ndarray) -> float:
        return max(0.1, 1.06 * float(np.std(v.astype(float))) * len(v) ** -0.2)

    def below(v: np.ndarray, q: int) -> float:
        bw = h(v)
        return sum(0.5 * (1 + math.erf((q - 0.5 - x) / (bw * math.sqrt(2)))) for x in v)

    right = top_q[correct]
    return [
        (len(right) - below(right, q)) / len(top_q) + below(oos_q, q) / len(oos_q)
        for q in range(-128, 128)
    ]


def test_threshold_maximises_smoothed_in_scope_accuracy_plus_oos_recall() -> None:
    rng = np.random.default_rng(5)
    n, m = 300, 40
    tops = rng.integers(0, 3, n)
    q = np.clip(rng.normal(60, 40, n), -128, 127).astype(int)
    truth = np.where(rng.random(n) < 0.9, tops, (tops + 1) % 3)
    scores = _onehotish(list(tops), list(q))
    oos_q = np.clip(rng.normal(-40, 35, m), -128, 127).astype(int)
    oos = _onehotish([0] * m, list(oos_q))
    choice = calibrate_threshold(scores, truth, oos, SOFTMAX_Q)
    assert choice.rule == RULE_OOS == "in_scope_acc+oos_recall,smoothed"
    objective = _smoothed_sum_by_phrase(q, tops == truth, oos_q)
    assert choice.threshold_q == -128 + int(np.argmax(objective))
    # The recorded objective is the raw, measured sum at that level.
    gate = gate_metrics(scores, truth, oos, choice.threshold_q)
    assert gate.oos_recall is not None
    assert choice.objective == pytest.approx(gate.accuracy_at_threshold + gate.oos_recall)
    assert threshold_to_q(choice.threshold, 1 / 256, -128) == choice.threshold_q
    assert choice.threshold <= dequantize(choice.threshold_q, 1 / 256, -128)
    assert round(choice.threshold, 3) == choice.threshold  # printable as 0.xyz


def test_threshold_sits_inside_a_clean_gap_not_on_its_edge() -> None:
    # Right answers at q 60..100, out-of-scope tops at -100..-60: every level in
    # (-60, 60] gives the perfect raw sum 2.0. The unsmoothed rule took the lowest,
    # -59, one level above an out-of-scope phrase; the smoothed curves peak inside
    # the gap, away from both edges (a phrase a little more confident than any seen
    # in validation is still escalated).
    right = list(range(60, 101))
    scores = _onehotish([i % 3 for i in range(len(right))], right)
    truth = np.array([i % 3 for i in range(len(right))])
    oos = _onehotish([0] * 41, list(range(-100, -59)))
    choice = calibrate_threshold(scores, truth, oos, SOFTMAX_Q)
    assert -50 < choice.threshold_q < 50
    assert choice.objective == pytest.approx(2.0)


def test_smoothed_count_with_no_spread_is_the_plain_count() -> None:
    counts = smoothed_below(np.full(7, 20))
    assert counts[LEVELS <= 20] == pytest.approx(0.0, abs=1e-5)
    assert counts[LEVELS >= 21] == pytest.approx(7.0, abs=1e-5)
    assert bandwidth(np.full(7, 20)) == bandwidth(np.array([3])) == 0.1


def test_old_manifests_still_describe_their_rule() -> None:
    assert describe_rule(RULE_OOS_STEP) == (
        "max in-scope accuracy at threshold + out-of-scope recall on val"
    )
    assert "smoothed" in describe_rule(RULE_OOS)


def test_threshold_without_oos_uses_gate_accuracy() -> None:
    # Right answers at q >= 50, wrong ones at q <= 10: the gate should split them.
    scores = _onehotish([0, 1, 2, 1, 2], [50, 60, 70, 10, -5])
    truth = np.array([0, 1, 2, 0, 0])
    choice = calibrate_threshold(scores, truth, np.zeros((0, 3), np.int8), SOFTMAX_Q)
    assert choice.rule == RULE_NO_OOS
    assert choice.threshold_q == 11  # lowest level that escalates both wrong answers
    assert choice.objective == pytest.approx(1.0)


def test_threshold_without_oos_on_a_perfect_set_still_escalates_something() -> None:
    # Issue 9: all validation answers right and no out-of-scope phrases used to give
    # q=-128 (threshold 0.000): nothing could ever escalate. Now the least confident
    # 5% escalate: with 40 phrases, 2 (q=0 and q=1); the threshold is the third lowest.
    q = list(range(40))
    scores = _onehotish([i % 3 for i in q], [v + 50 if v >= 2 else v for v in q])
    truth = np.array([i % 3 for i in q])
    choice = calibrate_threshold(scores, truth, np.zeros((0, 3), np.int8), SOFTMAX_Q)
    assert choice.rule == RULE_NO_OOS
    assert choice.threshold_q == 52
    assert choice.threshold > 0.6
    kept = gate_metrics(scores, truth, np.zeros((0, 3), np.int8), choice.threshold_q)
    assert kept.local_rate == pytest.approx(38 / 40)
    assert "no out-of-scope phrases" in describe_rule(choice.rule)


def test_gate_metrics() -> None:
    scores = _onehotish([0, 1, 2, 1], [100, -20, 50, 90])
    truth = np.array([0, 1, 2, 0])
    oos = _onehotish([0, 0], [0, 60])
    m = gate_metrics(scores, truth, oos, threshold_q=40)
    assert m.accuracy == pytest.approx(3 / 4)
    assert m.accuracy_at_threshold == pytest.approx(2 / 4)  # the q=-20 one escalates
    assert m.local_rate == pytest.approx(3 / 4)
    assert m.oos_recall == pytest.approx(1 / 2)
    assert gate_metrics(scores, truth, np.zeros((0, 3), np.int8), 40).oos_recall is None


def test_gate_metrics_with_levels_per_label_and_no_phrases() -> None:
    # A level per label with no phrases on either side failed to broadcast 3 levels to 1.
    empty = np.zeros((0, 3), dtype=np.int8)
    gate = gate_metrics(empty, np.zeros(0, dtype=np.int64), empty, [0, 10, 20])
    assert (gate.local_rate, gate.oos_recall) == (0.0, None)
    scores = np.array([[5, 12, 0], [0, 0, 15]], dtype=np.int8)  # tops: label 1 (12), 2 (15)
    gate = gate_metrics(scores, np.array([1, 2]), empty, [0, 10, 20])
    assert gate.local_rate == 0.5  # 12 >= 10 is local, 15 < 20 escalates
