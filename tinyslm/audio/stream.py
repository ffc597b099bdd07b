"""The device's listening loop in Python, and the streaming figures ``verify`` reports.

``firmware/audio/tinyslm_listen.c`` is its C mirror; ``tests/host/test_audio_listen.py``
proves both give identical detections on real recordings. The loop:

1. Front end: frame ``k`` (0-based from the stream start) covers samples
   ``[k * stride, k * stride + window)`` of the front end's spec; streaming on the
   device produces exactly :func:`tinyslm.audio.frontend.clip_features` of the
   whole stream, in any chunk sizes.
2. Feature window: the last ``frames`` frames, oldest first (the model's int8
   ``(frames, bins, 1)`` input). Nothing runs until it is full.
3. Inference when frame ``k = frames - 1 + m * stride_frames`` arrives
   (``m = 0, 1, ...``), on frames ``k - frames + 1 .. k``.
4. Time of that inference, and of any detection it makes (``t_ms``): the end of
   its newest frame in milliseconds from the stream start, rounded down,
   ``floor((k * stride + window) * 1000 / sample_rate)`` modulo 2**32 (the
   device's uint32 clock). With the default front end that is ``20 k + 30``.
5. :func:`tinyslm.audio.detector.detect` on the score vectors at those times.

Streaming figures (:func:`stream_figures`), measured the way a keyword user
would, on streams built by :func:`compose` (each a fresh stream, as after a
device's START):

- background noise: each recording streamed on its own, as recorded; every
  detection is a false accept;
- unknown words: the clips in a row, ``gap_ms`` of background between them,
  background noise mixed in over the whole stream at ``snr_db`` below the
  clips' RMS; every detection is a false accept;
- keywords: the same layout with keyword clips. A detection of clip ``i``'s
  label with ``start_i <= t_ms <= end_i + tolerance_ms`` is a hit (the first
  one only); any other detection (wrong label, outside every clip's span, a
  second one in a span) is a false accept. The false-rejection rate is the
  share of clips without a hit.

Clip spans are in ms from the stream start; ``tolerance_ms <= gap_ms`` keeps
the spans apart, and a ``gap_ms`` at least the detector's ``suppression_ms``
keeps one word's detection from suppressing the next word's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tinyslm.audio.detector import Detection, DetectorSpec, detect
from tinyslm.audio.frontend import FrontendSpec, clip_features
from tinyslm.errors import TinySlmError

Int8Array = npt.NDArray[np.int8]
Int16Array = npt.NDArray[np.int16]
# int8 windows ``(N, frames, bins)`` in, int8 score vectors ``(N, num_labels)`` out.
Predict = Callable[[Int8Array], Int8Array]

_U32 = 0xFFFFFFFF
# Front-end frames computed per call of the reference (bounds its int64 scratch).
FEATURE_CHUNK = 2048
# Windows handed to ``predict`` per call (bounds the copied windows' memory).
PREDICT_BATCH = 256
# The C loop counts frames to the next inference in a uint8_t.
MAX_STRIDE_FRAMES = 255


@dataclass(frozen=True)
class StreamSpec:
    """The loop's settings: the front end, the model's window and the detector.

    ``detector.stride_frames`` is the inference stride. The C loop's compile-time
    ``TINYSLM_KWS_FRAMES`` is ``frames``.
    """

    detector: DetectorSpec
    frames: int = 49
    frontend: FrontendSpec = field(default_factory=FrontendSpec)

    def __post_init__(self) -> None:
        if not 1 <= self.frames <= 1024:
            raise TinySlmError(f"stream: frames {self.frames} not in 1..1024")
        if self.detector.stride_frames > MAX_STRIDE_FRAMES:
            raise TinySlmError(
                f"stream: stride_frames {self.detector.stride_frames} above {MAX_STRIDE_FRAMES}"
            )

    @property
    def stride_frames(self) -> int:
        return self.detector.stride_frames


@dataclass(frozen=True, eq=False)
class StreamResult:
    """What the loop did on one stream.

    Attributes:
        detections: in time order.
        frames: front-end frames produced.
        newest: per inference, the index of its newest frame.
        times_ms: per inference, its time (uint32 ms).
        scores: per inference, the int8 score vector ``(inferences, num_labels)``.
    """

    detections: tuple[Detection, ...]
    frames: int
    newest: npt.NDArray[np.int64]
    times_ms: npt.NDArray[np.int64]
    scores: Int8Array


def frame_end_ms(index: npt.ArrayLike, frontend: FrontendSpec) -> npt.NDArray[np.int64]:
    """End of frame ``index`` in ms from the stream start, rounded down, modulo 2**32."""
    k = np.asarray(index, dtype=np.int64)
    end = k * frontend.stride_samples + frontend.window_samples
    ms: npt.NDArray[np.int64] = (end * 1000 // frontend.sample_rate) & _U32
    return ms


def stream_features(samples: npt.ArrayLike, frontend: FrontendSpec | None = None) -> Int8Array:
    """Every front-end frame of a stream, int8 ``(frames, bins)``, in bounded chunks."""
    spec = frontend if frontend is not None else FrontendSpec()
    x = np.asarray(samples)
    if x.ndim != 1 or x.dtype != np.int16:
        raise TinySlmError(f"stream: samples must be 1-D int16, got {x.dtype} {x.shape}")
    total = spec.num_frames(len(x))
    out = np.zeros((total, spec.num_bins), dtype=np.int8)
    for first in range(0, total, FEATURE_CHUNK):
        last = min(total, first + FEATURE_CHUNK)
        start = first * spec.stride_samples
        end = (last - 1) * spec.stride_samples + spec.window_samples
        out[first:last] = clip_features(x[start:end], spec)
    return out


def inference_frames(num_frames: int, spec: StreamSpec) -> npt.NDArray[np.int64]:
    """Indices of the newest frame of each inference in a stream of ``num_frames`` frames."""
    ks: npt.NDArray[np.int64] = np.arange(
        spec.frames - 1, num_frames, spec.stride_frames, dtype=np.int64
    )
    return ks


def run_model(
    features: Int8Array,
    newest: npt.NDArray[np.int64],
    frames: int,
    predict: Predict,
    num_labels: int,
) -> Int8Array:
    """Score vectors of the windows ending at frames ``newest`` (``predict`` in batches)."""
    out = np.zeros((len(newest), num_labels), dtype=np.int8)
    if len(newest) == 0:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(features, frames, axis=0)
    for first in range(0, len(newest), PREDICT_BATCH):
        ks = newest[first : first + PREDICT_BATCH]
        # sliding_window_view puts the window axis last: (N, bins, frames) -> (N, frames, bins)
        batch = np.ascontiguousarray(windows[ks - frames + 1].transpose(0, 2, 1))
        scores = np.asarray(predict(batch))
        if scores.dtype != np.int8 or scores.shape != (len(ks), num_labels):
            raise TinySlmError(
                f"stream: predict returned {scores.dtype} {scores.shape},"
                f" expected int8 ({len(ks)}, {num_labels})"
            )
        out[first : first + len(ks)] = scores
    return out


def listen(samples: npt.ArrayLike, spec: StreamSpec, predict: Predict) -> StreamResult:
    """Run the device's loop over one stream (a fresh start) and return its detections."""
    features = stream_features(samples, spec.frontend)
    newest = inference_frames(len(features), spec)
    scores = run_model(features, newest, spec.frames, predict, spec.detector.num_labels)
    times = frame_end_ms(newest, spec.frontend)
    found = detect(spec.detector, scores, [int(t) for t in times])
    return StreamResult(tuple(found), len(features), newest, times, scores)


# --------------------------------------------------------------------------------------
# Streaming figures.


@dataclass(frozen=True)
class StreamProtocol:
    """How clips are laid out in a stream and how detections are matched to them.

    Attributes:
        gap_ms: background between clips (and before the first clip, and after the last).
        tolerance_ms: a clip's detection may come this long after the clip ends.
        snr_db: clips' RMS over the background noise's RMS, mixed into clip streams.
    """

    gap_ms: int = 1500
    tolerance_ms: int = 750
    snr_db: float = 10.0

    def __post_init__(self) -> None:
        if self.gap_ms < 0 or self.tolerance_ms < 0:
            raise TinySlmError("stream protocol: gap_ms and tolerance_ms must be >= 0")
        if self.tolerance_ms > self.gap_ms:
            raise TinySlmError(
                f"stream protocol: tolerance_ms {self.tolerance_ms} above gap_ms {self.gap_ms}"
                " would let two clips' spans overlap"
            )


@dataclass(frozen=True, eq=False)
class ComposedStream:
    """A stream of clips: its samples and each clip's ``(label, start_ms, end_ms)``."""

    samples: Int16Array
    spans: tuple[tuple[int, int, int], ...]
    sample_rate: int = 16000

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def _rms(x: npt.NDArray[np.int16]) -> float:
    return float(np.sqrt(np.mean(np.square(x.astype(np.float64))))) if len(x) else 0.0


def compose(
    clips: Sequence[tuple[int, npt.ArrayLike]],
    noise: Sequence[npt.ArrayLike],
    protocol: StreamProtocol | None = None,
    sample_rate: int = 16000,
) -> ComposedStream:
    """``gap, clip, gap, clip, ..., gap`` with the noise recordings (looped, in order)
    mixed in over the whole stream at ``snr_db`` below the clips' RMS; clipped to int16.

    ``clips`` are ``(label index, int16 samples)``; spans are in ms, start rounded
    down and end rounded up to the ms.
    """
    protocol = protocol or StreamProtocol()
    gap = protocol.gap_ms * sample_rate // 1000
    parts = [np.asarray(c, dtype=np.int16) for _, c in clips]
    total = gap + sum(len(p) + gap for p in parts)
    mixed = np.zeros(total, dtype=np.float64)
    spans = []
    at = gap
    for (label, _), part in zip(clips, parts, strict=True):
        mixed[at : at + len(part)] = part
        start_ms = at * 1000 // sample_rate
        end_ms = -(-(at + len(part)) * 1000 // sample_rate)
        spans.append((int(label), start_ms, end_ms))
        at += len(part) + gap
    background = [np.asarray(n, dtype=np.int16) for n in noise if len(np.asarray(n))]
    if background and parts:
        bed = np.concatenate(background).astype(np.float64)
        reps = -(-total // len(bed))
        bed = np.tile(bed, reps)[:total]
        level = _rms(np.concatenate(parts))
        bed_rms = float(np.sqrt(np.mean(np.square(bed))))
        if bed_rms > 0 and level > 0:
            mixed += bed * (level / 10 ** (protocol.snr_db / 20) / bed_rms)
    samples = np.clip(np.round(mixed), -32768, 32767).astype(np.int16)
    return ComposedStream(samples, tuple(spans), sample_rate)


@dataclass(frozen=True)
class KeywordScore:
    """Detections matched to a keyword stream's clips."""

    clips: int
    hits: int
    false_accepts: int
    per_label: tuple[tuple[int, int, int], ...]  # (label, clips, hits), labels ascending


def score_keywords(
    detections: Sequence[Detection],
    spans: Sequence[tuple[int, int, int]],
    protocol: StreamProtocol | None = None,
) -> KeywordScore:
    """Hits and false accepts per the module docstring's rule."""
    protocol = protocol or StreamProtocol()
    hit = [False] * len(spans)
    false_accepts = 0
    for d in detections:
        for i, (label, start, end) in enumerate(spans):
            if start <= d.t_ms <= end + protocol.tolerance_ms:
                if label == d.label and not hit[i]:
                    hit[i] = True
                    break
                false_accepts += 1
                break
        else:
            false_accepts += 1
    labels = sorted({label for label, _, _ in spans})
    per_label = tuple(
        (
            label,
            sum(1 for s in spans if s[0] == label),
            sum(1 for s, h in zip(spans, hit, strict=True) if s[0] == label and h),
        )
        for label in labels
    )
    return KeywordScore(len(spans), sum(hit), false_accepts, per_label)


@dataclass(frozen=True)
class StreamCounts:
    """A :class:`StreamFigures`' counts, ``None`` where nothing could fire on the stream
    (:meth:`StreamFigures.counts`); ``per_label`` is ``(label, clips, hits)``."""

    noise_false_accepts: int | None
    unknown_false_accepts: int | None
    keyword_false_accepts: int | None
    keyword_hits: int | None
    per_label: tuple[tuple[int, int, int | None], ...]


@dataclass(frozen=True)
class StreamFigures:
    """False accepts per hour and the false-rejection rate at the detector's threshold.

    Attributes:
        noise_seconds, noise_false_accepts: the background recordings, each its own stream.
        unknown_seconds, unknown_false_accepts: the unknown-word stream.
        keyword_seconds, keyword_clips, keyword_hits: the keyword stream.
        keyword_false_accepts: detections in the keyword stream that are not a hit.
        per_label: (label, clips, hits) in the keyword stream.
        threshold_q, window, suppression_ms, stride_ms: the rule measured.
        noise_fires, unknown_fires, keywords_fire: whether the rule could fire on any
            noise recording, on the unknown-word stream, on the keyword stream (each needs
            ``window`` inferences): where it could not, the stream's 0 false accepts and
            its misses measure nothing, and its rate is NaN (``n/a``).
    """

    noise_seconds: float
    noise_false_accepts: int
    unknown_seconds: float
    unknown_false_accepts: int
    keyword_seconds: float
    keyword_clips: int
    keyword_hits: int
    keyword_false_accepts: int
    per_label: tuple[tuple[int, int, int], ...]
    threshold_q: int
    window: int
    suppression_ms: int
    stride_ms: int
    noise_fires: bool = True
    unknown_fires: bool = True
    keywords_fire: bool = True

    @property
    def noise_fa_per_hour(self) -> float:
        if not self.noise_fires:
            return float("nan")
        return _per_hour(self.noise_false_accepts, self.noise_seconds)

    @property
    def unknown_fa_per_hour(self) -> float:
        if not self.unknown_fires:
            return float("nan")
        return _per_hour(self.unknown_false_accepts, self.unknown_seconds)

    @property
    def false_rejection_rate(self) -> float:
        if not self.keywords_counted:
            return float("nan")
        return 1.0 - self.keyword_hits / self.keyword_clips

    @property
    def keywords_counted(self) -> bool:
        """Whether the keyword stream's hits and false accepts count: it has keyword clips
        and the rule could fire on it."""
        return self.keywords_fire and self.keyword_clips > 0

    def counts(self) -> StreamCounts:
        """The streams' counts as train's manifest, ``eval --json`` and ``emulate --data
        --json`` give them: ``None`` (null, not 0) for a stream the rule could not fire on
        (too short for its first detection, or no such stream), whose 0 measures nothing."""
        keywords = self.keywords_counted
        return StreamCounts(
            noise_false_accepts=self.noise_false_accepts if self.noise_fires else None,
            unknown_false_accepts=self.unknown_false_accepts if self.unknown_fires else None,
            keyword_false_accepts=self.keyword_false_accepts if keywords else None,
            keyword_hits=self.keyword_hits if keywords else None,
            per_label=tuple(
                (label, clips, hits if keywords else None) for label, clips, hits in self.per_label
            ),
        )

    def firing(self) -> tuple[tuple[float, int], ...]:
        """``(seconds, false accepts)`` of each stream the rule could fire on: one too short
        for its first detection (or a keyword stream without keyword clips) has 0 false
        accepts that measure nothing, so an overall rate leaves its seconds out."""
        streams = (
            (self.noise_fires, self.noise_seconds, self.noise_false_accepts),
            (self.unknown_fires, self.unknown_seconds, self.unknown_false_accepts),
            (
                self.keywords_counted,
                self.keyword_seconds,
                self.keyword_false_accepts,
            ),
        )
        return tuple((seconds, count) for fires, seconds, count in streams if fires)


def figures_of(
    rule: DetectorSpec,
    score: KeywordScore,
    *,
    noise: tuple[float, int],
    unknown: tuple[float, int],
    keyword_seconds: float,
    fires: tuple[bool, bool, bool],
) -> StreamFigures:
    """:class:`StreamFigures` of a rule from ``(seconds, false accepts)`` of the noise and
    unknown-word streams, the keyword stream's score, and whether the rule could fire on
    each of the three (:func:`fires_on`)."""
    return StreamFigures(
        noise_seconds=noise[0],
        noise_false_accepts=noise[1],
        unknown_seconds=unknown[0],
        unknown_false_accepts=unknown[1],
        keyword_seconds=keyword_seconds,
        keyword_clips=score.clips,
        keyword_hits=score.hits,
        keyword_false_accepts=score.false_accepts,
        per_label=score.per_label,
        threshold_q=rule.threshold_q,
        window=rule.window,
        suppression_ms=rule.suppression_ms,
        stride_ms=rule.stride_ms,
        noise_fires=fires[0],
        unknown_fires=fires[1],
        keywords_fire=fires[2],
    )


def fires_on(rule: DetectorSpec, results: Sequence[StreamResult | None]) -> bool:
    """Whether ``rule`` could fire on any of ``results``: one with ``window`` inferences
    (a stream shorter than the first detection needs is heard, but nothing can fire)."""
    return any(r is not None and len(r.scores) >= rule.window for r in results)


def _per_hour(count: int, seconds: float) -> float:
    return count * 3600.0 / seconds if seconds > 0 else float("nan")


def measured(value: float, digits: int) -> float | None:
    """``value`` rounded for JSON, or None where nothing was measured (NaN: no noise,
    no unknown words or no keywords in the split). JSON has no NaN: a strict parser
    (``jq``, a browser's ``JSON.parse``) refuses the ``NaN`` Python would write."""
    return round(value, digits) if math.isfinite(value) else None


def figure_text(value: float | None, spec: str = ".2f", percent: bool = False) -> str:
    """``value`` formatted with ``spec`` (as a percentage with ``percent``), or ``n/a``
    where nothing was measured."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value * 100:{spec}}%" if percent else format(value, spec)


def no_fire_text(seconds: float) -> str:
    """A stream's false accepts where the rule could not fire on it: no rate and no count
    (its 0 measures nothing), the same words in train's summary and eval's table."""
    if seconds <= 0:
        return "n/a (no audio)"
    # The seconds are every recording's together; each one is what is too short (the
    # noise is streamed one recording at a time).
    return f"n/a ({seconds:.0f} s, each stream too short for the rule to fire)"


def fa_text(
    per_hour: float | None,
    count: object,
    seconds: object,
    *,
    train: bool = False,
    spec: str = ".2f",
) -> str:
    """A stream's false accepts: ``0.00 (0 in 12 s)``, or train's ``0.00, 0 in 40 s`` (inside
    its ``(train: ...)``); without a rate (the rule could not fire on the stream, or there
    was none) :func:`no_fire_text`, since its count of 0 measures nothing. One wording for
    train's summary, eval's table and the benchmark's (``spec``: the rate's format, the
    benchmark's ``.1f``)."""
    if per_hour is None or not math.isfinite(per_hour):
        return no_fire_text(float(seconds)) if isinstance(seconds, int | float) else "n/a"
    shown = f"{float(seconds):.0f}" if isinstance(seconds, int | float) else "?"
    where = f"{count} in {shown} s"
    rate = figure_text(per_hour, spec)
    return f"{rate}, {where}" if train else f"{rate} ({where})"


def stream_figures(
    spec: StreamSpec,
    predict: Predict,
    *,
    noise: Sequence[npt.ArrayLike],
    unknown: Sequence[npt.ArrayLike],
    keywords: Sequence[tuple[int, npt.ArrayLike]],
    protocol: StreamProtocol | None = None,
) -> StreamFigures:
    """Stream ``noise`` recordings, ``unknown`` clips and ``keywords`` clips (label index,
    samples) through :func:`listen` as the module docstring lays out.

    Pass test-split material only: the test side of each background recording for
    ``noise`` (it is also the bed mixed under the clip streams), the test split's
    ``_unknown_`` clips, and its keyword clips.
    """
    protocol = protocol or StreamProtocol()
    rate = spec.frontend.sample_rate
    noise_seconds = 0.0
    heard = []
    for recording in noise:
        samples = np.asarray(recording, dtype=np.int16)
        noise_seconds += len(samples) / rate
        heard.append(listen(samples, spec, predict))
    noise_fa = sum(len(r.detections) for r in heard)
    unknown_stream = compose([(-1, c) for c in unknown], noise, protocol, rate)
    unknown_heard = listen(unknown_stream.samples, spec, predict) if unknown else None
    unknown_fa = len(unknown_heard.detections) if unknown_heard else 0
    keyword_stream = compose(keywords, noise, protocol, rate)
    keyword_heard = listen(keyword_stream.samples, spec, predict) if keywords else None
    found = keyword_heard.detections if keyword_heard else ()
    return figures_of(
        spec.detector,
        score_keywords(found, keyword_stream.spans, protocol),
        noise=(noise_seconds, noise_fa),
        unknown=(unknown_stream.seconds if unknown else 0.0, unknown_fa),
        keyword_seconds=keyword_stream.seconds if keywords else 0.0,
        fires=(
            fires_on(spec.detector, heard),
            fires_on(spec.detector, [unknown_heard]),
            fires_on(spec.detector, [keyword_heard]),
        ),
    )
