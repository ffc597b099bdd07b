"""The streaming keyword rule: int8 score vectors in, detections with times out.

One rule, shared by ``verify``'s streaming evaluation and the firmware
(``firmware/audio/tinyslm_kws_detector.c`` is its C mirror;
``tests/host/test_kws_detector.py`` proves they agree bit for bit). It is integer
arithmetic on TFLM's int8 softmax scores (scale 1/256, zero point -128), so
there is no rounding for host and device to disagree on:

- the model runs every ``stride_frames`` feature frames; each run gives one
  score vector, taken at a time in milliseconds;
- the last ``window`` vectors are summed per label; nothing fires until the
  window is full (a word is not detected from a fraction of its evidence);
- the candidate is the label with the largest sum (lowest index on a tie);
  labels in ``non_keywords`` (silence, unknown) never fire, and while one of
  them leads nothing does;
- it fires when ``sum >= threshold_q * window`` (the mean score reaches
  ``threshold_q``, or the candidate's own level in ``label_thresholds_q``) and the
  previous detection is at least ``suppression_ms`` earlier, so one spoken word
  gives one detection.

Times are uint32 milliseconds, as on a device whose clock wraps; a suppression
is forgotten at the first vector after it has run out, so a detection 2^32 ms
old never looks recent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tinyslm.errors import TinySlmError

MAX_WINDOW = 16  # TINYSLM_KWS_MAX_WINDOW in the C header
MAX_LABELS = 16  # TINYSLM_KWS_MAX_LABELS
_U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class DetectorSpec:
    """How score vectors become detections (see the module docstring)."""

    num_labels: int
    non_keywords: tuple[int, ...] = (0, 1)  # _silence_, _unknown_ in the dataset's order
    stride_frames: int = 2  # feature frames between inferences
    frame_ms: int = 20  # the front end's stride
    window: int = 3  # score vectors averaged
    threshold_q: int = 51  # mean int8 score to reach: (51 + 128) / 256 = 0.70
    suppression_ms: int = 1000
    # A level per label instead of threshold_q (generate --label-threshold); () for none.
    label_thresholds_q: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 2 <= self.num_labels <= MAX_LABELS:
            raise TinySlmError(f"detector: num_labels {self.num_labels} not in 2..{MAX_LABELS}")
        if not 1 <= self.window <= MAX_WINDOW:
            raise TinySlmError(f"detector: window {self.window} not in 1..{MAX_WINDOW}")
        if not -128 <= self.threshold_q <= 127:
            raise TinySlmError(f"detector: threshold_q {self.threshold_q} is not an int8")
        if self.stride_frames < 1 or self.frame_ms < 1:
            raise TinySlmError("detector: stride_frames and frame_ms must be at least 1")
        if not 0 <= self.suppression_ms <= _U32:
            raise TinySlmError(f"detector: suppression_ms {self.suppression_ms} is not a uint32")
        if any(not 0 <= i < self.num_labels for i in self.non_keywords):
            raise TinySlmError(f"detector: non_keywords {self.non_keywords} out of range")
        if len(set(self.non_keywords)) >= self.num_labels:
            raise TinySlmError("detector: every label is a non-keyword, nothing could fire")
        if self.label_thresholds_q and (
            len(self.label_thresholds_q) != self.num_labels
            or any(not -128 <= q <= 127 for q in self.label_thresholds_q)
        ):
            raise TinySlmError(
                f"detector: label_thresholds_q must be {self.num_labels} int8 levels, "
                f"got {self.label_thresholds_q}"
            )

    def level_of(self, label: int) -> int:
        """The mean int8 score ``label`` must reach to fire."""
        return self.label_thresholds_q[label] if self.label_thresholds_q else self.threshold_q

    @property
    def stride_ms(self) -> int:
        return self.stride_frames * self.frame_ms

    @property
    def non_keyword_mask(self) -> int:
        """The C config's ``non_keyword_mask``."""
        return sum(1 << i for i in set(self.non_keywords))

    @staticmethod
    def threshold_for(probability: float) -> int:
        """The smallest int8 score ``q`` with probability ``(q + 128) / 256 >= probability``."""
        return max(-128, min(127, math.ceil(probability * 256) - 128))

    @staticmethod
    def probability_of(threshold_q: int) -> float:
        """The mean score an int8 level stands for (the ``--threshold`` a user gives)."""
        return (threshold_q + 128) / 256


@dataclass(frozen=True)
class Detection:
    label: int
    t_ms: int
    sum_q: int  # the window sum of the label's int8 scores
    score_milli: int  # mean probability in thousandths, rounded half up

    @property
    def score(self) -> float:
        return self.score_milli / 1000


def score_milli(sum_q: int, window: int) -> int:
    """``(sum_q + 128 w) / (256 w)`` in thousandths, rounded half up (the C's integer formula)."""
    return ((sum_q + 128 * window) * 1000 + 128 * window) // (256 * window)


def inference_times(spec: DetectorSpec, count: int, first_ms: int = 0) -> list[int]:
    """Times of ``count`` inferences one stride apart from ``first_ms`` (uint32, wrapping)."""
    return [(first_ms + i * spec.stride_ms) & _U32 for i in range(count)]


def detect(
    spec: DetectorSpec, scores: npt.NDArray[np.int8], times_ms: Sequence[int] | None = None
) -> list[Detection]:
    """The detections of a stream of int8 score vectors (shape ``(n, num_labels)``).

    ``times_ms`` gives each vector's time; by default one stride apart from 0.
    """
    data = np.asarray(scores)
    if data.ndim != 2 or data.shape[1] != spec.num_labels or data.dtype != np.int8:
        raise TinySlmError(
            f"detector: scores must be int8 of shape (n, {spec.num_labels}),"
            f" got {data.dtype} {data.shape}"
        )
    times = inference_times(spec, len(data)) if times_ms is None else list(times_ms)
    if len(times) != len(data):
        raise TinySlmError(f"detector: {len(times)} times for {len(data)} score vectors")
    return list(_run(spec, data.astype(np.int64), times))


def _run(
    spec: DetectorSpec, data: npt.NDArray[np.int64], times: Iterable[int]
) -> Iterable[Detection]:
    # Window sums for every position at once; sums[i] covers vectors i-window+1 .. i.
    cumulative = np.cumsum(data, axis=0)
    sums = cumulative.copy()
    sums[spec.window :] -= cumulative[: -spec.window]
    best = np.argmax(sums, axis=1)  # first maximum on a tie, as the C loop
    ignored = set(spec.non_keywords)
    last: int | None = None
    for i, t in enumerate(times):
        t &= _U32
        # As the C push: a suppression that has run out is forgotten at once, so a clock
        # that wraps (2^32 ms, 49.7 days) cannot make an old detection look recent.
        if last is not None and (t - last) & _U32 >= spec.suppression_ms:
            last = None
        label = int(best[i])
        total = int(sums[i, label])
        if i + 1 < spec.window or label in ignored or total < spec.level_of(label) * spec.window:
            continue
        if last is not None:
            continue
        last = t
        yield Detection(label, t, total, score_milli(total, spec.window))
