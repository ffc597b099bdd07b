"""Op list for ``tflite::MicroMutableOpResolver``: builtin op name -> ``Add<Op>()`` method.

The method name follows TFLM's own generator
(``tools/gen_micro_mutable_op_resolver``): split the builtin name on ``_``,
capitalise each part, keep digit-led parts upper case. The result is checked
against the methods the resolver actually has (TFLM at the pinned commit), so
an op TFLM cannot run is a ``ModelError`` at generate time, not a compile error.

Some ops are registered with a kernel other than the method's default
(``REGISTRATIONS``): every model tinyslm emits is full-integer INT8
(``quantize.py``), so FULLY_CONNECTED and SOFTMAX take TFLM's int8-only variants,
which leave the float and int16 code paths out of the image; MEAN takes tinyslm's
own kernel (``firmware/common/tinyslm_mean.cc``: TFLM's MEAN with a bit-exact int8 fast
path). The names are checked against the upstream tree and esp-tflite-micro
(``tests/unit/test_emit.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyslm.errors import ModelError

# MicroMutableOpResolver's Add* methods for builtin ops (tensorflow/tflite-micro
# 90b983c, tensorflow/lite/micro/micro_mutable_op_resolver.h), minus AddCustom,
# AddBuiltin and the signal-library ops, which are not builtins.
RESOLVER_METHODS = frozenset(
    """
    AddAbs AddAdd AddAddN AddArgMax AddArgMin AddAssignVariable AddAveragePool2D
    AddBatchMatMul AddBatchToSpaceNd AddBroadcastArgs AddBroadcastTo AddCallOnce AddCast
    AddCeil AddConcatenation AddConv2D AddCos AddCumSum AddDepthToSpace
    AddDepthwiseConv2D AddDequantize AddDetectionPostprocess AddDiv AddDynamicUpdateSlice
    AddEmbeddingLookup AddElu AddEqual AddEthosU AddExp AddExpandDims AddFill AddFloor
    AddFloorDiv AddFloorMod AddFullyConnected AddGather AddGatherNd AddGreater
    AddGreaterEqual AddHardSwish AddIf AddL2Normalization AddL2Pool2D AddLeakyRelu AddLess
    AddLessEqual AddLog AddLogicalAnd AddLogicalNot AddLogicalOr AddLogistic AddLogSoftmax
    AddMaximum AddMaxPool2D AddMirrorPad AddMean AddMinimum AddMul AddNeg AddNotEqual
    AddPack AddPad AddPadV2 AddPrelu AddQuantize AddReadVariable AddReduceAll AddReduceMax
    AddReduceMin AddRelu AddRelu6 AddReshape AddResizeBilinear AddResizeNearestNeighbor
    AddReverseV2 AddRound AddRsqrt AddSelectV2 AddShape AddSin AddSlice AddSoftmax
    AddSpaceToBatchNd AddSpaceToDepth AddSplit AddSplitV AddSqueeze AddSqrt AddSquare
    AddSquaredDifference AddStridedSlice AddSub AddSum AddSvdf AddTanh AddTransposeConv
    AddTranspose AddUnpack AddUnidirectionalSequenceLSTM AddVarHandle AddWhile AddZerosLike
    """.split()  # noqa: SIM905 - a word list reads better than 100 quoted strings
)


# Builtin op -> (registration expression passed to its Add method, header declaring it).
# tflite::Register_*_INT8 exist in every TFLM port: CMSIS-NN defines int8-only
# kernels, other ports (reference, esp-nn) alias them to the default kernel.
REGISTRATIONS: dict[str, tuple[str, str]] = {
    "FULLY_CONNECTED": (
        "tflite::Register_FULLY_CONNECTED_INT8()",
        "tensorflow/lite/micro/kernels/fully_connected.h",
    ),
    "MEAN": ("tinyslm_Register_MEAN()", "tinyslm_mean.h"),
    "SOFTMAX": ("tflite::Register_SOFTMAX_INT8()", "tensorflow/lite/micro/kernels/softmax.h"),
}


@dataclass(frozen=True)
class OpEntry:
    name: str  # builtin op name as in the manifest, e.g. FULLY_CONNECTED
    method: str  # resolver method, e.g. AddFullyConnected
    registration: str = ""  # argument to the method; "" keeps TFLM's default kernel
    header: str = ""  # the header that declares ``registration``


def resolver_method(op: str) -> str:
    """``FULLY_CONNECTED`` -> ``AddFullyConnected`` (TFLM's naming rule).

    Raises:
        ModelError: TFLM's op resolver has no such builtin op.
    """
    parts = []
    for part in op.split("_"):
        if len(part) > 1 and part[0].isalpha():
            parts.append(part[0].upper() + part[1:].lower())
        else:
            parts.append(part.upper())
    name = "Add" + "".join(parts)
    # TFLM's irregular spellings, as its own generator fixes them up.
    name = name.replace("Lstm", "LSTM").replace("BatchMatmul", "BatchMatMul")
    if not op or op != op.upper() or name not in RESOLVER_METHODS:
        raise ModelError(f"model op {op!r} is not a builtin op TFLM's op resolver can register")
    return name


def op_entries(ops: tuple[str, ...] | list[str]) -> tuple[OpEntry, ...]:
    """The model's ops, de-duplicated and sorted (stable output), with their methods.

    Raises:
        ModelError: no ops, or an op TFLM cannot register.
    """
    names = sorted(set(ops))
    if not names:
        raise ModelError("manifest lists no ops")
    return tuple(OpEntry(n, resolver_method(n), *REGISTRATIONS.get(n, ("", ""))) for n in names)


def template_ops(entries: tuple[OpEntry, ...]) -> list[dict[str, str]]:
    """The op resolver template's ``ops``: name, method and registration of each entry."""
    return [{"name": e.name, "method": e.method, "registration": e.registration} for e in entries]


def resolver_includes(entries: tuple[OpEntry, ...]) -> list[str]:
    """The headers the op resolver needs for its non-default registrations, sorted."""
    return sorted({e.header for e in entries if e.header})
