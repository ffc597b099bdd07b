"""The keyword detector's Python rule on its own (the C mirror: tests/host/test_kws_detector.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tinyslm.audio.detector import Detection, DetectorSpec, detect, inference_times, score_milli
from tinyslm.errors import TinySlmError


def test_spec_refusals() -> None:
    for kwargs in (
        {"num_labels": 1},
        {"num_labels": 17},
        {"num_labels": 4, "window": 0},
        {"num_labels": 4, "window": 17},
        {"num_labels": 4, "threshold_q": 128},
        {"num_labels": 4, "stride_frames": 0},
        {"num_labels": 4, "suppression_ms": -1},
        {"num_labels": 4, "non_keywords": (4,)},
        {"num_labels": 2, "non_keywords": (0, 1)},
    ):
        with pytest.raises(TinySlmError, match="detector"):
            DetectorSpec(**kwargs)  # type: ignore[arg-type]


def test_threshold_and_score_conversions() -> None:
    assert DetectorSpec.threshold_for(0.7) == 52  # 52 + 128 = 180 >= 179.2
    assert DetectorSpec.threshold_for(0.0) == -128 and DetectorSpec.threshold_for(1.0) == 127
    assert score_milli(127 * 3, 3) == 996 and score_milli(-128 * 5, 5) == 0
    assert DetectorSpec(num_labels=4).non_keyword_mask == 0b11


def test_bad_score_arrays_are_refused() -> None:
    spec = DetectorSpec(num_labels=3)
    with pytest.raises(TinySlmError, match="int8"):
        detect(spec, np.zeros((5, 3), np.int16))
    with pytest.raises(TinySlmError, match="shape"):
        detect(spec, np.zeros((5, 4), np.int8))
    with pytest.raises(TinySlmError, match="times"):
        detect(spec, np.zeros((5, 3), np.int8), [0, 1])


def test_one_word_one_detection_and_times_wrap() -> None:
    spec = DetectorSpec(num_labels=3, window=2, threshold_q=0, suppression_ms=500)
    scores = np.full((30, 3), -128, np.int8)
    scores[:, 0] = 127
    scores[10:20, 0], scores[10:20, 2] = -128, 127  # a word held for 10 inferences
    times = inference_times(spec, 30, first_ms=2**32 - 11 * spec.stride_ms)
    assert detect(spec, scores, times) == [Detection(2, 0, 254, 996)]
    assert detect(spec, scores) == [Detection(2, 11 * 40, 254, 996)]
