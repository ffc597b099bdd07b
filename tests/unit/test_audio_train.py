"""tinyslm.audio.model and tinyslm.audio.train: the keyword model end to end.

A tiny synthetic set (two words, espeak-ng voices, one clip each) trains for two
epochs, converts to INT8 and runs on TFLM; a second run must give the same
bytes. Needs espeak-ng (skips without it, fails in CI).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shared_paths import require_tool

from tinyslm.audio.dataset import (
    SILENCE,
    UNKNOWN,
    AudioDataset,
    Clip,
    NoiseRecording,
    load_audio_dataset,
)
from tinyslm.audio.frontend import FrontendSpec, clips_features
from tinyslm.audio.model import SIZES, architecture, input_shape
from tinyslm.audio.train import (
    AudioTrainConfig,
    FeatureSets,
    augment,
    balance_plan,
    change_speed,
    confusion_matrix,
    feature_sets,
    mix_noise,
    spec_augment,
    train_audio,
    warp_frequency,
    warp_tables,
)
from tinyslm.errors import ModelError
from tinyslm.flatbuffer import compact

# Every op has a CMSIS-NN and an ESP-NN kernel (MEAN, SHAPE, PACK have not).
OPTIMISED_OPS = {
    "AVERAGE_POOL_2D",
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "RESHAPE",
    "SOFTMAX",
}

# Tests of other augmentation steps leave the microphone and the room out
# (tests/unit/test_audio_channel.py covers them).
CLEAN_CHANNEL = {"tilt_probability": 0.0, "reverb_probability": 0.0}


def expected_macs(size: str, frames: int, bins: int, labels: int) -> int:
    """MACs of a DS-CNN written out from its architecture ('same' padding)."""
    arch = architecture(size)
    (kh, kw), (sh, sw), c = arch.first_kernel, arch.first_stride, arch.channels
    h, w = -(-frames // sh), -(-bins // sw)
    return h * w * c * kh * kw + arch.blocks * (h * w * c * 9 + h * w * c * c) + c * labels


def test_unknown_size_and_bad_settings_are_refused_in_one_line() -> None:
    with pytest.raises(ModelError, match=r"unknown model size 'huge' \(known: small, default"):
        AudioTrainConfig(size="huge")
    with pytest.raises(ModelError, match="epochs must be >= 1"):
        AudioTrainConfig(epochs=0)
    with pytest.raises(ModelError, match="snr_db_range must be low <= high"):
        AudioTrainConfig(snr_db_range=(10.0, 0.0))


def test_augment_shifts_scales_and_mixes_within_the_configured_ranges() -> None:
    t = np.arange(16000)
    word = np.zeros(16000, dtype=np.int16)
    word[6000:10000] = (8000 * np.sin(t[:4000] * 0.2)).astype(np.int16)
    noise = [(np.random.default_rng(1).standard_normal(48000) * 3000).astype(np.int16)]
    quiet = AudioTrainConfig(
        noise_probability=0.0,
        gain_db_range=(0.0, 0.0),
        max_shift_ms=100,
        speed_range=(1.0, 1.0),
        **CLEAN_CHANNEL,
    )
    first = int(np.flatnonzero(word)[0])
    shifts = set()
    for seed in range(20):
        out = augment(word, np.random.default_rng(seed), noise, quiet, silence=False)
        # Shifted by at most 100 ms (1600 samples), otherwise the same samples.
        shift = int(np.flatnonzero(out)[0]) - first
        assert abs(shift) <= 1600
        assert np.array_equal(np.roll(out, -shift), word)
        shifts.add(shift)
    assert len(shifts) == 20 and min(shifts) < -400 and max(shifts) > 400
    noisy = AudioTrainConfig(
        noise_probability=1.0,
        gain_db_range=(0.0, 0.0),
        max_shift_ms=0,
        snr_db_range=(10.0, 10.0),
        speed_range=(1.0, 1.0),
        **CLEAN_CHANNEL,
    )
    out = augment(word, np.random.default_rng(0), noise, noisy, silence=False)
    added = out.astype(np.float64) - word
    snr = 10 * np.log10(np.mean(word.astype(np.float64) ** 2) / np.mean(added**2))
    assert abs(snr - 10.0) < 0.1
    # Silence (noise already) gets no second noise bed and no speed change: only the gain.
    same = augment(word, np.random.default_rng(0), noise, noisy, silence=True)
    assert np.array_equal(same, word)
    fast = dataclasses.replace(noisy, noise_probability=0.0, speed_range=(1.25, 1.25))
    assert np.array_equal(augment(word, np.random.default_rng(0), noise, fast, silence=True), word)
    # A word sped up by 1.25 lasts 4000 / 1.25 samples.
    sped = augment(word, np.random.default_rng(0), noise, fast, silence=False)
    assert abs(np.ptp(np.flatnonzero(sped)) - 3200) <= 2


def test_spec_augment_masks_bands_with_the_clip_mean_and_leaves_the_input() -> None:
    x = np.random.default_rng(0).standard_normal((8, 49, 40, 1)).astype(np.float32)
    config = AudioTrainConfig(time_masks=1, time_mask_frames=5, freq_masks=1, freq_mask_bins=5)
    before = x.copy()
    out = spec_augment(x, np.random.default_rng(3), config)
    assert np.array_equal(x, before)
    changed = out != x
    assert changed.any()
    for i in range(8):
        rows = np.flatnonzero(changed[i].all(axis=(1, 2)))
        cols = np.flatnonzero(changed[i].all(axis=(0, 2)))
        assert len(rows) <= 5 and len(cols) <= 5
        assert np.allclose(out[i][changed[i]], x[i].mean())


def _clip(label: str, split: str, n: int, rng: np.random.Generator) -> Clip:
    samples = (rng.standard_normal(16000) * 2000).astype(np.int16)
    return Clip(label, split, f"{label}{n}", f"{label}/{n}.wav", samples)


def _unbalanced_dataset() -> AudioDataset:
    """5 "go", 2 "_unknown_" and 1 "_silence_" training clips, one of each elsewhere."""
    rng = np.random.default_rng(0)
    counts = {SILENCE: 1, UNKNOWN: 2, "go": 5}
    clips = [_clip(lb, "train", i, rng) for lb, n in counts.items() for i in range(n)]
    clips += [_clip(lb, split, 9, rng) for split in ("val", "test") for lb in counts]
    # The train part of the recording is quiet noise, the rest 50 dB louder.
    bed = (rng.standard_normal(64000) * 30).astype(np.int16)
    bed[48000:] = (rng.standard_normal(16000) * 9000).astype(np.int16)
    spans = (("train", 0, 48000), ("val", 48000, 56000), ("test", 56000, 64000))
    noise = (NoiseRecording("_background_noise_/a.wav", bed, spans),)
    return AudioDataset((SILENCE, UNKNOWN, "go"), tuple(clips), noise, "mem")


def test_balance_plan_gives_smaller_labels_extras_up_to_the_largest() -> None:
    data = _unbalanced_dataset()
    train = list(data.split("train"))
    config = AudioTrainConfig(
        augment_copies=2, balance_classes=True, cache_features=False, reversed_unknowns=0.0
    )
    plan = list(balance_plan(train, data.labels, config))
    # (5 - n) clips short, times (copies + 1) examples per clip.
    assert [lb for lb, _, _, _ in plan] == [SILENCE] * 12 + [UNKNOWN] * 9
    assert not any(backwards for _, _, _, backwards in plan)
    unknown = [c for lb, _, c, _ in plan if lb == UNKNOWN]
    assert unknown == [c for c in train if c.label == UNKNOWN] * 4 + unknown[:1]
    # Seeded: the same draws again; another seed, other draws.
    again = [rng.uniform() for _, rng, _, _ in balance_plan(train, data.labels, config)]
    assert again == [rng.uniform() for _, rng, _, _ in plan]
    other = dataclasses.replace(config, seed=1)
    assert again != [rng.uniform() for _, rng, _, _ in balance_plan(train, data.labels, other)]
    off = AudioTrainConfig(balance_classes=False)
    assert list(balance_plan(train, data.labels, off)) == []


def test_reversed_unknowns_are_keyword_clips_and_leave_the_other_extras_alone() -> None:
    data = _unbalanced_dataset()
    train = list(data.split("train"))
    config = AudioTrainConfig(augment_copies=39, cache_features=False, reversed_unknowns=0.5)
    plan = list(balance_plan(train, data.labels, config))
    unknown = [(c, backwards) for lb, _, c, backwards in plan if lb == UNKNOWN]
    flipped = [c for c, backwards in unknown if backwards]
    # About half of unknown's 120 extras (each drawn), each a keyword clip; only unknown.
    assert 40 <= len(flipped) <= 80
    assert {c.label for c in flipped} == {"go"}
    assert {c.label for c, backwards in unknown if not backwards} == {UNKNOWN}
    assert not any(backwards for lb, _, _, backwards in plan if lb != UNKNOWN)
    # Same seed, same plan; the silence extras draw exactly what they drew without it.
    assert [(c.source, b) for c, b in unknown] == [
        (c.source, b) for lb, _, c, b in balance_plan(train, data.labels, config) if lb == UNKNOWN
    ]
    plain = dataclasses.replace(config, reversed_unknowns=0.0)
    silence = [rng.uniform() for lb, rng, _, _ in plan if lb == SILENCE]
    assert silence == [
        rng.uniform() for lb, rng, _, _ in balance_plan(train, data.labels, plain) if lb == SILENCE
    ]
    every = dataclasses.replace(config, reversed_unknowns=1.0)
    assert all(b for lb, _, _, b in balance_plan(train, data.labels, every) if lb == UNKNOWN)


def test_reversed_unknown_extras_hold_the_keyword_clip_played_backwards() -> None:
    data = _unbalanced_dataset()
    config = AudioTrainConfig(
        augment_copies=0,
        cache_features=False,
        reversed_unknowns=1.0,
        gain_db_range=(0.0, 0.0),
        noise_probability=0.0,
        max_shift_ms=0.0,
        speed_range=(1.0, 1.0),
        **CLEAN_CHANNEL,
    )
    sets = feature_sets(data, config)
    train = list(data.split("train"))
    extras = sets.x_train[len(train) :][sets.y_train[len(train) :] == 1]
    assert len(extras) == 3
    backwards = clips_features(np.stack([c.samples[::-1] for c in train if c.label == "go"]))
    for row in extras:
        assert any(np.array_equal(row, b) for b in backwards)


def test_change_speed_scales_pitch_and_keeps_the_length() -> None:
    tone = np.sin(np.arange(16000) * 2 * np.pi * 400 / 16000) * 1000
    for factor in (0.85, 1.0, 1.15):
        out = change_speed(tone, factor)
        assert len(out) == 16000
        peak = int(np.argmax(np.abs(np.fft.rfft(out))))  # 1 Hz per bin over 1 s
        assert abs(peak - 400 * factor) <= 2, factor
    # Faster: the word ends sooner and the end is silent; slower: the middle stays centred.
    click = np.zeros(16000)
    click[12000] = 1.0
    assert int(np.argmax(change_speed(click, 1.25))) == pytest.approx(8000 + 4000 / 1.25, abs=2)
    assert int(np.argmax(change_speed(click, 0.8))) == pytest.approx(8000 + 4000 / 0.8, abs=2)


def test_speed_and_reversal_settings_are_checked() -> None:
    for bad in ({"speed_range": (1.2, 1.1)}, {"speed_range": (0.3, 1.0)},
                {"reversed_unknowns": 1.5}, {"reversed_unknowns": -0.1}):  # fmt: skip
        with pytest.raises(ModelError):
            AudioTrainConfig(**bad)  # type: ignore[arg-type]
    # From JSON: a list of ints is the same setting as the tuple of floats.
    from_json = AudioTrainConfig(speed_range=[1, 1])  # type: ignore[arg-type]
    assert from_json.speed_range == (1.0, 1.0)
    off = AudioTrainConfig(speed_range=(1.0, 1.0))
    assert from_json.augmentation_key() == off.augmentation_key()


def test_balanced_features_have_equal_label_counts_and_originals_first() -> None:
    data = _unbalanced_dataset()
    config = AudioTrainConfig(
        augment_copies=2, balance_classes=True, cache_features=False, gain_db_range=(0.0, 0.0)
    )
    sets = feature_sets(data, config)
    assert np.bincount(sets.y_train).tolist() == [15, 15, 15]
    train = data.split("train")
    block = len(train) * 3
    # Every third example of the regular block is a clip as recorded.
    originals = clips_features(np.stack([c.samples for c in train]))
    assert np.array_equal(sets.x_train[:block:3], originals)
    # Extra silence is a fresh slice of the quiet training-side noise (no shift,
    # no word), never the loud val/test part nor the training silence clip itself.
    quiet = float(clips_features(data.noise[0].samples[None, :16000]).mean())
    extra_silence = sets.x_train[block:][sets.y_train[block:] == 0]
    assert len(extra_silence) == 12
    assert np.abs(extra_silence.mean(axis=(1, 2)) - quiet).max() < 2  # 50 dB = 133 steps
    unbalanced = feature_sets(data, dataclasses.replace(config, balance_classes=False))
    assert np.bincount(unbalanced.y_train).tolist() == [3, 6, 15]
    assert np.array_equal(unbalanced.x_train, sets.x_train[:block])


def test_features_made_a_block_at_a_time_are_the_same_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Waveforms become features TRAIN_FEATURE_BLOCK examples at a time (memory follows the
    features); blocks of 7 (the last one short) give the arrays of a single block, and the
    logged count is the examples made."""
    from tinyslm.audio import train as train_module

    data = _unbalanced_dataset()
    config = AudioTrainConfig(augment_copies=2, cache_features=False)
    whole = feature_sets(data, config)
    monkeypatch.setattr(train_module, "TRAIN_FEATURE_BLOCK", 7)
    assert len(whole.x_train) % 7
    lines: list[str] = []
    blocks = feature_sets(data, config, lines.append)
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(blocks, name), getattr(whole, name)), name
    assert lines == [
        f"features: {len(whole.x_train)} training examples ({len(data.split('train'))} clips,"
        " 2 copies each, 21 to balance the labels)"
    ]


def _one_mix(word: np.ndarray, bed: np.ndarray, snr: float) -> np.ndarray:
    """mix_noise of one example and a pool of one slice, at one SNR."""
    sets = FeatureSets(
        clips_features(word[None, :]),
        np.zeros(1, dtype=np.int64),
        *([None] * 4),  # type: ignore[arg-type]
        0.0,
        np.array([np.mean(word.astype(np.float64) ** 2)]),
        clips_features(bed[None, :]),
        np.array([np.mean(bed.astype(np.float64) ** 2)]),
    )
    config = AudioTrainConfig(noise_probability=1.0, snr_db_range=(snr, snr))
    return mix_noise(sets, np.random.default_rng(0), config)[0].astype(np.int64)


def test_noise_mixed_in_the_features_is_the_front_end_on_the_mixed_waveform() -> None:
    """noise_per_epoch's power sum against the front end run on the mixed samples: within
    2 steps (0.75 dB) on average at every SNR, where the SNRs themselves are 5 dB apart
    (about 13 steps) in the noisy bins; noise with most of its power under the filter bank
    (a 60 Hz hum) still counts in the SNR, as augment's does."""
    rng = np.random.default_rng(3)
    t = np.arange(16000)
    word = np.zeros(16000)
    word[5000:11000] = 6000 * np.sin(t[:6000] * 2 * np.pi * 700 / 16000) * np.hanning(6000)
    # A quiet floor: where the word's own noise is as loud as the bed, the two noises'
    # cross terms move single bins by several steps either way (real clips: 1.3 on average).
    word = np.rint(word + rng.standard_normal(16000) * 2).astype(np.int16)
    hiss = (rng.standard_normal(16000) * 2000).astype(np.int16)
    hum = np.rint(
        8000 * np.sin(t * 2 * np.pi * 60 / 16000) + rng.standard_normal(16000) * 300
    ).astype(np.int16)
    for bed in (hiss, hum):
        mixes = {}
        for snr in (0.0, 5.0, 10.0, 20.0):
            k = np.sqrt(
                np.mean(word.astype(np.float64) ** 2) / np.mean(bed.astype(np.float64) ** 2)
            )
            mixed = np.clip(np.rint(word + bed * k / 10 ** (snr / 20)), -32768, 32767)
            front = clips_features(mixed.astype(np.int16)[None, :])[0].astype(np.int64)
            mixes[snr] = _one_mix(word, bed, snr)
            assert np.abs(mixes[snr] - front).mean() < 2.0, snr
        # The test can tell the SNRs apart (a gain the wrong way round would fail it).
        assert np.abs(mixes[0.0] - mixes[5.0]).mean() > 4
        assert np.all(mixes[0.0] >= clips_features(word[None, :])[0])


def test_noise_per_epoch_mixes_copies_of_spoken_clips_only_and_fresh_each_epoch() -> None:
    data = _unbalanced_dataset()
    base = {"augment_copies": 2, "cache_features": False, "noise_probability": 0.0}
    on = AudioTrainConfig(**{**base, "noise_probability": 1.0, "noise_per_epoch": True})
    sets = feature_sets(data, on)
    # The copies' waveforms got no noise: the features of the recipe without noise.
    quiet = feature_sets(data, AudioTrainConfig(**base))  # type: ignore[arg-type]
    assert np.array_equal(sets.x_train, quiet.x_train)
    assert quiet.p_train is None and quiet.x_noise is None
    assert sets.p_train is not None and sets.x_noise is not None and sets.p_noise is not None
    # A mean square for copies of spoken clips; none for clips as recorded nor silence.
    train = data.split("train")
    regular = np.arange(len(train) * 3)
    spoken_copy = (regular % 3 != 0) & (sets.y_train[regular] != 0)
    assert np.array_equal(sets.p_train[regular] > 0, spoken_copy)
    extras = sets.y_train[len(regular) :]
    assert np.array_equal(sets.p_train[len(regular) :] > 0, extras != 0)
    # The pool is the quiet training part of the recording, not the loud rest.
    assert len(sets.x_noise) > 1 and float(np.sqrt(sets.p_noise.max())) < 100
    one = mix_noise(sets, np.random.default_rng(1), on)
    assert np.array_equal(one, mix_noise(sets, np.random.default_rng(1), on))
    assert not np.array_equal(one, mix_noise(sets, np.random.default_rng(2), on))
    untouched = sets.p_train == 0
    assert np.array_equal(one[untouched], sets.x_train[untouched])
    assert np.all(one >= sets.x_train) and np.any(one[~untouched] > sets.x_train[~untouched])
    none = dataclasses.replace(on, noise_probability=0.0)
    assert np.array_equal(mix_noise(sets, np.random.default_rng(1), none), sets.x_train)
    # The cache keys differ, and the recipe's key does not name the setting.
    assert "noise_per_epoch" not in AudioTrainConfig().augmentation_key()
    assert on.augmentation_key()["noise_per_epoch"] is True


def test_noise_per_epoch_without_recordings_trains_on_the_features_as_made() -> None:
    data = dataclasses.replace(_unbalanced_dataset(), noise=())
    on = AudioTrainConfig(cache_features=False, noise_probability=1.0, noise_per_epoch=True)
    sets = feature_sets(data, on)
    assert sets.x_noise is not None and len(sets.x_noise) == 0
    assert np.array_equal(mix_noise(sets, np.random.default_rng(0), on), sets.x_train)


def _fit_with_fake(
    monkeypatch: pytest.MonkeyPatch,
    hook: str,
    sets: FeatureSets,
    config: AudioTrainConfig,
    value: float,
) -> tuple[list[float], list[np.ndarray]]:
    """Runs ``_fit`` with ``hook`` (a per-epoch step taking the sets or the features, a
    generator and the config) replaced by a fake that draws once from its generator and
    returns ``value * k`` everywhere at its k-th call, and SpecAugment by a spy: the draws,
    and what SpecAugment was given each epoch."""
    from tinyslm.audio import train as train_module

    draws: list[float] = []
    seen: list[np.ndarray] = []

    def fake(data: Any, gen: np.random.Generator, cfg: AudioTrainConfig) -> np.ndarray:
        draws.append(float(gen.uniform()))
        like = data.x_train if isinstance(data, FeatureSets) else data
        return np.full_like(like, value * len(draws))

    def spy(xs: np.ndarray, gen: np.random.Generator, cfg: AudioTrainConfig) -> np.ndarray:
        seen.append(xs.copy())
        return xs

    monkeypatch.setattr(train_module, hook, fake)
    monkeypatch.setattr(train_module, "spec_augment", spy)
    train_module._fit(sets, 3, config, None)
    return draws, seen


def _tiny_sets() -> FeatureSets:
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, size=(32, 49, 40)).astype(np.int8)
    y = np.arange(32) % 3
    return FeatureSets(x, y, x[:8], y[:8], x[:8], y[:8], 0.0)


def test_fit_trains_each_epoch_on_fresh_noise_when_the_sets_carry_a_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """_fit calls mix_noise once per epoch, each with a generator of its own, and what it
    returns is what the epoch trains on (SpecAugment's input, in the epoch's order);
    without a pool it is never called."""
    plain = _tiny_sets()
    x = plain.x_train
    pool = dataclasses.replace(plain, p_train=np.ones(32), x_noise=x[:4], p_noise=np.ones(4))
    config = AudioTrainConfig(size="small", epochs=2, patience=5, noise_per_epoch=True)
    # Epoch k's mix: every feature 8 k, which the float model sees as k.
    draws, seen = _fit_with_fake(monkeypatch, "mix_noise", pool, config, 8.0)
    assert len(draws) == 2 and draws[0] != draws[1]
    assert [float(np.unique(s)[0]) for s in seen] == [1.0, 2.0]
    one = dataclasses.replace(config, epochs=1)
    assert _fit_with_fake(monkeypatch, "mix_noise", plain, one, 8.0)[0] == []


def test_fit_warps_each_epoch_afresh_before_the_masks(monkeypatch: pytest.MonkeyPatch) -> None:
    """With freq_warp on, what warp_frequency returns (from a generator of its own, fresh
    each epoch) is what SpecAugment masks and the epoch trains on; off, it is never called."""
    config = AudioTrainConfig(size="small", epochs=2, patience=5, freq_warp=0.1)
    draws, seen = _fit_with_fake(monkeypatch, "warp_frequency", _tiny_sets(), config, 1.0)
    assert len(draws) == 2 and draws[0] != draws[1]
    assert [float(np.unique(s)[0]) for s in seen] == [1.0, 2.0]
    off = dataclasses.replace(config, epochs=1, freq_warp=0.0)
    assert _fit_with_fake(monkeypatch, "warp_frequency", _tiny_sets(), off, 1.0)[0] == []


def _tone(hz: float) -> np.ndarray:
    t = np.arange(16000)
    return np.rint(8000 * np.sin(t * 2 * np.pi * hz / 16000)).astype(np.int16)


def test_a_frequency_warp_moves_a_tone_where_the_scaled_tone_lies() -> None:
    """freq_warp against the front end: a tone's features warped by a factor f are those of
    the tone at f times its frequency (peak within a bin, the rest a fifth as far off as the
    unwarped features), both ways; a factor of 1 changes nothing."""
    spec = FrontendSpec()
    for hz in (1000.0, 2000.0):
        base = clips_features(_tone(hz)[None, :])[0, 20].astype(np.float32)
        for factor in (0.8, 0.9, 1.1, 1.25):
            lower, upper, w = warp_tables(spec, factor)
            warped = base[lower] * (1 - w) + base[upper] * w
            moved = clips_features(_tone(hz * factor)[None, :])[0, 20].astype(np.float32)
            assert abs(int(np.argmax(warped)) - int(np.argmax(moved))) <= 1, (hz, factor)
            near, far = np.abs(warped - moved).mean(), np.abs(base - moved).mean()
            assert near < 0.3 * far, (hz, factor, near, far)
        lower, upper, w = warp_tables(spec, 1.0)
        assert np.array_equal(base[lower] * (1 - w) + base[upper] * w, base)


def test_frequency_warp_is_seeded_one_grid_factor_per_example_and_off_by_default() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 49, 40, 1)).astype(np.float32)
    assert warp_frequency(x, np.random.default_rng(1), AudioTrainConfig()) is x
    on = AudioTrainConfig(freq_warp=0.1)
    one = warp_frequency(x, np.random.default_rng(1), on)
    assert np.array_equal(one, warp_frequency(x, np.random.default_rng(1), on))
    assert not np.array_equal(one, warp_frequency(x, np.random.default_rng(2), on))
    # Each example is the table of one factor of the grid 0.9, 0.905, ..., 1.1.
    grid = [warp_tables(on.spec, 1 + 0.1 * k / 20) for k in range(-20, 21)]
    used = set()
    for i in range(len(x)):
        hits = [
            k
            for k, (lo, up, w) in enumerate(grid)
            if np.array_equal(one[i], x[i][:, lo] * (1 - w[:, None]) + x[i][:, up] * w[:, None])
        ]
        assert hits, i
        used.update(hits)
    assert len(used) > 10
    # Per epoch, not in the cached features: the cache key does not name it.
    assert "freq_warp" not in on.augmentation_key()
    for bad in (-0.1, 0.31):
        with pytest.raises(ModelError, match=r"freq_warp must be in 0\.\.0\.3"):
            AudioTrainConfig(freq_warp=bad)


def test_confusion_matrix_counts_true_rows_and_predicted_columns() -> None:
    m = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 0]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("espeak-ng")
    from tinyslm.audio.synth import SynthConfig, synthesize

    out = tmp_path_factory.mktemp("synth") / "data"
    config = SynthConfig(
        engines=("espeak-ng",),
        max_voices_per_engine=24,  # enough voices for all three speaker splits
        clips_per_voice=1,
        unknown_clips_per_voice=1,
        background_seconds=10,
    )
    synthesize(["yes", "no"], out, config)
    return out


@pytest.mark.slow
def test_a_tiny_synthetic_set_trains_converts_runs_on_tflm_and_repeats_bytes(
    tiny_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(tmp_path / "cache"))
    data = load_audio_dataset(tiny_dataset)
    assert data.labels == (SILENCE, UNKNOWN, "no", "yes")
    config = AudioTrainConfig(size="small", epochs=2, augment_copies=1, seed=7)
    first = train_audio(data, config)
    n_labels = len(data.labels)
    shape = input_shape(FrontendSpec(), 16000)
    assert set(first.ops) <= OPTIMISED_OPS
    # Written compact: no converter strings, one zero point per weight, buffers aligned.
    assert compact(first.model) == first.model
    assert first.input_quant.scale == 1 / 8 and first.input_quant.zero_point == 0
    assert first.macs == expected_macs("small", shape[0], shape[1], n_labels)
    assert 0 < first.model_bytes <= 20 * 1024
    assert 0 < first.arena_bytes <= 32 * 1024 and first.arena_bytes % 16 == 0
    assert first.epochs_run == 2 and 1 <= first.best_epoch <= 2
    assert [label for label, _, _ in first.per_class] == list(data.labels)
    assert sum(map(sum, first.confusion)) == first.n_test
    assert sum(n for _, _, n in first.per_class) == first.n_test
    counts = Counter(c.label for c in data.clips if c.split == "train")
    # Fitted on each clip and one augmented copy, every label balanced up to the largest
    # one; n_train counts the clips alone.
    assert first.n_train_examples == 2 * max(counts.values()) * len(data.labels)
    assert first.n_train == sum(counts.values())
    # The reported INT8 accuracy is what TFLM gives on the test features.
    diag = sum(first.confusion[i][i] for i in range(n_labels))
    assert first.int8_accuracy == pytest.approx(diag / first.n_test)
    # The features are cached: the second run reads them and gives the same bytes.
    assert any((tmp_path / "cache" / "audio-features").iterdir())
    second = train_audio(data, config)
    assert second.model == first.model
    other = train_audio(data, AudioTrainConfig(size="small", epochs=2, augment_copies=1, seed=8))
    assert other.model != first.model


def test_a_broken_or_unwritable_feature_cache_costs_time_not_the_run(
    tiny_dataset: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A truncated entry failed every later run (a numpy traceback, or "interrupted" for
    # an empty file); an unwritable cache ended the training after the features.
    from tinyslm.audio.train import feature_sets

    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(tmp_path / "cache"))
    data = load_audio_dataset(tiny_dataset)
    config = AudioTrainConfig(size="small", augment_copies=1, seed=7)
    first = feature_sets(data, config)
    (entry,) = (tmp_path / "cache" / "audio-features").iterdir()
    for name, damage in (("x_train", lambda b: b[: len(b) // 2]), ("y_train", lambda b: b"")):
        path = entry / f"{name}.npy"
        good = path.read_bytes()
        path.write_bytes(damage(good))
        capsys.readouterr()
        again = feature_sets(data, config)
        # The one warning every cache gives (stderr, so -q does not hide it).
        assert "is unusable" in capsys.readouterr().err
        assert np.array_equal(again.x_train, first.x_train)
        assert path.read_bytes() == good  # written again, whole
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(blocked))
    said: list[str] = []
    fresh = feature_sets(data, config, said.append)
    assert np.array_equal(fresh.y_test, first.y_test)
    assert any("not cached" in line for line in said), said


def test_every_size_fits_the_input_of_the_default_front_end() -> None:
    frames, bins, _ = input_shape(FrontendSpec(), 16000)
    for size, arch in SIZES.items():
        assert frames >= arch.first_kernel[0] and bins >= arch.first_kernel[1], size


def test_small_fits_20_kib_with_as_many_labels_as_the_detector_takes() -> None:
    # `small` is as wide as 20 KiB allows once compact (docs/audio.md, "Round 15"). A
    # trained model's biases all differ; an untrained one's are equal and the converter
    # shares them, so random batch-norm offsets stand in for training here.
    import keras

    from tinyslm.audio.detector import MAX_LABELS
    from tinyslm.audio.model import build_model
    from tinyslm.audio.train import quantize_audio

    rng = np.random.default_rng(0)
    shape = input_shape(FrontendSpec(), 16000)
    model = build_model(architecture("small"), shape, MAX_LABELS, seed=0)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 1 + 2 * architecture("small").blocks
    for layer in norms:
        gamma, beta, mean, var = layer.get_weights()
        layer.set_weights([gamma, rng.normal(size=beta.shape).astype(beta.dtype), mean, var])
    calibration = rng.integers(-128, 128, size=(32, shape[0], shape[1]), dtype=np.int8)
    flat = quantize_audio(model, calibration, AudioTrainConfig(size="small"))
    assert len(flat) <= 20 * 1024


def test_the_models_batch_norm_is_keras_batch_norm_without_rsqrt() -> None:
    # The same function as Keras' layer (tests/unit/test_determinism.py traces that it
    # has no Rsqrt): outputs in training and inference, and the moving averages a
    # training call leaves, with the same weights in the same order.
    import keras

    from tinyslm.audio.model import build_model

    rng = np.random.default_rng(1)
    ours = build_model(architecture("small"), (49, 40, 1), 4, seed=0)
    norm = ours.get_layer("c0n")
    assert isinstance(norm, keras.layers.BatchNormalization)
    assert type(norm) is not keras.layers.BatchNormalization
    theirs = keras.layers.BatchNormalization.from_config(norm.get_config())
    x = rng.normal(1.0, 2.0, size=(8, 5, 10, norm.gamma.shape[0])).astype(np.float32)
    theirs.build(x.shape)
    weights = [rng.uniform(0.5, 2.0, w.shape).astype(np.float32) for w in norm.get_weights()]
    norm.set_weights(weights)
    theirs.set_weights(weights)
    assert [w.name for w in norm.weights] == [w.name for w in theirs.weights]
    for training in (False, True):
        a = np.asarray(norm(x, training=training))
        b = np.asarray(theirs(x, training=training))
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    for a, b in zip(norm.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert not np.allclose(norm.get_weights()[2], weights[2])  # the averages moved


def test_the_converter_gets_batch_norm_folded_exactly_and_keeps_it() -> None:
    # fold_batch_norm's float32 arithmetic is exactly rounded on every CPU; the
    # converter, left to fold a batch norm itself, computed the scale from RSQRTPS. Its
    # float .tflite must hold the folded weights bit for bit (no second fold), and
    # compute what the trained model computes.
    import keras
    import tensorflow as tf

    from tinyslm.audio.model import build_model, fold_batch_norm

    rng = np.random.default_rng(2)
    arch = architecture("small")
    trained = build_model(arch, (49, 40, 1), 4, seed=0)
    for layer in trained.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights(
                [rng.uniform(0.2, 3.0, w.shape).astype(np.float32) for w in layer.get_weights()]
            )
    fc = trained.get_layer("fc")
    fc.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in fc.get_weights()])
    converted = build_model(arch, (49, 40, 1), 4, seed=0, for_conversion=True)
    assert not [x for x in converted.layers if isinstance(x, keras.layers.BatchNormalization)]
    fold_batch_norm(trained, converted)
    d0, norm = trained.get_layer("d0"), trained.get_layer("d0n")
    gamma, beta, mean, variance = norm.get_weights()
    scale = gamma / np.sqrt(variance + np.float32(norm.epsilon))
    kernel, bias = converted.get_layer("d0").get_weights()
    assert np.array_equal(kernel, d0.get_weights()[0] * scale[:, None])
    assert np.array_equal(bias, beta - mean * scale)
    x = rng.integers(-128, 128, size=(4, 49, 40, 1)).astype(np.float32) / 8
    np.testing.assert_allclose(
        np.asarray(converted(x)), np.asarray(trained(x, training=False)), rtol=1e-4, atol=1e-6
    )

    flat = tf.lite.TFLiteConverter.from_keras_model(converted).convert()
    interpreter = tf.lite.Interpreter(model_content=flat)
    interpreter.allocate_tensors()
    constants = []
    for detail in interpreter.get_tensor_details():
        with contextlib.suppress(ValueError):  # an activation: no data before a run
            constants.append(interpreter.get_tensor(detail["index"]))

    def held(weight: np.ndarray) -> bool:
        # Conv2D kernels are stored (out, kh, kw, in), depthwise ones (1, kh, kw, channels),
        # the classifier's (out, in).
        forms = [weight.T] if weight.ndim < 4 else []
        if weight.ndim == 4:
            forms = [np.transpose(weight, (3, 0, 1, 2)), np.transpose(weight, (2, 0, 1, 3))]
        return any(c.shape == f.shape and np.array_equal(c, f) for c in constants for f in forms)

    checked = [w for layer in converted.layers for w in layer.get_weights()]
    assert len(checked) == 2 * (1 + 2 * arch.blocks + 1)  # kernel and bias of each
    for weight in checked:
        assert held(weight), weight.shape
