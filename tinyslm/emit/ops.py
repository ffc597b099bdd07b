"""Op list for ``tflite::MicroMutableOpResolver``: builtin op name -> ``Add<Op>()`` method.

The method name follows TFLM's own generator
(``tools/gen_micro_mutable_op_resolver``): split the builtin name on ``_``,
capitalise each part, keep digit-led parts upper case. The result is checked
against the methods the resolver actually has (TFLM at the pinned commit), so
an op TFLM cannot run is a ``ModelError`` at generate time, not a compile error.
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


@dataclass(frozen=True)
class OpEntry:
    name: str  # builtin op name as in the manifest, e.g. FULLY_CONNECTED
    method: str  # resolver method, e.g. AddFullyConnected


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
    return tuple(OpEntry(n, resolver_method(n)) for n in names)
