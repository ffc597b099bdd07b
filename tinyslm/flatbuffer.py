"""Read a ``.tflite`` flatbuffer without TensorFlow: ops, tensors, quantization.

Every stage that needs to know what a model is (the manifest check, quantize's and
verify's input check, the audio model's MAC count) reads it here, through the schema
module ``tflite_micro`` ships. One writer lives here too, for the same reason:
:func:`compact` re-packs a model without what TFLM never reads (names, repeated zero points).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from tinyslm.errors import ModelError
from tinyslm.manifest import QuantParams


@dataclass(frozen=True)
class TensorSpec:
    """What a model's input tensor must be: numpy dtype name and shape (batch included).

    The modality says it (text: ``int32`` ids of shape ``[1, seq_len]``); quantize and
    verify check the flatbuffer against it with :func:`check_input`.
    """

    dtype: str
    shape: tuple[int, ...]

    def describe(self) -> str:
        return f"{self.dtype} {list(self.shape)}"


def schema() -> Any:
    """TFLite's flatbuffer schema module (generated Python, shipped with tflite_micro)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def _enum_names(enum_cls: Any) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


class NotFlatbufferError(ModelError):
    """The bytes are no (whole) TFLite flatbuffer; a caller that knows the file names it."""


_Walker = TypeVar("_Walker", bound=Callable[..., Any])


def _walks_model(func: _Walker) -> _Walker:
    """``func`` reads the flatbuffer's tables lazily, past what :func:`model_root` checked:
    a file cut short (its sha256 recorded as such by a format-1 manifest) raised
    struct.error or IndexError there, a traceback; now the same one line as the root's."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ModelError:
            raise
        except Exception as exc:  # flatbuffers raises assorted errors on garbage
            raise NotFlatbufferError(f"not a TFLite flatbuffer (cut short?): {exc}") from exc

    return wrapper  # type: ignore[return-value]


def model_root(model_bytes: bytes) -> Any:
    """The flatbuffer's root ``Model`` object.

    Raises:
        ModelError: not a TFLite flatbuffer, or it has no subgraph.
    """
    fbs = schema()
    try:
        model = fbs.Model.GetRootAsModel(bytearray(model_bytes), 0)
        if model.SubgraphsLength() < 1:
            raise ModelError("model has no subgraph")
        return model
    except ModelError:
        raise
    except Exception as exc:  # flatbuffers raises assorted errors on garbage
        raise NotFlatbufferError(f"not a TFLite flatbuffer: {exc}") from exc


@_walks_model
def model_ops(model_bytes: bytes) -> tuple[str, ...]:
    """Sorted, unique builtin op names the model uses (e.g. ``FULLY_CONNECTED``).

    Raises:
        ModelError: not a TFLite flatbuffer, or it uses a custom op.
    """
    fbs = schema()
    names = _enum_names(fbs.BuiltinOperator)
    model = model_root(model_bytes)
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
            if builtin == fbs.BuiltinOperator.CUSTOM:
                raise ModelError("model uses a custom op, which the firmware cannot register")
            used.add(names.get(builtin, f"BUILTIN_{builtin}"))
    return tuple(sorted(used))


@_walks_model
def embedding_rows(model_bytes: bytes) -> int | None:
    """Rows of the embedding table the ids index (``features.buckets``), or None.

    The table is the params input of the GATHER that reads the model's ids input.
    """
    fbs = schema()
    model = model_root(model_bytes)
    sub = model.Subgraphs(0)
    if sub.InputsLength() < 1:
        return None
    ids = sub.Inputs(0)
    for o in range(sub.OperatorsLength()):
        op = sub.Operators(o)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        gather = builtin == fbs.BuiltinOperator.GATHER and op.InputsLength() >= 2
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


@_walks_model
def io_details(model_bytes: bytes) -> IoDetails:
    """Read the first input and output tensor of the model (no TensorFlow needed)."""
    fbs = schema()
    types = _enum_names(fbs.TensorType)
    sub = model_root(model_bytes).Subgraphs(0)
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


def check_input(details: IoDetails, expected: TensorSpec, what: str = "model") -> None:
    """Refuse a model whose input is not ``expected`` or whose output is not int8.

    Raises:
        ModelError: one line naming both.
    """
    got = TensorSpec(details.input_type.lower(), details.input_shape)
    if got != expected or details.output_type != "INT8":
        raise ModelError(
            f"{what} has {got.describe()} input / {details.output_type.lower()} output, "
            f"expected {expected.describe()} / int8"
        )


# Constant buffers start on 16-byte boundaries (the schema's ``force_align: 16``):
# the firmware places the model array 16-byte aligned, so weights and biases are
# too, for the wide loads of ESP-NN's and CMSIS-NN's kernels. The converter's own
# output only keeps them 4-byte aligned (the `small` keyword model's 22 buffers
# start at offsets 0, 4, 8 and 12 mod 16).
BUFFER_ALIGNMENT = 16


def compact(model_bytes: bytes) -> bytes:
    """``model_bytes`` re-packed for flash: what TFLM never reads is left out.

    - **Names.** The converter names every tensor after the Keras ops folded into
      it (the 28-channel `small` keyword model's 33 names were 2,649 bytes, 13% of
      its flash) and adds a description, a subgraph name and a signature. TFLM runs
      a model by tensor index, so they are dropped (what TensorFlow's
      ``flatbuffer_utils.strip_strings`` drops; the metadata stays).
    - **Zero points.** Per-channel weights and their int32 biases carry one zero
      point per channel, every one 0 (symmetric weights), each stored as an int64:
      8 bytes a channel a tensor, 4,592 of the 32-channel `small`'s 19,472 bytes.
      TFLM's allocator reads a one-element vector as the zero point of every
      channel ("as a space-saving optimization, zero point arrays for weights can
      be reduced to a single value" in ``micro_allocator.cc`` of every SDK tree the
      firmware builds with; the ``tflite_micro`` wheel gives such a model the same
      scores, tested), so an all-zero vector is written as ``[0]``; any other
      vector is kept. The arena does not change (TFLM expands the vector there as
      before). Desktop TFLite's interpreter refuses such a model ("1 zero_point
      values and 5 scale values"); TFLM, which verification and the firmware use,
      is the runtime these are for.
    - **Alignment.** Every constant buffer starts on a :data:`BUFFER_ALIGNMENT`
      boundary (the generated Python packer would align them to one byte, so
      buffers are packed here).

    Same input, same bytes; a compact model comes back unchanged.

    Raises:
        ModelError: not a TFLite flatbuffer.
    """
    import flatbuffers

    fbs = schema()
    model_root(model_bytes)  # refuse garbage with the usual line
    model = fbs.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    model.description = None
    model.signatureDefs = None
    for sub in model.subgraphs or []:
        sub.name = None
        for tensor in sub.tensors or []:
            tensor.name = None
            quant = tensor.quantization
            zero_points = None if quant is None else quant.zeroPoint
            if zero_points is not None and len(zero_points) > 1 and not any(zero_points):
                quant.zeroPoint = [0]
    model.buffers = [_AlignedBuffer(b) for b in model.buffers or []]
    builder = flatbuffers.Builder(len(model_bytes))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


class _AlignedBuffer:
    """A ``BufferT`` whose data vector is packed :data:`BUFFER_ALIGNMENT`-aligned."""

    def __init__(self, buffer: Any) -> None:
        self.buffer = buffer

    def Pack(self, builder: Any) -> Any:  # the name ModelT.Pack calls
        # The generated BufferT.Pack's non-numpy path, with the schema's alignment
        # where the generated BufferStartDataVector passes 1.
        fbs, b = schema(), self.buffer
        data = None
        if b.data is not None:
            payload = bytes(bytearray(b.data))
            builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
            for byte in reversed(payload):
                builder.PrependUint8(byte)
            data = builder.EndVector()
        fbs.BufferStart(builder)
        if data is not None:
            fbs.BufferAddData(builder, data)
        fbs.BufferAddOffset(builder, b.offset)
        fbs.BufferAddSize(builder, b.size)
        return fbs.BufferEnd(builder)
