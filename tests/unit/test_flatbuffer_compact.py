"""tinyslm.flatbuffer.compact: a model's flash without what TFLM never reads.

Keyword models are written through it (``quantize_audio``); the committed keyword
fixture is such a model, so every C, QEMU and fuzz test of the keyword firmware runs one.
The text fixture is the converter's output as it comes, names and zero points included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
import pytest

from tinyslm.audio.train import tflm_predict
from tinyslm.errors import ModelError
from tinyslm.flatbuffer import BUFFER_ALIGNMENT, compact, io_details, model_ops, schema
from tinyslm.tflm_runtime import tflm_scores

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TEXT_MODEL = FIXTURES / "model" / "model.tflite"
KWS_MODEL = FIXTURES / "kws_model" / "model.tflite"


def strings(model_bytes: bytes) -> dict[str, Any]:
    """The flatbuffer's strings that TFLM does not read, and its metadata names."""
    model = schema().Model.GetRootAsModel(bytearray(model_bytes), 0)
    sub = model.Subgraphs(0)
    return {
        "tensors": [sub.Tensors(i).Name() for i in range(sub.TensorsLength())],
        "description": model.Description(),
        "subgraph": sub.Name(),
        "signatures": model.SignatureDefsLength(),
        "metadata": [model.Metadata(i).Name() for i in range(model.MetadataLength())],
    }


def buffer_offsets(model_bytes: bytes) -> list[int]:
    """Where each non-empty constant buffer's data starts, from the file's first byte."""
    whole = np.frombuffer(model_bytes, np.uint8)
    model = schema().Model.GetRootAsModel(whole, 0)
    return [
        model.Buffers(i).DataAsNumpy().ctypes.data - whole.ctypes.data
        for i in range(model.BuffersLength())
        if model.Buffers(i).DataLength()
    ]


def buffers(model_bytes: bytes) -> list[bytes]:
    model = schema().Model.GetRootAsModel(bytearray(model_bytes), 0)
    return [
        model.Buffers(i).DataAsNumpy().tobytes() if model.Buffers(i).DataLength() else b""
        for i in range(model.BuffersLength())
    ]


def test_the_converters_strings_go_and_the_model_runs_the_same() -> None:
    raw = TEXT_MODEL.read_bytes()
    before = strings(raw)
    assert all(before["tensors"]) and before["signatures"] == 1 and before["description"]
    out = compact(raw)
    after = strings(out)
    assert after["tensors"] == [None] * len(before["tensors"])
    assert (after["description"], after["subgraph"], after["signatures"]) == (None, None, 0)
    assert after["metadata"] == before["metadata"] != []
    assert len(out) <= len(raw) - sum(len(n) for n in before["tensors"]) - 8 * sum(
        len(zp) - 1 for _, zp in quantization(raw) if len(zp) > 1
    )
    # The same buffers in the same order, the same tensors, ops and scales.
    assert buffers(out) == buffers(raw)
    assert io_details(out) == io_details(raw) and model_ops(out) == model_ops(raw)
    seq_len = io_details(raw).input_shape[-1]
    ids = np.random.default_rng(0).integers(0, 512, size=(64, seq_len), dtype=np.int32)
    ids[:, seq_len // 2 :] = 0  # padding, as the tokenizer leaves it
    assert np.array_equal(tflm_scores(out, ids), tflm_scores(raw, ids))


def quantization(model_bytes: bytes) -> list[tuple[list[float], list[int]]]:
    """Each tensor's (scales, zero points) as the flatbuffer stores them."""
    sub = schema().Model.GetRootAsModel(bytearray(model_bytes), 0).Subgraphs(0)
    out = []
    for i in range(sub.TensorsLength()):
        q = sub.Tensors(i).Quantization()
        if q is None:
            out.append(([], []))
        else:
            out.append(
                (
                    [q.Scale(j) for j in range(q.ScaleLength())],
                    [q.ZeroPoint(j) for j in range(q.ZeroPointLength())],
                )
            )
    return out


def test_per_channel_zero_points_are_written_once_and_tflm_reads_them_the_same() -> None:
    raw = KWS_MODEL.read_bytes()
    # The fixture is compact; put back what the converter writes: a zero per channel.
    model = schema().ModelT.InitFromPackedBuf(bytearray(raw), 0)
    widened = 0
    for tensor in model.subgraphs[0].tensors:
        q = tensor.quantization
        if q is not None and q.scale is not None and len(q.scale) > 1:
            q.zeroPoint = [0] * len(q.scale)
            widened += 1
    assert widened == 20  # weights and bias of 10 per-channel layers
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    converted = bytes(builder.Output())
    before, after = quantization(converted), quantization(compact(converted))
    assert [s for s, _ in after] == [s for s, _ in before]
    for (scales, zp_before), (_, zp_after) in zip(before, after, strict=True):
        assert zp_after == (zp_before if len(scales) <= 1 else [0])
    assert compact(converted) == raw
    frames, bins = io_details(raw).input_shape[1:3]
    features = np.random.default_rng(2).integers(-128, 128, (16, frames, bins), dtype=np.int8)
    assert np.array_equal(tflm_predict(raw, features), tflm_predict(converted, features))


def test_a_zero_point_vector_that_is_not_all_zero_is_kept() -> None:
    model = schema().ModelT.InitFromPackedBuf(bytearray(KWS_MODEL.read_bytes()), 0)
    target = next(
        t
        for t in model.subgraphs[0].tensors
        if t.quantization is not None and len(t.quantization.scale) > 1
    )
    kept = [0] * (len(target.quantization.scale) - 1) + [3]
    target.quantization.zeroPoint = kept
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    assert [zp for _, zp in quantization(compact(bytes(builder.Output())))].count(kept) == 1


def test_every_constant_buffer_starts_on_a_16_byte_boundary() -> None:
    raw = TEXT_MODEL.read_bytes()
    # The converter keeps them 4-byte aligned only, which is why the buffers are re-packed.
    assert {o % BUFFER_ALIGNMENT for o in buffer_offsets(raw)} != {0}
    out = compact(raw)
    assert len(buffer_offsets(out)) == len(buffer_offsets(raw))
    assert {o % BUFFER_ALIGNMENT for o in buffer_offsets(out)} == {0}
    assert len(out) % BUFFER_ALIGNMENT == 0


def test_same_bytes_every_time_and_a_compact_model_comes_back_unchanged() -> None:
    out = compact(TEXT_MODEL.read_bytes())
    assert compact(TEXT_MODEL.read_bytes()) == out
    assert compact(out) == out


def test_the_keyword_fixture_is_what_quantize_audio_writes() -> None:
    model = KWS_MODEL.read_bytes()
    assert compact(model) == model
    assert set(strings(model)["tensors"]) == {None}
    assert {o % BUFFER_ALIGNMENT for o in buffer_offsets(model)} == {0}
    frames, bins = io_details(model).input_shape[1:3]
    features = np.random.default_rng(1).integers(-128, 128, (8, frames, bins), dtype=np.int8)
    assert tflm_predict(model, features).shape == (8, io_details(model).output_shape[-1])


def test_garbage_is_refused_in_one_line() -> None:
    with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
        compact(b"not a model" * 8)
