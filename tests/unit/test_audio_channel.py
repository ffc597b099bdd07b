"""The microphone and room augmentation (tinyslm/audio/channel.py) and its use in training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tinyslm.audio import channel, train
from tinyslm.audio.train import AudioTrainConfig, augment
from tinyslm.errors import ModelError

SR = 16000


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def _high_share(x: np.ndarray) -> float:
    """Share of the power above 4 kHz."""
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    return float(power[freqs > 4000].sum() / power.sum())


def test_tilt_is_the_first_order_filter_at_the_same_level() -> None:
    x = np.array([1.0, 2.0, -1.0, 0.5])
    y = channel.tilt(x, -0.5)
    manual = np.array([1.0, 2.0 - 0.5, -1.0 - 1.0, 0.5 + 0.5])
    assert np.allclose(y, manual * (_rms(x) / _rms(manual)))
    noise = np.random.default_rng(0).standard_normal(SR)
    bright, dark = channel.tilt(noise, -0.7), channel.tilt(noise, 0.7)
    assert len(bright) == len(dark) == SR
    assert _rms(bright) == pytest.approx(_rms(noise)) == _rms(dark)
    # White noise has half its power above 4 kHz; |1 + a e^-jw|^2 puts 80 % there with
    # a = -0.7 and 20 % with a = 0.7.
    assert _high_share(bright) > 0.75 and _high_share(dark) < 0.25
    assert np.array_equal(channel.tilt(noise, 0.0), noise)


def test_room_response_has_the_drawn_decay_and_direct_to_reverberant_ratio() -> None:
    rng = np.random.default_rng(3)
    h = channel.room_response(0.3, 6.0, rng, SR)
    assert h[0] == 1.0 and len(h) == int(0.3 * SR)
    tail = h[1:]
    assert 10 * np.log10(1.0 / np.sum(tail**2)) == pytest.approx(6.0)
    # 60 dB of amplitude over 0.3 s: 20 dB over each 0.1 s, in energy per sample.
    tenth = int(0.1 * SR)
    early, late = np.mean(tail[:tenth] ** 2), np.mean(tail[2 * tenth : 3 * tenth - 1] ** 2)
    assert 10 * np.log10(early / late) == pytest.approx(40.0, abs=1.5)
    # Longer rooms are cut at MAX_RESPONSE_S; the same generator state gives the same room.
    long = channel.room_response(1.5, 0.0, np.random.default_rng(1), SR)
    assert len(long) == int(channel.MAX_RESPONSE_S * SR)
    again = channel.room_response(1.5, 0.0, np.random.default_rng(1), SR)
    assert np.array_equal(long, again)
    with pytest.raises(ValueError, match="rt60 must be > 0"):
        channel.room_response(0.0, 6.0, rng, SR)


def test_reverberate_is_a_causal_convolution_cut_to_the_clip_at_its_level() -> None:
    h = channel.room_response(0.2, 3.0, np.random.default_rng(5), SR)
    click = np.zeros(SR)
    click[1000] = 1.0
    y = channel.reverberate(click, h)
    assert len(y) == SR and _rms(y) == pytest.approx(_rms(click))
    expected = np.zeros(SR)
    expected[1000 : 1000 + len(h)] = h
    assert np.allclose(y, expected * (_rms(click) / _rms(expected)), atol=1e-12)
    # Nothing before the direct sound.
    assert np.all(np.abs(y[:1000]) < 1e-12)


def _word() -> np.ndarray:
    t = np.arange(4000)
    word = np.zeros(SR, dtype=np.int16)
    word[6000:10000] = (8000 * np.sin(t * 0.2)).astype(np.int16)
    return word


# Only the channel acts: no speed change, shift, gain or noise.
CHANNEL_ONLY = AudioTrainConfig(
    speed_range=(1.0, 1.0),
    max_shift_ms=0.0,
    gain_db_range=(0.0, 0.0),
    noise_probability=0.0,
    tilt_probability=0.0,
    reverb_probability=0.0,
)


def test_augment_applies_the_tilt_and_the_room_to_spoken_clips_only() -> None:
    word = _word()
    x = word.astype(np.float64)
    tilted = dataclasses.replace(CHANNEL_ONLY, tilt_probability=1.0, tilt_range=(-0.6, -0.6))
    out = augment(word, np.random.default_rng(0), [], tilted, silence=False)
    assert np.array_equal(out, np.rint(channel.tilt(x, -0.6)).astype(np.int16))
    # Silence (background noise) keeps its channel.
    assert np.array_equal(augment(word, np.random.default_rng(0), [], tilted, silence=True), word)

    roomy = dataclasses.replace(
        CHANNEL_ONLY, reverb_probability=1.0, rt60_s_range=(0.3, 0.3), drr_db_range=(4.0, 4.0)
    )
    out = augment(word, np.random.default_rng(7), [], roomy, silence=False)
    rng = np.random.default_rng(7)
    rng.uniform(), rng.uniform(), rng.uniform()  # the room's probability, rt60 and drr draws
    h = channel.room_response(0.3, 4.0, rng, SR)
    assert np.array_equal(out, np.rint(channel.reverberate(x, h)).astype(np.int16))
    # The word now rings on after it ends (sample 10000) for the room's 0.3 s.
    assert _rms(out[10200:14000]) > 20 * max(_rms(word[10200:14000]), 1.0)


def test_channel_off_draws_nothing_and_keeps_the_old_cache_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    word = _word()
    noise = [(np.random.default_rng(1).standard_normal(48000) * 3000).astype(np.int16)]
    off = dataclasses.replace(AudioTrainConfig(), tilt_probability=0.0, reverb_probability=0.0)
    with_off_channel = [
        augment(word, np.random.default_rng(seed), noise, off, silence=False) for seed in range(5)
    ]
    # The pipeline as it was before the channel step: every later draw (shift, gain,
    # noise) must be the same, so the copies of a recipe without the channel are too.
    monkeypatch.setattr(train, "_channel", lambda x, rng, config: x)
    for seed, copy in enumerate(with_off_channel):
        assert np.array_equal(copy, augment(word, np.random.default_rng(seed), noise, off, False))
    # Caches of features made before the channel existed stay valid for a recipe without it.
    assert "tilt" not in off.augmentation_key() and "reverb" not in off.augmentation_key()
    on = AudioTrainConfig(tilt_probability=0.5, reverb_probability=0.3)
    assert on.augmentation_key()["tilt"] == (0.5, (-0.7, 0.7))
    assert on.augmentation_key()["reverb"] == (0.3, (0.1, 0.5), (0.0, 15.0))
    wider = dataclasses.replace(on, drr_db_range=(0.0, 20.0))
    assert wider.augmentation_key() != on.augmentation_key()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"tilt_probability": 1.5}, "tilt_probability must be in 0..1"),
        ({"reverb_probability": -0.1}, "reverb_probability must be in 0..1"),
        ({"tilt_range": (0.5, 0.2)}, "tilt_range must be low <= high"),
        ({"tilt_range": (-1.0, 0.5)}, r"tilt_range must be within \(-1, 1\)"),
        ({"rt60_s_range": (0.0, 0.3)}, r"rt60_s_range must be within \(0, 2\] s"),
        ({"rt60_s_range": (0.2, 3.0)}, r"rt60_s_range must be within \(0, 2\] s"),
        ({"drr_db_range": (10.0, 0.0)}, "drr_db_range must be low <= high"),
        ({"drr_db_range": (1.0,)}, "drr_db_range must be two numbers"),
        ({"rt60_s_range": 0.3}, "rt60_s_range must be two numbers"),
        ({"tilt_range": ("low", "high")}, "tilt_range must be two numbers"),
    ],
)
def test_channel_settings_are_checked(bad: dict[str, object], message: str) -> None:
    with pytest.raises(ModelError, match=message):
        AudioTrainConfig(**bad)  # type: ignore[arg-type]


def test_channel_ranges_from_json_lists_are_the_same_setting() -> None:
    from_json = AudioTrainConfig(tilt_range=[-1 + 0.5, 0], rt60_s_range=[1, 2])  # type: ignore[arg-type]
    assert from_json.tilt_range == (-0.5, 0.0) and from_json.rt60_s_range == (1.0, 2.0)
    assert from_json == AudioTrainConfig(tilt_range=(-0.5, 0.0), rt60_s_range=(1.0, 2.0))
