"""tinyslm.audio.stream: the listening loop's Python reference and the streaming figures.

The loop's agreement with its C mirror is tests/host/test_audio_listen.py; here its
own promises: frames and times as documented, the model sees exactly the last
``frames`` frames at the stated inferences, batching and chunking change nothing,
refusals, and the figures' stream layout and matching rule on synthetic tones
that a stand-in "model" recognises.
"""

from __future__ import annotations

import numpy as np
import pytest

from tinyslm.audio import stream as st
from tinyslm.audio.detector import Detection, DetectorSpec, detect
from tinyslm.audio.frontend import FrontendSpec, clip_features
from tinyslm.audio.spec import KeywordSpec
from tinyslm.errors import TinySlmError

RATE = 16000


def tone(hz: float, seconds: float = 0.6, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.round(amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def tone_model(num_labels: int = 4) -> st.Predict:
    """Label 2 for a low tone, 3 for a high one, else silence: from the newest 10 frames."""
    front = FrontendSpec()
    low = int(np.searchsorted(np.linspace(0, 1, front.num_bins), 0.3))

    def predict(windows: np.ndarray) -> np.ndarray:
        recent = windows[:, -10:, :].astype(np.int64)
        lo = recent[:, :, :low].max(axis=(1, 2))
        hi = recent[:, :, low:].max(axis=(1, 2))
        out = np.full((len(windows), num_labels), -128, np.int8)
        loud = np.maximum(lo, hi) > 60
        out[:, 0] = np.where(loud, -128, 127)
        out[:, 2] = np.where(loud & (lo >= hi), 127, -128)
        out[:, 3] = np.where(loud & (hi > lo), 127, -128)
        return out

    return predict


def spec(**kw: int) -> st.StreamSpec:
    return st.StreamSpec(DetectorSpec(num_labels=4, **kw))


def test_frame_end_ms_is_the_newest_frame_end() -> None:
    front = FrontendSpec()
    assert st.frame_end_ms(0, front) == 30
    assert list(st.frame_end_ms([48, 49, 50], front)) == [990, 1010, 1030]
    odd = FrontendSpec(window_samples=400, stride_samples=330)  # 20.625 ms: rounded down
    ks = np.arange(1000)
    expected = (ks * 330 + 400) * 1000 // 16000
    assert np.array_equal(st.frame_end_ms(ks, odd), expected)
    # uint32 wrap, as the device's clock
    big = (2**32 * 16 + 1000) // 320
    assert int(st.frame_end_ms(big, front)) == ((big * 320 + 480) * 1000 // 16000) % 2**32


def test_stream_features_equal_the_clip_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(-20000, 20000, 16000 * 3 + 123).astype(np.int16)
    monkeypatch.setattr(st, "FEATURE_CHUNK", 7)  # many chunk boundaries
    assert np.array_equal(st.stream_features(x), clip_features(x))
    assert st.stream_features(x[:479]).shape == (0, 40)
    with pytest.raises(TinySlmError, match="int16"):
        st.stream_features(x.astype(np.int32))


def test_inferences_see_the_last_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    x = rng.integers(-3000, 3000, 16000 * 2).astype(np.int16)
    seen: list[np.ndarray] = []

    def predict(windows: np.ndarray) -> np.ndarray:
        assert windows.dtype == np.int8 and windows.shape[1:] == (49, 40)
        seen.extend(windows)
        return np.zeros((len(windows), 4), np.int8)

    monkeypatch.setattr(st, "PREDICT_BATCH", 3)
    s = spec(stride_frames=3)
    result = st.listen(x, s, predict)
    feats = clip_features(x)
    assert result.frames == len(feats) == 99
    assert list(result.newest) == list(range(48, 99, 3))
    assert list(result.times_ms) == [k * 20 + 30 for k in range(48, 99, 3)]
    assert len(seen) == len(result.newest)
    for k, window in zip(result.newest, seen, strict=True):
        assert np.array_equal(window, feats[k - 48 : k + 1])
    assert st.listen(x[:15000], s, predict).newest.size == 0  # 46 frames: never full


@pytest.mark.parametrize(
    ("stride", "average"), [(20, 2), (10, 2), (20, 1), (20, 3), (10, 3), (40, 3), (3, 16)]
)
def test_seen_whole_is_the_span_all_averaged_windows_share(stride: int, average: int) -> None:
    """KeywordSpec.seen_whole_samples from the loop's own inference frames: the samples
    that every one of ``average`` consecutive windows holds (from the last window's first
    frame to the end of the first window's newest frame)."""
    ks = KeywordSpec(stride_frames=stride, average=average)
    fe = ks.frontend
    loop = st.StreamSpec(ks.detector(4, 0), ks.frames, fe)
    newest = st.inference_frames(ks.frames + stride * average, loop)
    first, last = int(newest[0]), int(newest[average - 1])
    common = (
        first * fe.stride_samples + fe.window_samples - (last - ks.frames + 1) * fe.stride_samples
    )
    assert ks.seen_whole_samples == max(common, 0)
    if (stride, average) == (20, 2):
        assert ks.seen_whole_samples == 9440  # the default rule: 0.59 s


def test_detections_are_the_detector_on_the_scores() -> None:
    x = np.concatenate([np.zeros(16000, np.int16), tone(300), np.zeros(24000, np.int16),
                        tone(5000), np.zeros(16000, np.int16)])  # fmt: skip
    s = spec(window=2, suppression_ms=1000)
    result = st.listen(x, s, tone_model())
    assert list(result.detections) == detect(s.detector, result.scores, list(result.times_ms))
    assert [d.label for d in result.detections] == [2, 3]
    # Heard within a few strides of each tone's start (1.0 s and 3.1 s).
    assert 1000 <= result.detections[0].t_ms <= 1200
    assert 3100 <= result.detections[1].t_ms <= 3300


def test_predict_with_the_wrong_output_is_refused() -> None:
    x = np.zeros(20000, np.int16)
    with pytest.raises(TinySlmError, match=r"int8 \(\d+, 4\)"):
        st.listen(x, spec(), lambda w: np.zeros((len(w), 3), np.int8))
    with pytest.raises(TinySlmError, match="predict returned float"):
        st.listen(x, spec(), lambda w: np.zeros((len(w), 4)))


def test_spec_and_protocol_refusals() -> None:
    with pytest.raises(TinySlmError, match="frames"):
        st.StreamSpec(DetectorSpec(num_labels=3), frames=0)
    with pytest.raises(TinySlmError, match="stride_frames"):
        st.StreamSpec(DetectorSpec(num_labels=3, stride_frames=256))
    with pytest.raises(TinySlmError, match="overlap"):
        st.StreamProtocol(gap_ms=500, tolerance_ms=600)
    with pytest.raises(TinySlmError, match=">= 0"):
        st.StreamProtocol(gap_ms=-1, tolerance_ms=0)


def test_compose_lays_out_clips_and_noise() -> None:
    a, b = tone(300, 1.0), tone(3000, 0.5)
    rng = np.random.default_rng(9)
    noise = rng.normal(0, 3000, 16000).astype(np.int16)
    protocol = st.StreamProtocol(gap_ms=250, tolerance_ms=100, snr_db=20.0)
    out = st.compose([(2, a), (3, b)], [noise], protocol)
    assert len(out.samples) == 4000 + 16000 + 4000 + 8000 + 4000
    assert out.spans == ((2, 250, 1250), (3, 1500, 2000))
    assert out.seconds == len(out.samples) / 16000
    gap = out.samples[:4000].astype(np.float64)
    level = np.sqrt(np.mean(np.concatenate([a, b]).astype(np.float64) ** 2))
    assert np.sqrt(np.mean(gap**2)) == pytest.approx(level / 10, rel=0.1)  # 20 dB below
    # No noise: silent gaps and the clips as they are.
    quiet = st.compose([(2, a)], [], protocol)
    assert not quiet.samples[:4000].any() and np.array_equal(quiet.samples[4000:20000], a)
    # Deterministic, and the noise loops when the recordings are shorter than the stream.
    again = st.compose([(2, a), (3, b)], [noise], protocol)
    assert np.array_equal(out.samples, again.samples)


def test_score_keywords_rule() -> None:
    spans = ((2, 1000, 2000), (3, 4000, 5000), (2, 7000, 8000))
    protocol = st.StreamProtocol(gap_ms=1000, tolerance_ms=500)
    found = [
        Detection(2, 1000, 0, 0),  # hit: the span's first ms
        Detection(2, 2400, 0, 0),  # second in the span: a false accept
        Detection(2, 4100, 0, 0),  # wrong label: a false accept (and no hit)
        Detection(3, 3000, 0, 0),  # between spans: a false accept
        Detection(2, 8500, 0, 0),  # hit: exactly the tolerance after the end
    ]
    score = st.score_keywords(found, spans, protocol)
    assert (score.clips, score.hits, score.false_accepts) == (3, 2, 3)
    assert score.per_label == ((2, 2, 2), (3, 1, 0))
    late = st.score_keywords([Detection(2, 8501, 0, 0)], spans, protocol)
    assert (late.hits, late.false_accepts) == (0, 1)


def test_stream_figures_on_tones() -> None:
    keywords = [(2, tone(300)), (3, tone(4000)), (2, tone(350)), (3, tone(5000))]
    unknown = [np.zeros(8000, np.int16)]  # "unknown words" the model stays silent on
    noise = [np.random.default_rng(1).normal(0, 20, 16000 * 5).astype(np.int16)]
    s = spec(window=2, suppression_ms=1000)
    figures = st.stream_figures(
        s, tone_model(), noise=noise, unknown=unknown, keywords=keywords,
        protocol=st.StreamProtocol(gap_ms=1200, tolerance_ms=600, snr_db=40.0),
    )  # fmt: skip
    assert figures.keyword_clips == figures.keyword_hits == 4
    assert figures.false_rejection_rate == 0.0
    assert figures.keyword_false_accepts == figures.noise_false_accepts == 0
    assert figures.unknown_false_accepts == 0
    assert figures.noise_seconds == 5.0 and figures.noise_fa_per_hour == 0.0
    assert figures.per_label == ((2, 2, 2), (3, 2, 2))
    assert (figures.threshold_q, figures.window, figures.stride_ms) == (51, 2, 40)

    # The same clips labelled the other way round: every detection is wrong.
    swapped = [(5 - label, clip) for label, clip in keywords]
    bad = st.stream_figures(s, tone_model(), noise=noise, unknown=[], keywords=swapped)
    assert bad.keyword_hits == 0 and bad.keyword_false_accepts == 4
    assert bad.false_rejection_rate == 1.0
    assert bad.unknown_seconds == 0.0 and np.isnan(bad.unknown_fa_per_hour)

    # Tones as "noise" and "unknown" are false accepts, counted per hour.
    loud = [np.concatenate([np.zeros(16000, np.int16), tone(300), np.zeros(16000, np.int16)])]
    fa = st.stream_figures(s, tone_model(), noise=loud, unknown=[], keywords=[])
    assert fa.noise_false_accepts == 1 and fa.noise_seconds == 2.6
    assert fa.noise_fa_per_hour == pytest.approx(3600 / 2.6)
    assert fa.keyword_clips == 0 and np.isnan(fa.false_rejection_rate)
    # (the noise is also the bed under clip streams: without it, only the clip fires)
    fa = st.stream_figures(s, tone_model(), noise=[], unknown=[tone(4000)], keywords=[])
    assert fa.unknown_false_accepts == 1 and fa.unknown_seconds == 3.6
