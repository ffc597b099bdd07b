"""Pure parts of train / quantize / pipeline: configs, calibration subset, atomic writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinyslm.quantize import representative_ids
from tinyslm.text.train import TrainConfig


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dim": 0},
        {"hidden": 0},
        {"epochs": 0},
        {"learning_rate": 0.0},
        {"label_smoothing": 1.0},
        {"dropout": -0.1},
        {"batch_size": -1},
        {"adversarial": -0.5},
        {"gate_temperature": 0.0},
    ],
)
def test_train_config_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


def test_train_config_dict_has_features() -> None:
    # The defaults are benchmarks/clinc150.py's recipe at its 512 KB point (issue 12).
    d = TrainConfig().to_dict()
    assert d["features"]["buckets"] == 8192 and d["dim"] == 54 and d["hidden"] == 256
    assert d["token_dropout"] == 0.5 and d["cosine_decay"] is True and d["batch_size"] == 0


def test_automatic_batch_follows_the_training_set() -> None:
    from tinyslm.text.train import SMALL_SET, resolve_batch_size

    assert resolve_batch_size(TrainConfig(), 920) == 32
    assert resolve_batch_size(TrainConfig(), SMALL_SET) == 64
    assert resolve_batch_size(TrainConfig(batch_size=7), 15000) == 7


def test_automatic_token_dropout_is_smaller_for_small_sets() -> None:
    from tinyslm.text.train import SMALL_SET, auto_token_dropout

    assert auto_token_dropout(920) == 0.25  # the demo set
    assert auto_token_dropout(SMALL_SET - 1) == 0.25
    assert auto_token_dropout(SMALL_SET) == TrainConfig().token_dropout == 0.5


def test_late_options_are_recorded_only_when_used() -> None:
    plain = TrainConfig(token_dropout=0.0, cosine_decay=False, adversarial=0.0).to_dict()
    assert not {"token_dropout", "cosine_decay", "adversarial"} & set(plain)
    used = TrainConfig(token_dropout=0.2, cosine_decay=True).to_dict()
    assert used["token_dropout"] == 0.2 and used["cosine_decay"] is True
    assert used["adversarial"] == TrainConfig().adversarial > 0  # on by default
    # A temperature of 1 leaves the scores as trained: not recorded, so a manifest of a
    # model trained before the option existed reads the same.
    assert "gate_temperature" not in TrainConfig(gate_temperature=1.0).to_dict()
    assert TrainConfig().to_dict()["gate_temperature"] == TrainConfig().gate_temperature == 1.5


def test_representative_subset_is_deterministic_and_spans_the_data() -> None:
    ids = np.arange(2000 * 4, dtype=np.int32).reshape(2000, 4)
    a, b = representative_ids(ids, 100), representative_ids(ids, 100)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 100 and a[0, 0] == 0 and a[-1, 0] == ids[-1, 0]
    assert representative_ids(ids[:10], 100) is not None and len(representative_ids(ids[:10])) == 10


TINY_TEXTS = ["turn on the light", "lights on please", "switch the lights off", "lights off now"]
TINY_LABELS = ["on", "on", "off", "off"]


def _tiny_config(**changes: Any) -> TrainConfig:
    """A few-hundred-weight model for the two-intent set above."""
    from tinyslm.text.features import FeatureSpec

    return TrainConfig(
        features=FeatureSpec(buckets=64, seq_len=12), dim=4, hidden=4, batch_size=2, **changes
    )


@pytest.mark.slow
@pytest.mark.parametrize("adversarial", [0.0, 1.0])
def test_tiny_training_keeps_pad_row_zero_and_token_dropout_adds_no_op(
    adversarial: float,
) -> None:
    from tinyslm.flatbuffer import model_ops
    from tinyslm.quantize import quantize
    from tinyslm.text.features import encode, model_input
    from tinyslm.text.train import predict_scores, train

    texts, labels = TINY_TEXTS, TINY_LABELS
    config = _tiny_config(epochs=3, token_dropout=0.3, cosine_decay=True, adversarial=adversarial)
    result = train(config, ("off", "on"), texts, labels)
    table = np.asarray(result.model.get_layer("embed").table)
    assert table.shape == (64, 4)
    assert not table[0].any() and table[1:].any()  # padding row pinned to zero
    assert len(result.history) == 3
    assert {"loss", "accuracy"} <= set(result.history[-1])
    if not adversarial:  # (the adversarial step trains through a wrapper with the optimizer)
        # The cosine schedule has decayed to zero after the last step.
        assert float(result.model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-7)
    ids = encode(texts, config.features)
    np.testing.assert_allclose(predict_scores(result.model, ids).sum(axis=1), 1.0, rtol=1e-5)
    converted = quantize(result.model, ids, expected_input=model_input(config.features))
    assert model_ops(converted.model_bytes) == (
        "FULLY_CONNECTED",
        "GATHER",
        "L2_NORMALIZATION",
        "MEAN",
        "SOFTMAX",
    )
    assert converted.output_quant.zero_point == -128


@pytest.mark.slow
def test_gate_temperature_divides_the_logits_and_keeps_the_top_intent() -> None:
    import keras

    from tinyslm.flatbuffer import model_ops
    from tinyslm.quantize import quantize
    from tinyslm.text.features import encode, model_input
    from tinyslm.text.train import predict_scores, train

    ids = encode([*TINY_TEXTS, "lights", "please now", "the"], _tiny_config().features)

    def trained(temperature: float) -> tuple[Any, np.ndarray, np.ndarray]:
        config = _tiny_config(epochs=3, gate_temperature=temperature)
        model = train(config, ("off", "on"), TINY_TEXTS, TINY_LABELS).model
        logits = keras.Model(model.inputs[0], model.get_layer("logits").output)(ids)
        return model, np.asarray(logits), predict_scores(model, ids)

    _, plain_logits, plain = trained(1.0)
    model, logits, scores = trained(2.0)
    # Same seed and data: the same training, then the logits halved in the weights.
    np.testing.assert_allclose(logits, plain_logits / 2.0, rtol=1e-5, atol=1e-6)
    assert (scores.argmax(axis=1) == plain.argmax(axis=1)).all()
    assert (scores.max(axis=1) <= plain.max(axis=1) + 1e-6).all()  # softer, never sharper
    # Folded into the weights: the converted graph has no extra op.
    converted = quantize(model, ids, expected_input=model_input(_tiny_config().features))
    assert "MUL" not in model_ops(converted.model_bytes)


@pytest.mark.slow
def test_adversarial_step_changes_training_and_repeats() -> None:
    from tinyslm.text.train import train

    def weights(adversarial: float) -> list[np.ndarray]:
        config = _tiny_config(epochs=2, adversarial=adversarial)
        return train(config, ("off", "on"), TINY_TEXTS, TINY_LABELS).model.get_weights()

    plain, moved, again = weights(0.0), weights(1.0), weights(1.0)
    # The extra pass trains the same layers: every weight moves differently ...
    assert all(not np.array_equal(a, b) for a, b in zip(plain, moved, strict=True))
    # ... and the same seed still gives the same weights.
    for a, b in zip(moved, again, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_adversarial_shift_has_the_size_skips_padding_and_raises_the_loss() -> None:
    import keras
    import tensorflow as tf

    from tinyslm.text.features import encode
    from tinyslm.text.train import adversarial_shift, build_model, embedding_head

    config = _tiny_config()
    embed, head = embedding_head(build_model(config, 2))
    loss_of = keras.losses.CategoricalCrossentropy()
    ids = tf.constant(
        np.concatenate([encode(TINY_TEXTS, config.features), np.zeros((1, 12), np.int32)])
    )
    y = keras.utils.to_categorical([1, 1, 0, 0, 0], 2)

    def loss(e: tf.Tensor) -> tf.Tensor:
        for layer in head:
            e = layer(e, training=False)
        return loss_of(y, e)

    e = embed(ids)
    with tf.GradientTape() as tape:
        tape.watch(e)
        clean = loss(e)
    shift = np.asarray(adversarial_shift(tape.gradient(clean, e), ids, 0.5))
    pad = np.asarray(ids) == 0
    assert not shift[pad].any()  # padding rows (and the all-padding phrase) stay put
    np.testing.assert_allclose(np.linalg.norm(shift[:4].reshape(4, -1), axis=1), 0.5, rtol=1e-5)
    # Uphill: the loss rises along the step and falls against it.
    assert float(loss(e + shift)) > float(clean) > float(loss(e - shift))


@pytest.mark.slow
@pytest.mark.parametrize("distill", [False, True])
def test_embedding_head_reproduces_the_model_it_trains(distill: bool) -> None:
    # The adversarial step's second pass runs the moved rows through these layers: they
    # must be the model's own path to its output (scores; logits when distilling), or the
    # step would train some other function of the rows.
    import tensorflow as tf

    from tinyslm.text.features import encode
    from tinyslm.text.train import _distill_fit_setup, build_model, embedding_head

    config = _tiny_config(distill_alpha=0.5 if distill else 0.0)
    model = build_model(config, 2)
    if distill:
        model = _distill_fit_setup(config, model, 2)[0]
    ids = tf.constant(encode(TINY_TEXTS, config.features))
    embed, head = embedding_head(model)
    x = embed(ids)
    for layer in head:
        x = layer(x, training=False)
    expected = np.asarray(model(ids, training=False))
    assert expected.shape == (4, 2)
    assert np.allclose(expected.sum(axis=1), 1.0) != distill  # scores, or raw logits
    np.testing.assert_array_equal(np.asarray(x), expected)


# --- intent limit of TFLM's int8 softmax (issue 9, item 3) ---------------------

_SOFTMAX_PROBE = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tensorflow as tf
from tinyslm.quantize import _silenced_fds
from tinyslm.flatbuffer import io_details

n, path = int(sys.argv[1]), sys.argv[2]
inp = tf.keras.Input(shape=(4,), batch_size=1)
model = tf.keras.Model(inp, tf.keras.layers.Softmax()(tf.keras.layers.Dense(n)(inp)))

def rep():
    rng = np.random.default_rng(0)
    for _ in range(20):
        yield [rng.normal(size=(1, 4)).astype(np.float32)]

conv = tf.lite.TFLiteConverter.from_keras_model(model)
conv.optimizations = [tf.lite.Optimize.DEFAULT]
conv.representative_dataset = rep
conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
conv.inference_input_type = tf.int8
conv.inference_output_type = tf.int8
with _silenced_fds():
    flat = conv.convert()
with open(path, "wb") as f:
    f.write(flat)
# Input at its zero point is float 0: every logit is the bias, 0, so all n scores tie.
from tflite_micro import runtime
zp = io_details(flat).input_quant.zero_point
interp = runtime.Interpreter.from_bytes(flat, arena_size=1 << 20)
interp.set_input(np.full((1, 4), zp, np.int8), 0)
interp.invoke()
print("ran", int(np.asarray(interp.get_output(0)).max()))
"""


def test_intent_limit_is_checked_before_training() -> None:
    from tinyslm.errors import DatasetError
    from tinyslm.text.train import MAX_INTENTS, check_intent_count, train

    assert MAX_INTENTS == 511
    check_intent_count(MAX_INTENTS)
    labels = [f"intent_{i:03d}" for i in range(MAX_INTENTS + 1)]
    expected = r"^512 intents, but TFLM's int8 SOFTMAX handles at most 511"
    with pytest.raises(DatasetError, match=expected):
        train(TrainConfig(), labels, labels, labels)


@pytest.mark.slow
def test_tflm_softmax_aborts_at_512_tied_intents_not_511(tmp_path: Path) -> None:
    """The limit is TFLM's, measured: 511 tied int8 scores run, 512 abort (SIGABRT)."""
    import subprocess
    import sys

    from tinyslm.text.train import MAX_INTENTS

    results = {}
    for n in (MAX_INTENTS, MAX_INTENTS + 1):
        proc = subprocess.run(
            [sys.executable, "-c", _SOFTMAX_PROBE, str(n), str(tmp_path / f"m{n}.tflite")],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        results[n] = (proc.returncode, proc.stdout.strip())
    assert results[MAX_INTENTS][0] == 0 and results[MAX_INTENTS][1].startswith("ran"), results
    assert (tmp_path / f"m{MAX_INTENTS + 1}.tflite").is_file(), results  # converted fine
    assert results[MAX_INTENTS + 1][0] == -6, results  # SIGABRT in SoftmaxEval


def test_train_summary_accounts_for_all_wall_time() -> None:
    # Issue 9: the breakdown covered 59 of 124 s (loading and encoding were missing).
    import re

    from tinyslm.manifest import load_model_dir
    from tinyslm.pipeline import TrainRunResult, format_train_table

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "model"
    manifest, _ = load_model_dir(fixture, probe_arena=False)
    result = TrainRunResult(
        out=Path("model"),
        manifest=manifest,
        train_seconds=40.0,
        convert_seconds=5.0,
        verify_seconds=30.0,
        total_seconds=124.0,
        load_seconds=45.0,
    )
    table = format_train_table(result)
    m = re.search(
        r"wall time +124\.0 s \(load 45\.0 s, train 40\.0 s, convert 5\.0 s, verify 30\.0 s, "
        r"other 4\.0 s\)",
        table,
    )
    assert m, table
    assert re.search(r"threshold rule +max in-scope accuracy", table), table
    assert re.search(r"device line limit +256 bytes", table), table
