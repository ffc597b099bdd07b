"""The keyword model: a DS-CNN family over the front end's int8 log-mel features.

A depthwise-separable CNN (Zhang et al., "Hello Edge", 2017; MLPerf Tiny's
keyword reference) in named sizes. Every layer lowers to a TFLM builtin that
has both a CMSIS-NN (Cortex-M7) and an ESP-NN (ESP32) optimised kernel:

- ``CONV_2D``: the first layer (a ``kh x kw`` kernel with a stride) and each
  block's pointwise ``1 x 1``; batch norm is folded into it, ReLU fused.
- ``DEPTHWISE_CONV_2D``: each block's ``3 x 3``, batch norm folded, ReLU fused.
- ``AVERAGE_POOL_2D`` over the whole feature map (not Keras'
  ``GlobalAveragePooling2D``, which converts to ``MEAN``: no CMSIS-NN kernel).
- ``FULLY_CONNECTED``, ``SOFTMAX``: the Keras flatten's static ``RESHAPE`` is
  folded away by the converter.

The input is the front end's output as it comes: int8 ``(frames, bins)`` with
a channel axis, ``(1, frames, bins, 1)``; the float model sees ``feature / 8``
(see :data:`INPUT_SCALE`), and quantization pins the int8 input to exactly that
scale with zero point 0, so the device feeds its feature bytes unchanged.

Sizes trade accuracy for flash and RAM. The first layer's stride sets the
feature map every later layer keeps (its bytes, input plus output, are the
arena's peak: 25 x 10 x 64 int8 twice would be 32,000 bytes before TFLM's own
~6 KB, hence a time stride of 3 for ``default``), the channel count sets flash
and MACs (and per-channel quantization adds 4 bytes per channel per layer for the weights'
scales and 4 for the biases'; the zero points are written once, ``flatbuffer.compact``):

==========  ========  =======  ======  ============================================
size        channels  blocks   stride  aim
==========  ========  =======  ======  ============================================
``small``   40        4        2 x 4   <= 20 KB INT8, small MCUs
``default`` 64        5        3 x 4   <= 64 KB INT8 with a <= 32 KB arena
``large``   96        5        2 x 2   when flash and RAM allow (about 100 KB arena)
==========  ========  =======  ======  ============================================

A block keeps the feature map's size; at 64 channels it adds about 7 KB of flash,
0.8 M MACs and 1.5 KB of arena (TFLM keeps each layer's per-channel output
multipliers and shifts there). ``default`` has 5 because the fifth block gave a lower
validation loss than 4 (docs/audio.md, "Keyword model and training", has the runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

# Imported for its effect, before TensorFlow loads: the same bytes on every x86-64 CPU
# (docs/reproducibility.md).
from tinyslm import determinism  # noqa: F401
from tinyslm.audio.frontend import LOG_STEPS_PER_OCTAVE, FrontendSpec
from tinyslm.errors import ModelError

# The float model's input is feature / 8: one front-end step is 1/8 of an octave.
INPUT_SCALE: Final = 1.0 / LOG_STEPS_PER_OCTAVE
# Batch-norm moving averages track the batch statistics within ~20 steps (Keras'
# 0.99 needs ~300): a small dataset (a few hundred clips, ~20 steps an epoch) was
# otherwise scored with stale statistics and predicted one class for 9 epochs.
BN_MOMENTUM: Final = 0.9


@dataclass(frozen=True)
class Architecture:
    """One DS-CNN size.

    Attributes:
        channels: filters of the first convolution and of every block.
        blocks: depthwise-separable blocks after the first convolution.
        first_kernel: (time, frequency) kernel of the first convolution.
        first_stride: its (time, frequency) stride.
        dropout: before the classifier, in training only.
    """

    channels: int
    blocks: int
    first_kernel: tuple[int, int] = (10, 4)
    first_stride: tuple[int, int] = (2, 4)
    dropout: float = 0.2


SIZES: Final[dict[str, Architecture]] = {
    # 40 channels since the zero points are written once (18,768 bytes; 32 channels
    # were 19,472 with them, 28 with names too 20,216): docs/audio.md, "Round 15".
    "small": Architecture(channels=40, blocks=4),
    "default": Architecture(channels=64, blocks=5, first_stride=(3, 4)),
    "large": Architecture(channels=96, blocks=5, first_stride=(2, 2)),
}


def architecture(size: str) -> Architecture:
    """The architecture of a named size.

    Raises:
        ModelError: an unknown size (the line lists the known ones).
    """
    try:
        return SIZES[size]
    except KeyError:
        raise ModelError(f"unknown model size {size!r} (known: {', '.join(SIZES)})") from None


def input_shape(spec: FrontendSpec, window_samples: int) -> tuple[int, int, int]:
    """The model's input shape without the batch: (frames, bins, 1)."""
    frames = spec.num_frames(window_samples)
    if frames < 1:
        raise ModelError(
            f"a {window_samples}-sample window holds no {spec.window_samples}-sample frame"
        )
    return (frames, spec.num_bins, 1)


def build_model(
    arch: Architecture,
    shape: tuple[int, int, int],
    num_labels: int,
    seed: int,
    for_conversion: bool = False,
) -> Any:
    """A Keras DS-CNN (float, softmax output), weights initialised from ``seed``.

    ``for_conversion`` builds the graph that is converted, to be given a trained
    model's weights with :func:`fold_batch_norm`: a batch of 1 (flattening is one
    static ``RESHAPE``, which the converter folds away, instead of
    ``SHAPE``/``STRIDED_SLICE``/``PACK`` ops computing the batch at run time), each
    batch norm already folded into its convolution's kernel and bias, and Keras' own
    softmax (one ``SOFTMAX`` op). The graph that trains computes the same function
    without TensorFlow's approximate reciprocals.

    Raises:
        ModelError: the input is smaller than the first layer's kernel.
    """
    import tensorflow as tf

    keras = tf.keras
    layers = keras.layers
    frames, bins, _ = shape
    kh, kw = arch.first_kernel
    if frames < kh or bins < kw:
        raise ModelError(f"input {frames}x{bins} is smaller than the first kernel {kh}x{kw}")
    counter = iter(range(seed * 1000, seed * 1000 + 1000))

    class BatchNorm(layers.BatchNormalization):  # type: ignore[misc,name-defined]
        """Keras' batch normalisation with ``gamma / sqrt(variance + epsilon)`` for its scale.

        Keras computes ``gamma * rsqrt(variance + epsilon)``, and TensorFlow's ``Rsqrt``
        kernel starts from the CPU's approximate ``RSQRTPS``, whose results differ between
        CPU makers, so the training step depended on the CPU. ``sqrt`` and division are
        exactly rounded on every x86-64 CPU (docs/reproducibility.md). The weights, their
        order and the moving averages are Keras' own; :func:`fold_batch_norm` folds them
        into the convolution for conversion.
        """

        def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
            if training and self.trainable:
                mean, variance = self._moments(inputs, mask)
                self.moving_mean.assign(
                    self.moving_mean * self.momentum + mean * (1.0 - self.momentum)
                )
                self.moving_variance.assign(
                    self.moving_variance * self.momentum + variance * (1.0 - self.momentum)
                )
            else:
                mean, variance = self.moving_mean, self.moving_variance
            # divide_no_nan, not /: Grappler's arithmetic optimizer rewrites x / sqrt(y)
            # to x * rsqrt(y) in a graph where nothing else reads sqrt(y) (validation's
            # predict), and leaves divide_no_nan alone (sqrt(y) >= sqrt(epsilon) > 0,
            # so it is the same division).
            scale = tf.math.divide_no_nan(self.gamma, tf.sqrt(variance + self.epsilon))
            return inputs * scale + (self.beta - mean * scale)

    class Softmax(layers.Softmax):  # type: ignore[misc,name-defined]
        """``exp(x - max) / sum``, Keras' softmax without TensorFlow's reciprocal.

        TensorFlow's ``Softmax`` kernel multiplies by the sum's ``inverse()``, which
        Eigen computes from the CPU's approximate ``RCPPS`` (seen: the same logits gave
        other probabilities on an emulated Haswell). Validation's loss, which picks the
        epoch kept, is computed from these probabilities. The loss that trains still
        takes the logits (``_keras_logits``, as Keras' own layer sets them).
        """

        def call(self, inputs: Any, mask: Any = None) -> Any:
            e = tf.exp(inputs - tf.reduce_max(inputs, axis=-1, keepdims=True))
            outputs = e / tf.reduce_sum(e, axis=-1, keepdims=True)
            outputs._keras_logits = inputs
            return outputs

    def init() -> Any:
        # One seeded initializer per layer: the same seed gives the same start.
        return keras.initializers.HeUniform(seed=next(counter))

    def norm(x: Any, name: str) -> Any:
        # Folded for conversion: the convolution before it has the bias instead.
        return x if for_conversion else BatchNorm(momentum=BN_MOMENTUM, name=name)(x)

    # Short layer names: the converter stores every tensor's (fused) graph name in
    # the flatbuffer, and long ones cost about 2 KB of flash in a 20 KB model. A batch
    # norm is named after its convolution plus "n" (fold_batch_norm finds it so).
    inputs = keras.Input(shape=shape, batch_size=1 if for_conversion else None, name="features")
    x = layers.Conv2D(
        arch.channels,
        arch.first_kernel,
        strides=arch.first_stride,
        padding="same",
        use_bias=for_conversion,
        kernel_initializer=init(),
        name="c0",
    )(inputs)
    x = layers.ReLU(name="c0r")(norm(x, "c0n"))
    for b in range(arch.blocks):
        x = layers.DepthwiseConv2D(
            3,
            padding="same",
            use_bias=for_conversion,
            depthwise_initializer=init(),
            name=f"d{b}",
        )(x)
        x = layers.ReLU(name=f"d{b}r")(norm(x, f"d{b}n"))
        x = layers.Conv2D(
            arch.channels, 1, use_bias=for_conversion, kernel_initializer=init(), name=f"p{b}"
        )(x)
        x = layers.ReLU(name=f"p{b}r")(norm(x, f"p{b}n"))
    # AveragePooling2D over the whole map lowers to AVERAGE_POOL_2D (CMSIS-NN, ESP-NN);
    # GlobalAveragePooling2D would lower to MEAN, which has no optimised kernel.
    x = layers.AveragePooling2D(pool_size=(int(x.shape[1]), int(x.shape[2])), name="pool")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.Dropout(arch.dropout, seed=seed, name="drop")(x)
    x = layers.Dense(num_labels, kernel_initializer=init(), name="fc")(x)
    softmax = layers.Softmax if for_conversion else Softmax
    outputs = softmax(name="sm")(x)
    return keras.Model(inputs, outputs, name="kws")


def fold_batch_norm(trained: Any, converted: Any) -> None:
    """Give ``converted`` (:func:`build_model` ``for_conversion``) ``trained``'s weights,
    each batch norm folded into the convolution before it.

    ``scale = gamma / sqrt(variance + epsilon)`` multiplies the kernel's output channels
    and ``beta - mean * scale`` is the bias, in numpy's float32: exactly rounded on every
    CPU. Left to the converter, the fold was not: it rewrites ``x / sqrt(v)`` as
    ``x * rsqrt(v)`` and computes that from the CPU's approximate ``RSQRTPS`` (measured:
    up to 3 units in the last place apart on an emulated Haswell, in a few hundred
    weights of each layer; docs/reproducibility.md). Inference is the same function.
    """
    import numpy as np
    import tensorflow as tf

    layers = tf.keras.layers
    for layer in converted.layers:
        weights = trained.get_layer(layer.name).get_weights() if layer.weights else []
        if not isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)):
            layer.set_weights(weights)
            continue
        norm = trained.get_layer(layer.name + "n")
        gamma, beta, mean, variance = norm.get_weights()
        scale = gamma / np.sqrt(variance + np.float32(norm.epsilon))
        (kernel,) = weights
        # Conv2D: (kh, kw, in, out), out last; DepthwiseConv2D: (kh, kw, channels, 1).
        depthwise = isinstance(layer, layers.DepthwiseConv2D)
        per_channel = scale[:, None] if depthwise else scale
        layer.set_weights([kernel * per_channel, beta - mean * scale])


def macs(model_bytes: bytes) -> int:
    """Multiply-accumulates of one inference, counted from the ``.tflite`` graph.

    CONV_2D: output elements x kernel height x width x input channels;
    DEPTHWISE_CONV_2D: output elements x kernel height x width;
    FULLY_CONNECTED: output elements x input features. Pooling, reshape and
    softmax do no multiplications worth counting.
    """
    from tinyslm.flatbuffer import model_root, schema

    fbs = schema()
    model = model_root(model_bytes)
    sub = model.Subgraphs(0)

    def shape(index: int) -> list[int]:
        t = sub.Tensors(index)
        return [int(t.Shape(i)) for i in range(t.ShapeLength())]

    def elements(dims: list[int]) -> int:
        n = 1
        for d in dims:
            n *= d
        return n

    total = 0
    ops = fbs.BuiltinOperator
    for o in range(sub.OperatorsLength()):
        op = sub.Operators(o)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        out = elements(shape(op.Outputs(0)))
        weights = shape(op.Inputs(1)) if op.InputsLength() > 1 else []
        if builtin == ops.CONV_2D:  # weights (out_c, kh, kw, in_c)
            total += out * weights[1] * weights[2] * weights[3]
        elif builtin == ops.DEPTHWISE_CONV_2D:  # weights (1, kh, kw, out_c)
            total += out * weights[1] * weights[2]
        elif builtin == ops.FULLY_CONNECTED:  # weights (out, in)
            total += out * weights[1]
    return total
