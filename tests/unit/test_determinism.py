"""Same seed and data, same model bytes whatever x86-64 CPU trains it (issue 12).

Another CPU is emulated by capping oneDNN's instruction set (``ONEDNN_MAX_CPU_ISA``):
oneDNN picks its kernels from the CPU it finds, and a cap makes it pick the
kernels an older CPU would get. Each training runs in its own process because
the cap is read once, when oneDNN first runs.

The control trains the same model with ``tinyslm.determinism`` left out: if
the caps do not change its bytes there, this machine cannot show the effect
(a CPU without AVX2) and the test skips rather than pass for nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from shared_paths import require_tool

from tinyslm.determinism import TRAINING_THREADS, configure_tensorflow

REPO = Path(__file__).resolve().parents[2]

# Trains a tiny model on a synthetic set and prints the sha256 of its float
# weights and of its INT8 .tflite. argv[1] == "unpinned" puts the environment back as
# the process got it after tinyslm.determinism pinned it, before TensorFlow loads, so
# nothing is pinned (the control); training's thread setting stays.
WORKER = r"""
import hashlib, json, os, sys
given = dict(os.environ)
from tinyslm import determinism
if sys.argv[1] == "unpinned":
    for name in determinism.PINNED_ENV:
        os.environ.pop(name, None)
        if name in given:
            os.environ[name] = given[name]
from tinyslm.text.features import FeatureSpec, encode, model_input
from tinyslm.quantize import quantize
from tinyslm.text.train import TrainConfig, train

words = ["light", "lamp", "fan", "door", "music", "heat", "blind", "alarm"]
verbs = ["turn on the", "switch off the", "open the", "close the", "start the", "stop the"]
texts, labels = [], []
for v, verb in enumerate(verbs):
    for w in words:
        for tail in ("", " please", " now"):
            texts.append(f"{verb} {w}{tail}")
            labels.append(f"intent_{v}")
config = TrainConfig(
    features=FeatureSpec(buckets=512, seq_len=32), dim=16, hidden=32, epochs=3,
    batch_size=16, token_dropout=0.0, seed=7,
)
result = train(config, sorted(set(labels)), texts, labels)
weights = hashlib.sha256(b"".join(w.tobytes() for w in result.model.get_weights()))
ids = encode(texts, config.features)
flat = quantize(result.model, ids, expected_input=model_input(config.features)).model_bytes
print(json.dumps({"weights": weights.hexdigest(), "tflite": hashlib.sha256(flat).hexdigest()}))
"""


def _train(mode: str, isa: str, onednn_opts: str) -> dict[str, str]:
    env = {"ONEDNN_MAX_CPU_ISA": isa, "TF_ENABLE_ONEDNN_OPTS": onednn_opts}
    return {k: str(v) for k, v in _run_worker(WORKER, [mode], env).items()}


def _run_worker(
    code: str, args: list[str], env_updates: dict[str, str], emulator: tuple[str, ...] = ()
) -> dict[str, object]:
    """Run ``code`` in a fresh Python (under ``emulator`` if given) with this checkout
    importable; the JSON object on its last line of output."""
    env = dict(os.environ)
    env.update(env_updates)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.pop("TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL", None)
    done = subprocess.run(
        [*emulator, sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_training_gives_the_same_bytes_under_any_cpu_isa() -> None:
    # SSE4.1 and AVX2 kernels sum a dot product's terms in different orders;
    # oneDNN's own ops (TF_ENABLE_ONEDNN_OPTS=1) are a second way in.
    old_cpu = ("SSE41", "0")
    new_cpu = ("AVX2", "1")
    control = [_train("unpinned", *cpu) for cpu in (old_cpu, new_cpu)]
    if control[0]["weights"] == control[1]["weights"]:
        pytest.skip("this CPU runs the same oneDNN kernels under both caps (no AVX2?)")
    pinned = [_train("pinned", *cpu) for cpu in (old_cpu, new_cpu)]
    assert pinned[0] == pinned[1]


def test_importing_training_pins_the_environment_before_tensorflow_loads() -> None:
    # A fresh process with the opposite settings in its environment, as a
    # user's shell might have them: importing training must override them.
    code = (
        "import json, os, sys; import tinyslm.text.train; "
        "from tinyslm.determinism import PINNED_ENV; "
        "print(json.dumps([sys.modules.get('tensorflow') is None, "
        "{k: os.environ.get(k) for k in PINNED_ENV}, PINNED_ENV]))"
    )
    env = dict(os.environ)
    env.update(
        {
            "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX",
            "TF_ENABLE_ONEDNN_OPTS": "1",
            "TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL": "1",
            "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]),
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    tf_not_loaded, seen, pinned = json.loads(done.stdout)
    assert tf_not_loaded
    assert seen == pinned
    assert pinned["TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL"] == "0"


@pytest.mark.slow
@pytest.mark.parametrize("adversarial", [0.0, 1.0])
def test_training_step_avoids_the_cpus_approximate_instructions(adversarial: float) -> None:
    # TF's Rsqrt and Reciprocal kernels start from RSQRTPS / RCPPS, whose results
    # differ between CPU makers (and QEMU), so none may be in a training step:
    # the forward pass, the loss as fit computes it, its gradient and Adam's update,
    # and with the adversarial step its probe gradient and second pass. The step traced
    # is the one fit runs: train_step of the model train compiles.
    import keras
    import numpy as np
    import tensorflow as tf

    from tinyslm.text.features import FeatureSpec
    from tinyslm.text.train import TrainConfig, build_model, plain_fit_model

    config = TrainConfig(
        features=FeatureSpec(buckets=64, seq_len=8), dim=4, hidden=4, adversarial=adversarial
    )
    fit_model = plain_fit_model(config, build_model(config, 3), n_train=4)

    @tf.function
    def step(ids: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        return fit_model.train_step((ids, y))["loss"]

    ids = tf.TensorSpec((None, 8), tf.int32)
    graph = step.get_concrete_function(ids, tf.TensorSpec((None, 3), tf.float32)).graph
    graph_def = graph.as_graph_def()
    ops = {n.op for n in graph_def.node}
    ops |= {n.op for f in graph_def.library.function for n in f.node_def}
    assert {"Sqrt", "MatMul", "GatherV2"} <= ops, sorted(ops)  # the whole model is in it
    approximate = {"Rsqrt", "RsqrtGrad", "Reciprocal", "ReciprocalGrad", "Inv", "InvGrad"}
    assert not ops & approximate, sorted(ops & approximate)
    assert np.isfinite(
        float(step(np.zeros((2, 8), np.int32), keras.utils.to_categorical([0, 1], 3)))
    )


# Fits the keyword model for one epoch on random features and converts it, with
# TensorFlow's pool started at argv[2] intra-op threads; prints the sha256 of its float
# weights and of its INT8 .tflite, and the pool's size after training. tinyslm is
# imported first, as the CLI does (tinyslm.determinism before TensorFlow loads).
# argv[1] == "unpinned" leaves out training's own thread setting (the control).
KEYWORD_WORKER = r"""
import hashlib, json, sys
import tinyslm.audio.train as audio_train
from tinyslm.audio.train import AudioTrainConfig, FeatureSets
import numpy as np
import tensorflow as tf

tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[2]))
if sys.argv[1] == "unpinned":
    audio_train.configure_tensorflow = tf.config.experimental.enable_op_determinism
rng = np.random.default_rng(0)
x = rng.integers(-128, 128, size=(96, 49, 40), dtype=np.int8)
y = rng.integers(0, 4, size=96)
sets = FeatureSets(x, y, x[:32], y[:32], x[:32], y[:32], 0.0)
config = AudioTrainConfig(size="small", epochs=1, batch_size=32, seed=3)
model, _, _, _ = audio_train._fit(sets, 4, config, None)
weights = hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights()))
flat = audio_train.quantize_audio(model, x, config)
threads = tf.config.threading.get_intra_op_parallelism_threads()
print(json.dumps({
    "weights": weights.hexdigest(), "tflite": hashlib.sha256(flat).hexdigest(), "threads": threads
}))
"""


def _fit_keywords(mode: str, threads: int, emulator: tuple[str, ...] = ()) -> dict[str, object]:
    return _run_worker(KEYWORD_WORKER, [mode, str(threads)], {}, emulator)


@pytest.mark.slow
def test_keyword_training_gives_the_same_bytes_whatever_the_core_count() -> None:
    # TensorFlow's pool defaults to the machine's core count, and Eigen splits a
    # convolution's or a batch-norm reduction's sums into blocks by it: a 1-core and a
    # 4-core machine summed in other orders (measured: three models for 1, 2 and 4).
    control = [_fit_keywords("unpinned", n) for n in (1, 4)]
    if control[0]["weights"] == control[1]["weights"]:
        pytest.skip("this machine sums the same with 1 and 4 threads: nothing to show")
    pinned = [_fit_keywords("pinned", n) for n in (1, 4)]
    assert pinned[0] == pinned[1]
    assert pinned[0]["threads"] == TRAINING_THREADS


@pytest.mark.slow
def test_keyword_training_step_avoids_the_cpus_approximate_instructions() -> None:
    # Keras' BatchNormalization computes rsqrt(variance + epsilon), forward and
    # backward (Rsqrt, RsqrtGrad); the keyword model's own batch norm divides by sqrt.
    # Traced: the step fit runs, and the inference call that scores validation and is
    # converted (its folded scale is computed by the converter on the user's CPU).
    import keras
    import numpy as np
    import tensorflow as tf

    from tinyslm.audio.model import architecture, build_model
    from tinyslm.audio.train import AudioTrainConfig, compile_for_training

    # The state fit traces in. With op determinism on, TensorFlow computes softmax
    # cross-entropy as LogSoftmax of the logits instead of its fused
    # SoftmaxCrossEntropyWithLogits kernel, so the ops in the trace depend on it: a
    # trace without it (a fresh process) is not the step fit runs.
    configure_tensorflow()
    model = build_model(architecture("small"), (49, 40, 1), 4, seed=0)
    compile_for_training(model, AudioTrainConfig(size="small"), steps_per_epoch=10)

    @tf.function
    def step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        return model.train_step((x, y))["loss"]

    @tf.function
    def infer(x: tf.Tensor) -> tf.Tensor:
        return model(x, training=False)

    features = tf.TensorSpec((None, 49, 40, 1), tf.float32)
    approximate = {"Rsqrt", "RsqrtGrad", "Reciprocal", "ReciprocalGrad", "Inv", "InvGrad"}
    for graph, whole in (
        (
            step.get_concrete_function(features, tf.TensorSpec((None, 4), tf.float32)).graph,
            # LogSoftmax: the loss takes the logits the model's own softmax hands it
            # (Keras' path from probabilities would add a Log of them instead).
            {
                "Sqrt",
                "SqrtGrad",
                "Conv2DBackpropFilter",
                "DepthwiseConv2dNativeBackpropFilter",
                "LogSoftmax",
            },
        ),
        (infer.get_concrete_function(features).graph, {"Sqrt", "Conv2D", "DepthwiseConv2dNative"}),
    ):
        graph_def = graph.as_graph_def()
        ops = {n.op for n in graph_def.node}
        ops |= {n.op for f in graph_def.library.function for n in f.node_def}
        assert whole <= ops, sorted(ops)  # the batch norms and the convolutions are in it
        assert not ops & approximate, sorted(ops & approximate)
        assert "Log" not in ops  # no logarithm of probabilities
    x = np.zeros((2, 49, 40, 1), np.float32)
    assert np.isfinite(float(step(x, keras.utils.to_categorical([0, 1], 4))))


@pytest.mark.slow
@pytest.mark.toolchain
def test_keyword_training_gives_the_same_bytes_on_another_cpu() -> None:
    # The whole keyword path (fit, validation's predict, the batch-norm fold, the
    # converter's calibration and quantization) on this CPU and on an emulated Haswell
    # (QEMU user mode: AVX2 and FMA, no AVX-512, and its own RSQRTPS/RCPPS results).
    # Measured before the fix: other float weights and another .tflite there.
    require_tool("qemu-x86_64")
    here = _fit_keywords("pinned", TRAINING_THREADS)
    haswell = _fit_keywords("pinned", TRAINING_THREADS, ("qemu-x86_64", "-cpu", "Haswell"))
    assert haswell == here


@pytest.mark.slow
def test_keyword_graphs_compute_what_the_model_computes() -> None:
    # Grappler rewrites a graph before it runs (model.fit's and model.predict's, not
    # an eager call): its arithmetic optimizer turned the batch norm's x / sqrt(v) into
    # x * rsqrt(v) in validation's predict, which the trace above cannot see. Eager
    # runs the ops as written, so a graph that gives the eager bits has no such rewrite.
    import keras
    import numpy as np
    import tensorflow as tf

    from tinyslm.audio.model import architecture, build_model

    rng = np.random.default_rng(0)
    model = build_model(architecture("small"), (49, 40, 1), 4, seed=3)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights(
                [rng.uniform(0.2, 3.0, w.shape).astype(np.float32) for w in layer.get_weights()]
            )
    x = rng.integers(-128, 128, size=(32, 49, 40, 1)).astype(np.float32) / 8
    eager = np.asarray(model(x, training=False))
    graph = np.asarray(tf.function(lambda v: model(v, training=False))(x))
    assert np.array_equal(model.predict(x, verbose=0), eager)
    assert np.array_equal(graph, eager)
