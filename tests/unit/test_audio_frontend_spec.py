"""tinyslm.audio.frontend: the integer reference is a real log-mel, and its C tables are in sync.

The C mirror's equivalence is proven in tests/host/test_audio_frontend.py; here the
Python reference is checked against a floating-point log-mel computed with numpy's
FFT from the same windowed samples, so a wrong butterfly, filter or log table shows
up as features that are off by more than the one step integer rounding allows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyslm.audio import frontend
from tinyslm.audio.frontend import FrontendSpec, clip_features, make_tables, render_c_headers
from tinyslm.errors import DatasetError

AUDIO = Path(__file__).resolve().parents[2] / "firmware" / "audio"


def test_committed_c_headers_are_rendered_from_the_default_spec() -> None:
    # Regenerate with: python -c "from tinyslm.audio.frontend import *; ..." (docs/audio.md).
    for name, text in render_c_headers(FrontendSpec()).items():
        assert (AUDIO / name).read_text() == text, f"{name} is stale; regenerate it"


def float_log_mel(frames: np.ndarray, spec: FrontendSpec) -> np.ndarray:
    """The same features in floating point: numpy FFT, float mel weights, exact log2."""
    t = make_tables(spec)
    shift = 15 - frontend.INPUT_FRACTION_BITS
    windowed = (frames.astype(np.int64) * t.window + (1 << (shift - 1))) >> shift
    spectrum = np.fft.rfft(windowed.astype(np.float64), n=spec.fft_size)
    power = np.abs(spectrum[:, t.first_bin : t.last_bin + 1]) ** 2 / 2**frontend.POWER_SHIFT
    bank = np.zeros((len(t.seg), spec.num_bins))
    for row, (seg, w) in enumerate(zip(t.seg.astype(int), t.weight.astype(float), strict=True)):
        if seg < spec.num_bins:
            bank[row, seg] += w
        if seg >= 1:
            bank[row, seg - 1] += 32768 - w
    energy = np.maximum(power @ bank, 1.0)
    return 8 * np.log2(energy) - spec.log_offset


@pytest.mark.parametrize("amp", [30, 1000, 20000])
def test_integer_features_follow_a_float_log_mel(amp: int) -> None:
    spec = FrontendSpec()
    rng = np.random.default_rng(amp)
    t = np.arange(16000) / 16000
    signal = amp * (np.sin(2 * np.pi * 440 * t) + 0.5 * rng.standard_normal(16000))
    samples = np.clip(signal, -32768, 32767).astype(np.int16)
    got = clip_features(samples, spec).astype(np.float64)
    starts = np.arange(spec.num_frames(16000)) * spec.stride_samples
    frames = samples[starts[:, None] + np.arange(spec.window_samples)]
    ref = np.clip(float_log_mel(frames, spec), -128, 127)
    inside = (ref > -127) & (ref < 126)
    assert inside.mean() > 0.5
    # Q15 twiddles (a 2.7e-4 gain over 9 stages), the 7-bit log mantissa and rounding
    # to eighths: at most one step either way.
    assert np.abs(got[inside] - ref[inside]).max() <= 1.0


def test_fft_is_a_dft() -> None:
    spec = FrontendSpec()
    t = make_tables(spec)
    rng = np.random.default_rng(3)
    x = rng.integers(-(2**20), 2**20, (2, spec.fft_size))
    re = np.ascontiguousarray(x[:, t.bitrev].astype(np.int64))
    im = np.zeros_like(re)
    frontend._fft(re, im, t)
    ref = np.fft.fft(x.astype(np.float64))
    scale = np.abs(ref).max()
    assert np.abs(re - ref.real).max() < 1e-3 * scale
    assert np.abs(im - ref.imag).max() < 1e-3 * scale


def test_shapes_and_determinism() -> None:
    spec = FrontendSpec()
    assert spec.num_frames(16000) == 49 and spec.num_frames(479) == 0
    assert spec.num_frames(480) == 1 and spec.num_frames(800) == 2
    samples = np.random.default_rng(0).integers(-5000, 5000, 16000).astype(np.int16)
    first = clip_features(samples)
    assert first.shape == (49, 40) and first.dtype == np.int8
    assert np.array_equal(first, clip_features(samples.copy()))
    assert clip_features(samples[:100]).shape == (0, 40)
    # frames are independent: a clip's second frame is the features of samples 320..800
    assert np.array_equal(first[1:2], frontend.frame_features(samples[None, 320:800], spec))


def test_a_batch_of_clips_is_each_clip() -> None:
    rng = np.random.default_rng(11)
    clips = rng.integers(-8000, 8000, (5, 16000)).astype(np.int16)
    batch = frontend.clips_features(clips)
    assert batch.shape == (5, 49, 40)
    for clip, features in zip(clips, batch, strict=True):
        assert np.array_equal(features, clip_features(clip))
    assert frontend.clips_features(clips[:, :100]).shape == (5, 0, 40)
    # the cached tables cannot be changed by accident
    with pytest.raises(ValueError):
        make_tables(FrontendSpec()).window[0] = 1


def test_louder_is_larger_by_the_log_step() -> None:
    # Doubling the amplitude adds 2 octaves of power: 16 steps, within rounding.
    rng = np.random.default_rng(5)
    base = rng.integers(-2000, 2000, 16000)
    a = clip_features(base.astype(np.int16)).astype(int)
    b = clip_features((2 * base).astype(np.int16)).astype(int)
    inside = (a > -120) & (b < 120)
    assert np.abs(b[inside] - a[inside] - 16).max() <= 1


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"fft_size": 500}, "power of two"),
        ({"window_samples": 600}, "window_samples 600"),
        ({"stride_samples": 0}, "stride_samples 0"),
        ({"num_bins": 0}, "num_bins 0"),
        ({"lower_hz": 8000.0, "upper_hz": 7000.0}, "lower_hz < upper_hz"),
        ({"num_bins": 160}, "mel filter 0 covers no FFT bin"),
    ],
)
def test_impossible_specs_are_refused(kwargs: dict[str, float], words: str) -> None:
    with pytest.raises(DatasetError) as info:
        FrontendSpec(**kwargs)  # type: ignore[arg-type]
    assert words in str(info.value) and "\n" not in str(info.value)


def test_many_clips_features_equal_one_call_in_order_in_bounded_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The chunks go to threads; the result must be clips_features of every clip, in
    # order, whatever the chunking (a last, short chunk included), and no single call
    # may see more than FEATURE_BATCH clips (that is what bounds the memory).
    rng = np.random.default_rng(3)
    clips = (rng.normal(0, 3000, size=(45, 4000)) * np.linspace(0, 1, 45)[:, None]).astype(np.int16)
    spec = frontend.FrontendSpec()
    expected = frontend.clips_features(clips, spec)
    seen: list[int] = []
    whole = frontend.clips_features

    def counted(x: np.ndarray, spec: frontend.FrontendSpec | None = None) -> np.ndarray:
        seen.append(len(x))
        return whole(x, spec)

    monkeypatch.setattr(frontend, "FEATURE_BATCH", 7)
    monkeypatch.setattr(frontend, "clips_features", counted)
    got = frontend.many_clips_features(clips, spec)
    assert got.dtype == np.int8 and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    assert sorted(seen) == sorted([7] * 6 + [3])
    assert frontend.many_clips_features(clips[:0], spec).shape == (0, *expected.shape[1:])
    with pytest.raises(ValueError, match="shape"):
        frontend.many_clips_features(clips[0], spec)
