"""tinyslm.flatbuffer.without_names: a model's flash without the converter's strings.

Keyword models are written through it (``quantize_audio``); the committed keyword
fixture is such a model, so every C, QEMU and fuzz test of the keyword firmware runs one.
The text fixture is the converter's output as it comes, names included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tinyslm.audio.train import tflm_predict
from tinyslm.errors import ModelError
from tinyslm.flatbuffer import BUFFER_ALIGNMENT, io_details, model_ops, schema, without_names
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
    out = without_names(raw)
    after = strings(out)
    assert after["tensors"] == [None] * len(before["tensors"])
    assert (after["description"], after["subgraph"], after["signatures"]) == (None, None, 0)
    assert after["metadata"] == before["metadata"] != []
    assert len(out) <= len(raw) - sum(len(n) for n in before["tensors"])
    # The same buffers in the same order, the same tensors, ops and quantization.
    assert buffers(out) == buffers(raw)
    assert io_details(out) == io_details(raw) and model_ops(out) == model_ops(raw)
    seq_len = io_details(raw).input_shape[-1]
    ids = np.random.default_rng(0).integers(0, 512, size=(64, seq_len), dtype=np.int32)
    ids[:, seq_len // 2 :] = 0  # padding, as the tokenizer leaves it
    assert np.array_equal(tflm_scores(out, ids), tflm_scores(raw, ids))


def test_every_constant_buffer_starts_on_a_16_byte_boundary() -> None:
    raw = TEXT_MODEL.read_bytes()
    # The converter keeps them 4-byte aligned only, which is why the buffers are re-packed.
    assert {o % BUFFER_ALIGNMENT for o in buffer_offsets(raw)} != {0}
    out = without_names(raw)
    assert len(buffer_offsets(out)) == len(buffer_offsets(raw))
    assert {o % BUFFER_ALIGNMENT for o in buffer_offsets(out)} == {0}
    assert len(out) % BUFFER_ALIGNMENT == 0


def test_same_bytes_every_time_and_a_model_without_names_comes_back_unchanged() -> None:
    out = without_names(TEXT_MODEL.read_bytes())
    assert without_names(TEXT_MODEL.read_bytes()) == out
    assert without_names(out) == out


def test_the_keyword_fixture_is_what_quantize_audio_writes() -> None:
    model = KWS_MODEL.read_bytes()
    assert without_names(model) == model
    assert set(strings(model)["tensors"]) == {None}
    assert {o % BUFFER_ALIGNMENT for o in buffer_offsets(model)} == {0}
    frames, bins = io_details(model).input_shape[1:3]
    features = np.random.default_rng(1).integers(-128, 128, (8, frames, bins), dtype=np.int8)
    assert tflm_predict(model, features).shape == (8, io_details(model).output_shape[-1])


def test_garbage_is_refused_in_one_line() -> None:
    with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
        without_names(b"not a model" * 8)
