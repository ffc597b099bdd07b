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

REPO = Path(__file__).resolve().parents[2]

# Trains a tiny model on a synthetic set and prints the sha256 of its float
# weights and of its INT8 .tflite. argv[1] == "unpinned" loads an empty stand-in
# for tinyslm.determinism first, so nothing is pinned (the control).
WORKER = r"""
import hashlib, json, sys, types
if sys.argv[1] == "unpinned":
    sys.modules["tinyslm.determinism"] = types.ModuleType("tinyslm.determinism")
    import tinyslm
    tinyslm.determinism = sys.modules["tinyslm.determinism"]
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
    env = dict(os.environ)
    env.update(
        {
            "ONEDNN_MAX_CPU_ISA": isa,
            "TF_ENABLE_ONEDNN_OPTS": onednn_opts,
            "PYTHONPATH": os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]),
        }
    )
    env.pop("TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL", None)
    done = subprocess.run(
        [sys.executable, "-c", WORKER, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
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
