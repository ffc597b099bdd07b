"""Pin TensorFlow's CPU numerics so one seed and data give one model on every x86-64 CPU.

Importing this module sets, before TensorFlow is loaded, the environment that
takes every run-time CPU choice out of training's float arithmetic (issue 12;
measurements in docs/reproducibility.md). ``tinyslm.text.train``,
``tinyslm.audio.model``, ``tinyslm.audio.train`` and ``tinyslm.quantize`` import it
first thing, so every way into training (the CLI, ``tinyslm.pipeline``, the
benchmarks) goes through it. :func:`configure_tensorflow`, called by both modalities'
training, fixes the thread pool, the other run-time choice that moved the sums.
The rest is in the models: no op whose kernel uses the CPU's approximate
reciprocal (square root) instructions (``tinyslm.text.train``, ``tinyslm.audio.model``).

The wheel's own code (Eigen, TFLite's kernels) is compiled for one baseline,
AVX, and runs the same instructions on every CPU. What differed was oneDNN, which
generates its kernels at run time for the CPU it finds (SSE4.1, AVX, AVX2,
AVX-512, AMX), each adding a dot product's terms in another order. oneDNN is in
the path even with ``TF_ENABLE_ONEDNN_OPTS=0``: TensorFlow's x86 builds hand
the inner block of every float matmul (Eigen's tensor contraction) to
``dnnl_sgemm``. Measured on the demo set: four ISA caps, four different models.

The values are forced, not defaulted: a ``TF_ENABLE_ONEDNN_OPTS=1`` or
``ONEDNN_MAX_CPU_ISA`` left in a user's shell would otherwise make the model
depend on the machine again. They only act if TensorFlow has not run yet in
this process (oneDNN and the contraction kernel read them once, on first use).
"""

from __future__ import annotations

import os

# Each entry removes one CPU-dependent choice; the order is irrelevant.
PINNED_ENV: dict[str, str] = {
    # oneDNN's own TensorFlow ops (fused matmul, reductions): off.
    "TF_ENABLE_ONEDNN_OPTS": "0",
    # Eigen's matmul inner kernel: Eigen's own (compiled for AVX, the same on
    # every CPU) instead of oneDNN's run-time JIT sgemm.
    "TENSORFLOW_USE_CUSTOM_CONTRACTION_KERNEL": "0",
    # Whatever oneDNN code is still reached runs its AVX kernels, the baseline
    # every CPU that runs TensorFlow's wheel has.
    "ONEDNN_MAX_CPU_ISA": "AVX",
}

os.environ.update(PINNED_ENV)
# Not numerics: TensorFlow's C++ start-up logging stays quiet unless asked for.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Training's intra-op thread pool, on every machine. Eigen splits a reduction or a
# convolution into blocks by the pool's size, so the sums' order (and the model's bytes)
# follows it: a keyword model trained with 1, 2 and 4 threads gave three models
# (docs/reproducibility.md, round 28). TensorFlow's default is the machine's core count.
TRAINING_THREADS = 2


def configure_tensorflow(threads: int = TRAINING_THREADS) -> None:
    """Deterministic ops and a fixed thread pool, for training either modality.

    Thread counts can only be set before TensorFlow starts its runtime; later
    calls leave them as they are.
    """
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # runtime already initialised: keep its pools
