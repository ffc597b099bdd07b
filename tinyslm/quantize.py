"""Full-integer INT8 post-training quantization of the trained Keras model.

The ids input stays int32 (bucket ids are indices, not quantizable values); every
other tensor is int8 and the scores come out as int8. Calibration uses a fixed,
seed-independent subset of the training ids, so the same weights always give
the same ``model.tflite`` bytes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

# Imported for its effect, before TensorFlow loads: the same model on every x86-64 CPU.
from tinyslm import determinism  # noqa: F401
from tinyslm.errors import ModelError, ToolchainError
from tinyslm.flatbuffer import TensorSpec, check_input, io_details
from tinyslm.manifest import QuantParams
from tinyslm.text.train import rebuild_for_batch

# Enough phrases to see the activation ranges; more only slows conversion down.
REPRESENTATIVE_MAX = 500
# TensorFlow 2.16's MLIR converter aborts the whole process (SIGABRT, nothing printed)
# on every Keras 3 model (tensorflow#63987): pyproject.toml's floor is this version, and
# an environment that already had 2.16 when tinyslm was installed is refused in one line.
MIN_TENSORFLOW = (2, 17)


@dataclass(frozen=True)
class QuantizedModel:
    """The INT8 flatbuffer and the quantization of its input and output.

    Attributes:
        model_bytes: the ``.tflite`` flatbuffer.
        input_quant: ids tensor quantization (int32: scale 0, zero point 0).
        output_quant: int8 scores quantization (softmax: 1/256, -128).
        seconds: wall time of the conversion.
    """

    model_bytes: bytes
    input_quant: QuantParams
    output_quant: QuantParams
    seconds: float


def representative_indices(n: int, limit: int = REPRESENTATIVE_MAX) -> npt.NDArray[np.int64]:
    """Indices of an evenly spaced, deterministic subset of at most ``limit`` of ``n`` rows.

    Callers with many phrases pick the texts first and encode only these.
    """
    if n <= limit:
        return np.arange(n, dtype=np.int64)
    picks: npt.NDArray[np.int64] = np.linspace(0, n - 1, limit).round().astype(np.int64)
    return picks


def representative_ids(ids: npt.NDArray[Any], limit: int = REPRESENTATIVE_MAX) -> npt.NDArray[Any]:
    """An evenly spaced, deterministic subset of at most ``limit`` rows of ``ids``."""
    if len(ids) <= limit:
        return ids
    subset: npt.NDArray[Any] = ids[representative_indices(len(ids), limit)]
    return subset


def quantize(
    model: Any, calibration_ids: npt.NDArray[Any], *, expected_input: TensorSpec
) -> QuantizedModel:
    """Convert ``model`` to a full-integer INT8 ``.tflite`` (ids in, int8 out).

    Args:
        model: the trained Keras model from :func:`tinyslm.text.train.train`.
        calibration_ids: ``(n, L)`` ids (training phrases) for calibration.
        expected_input: the converted model's input (text:
            :func:`tinyslm.text.features.model_input`, int32 ``[1, seq_len]``).

    Raises:
        ModelError: no calibration data, or the converted model does not have
            ``expected_input`` and an int8 output.
    """
    import tensorflow as tf

    if len(calibration_ids) == 0:
        raise ModelError("quantization needs at least one calibration phrase")
    sample = representative_ids(np.asarray(calibration_ids, dtype=expected_input.dtype))

    def representative() -> Iterator[list[npt.NDArray[Any]]]:
        for row in sample:
            yield [row[None, :]]

    start = time.perf_counter()
    wrapper = rebuild_for_batch(model, 1)
    converter = tf.lite.TFLiteConverter.from_keras_model(wrapper)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_output_type = tf.int8
    with _silenced_fds(), warnings.catch_warnings():
        # The ids input is int32 on purpose (indices are not quantized).
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        flat = run_converter(converter)
    seconds = time.perf_counter() - start

    in_q, out_q = _io_quant(flat, expected_input)
    return QuantizedModel(flat, in_q, out_q, seconds)


def run_converter(converter: Any) -> bytes:
    """``converter.convert()``, its failures as one line.

    The converter first writes a SavedModel under the temporary folder; when that write
    fails (a full or size-limited /tmp) TensorFlow fails later with an unrelated
    ``TypeError: 'NoneType' object is not callable``, so the message names the folder.
    KeyboardInterrupt is not an Exception: Ctrl-C is handled as everywhere else.
    """
    import tensorflow as tf

    check_tensorflow_version(tf.__version__)
    try:
        return bytes(converter.convert())
    except Exception as exc:
        raise ModelError(
            f"TFLite conversion failed ({type(exc).__name__}: {exc}); the converter first "
            f"writes a SavedModel under {tempfile.gettempdir()}, and a full or unwritable "
            "temporary folder fails this way: if so, free space there or set TMPDIR to "
            "another folder"
        ) from exc


def check_tensorflow_version(version: str) -> None:
    """Refuse a TensorFlow older than :data:`MIN_TENSORFLOW` before its converter runs.

    Raises:
        ToolchainError: naming the version and the install that fixes it.
    """
    try:
        major_minor = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return  # a development build's version: let the converter speak for itself
    if major_minor < MIN_TENSORFLOW:
        need = ".".join(str(part) for part in MIN_TENSORFLOW)
        raise ToolchainError(
            f"TensorFlow {version}'s TFLite converter crashes on Keras 3 models; "
            f"pip install 'tensorflow-cpu>={need}'"
        )


@contextlib.contextmanager
def _silenced_fds() -> Iterator[None]:
    """Drop what the converter prints on fds 1 and 2 (SavedModel paths, MLIR notes).

    The converter writes from C++ as well as Python, so redirecting
    ``sys.stdout`` is not enough; errors still surface as exceptions.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def _io_quant(model_bytes: bytes, expected_input: TensorSpec) -> tuple[QuantParams, QuantParams]:
    """Check the input is ``expected_input`` and the output int8; return their quantization."""
    details = io_details(model_bytes)
    check_input(details, expected_input, "converted model")
    return details.input_quant, details.output_quant
