"""Train, quantize and verify a keyword model on an :class:`AudioDataset`.

Stages, each seeded (same dataset, config and seed give the same ``.tflite`` bytes):

1. Augment (waveforms): every training clip is kept as it is and gets
   ``augment_copies`` more versions, each with its own generator seeded by
   ``(seed, clip, copy)``: a time shift (zero-filled), a gain, and with
   ``noise_probability`` a stretch of a training-side background recording
   mixed in at an SNR drawn from ``snr_db_range``. Features must be computed
   after the waveform is changed (noise and gain do not add in the log domain),
   so the copies are fixed in advance rather than drawn per epoch: the front end's
   Python reference is the slow part, and its output is cached.
2. Features: :func:`tinyslm.audio.frontend.many_clips_features` (chunks on threads), the integer
   reference the device's C mirror equals byte for byte; the float model sees
   ``feature / 8`` (:data:`tinyslm.audio.model.INPUT_SCALE`). Cached as ``.npy``
   under ``tinyslm.cache`` keyed on the clips' samples and every setting used.
3. Fit: the DS-CNN of :mod:`tinyslm.audio.model`, Adam with a cosine-decayed
   learning rate, label smoothing, SpecAugment-style masks (time and
   frequency bands set to the clip's mean, drawn afresh each epoch from
   ``(seed, epoch)``), early stopping on validation loss (the best epoch's
   weights are kept).
4. Quantize: full-integer INT8 with a representative set of training
   features plus one ramp over the whole int8 range, which pins the input to
   scale 1/8 and zero point 0: the device feeds its feature bytes unchanged.
5. Verify on TFLM (``tflite_micro.runtime``, the firmware's kernels): INT8 and
   float accuracy on the speaker-disjoint test split, per class, the confusion
   matrix, model bytes, the smallest arena (:func:`tinyslm.tflm_runtime.min_arena_bytes`)
   and MACs per inference.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

# Imported for its effect, before TensorFlow loads: the same bytes on every x86-64 CPU
# (docs/reproducibility.md).
from tinyslm import determinism  # noqa: F401
from tinyslm.audio import channel
from tinyslm.audio.dataset import SILENCE, UNKNOWN, AudioDataset, Clip, split_levers
from tinyslm.audio.detector import MAX_WINDOW
from tinyslm.audio.frontend import (
    LOG_STEPS_PER_OCTAVE,
    FrontendSpec,
    hz_to_mel,
    many_clips_features,
    mel_points,
    mel_to_hz,
)
from tinyslm.audio.model import (
    INPUT_SCALE,
    architecture,
    build_model,
    fold_batch_norm,
    input_shape,
    macs,
)
from tinyslm.audio.spec import DEFAULT_AVERAGE, DEFAULT_STRIDE_FRAMES
from tinyslm.audio.stream import MAX_STRIDE_FRAMES
from tinyslm.cache import cache_dir, save_array, warn_unusable
from tinyslm.determinism import configure_tensorflow
from tinyslm.errors import DatasetError, ModelError
from tinyslm.flatbuffer import compact, io_details, model_ops
from tinyslm.manifest import QuantParams
from tinyslm.tflm_runtime import min_arena_bytes

Int8Array = npt.NDArray[np.int8]
Int16Array = npt.NDArray[np.int16]
Range = tuple[float, float]

# Training features in the representative set (evenly spaced, deterministic).
REPRESENTATIVE_MAX = 400
# Training examples whose waveforms are held at once while their features are computed.
TRAIN_FEATURE_BLOCK = 4096
# freq_warp: the largest warp (a factor of 0.7..1.3), and the steps each side of 1 that
# the factors are drawn from, so that each factor's interpolation weights are computed
# once; they are rounded to 1/4096, far coarser than two libms' last bits differ.
MAX_FREQ_WARP = 0.3
FREQ_WARP_STEPS = 20
FREQ_WARP_WEIGHT_ONE = 4096
# Bump when the augmentation or feature code changes what a cache entry holds.
CACHE_VERSION = 2


@dataclass(frozen=True)
class AudioTrainConfig:
    """How to train a keyword model.

    Attributes:
        size: a :data:`tinyslm.audio.model.SIZES` name.
        epochs: upper bound; early stopping usually ends sooner.
        patience: epochs without a lower validation loss before stopping.
        batch_size, learning_rate, label_smoothing: the optimiser's.
        augment_copies: augmented versions of each training clip, besides the clip itself.
        balance_classes: give labels with fewer training clips (typically ``_unknown_``
            and ``_silence_``) extra augmented copies until each label has about as many
            training examples as the largest one (extra silence: fresh slices of the
            training-side background recordings).
        max_shift_ms: time shift of each copy, up to this far either way.
        gain_db_range: gain of each copy, dB (clipped to int16).
        noise_probability: share of copies mixed with background noise.
        snr_db_range: that noise's signal-to-noise ratio, dB.
        speed_range: speed factor of each copy (resampled: tempo and pitch together, as
            another speaker's voice; 1.0 is off).
        reversed_unknowns: share of ``_unknown_``'s balancing extras made from time-reversed
            keyword clips instead of further copies of the recorded unknown words.
        noise_per_epoch: mix the background noise into the copies afresh every epoch, in
            the feature domain (:func:`mix_noise`), instead of once into each copy's
            waveform: ``noise_probability`` and ``snr_db_range`` then apply per epoch.
        freq_warp: vocal tract length perturbation, afresh every epoch in the features
            (:func:`warp_frequency`): every training example's spectrum is scaled in
            frequency by a factor drawn from ``1 - freq_warp .. 1 + freq_warp``, its
            tempo unchanged (0: off).
        tilt_probability, tilt_range: share of the copies of spoken clips (not silence)
            whose spectrum is tilted as another microphone's would be, and the range of
            the tilt's coefficient (:func:`tinyslm.audio.channel.tilt`).
        reverb_probability, rt60_s_range, drr_db_range: share of those copies played in
            a drawn room: reverberation time (s) and direct-to-reverberant ratio (dB)
            (:func:`tinyslm.audio.channel.room_response`).
        time_masks, time_mask_frames: SpecAugment time masks per clip, each up to this wide.
        freq_masks, freq_mask_bins: frequency masks per clip, each up to this wide.
        seed: seeds augmentation, initial weights, shuffling and masks.
        spec: the front end.
        cache_features: keep computed features under ``tinyslm.cache`` (``audio-features``).
        stride_frames, average: the streaming rule the detector threshold is calibrated
            for and the firmware runs (:class:`tinyslm.audio.spec.KeywordSpec`); they do
            not change the trained weights.
        extra_train: more keyword datasets (folders or lists) whose clips join the
            training split only (``tinyslm train --extra-train``): voices that teach the
            model but never pick its epoch or threshold, nor count in its figures.
            :func:`tinyslm.audio.fit.fit_audio` reads them (with
            :func:`tinyslm.audio.dataset.load_training_clips`) and records them in the
            manifest; :func:`train_audio` trains on the dataset it is given, as is.
        keywords, unknown_words: which of the dataset's words are keywords, the rest
            ``_unknown_`` (``tinyslm train --keywords``), and words relabelled
            ``_unknown_`` (``--unknown-words``); :func:`tinyslm.audio.fit.fit_audio` reads
            the dataset with them (:class:`tinyslm.audio.dataset.AudioDatasetConfig`).
    """

    size: str = "default"
    epochs: int = 40
    patience: int = 10
    batch_size: int = 64
    learning_rate: float = 0.005
    label_smoothing: float = 0.05
    augment_copies: int = 2
    balance_classes: bool = True
    max_shift_ms: float = 100.0
    gain_db_range: Range = (-12.0, 6.0)
    noise_probability: float = 0.8
    snr_db_range: Range = (0.0, 20.0)
    speed_range: Range = (0.85, 1.15)
    reversed_unknowns: float = 0.5
    noise_per_epoch: bool = False
    # Off: measured in round 31 and not kept (docs/audio.md).
    freq_warp: float = 0.0
    # Off: measured in round 18 and not kept (docs/audio.md); the ranges are those measured.
    tilt_probability: float = 0.0
    tilt_range: Range = (-0.7, 0.7)
    reverb_probability: float = 0.0
    rt60_s_range: Range = (0.1, 0.5)
    drr_db_range: Range = (0.0, 15.0)
    time_masks: int = 2
    time_mask_frames: int = 5
    freq_masks: int = 2
    freq_mask_bins: int = 5
    seed: int = 0
    spec: FrontendSpec = field(default_factory=FrontendSpec)
    cache_features: bool = True
    stride_frames: int = DEFAULT_STRIDE_FRAMES
    average: int = DEFAULT_AVERAGE
    extra_train: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    unknown_words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        architecture(self.size)  # an unknown size is refused here, before any work
        if not 1 <= self.stride_frames <= MAX_STRIDE_FRAMES:
            raise ModelError(
                f"stride_frames must be in 1..{MAX_STRIDE_FRAMES}, got {self.stride_frames}"
            )
        if not 1 <= self.average <= MAX_WINDOW:
            raise ModelError(f"average must be in 1..{MAX_WINDOW}, got {self.average}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ModelError(f"{name} must be >= 1, got {getattr(self, name)}")
        # nan was taken for both (the loss went nan, exit 0, NaN in the manifest).
        if not 0 < self.learning_rate <= 10:
            raise ModelError(f"learning_rate must be in (0, 10], got {self.learning_rate}")
        if not 0 <= self.label_smoothing < 1:
            raise ModelError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.seed < 2**32:
            raise ModelError(f"seed must be in 0..{2**32 - 1}, got {self.seed}")
        for name in ("patience", "augment_copies", "time_masks", "freq_masks"):
            if getattr(self, name) < 0:
                raise ModelError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in (
            "noise_probability",
            "reversed_unknowns",
            "tilt_probability",
            "reverb_probability",
        ):
            if not 0 <= getattr(self, name) <= 1:
                raise ModelError(f"{name} must be in 0..1, got {getattr(self, name)}")
        for name in ("extra_train", "keywords", "unknown_words"):
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))
        # A list (from JSON) or ints are taken too: "off" is compared with (1.0, 1.0).
        object.__setattr__(self, "speed_range", tuple(float(v) for v in self.speed_range))
        if len(self.speed_range) != 2 or not (
            0.5 <= self.speed_range[0] <= self.speed_range[1] <= 2.0
        ):
            raise ModelError(f"speed_range must be 0.5 <= low <= high <= 2, got {self.speed_range}")
        for name in ("gain_db_range", "snr_db_range", "tilt_range", "rt60_s_range", "drr_db_range"):
            try:
                pair = tuple(float(v) for v in getattr(self, name))
            except (TypeError, ValueError):
                pair = ()
            if len(pair) != 2:
                raise ModelError(f"{name} must be two numbers, low and high")
            object.__setattr__(self, name, pair)
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ModelError(f"{name} must be low <= high, got {lo}, {hi}")
        if not 0 <= self.freq_warp <= MAX_FREQ_WARP:
            raise ModelError(f"freq_warp must be in 0..{MAX_FREQ_WARP}, got {self.freq_warp}")
        if not (self.tilt_range[0] > -1 and self.tilt_range[1] < 1):
            raise ModelError(f"tilt_range must be within (-1, 1), got {self.tilt_range}")
        if not (self.rt60_s_range[0] > 0 and self.rt60_s_range[1] <= 2):
            raise ModelError(f"rt60_s_range must be within (0, 2] s, got {self.rt60_s_range}")

    def augmentation_key(self) -> dict[str, Any]:
        """The settings that decide the training features (the feature cache's key)."""
        keys = (
            "augment_copies",
            "balance_classes",
            "max_shift_ms",
            "gain_db_range",
            "noise_probability",
        )
        extra: dict[str, Any] = {}
        # Only when on: the cache keys (and features) of the recipe without them stay.
        if self.speed_range != (1.0, 1.0):
            extra["speed_range"] = self.speed_range
        if self.reversed_unknowns:
            extra["reversed_unknowns"] = self.reversed_unknowns
        if self.noise_per_epoch:
            extra["noise_per_epoch"] = True
        if self.tilt_probability:
            extra["tilt"] = (self.tilt_probability, self.tilt_range)
        if self.reverb_probability:
            extra["reverb"] = (self.reverb_probability, self.rt60_s_range, self.drr_db_range)
        return {
            **{k: getattr(self, k) for k in keys},
            **extra,
            "snr_db_range": self.snr_db_range,
            "seed": self.seed,
            "spec": asdict(self.spec),
        }


@dataclass(frozen=True)
class AudioTrainResult:
    """What :func:`train_audio` made and measured (accuracies on the test split).

    Attributes:
        labels: the model's output order.
        model: the INT8 ``.tflite`` bytes.
        float_accuracy, int8_accuracy: top-1 on the test split (int8: on TFLM).
        val_accuracy: the float model's validation accuracy at the kept epoch (lowest val loss).
        per_class: (label, INT8 accuracy, test clips) per label.
        confusion: INT8 confusion matrix, rows true label, columns predicted.
        arena_bytes: smallest arena TFLM allocates and runs the model in.
        macs: multiply-accumulates per inference.
        params: the float model's parameters.
        ops: builtin ops of the ``.tflite``.
        input_quant, output_quant: the INT8 model's input and output quantization.
        epochs_run, best_epoch: epochs trained, and the one whose weights were kept (1-based).
        history: per-epoch loss, accuracy, val_loss and val_accuracy (float model).
        n_train, n_val, n_test: clips of each split (recorded or synthetic, as the
            dataset holds them; ``--extra-train`` clips count in ``n_train``).
        n_train_examples: what the model was fitted on: the training clips, their
            augmented copies and the balancing extras (``n_train`` counted these
            before round 41).
        feature_seconds, train_seconds, convert_seconds, verify_seconds: wall times.
    """

    labels: tuple[str, ...]
    model: bytes
    float_accuracy: float
    int8_accuracy: float
    val_accuracy: float
    per_class: tuple[tuple[str, float, int], ...]
    confusion: tuple[tuple[int, ...], ...]
    arena_bytes: int
    macs: int
    params: int
    ops: tuple[str, ...]
    input_quant: QuantParams
    output_quant: QuantParams
    epochs_run: int
    best_epoch: int
    n_train: int
    n_val: int
    n_test: int
    feature_seconds: float
    train_seconds: float
    convert_seconds: float
    verify_seconds: float
    history: tuple[dict[str, float], ...] = ()
    n_train_examples: int = 0

    @property
    def model_bytes(self) -> int:
        return len(self.model)


Log = Callable[[str], None]


def _db(value: float) -> float:
    return float(10 ** (value / 20))


def augment(
    samples: Int16Array,
    rng: np.random.Generator,
    noise: list[Int16Array],
    config: AudioTrainConfig,
    silence: bool,
) -> Int16Array:
    """One augmented copy of a clip: speed, microphone and room, shift, gain, then noise
    at a drawn SNR.

    ``silence`` clips (already background noise) get only the shift and gain: mixing more
    noise at an SNR "relative to the word" would have no word to be relative to.
    """
    x = samples.astype(np.float64)
    n = len(x)
    if not silence and config.speed_range != (1.0, 1.0):
        x = change_speed(x, rng.uniform(*config.speed_range))
    if not silence:
        x = _channel(x, rng, config)
    shift = round(rng.uniform(-1, 1) * config.max_shift_ms * config.spec.sample_rate / 1000)
    if shift > 0:
        x = np.concatenate([np.zeros(shift), x[:-shift]])
    elif shift < 0:
        x = np.concatenate([x[-shift:], np.zeros(-shift)])
    x *= _db(rng.uniform(*config.gain_db_range))
    if not silence and noise and rng.uniform() < config.noise_probability:
        bed = noise_slice(rng, noise, n).astype(np.float64)
        signal_rms = float(np.sqrt(np.mean(x * x)))
        noise_rms = float(np.sqrt(np.mean(bed * bed)))
        if signal_rms > 0 and noise_rms > 0:
            snr = rng.uniform(*config.snr_db_range)
            x += bed * (signal_rms / noise_rms / _db(snr))
    out: Int16Array = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    return out


def _channel(
    x: npt.NDArray[np.float64], rng: np.random.Generator, config: AudioTrainConfig
) -> npt.NDArray[np.float64]:
    """Another microphone (tilt) and room (reverberation), each with its probability.
    A probability of 0 draws nothing, so the copies of a recipe without them stay."""
    if config.tilt_probability and rng.uniform() < config.tilt_probability:
        x = channel.tilt(x, rng.uniform(*config.tilt_range))
    if config.reverb_probability and rng.uniform() < config.reverb_probability:
        rt60 = rng.uniform(*config.rt60_s_range)
        drr = rng.uniform(*config.drr_db_range)
        response = channel.room_response(rt60, drr, rng, config.spec.sample_rate)
        x = channel.reverberate(x, response)
    return x


def change_speed(x: npt.NDArray[np.float64], factor: float) -> npt.NDArray[np.float64]:
    """``x`` played ``factor`` times faster (linear interpolation), centred in ``len(x)``.

    Faster is shorter and higher, as a smaller vocal tract and a quicker talker: the
    speaker variety a few hundred voices lack (Ko et al., "Audio augmentation for speech
    recognition", 2015). A slower clip is cut at both ends, a faster one zero-padded.
    """
    n = len(x)
    m = max(1, round(n / factor))
    y = np.interp(np.arange(m) * (n - 1) / max(m - 1, 1), np.arange(n), x)
    if m >= n:
        cut = (m - n) // 2
        out: npt.NDArray[np.float64] = y[cut : cut + n]
        return out
    pad = (n - m) // 2
    return np.concatenate([np.zeros(pad), y, np.zeros(n - m - pad)])


def noise_slice(rng: np.random.Generator, noise: list[Int16Array], n: int) -> Int16Array:
    """``n`` samples of a drawn recording from a drawn start (two draws, in this order)."""
    rec = noise[int(rng.integers(len(noise)))]
    start = int(rng.integers(len(rec) - n + 1))
    return rec[start : start + n]


def silence_slice(
    rng: np.random.Generator, noise: list[Int16Array], n: int, config: AudioTrainConfig
) -> Int16Array:
    """A fresh ``n``-sample stretch of a training-side background recording, with a gain."""
    x = noise_slice(rng, noise, n).astype(np.float64) * _db(rng.uniform(*config.gain_db_range))
    out: Int16Array = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    return out


def balance_plan(
    train: list[Clip], labels: tuple[str, ...], config: AudioTrainConfig
) -> Iterator[tuple[str, np.random.Generator, Clip, bool]]:
    """The extra examples of :attr:`AudioTrainConfig.balance_classes`, in a fixed order.

    Each label with ``n`` training clips, fewer than the largest label's ``top``, gets
    ``(top - n) * (augment_copies + 1)`` extras, cycling over its clips; each extra has
    its own generator seeded by ``(seed, label, extra)``. With ``reversed_unknowns``,
    that share of ``_unknown_``'s extras (every extra whose generator draws under it)
    is a keyword clip played backwards (the fourth item, ``True``): hundreds of
    recorded voices saying no keyword, where the recorded unknown words come from a
    dozen speakers, so the model cannot learn "this voice is unknown". Why balance:
    Speech Commands-style sets hold far fewer ``_unknown_`` and ``_silence_`` clips
    than keyword clips (here 92 and 31 against ~310), yet a device hears other words
    and quiet far more often than its keywords; unbalanced, the model learns that
    "unknown" is rare (seen: half the unknown test clips taken for keywords).
    """
    if not config.balance_classes:
        return
    by_label: dict[str, list[Clip]] = {}
    for clip in train:
        by_label.setdefault(clip.label, []).append(clip)
    if not by_label:
        return
    top = max(len(c) for c in by_label.values())
    keywords = [c for c in train if c.label not in (SILENCE, UNKNOWN)]
    for li, label in enumerate(labels):
        clips = by_label.get(label, [])
        for j in range((top - len(clips)) * (config.augment_copies + 1) if clips else 0):
            # 2**32 + li keeps these generators apart from the regular copies' (seed, i, copy).
            rng = np.random.default_rng([config.seed, 2**32 + li, j])
            if label == UNKNOWN and keywords and config.reversed_unknowns:
                # A generator of its own decides, so the other extras' draws do not move.
                pick = np.random.default_rng([config.seed, 2**33 + li, j])
                if pick.uniform() < config.reversed_unknowns:
                    yield label, rng, keywords[int(pick.integers(len(keywords)))], True
                    continue
            yield label, rng, clips[j % len(clips)], False


def balance_count(train: list[Clip], config: AudioTrainConfig) -> int:
    """How many extras :func:`balance_plan` gives (without drawing them)."""
    if not config.balance_classes:
        return 0
    counts = Counter(clip.label for clip in train)
    top = max(counts.values(), default=0)
    return sum((top - n) * (config.augment_copies + 1) for n in counts.values())


@dataclass(frozen=True)
class FeatureSets:
    """int8 features and label indices of each split (train with its augmented copies)."""

    x_train: Int8Array
    y_train: npt.NDArray[np.int64]
    x_val: Int8Array
    y_val: npt.NDArray[np.int64]
    x_test: Int8Array
    y_test: npt.NDArray[np.int64]
    seconds: float
    # With noise_per_epoch: each training example's mean square (0: never gets noise, as
    # the clips as recorded and silence), and the pool of noise slices mixed in, with theirs.
    p_train: npt.NDArray[np.float64] | None = None
    x_noise: Int8Array | None = None
    p_noise: npt.NDArray[np.float64] | None = None


_NAMES = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
_NOISE_NAMES = ("p_train", "x_noise", "p_noise")
# Noise slices of one window each, cut from the training-side recordings at drawn starts,
# that noise_per_epoch mixes in: far more slices than the recordings hold seconds.
NOISE_POOL = 2048


def _sets(arrays: list[Any], seconds: float) -> FeatureSets:
    x_train, y_train, x_val, y_val, x_test, y_test, *noise = arrays
    p_train, x_noise, p_noise = noise if noise else (None, None, None)
    return FeatureSets(
        x_train, y_train, x_val, y_val, x_test, y_test, seconds, p_train, x_noise, p_noise
    )


# _LOG_ADD[d] = round(8 log2(1 + 2 ** (-d / 8))): what adding an energy d steps below
# another adds to it, in steps (0 from d = 37 on: under half a step).
_LOG_ADD = np.array(
    [
        round(LOG_STEPS_PER_OCTAVE * math.log2(1 + 2 ** (-d / LOG_STEPS_PER_OCTAVE)))
        for d in range(65)
    ],
    dtype=np.int64,
)


def _mean_square(wave: Int16Array) -> float:
    x = wave.astype(np.float64)
    return float(np.mean(x * x))


def mix_noise(sets: FeatureSets, rng: np.random.Generator, config: AudioTrainConfig) -> Int8Array:
    """The training features with fresh background noise (``noise_per_epoch``).

    Each example with a mean square (a copy of a spoken clip) gets, with
    ``noise_probability``, a drawn slice of the pool at a drawn SNR. The mix is taken in
    the filter bank's power: a feature ``f`` stands for an energy ``2 ** (f / 8)`` (times
    a constant shared by every clip), and the mix of independent signals has about the
    sum of their energies, so ``8 log2(2 ** (f / 8) + k 2 ** (g / 8))`` in integer steps
    (``8 log2 k`` rounded, then a log-add table), clamped as the front end does. ``k``
    comes from the waveforms' mean squares, not the features': noise below the filter
    bank's lowest band counts in an SNR, as in :func:`augment`. Against the front end run
    on the mixed waveform it is off by about 1.3 steps on average on real clips (the
    cross terms the sum leaves out; docs/audio.md).
    """
    if sets.p_train is None or sets.x_noise is None or sets.p_noise is None:
        return sets.x_train
    if len(sets.x_noise) == 0:
        return sets.x_train  # no training-side recordings: nothing to mix in
    n = len(sets.x_train)
    picks = rng.uniform(size=n) < config.noise_probability
    slices = rng.integers(len(sets.x_noise), size=n)
    snr = rng.uniform(*config.snr_db_range, size=n)
    rows = np.flatnonzero(picks & (sets.p_train > 0) & (sets.p_noise[slices] > 0))
    out = sets.x_train.copy()
    if len(rows) == 0:
        return out
    # The noise's level in steps (scalar libm, not numpy's CPU-dispatched loops: the same
    # steps on every CPU), then a log-add table, so the mix itself is integer arithmetic.
    shift = np.array(
        [
            round(
                LOG_STEPS_PER_OCTAVE
                * math.log2(sets.p_train[r] / sets.p_noise[slices[r]] / 10 ** (snr[r] / 10))
            )
            for r in rows
        ],
        dtype=np.int64,
    )
    a = sets.x_train[rows].astype(np.int64)
    b = sets.x_noise[slices[rows]].astype(np.int64) + shift[:, None, None]
    gap = np.minimum(np.abs(a - b), len(_LOG_ADD) - 1)
    mixed = np.maximum(a, b) + _LOG_ADD[gap]
    out[rows] = np.clip(mixed, -128, 127).astype(np.int8)
    return out


def _cache_key(dataset: AudioDataset, config: AudioTrainConfig) -> str:
    h = hashlib.sha256()
    meta = {"v": CACHE_VERSION, "labels": dataset.labels, **config.augmentation_key()}
    h.update(json.dumps(meta, sort_keys=True, default=list).encode())
    for clip in dataset.clips:
        h.update(f"{clip.label}\0{clip.split}\0".encode())
        h.update(np.ascontiguousarray(clip.samples).tobytes())
    for rec in dataset.noise:
        h.update(json.dumps(rec.spans).encode())
        h.update(np.ascontiguousarray(rec.samples).tobytes())
    return h.hexdigest()[:32]


def feature_sets(
    dataset: AudioDataset, config: AudioTrainConfig, log: Log | None = None
) -> FeatureSets:
    """Augment the training clips and compute every split's features (cached).

    Raises:
        DatasetError: a split without clips.
    """
    start = time.perf_counter()
    index = {label: i for i, label in enumerate(dataset.labels)}
    by_split: dict[str, list[Clip]] = {"train": [], "val": [], "test": []}
    for clip in dataset.clips:
        by_split[clip.split].append(clip)
    for split, clips in by_split.items():
        if not clips:
            # "add speakers" of a user's own clips (no speaker names, split one by one),
            # and no word of the lever they have: --seed, or a list's split column.
            levers = split_levers(dataset.clips, dataset.given_splits)
            raise DatasetError(f"the {split} split has no clips; {levers}")
    names = _NAMES + (_NOISE_NAMES if config.noise_per_epoch else ())
    folder = cache_dir("audio-features", _cache_key(dataset, config))
    if config.cache_features and all((folder / f"{n}.npy").is_file() for n in names):
        try:
            arrays = [np.load(folder / f"{n}.npy") for n in names]
        except (OSError, ValueError, EOFError) as exc:
            # A truncated or emptied entry (a full disk, a copied cache) failed every
            # later run until the user found the folder; computed again instead, with the
            # one stderr warning every cache gives (a progress line went unseen under -q).
            warn_unusable(folder, str(exc))
        else:
            if log:
                log(f"features: from the cache ({len(arrays[0])} training examples)")
            return _sets(arrays, time.perf_counter() - start)

    noise = [rec.part("train") for rec in dataset.noise if len(rec.part("train")) > 0]
    noise = [n for n in noise if len(n) >= len(dataset.clips[0].samples)]
    # noise_per_epoch: the copies' waveforms get no noise here (and draw none).
    wave_noise = [] if config.noise_per_epoch else noise

    def examples() -> Iterator[tuple[Int16Array, str, bool]]:
        """Each training example, its label and whether it is a copy of a spoken clip."""
        for i, clip in enumerate(by_split["train"]):
            yield clip.samples, clip.label, False
            silent = clip.label == SILENCE
            for copy in range(config.augment_copies):
                rng = np.random.default_rng([config.seed, i, copy])
                yield augment(clip.samples, rng, wave_noise, config, silent), clip.label, not silent
        # Extras go after the regular examples, so that every (copies + 1)-th of the first
        # block is a clip as recorded (the calibration set of quantize_audio).
        for label, rng, clip, backwards in balance_plan(by_split["train"], dataset.labels, config):
            if label == SILENCE and noise:
                yield silence_slice(rng, noise, len(clip.samples), config), label, False
            else:
                samples = clip.samples[::-1] if backwards else clip.samples
                silent = label == SILENCE
                yield augment(samples, rng, wave_noise, config, silent), label, not silent

    def stack(waves: list[Int16Array]) -> Int16Array:
        return np.stack(waves).astype(np.int16)

    spec = config.spec
    regular = len(by_split["train"]) * (config.augment_copies + 1)
    extras = balance_count(by_split["train"], config)
    if log:
        log(
            f"features: {regular + extras} training examples ({len(by_split['train'])} clips,"
            f" {config.augment_copies} copies each, {extras} to balance the labels)"
        )
    # Waveforms (32,000 bytes a clip) become features (1,960) a block at a time, so memory
    # follows the features: 35 balanced Speech Commands words are about 270,000 examples,
    # 8.6 GB of waveforms at once, half a GB of features. Each example has its own
    # generator, so the blocks give the same bytes as one call.
    parts: list[Int8Array] = []
    train_labels: list[int] = []
    powers: list[float] = []
    block: list[Int16Array] = []
    for wave, label, noisy in examples():
        block.append(wave)
        train_labels.append(index[label])
        powers.append(_mean_square(wave) if noisy else 0.0)
        if len(block) == TRAIN_FEATURE_BLOCK:
            parts.append(many_clips_features(stack(block), spec))
            block = []
    if block:
        parts.append(many_clips_features(stack(block), spec))
    arrays = [
        np.concatenate(parts),
        np.asarray(train_labels, dtype=np.int64),
        many_clips_features(stack([c.samples for c in by_split["val"]]), spec),
        np.asarray([index[c.label] for c in by_split["val"]], dtype=np.int64),
        many_clips_features(stack([c.samples for c in by_split["test"]]), spec),
        np.asarray([index[c.label] for c in by_split["test"]], dtype=np.int64),
    ]
    if config.noise_per_epoch:
        pool = noise_pool(noise, len(dataset.clips[0].samples), config)
        arrays += [
            np.asarray(powers, dtype=np.float64),
            many_clips_features(pool, spec),
            np.asarray([_mean_square(w) for w in pool], dtype=np.float64),
        ]
    if config.cache_features:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name, array in zip(names, arrays, strict=True):
                save_array(folder / f"{name}.npy", array)
        except OSError as exc:
            # A cache is a saving, not a need: a read-only home ended the training here,
            # after the features were computed.
            if log:
                log(f"features: not cached ({folder}: {exc.strerror or exc})")
    return _sets(arrays, time.perf_counter() - start)


def noise_pool(noise: list[Int16Array], n: int, config: AudioTrainConfig) -> Int16Array:
    """:data:`NOISE_POOL` ``n``-sample slices of the training-side recordings (none without
    recordings), from a generator of their own."""
    if not noise:
        return np.zeros((0, n), dtype=np.int16)
    rng = np.random.default_rng([config.seed, 2**34])
    return np.stack([noise_slice(rng, noise, n) for _ in range(NOISE_POOL)])


def spec_augment(
    x: npt.NDArray[np.float32], rng: np.random.Generator, config: AudioTrainConfig
) -> npt.NDArray[np.float32]:
    """Time and frequency masks (set to each clip's mean), on a copy of ``x`` ``(B, T, F, 1)``."""
    out = x.copy()
    count, frames, bins = x.shape[0], x.shape[1], x.shape[2]
    means = out.mean(axis=(1, 2, 3))
    for masks, width, axis_len, axis in (
        (config.time_masks, config.time_mask_frames, frames, 1),
        (config.freq_masks, config.freq_mask_bins, bins, 2),
    ):
        for _ in range(masks):
            widths = rng.integers(0, width + 1, size=count)
            starts = rng.integers(0, np.maximum(axis_len - widths, 0) + 1)
            pos = np.arange(axis_len)[None, :]
            hit = (pos >= starts[:, None]) & (pos < (starts + widths)[:, None])
            for i in np.flatnonzero(hit.any(axis=1)):
                if axis == 1:
                    out[i, hit[i], :, :] = means[i]
                else:
                    out[i, :, hit[i], :] = means[i]
    return out


def warp_tables(
    spec: FrontendSpec, factor: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Where each mel bin of a spectrum warped by ``factor`` reads the unwarped one.

    A vocal tract ``factor`` times shorter puts every formant at ``factor`` times the
    frequency, so output bin ``j`` (centre ``f_j``) takes the unwarped value at
    ``f_j / factor``: a fractional bin between ``lower[j]`` and ``upper[j]`` with weight
    ``w[j]`` on the upper one (in 1/4096ths), the edge bins repeated beyond the range.
    """
    points = mel_points(spec)
    lo, hi, n = points[0], points[-1], spec.num_bins
    lower = np.zeros(n, dtype=np.int64)
    weight = np.zeros(n, dtype=np.float32)
    for j in range(n):
        # Filter j's centre is point j + 1: a mel m lies at bin (m - lo) / (hi - lo) (n + 1) - 1.
        source = hz_to_mel(mel_to_hz(points[j + 1]) / factor)
        pos = min(max((source - lo) / (hi - lo) * (n + 1) - 1, 0.0), n - 1.0)
        lower[j] = min(int(pos), n - 2) if n > 1 else 0
        weight[j] = round((pos - lower[j]) * FREQ_WARP_WEIGHT_ONE) / FREQ_WARP_WEIGHT_ONE
    upper = np.minimum(lower + 1, n - 1)
    return lower, upper, weight


def warp_frequency(
    x: npt.NDArray[np.float32], rng: np.random.Generator, config: AudioTrainConfig
) -> npt.NDArray[np.float32]:
    """Vocal tract length perturbation of float features ``(B, T, F, 1)`` (``freq_warp``).

    Each example gets a factor from ``1 - freq_warp .. 1 + freq_warp`` in
    :data:`FREQ_WARP_STEPS` steps each side of 1, and its log-mel bins are read at the
    warped positions with linear interpolation (:func:`warp_tables`). The speed change
    of the copies moves formants, pitch and tempo together; this moves the formants
    alone, as another speaker's vocal tract does, and afresh every epoch.
    """
    if not config.freq_warp:
        return x
    steps = np.arange(-FREQ_WARP_STEPS, FREQ_WARP_STEPS + 1)
    picks = rng.integers(len(steps), size=x.shape[0])
    out = np.empty_like(x)
    for k in np.unique(picks):
        rows = np.flatnonzero(picks == k)
        factor = 1.0 + config.freq_warp * float(steps[k]) / FREQ_WARP_STEPS
        lower, upper, w = warp_tables(config.spec, factor)
        part = x[rows]
        w4 = w[None, None, :, None]
        out[rows] = part[:, :, lower, :] * (np.float32(1) - w4) + part[:, :, upper, :] * w4
    return out


def to_float(features: Int8Array) -> npt.NDArray[np.float32]:
    """The float model's view of int8 features ``(B, T, F)``: ``feature / 8``, ``(B, T, F, 1)``."""
    out: npt.NDArray[np.float32] = (features.astype(np.float32) * INPUT_SCALE)[..., None]
    return out


def compile_for_training(model: Any, config: AudioTrainConfig, steps_per_epoch: int) -> None:
    """Adam on a cosine-decayed learning rate, label-smoothed cross-entropy (from the
    logits: the model's softmax hands them to the loss), accuracy as the metric: what
    ``fit`` runs (the determinism tests trace this)."""
    import tensorflow as tf

    keras = tf.keras
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=max(1, steps_per_epoch * config.epochs), alpha=0.02
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )


def _fit(
    sets: FeatureSets,
    num_labels: int,
    config: AudioTrainConfig,
    log: Log | None,
    history: list[dict[str, float]] | None = None,
) -> tuple[Any, float, int, int]:
    """Train with early stopping on validation loss; ``history`` gets each epoch's
    figures (the report's training curves), as Keras names them for text."""
    import tensorflow as tf

    keras = tf.keras
    configure_tensorflow()
    keras.utils.set_random_seed(config.seed)
    shape = (sets.x_train.shape[1], sets.x_train.shape[2], 1)
    model = build_model(architecture(config.size), shape, num_labels, config.seed)
    compile_for_training(model, config, -(-len(sets.x_train) // config.batch_size))
    x_train = to_float(sets.x_train)
    y_train = np.eye(num_labels, dtype=np.float32)[sets.y_train]
    x_val = to_float(sets.x_val)
    best_loss, best_acc, best_epoch, best_weights = np.inf, 0.0, 0, model.get_weights()
    epoch = 0
    for epoch in range(1, config.epochs + 1):
        rng = np.random.default_rng([config.seed, epoch])
        order = rng.permutation(len(x_train))
        if sets.x_noise is not None:
            # A generator of its own, so the order and masks are the recipe's.
            mixed = mix_noise(sets, np.random.default_rng([config.seed, epoch, 2**35]), config)
            x_train = to_float(mixed)
        shuffled = x_train[order]
        if config.freq_warp:
            # A generator of its own, so the order and masks are the recipe's; warped
            # first, so that a masked band keeps its width.
            warp_rng = np.random.default_rng([config.seed, epoch, 2**36])
            shuffled = warp_frequency(shuffled, warp_rng, config)
        masked = spec_augment(shuffled, rng, config)
        fitted = model.fit(
            masked, y_train[order], batch_size=config.batch_size, epochs=1, shuffle=False, verbose=0
        )
        probs = model.predict(x_val, batch_size=256, verbose=0)
        acc = float(np.mean(probs.argmax(axis=1) == sets.y_val))
        picked = np.clip(probs[np.arange(len(probs)), sets.y_val], 1e-7, 1.0)
        val_loss = float(-np.mean(np.log(picked)))
        loss = float(fitted.history["loss"][-1])
        if history is not None:
            history.append(
                {
                    "loss": loss,
                    "accuracy": float(fitted.history["accuracy"][-1]),
                    "val_loss": val_loss,
                    "val_accuracy": acc,
                }
            )
        if log:
            log(
                f"epoch {epoch}: loss {loss:.4f}, val loss {val_loss:.4f},"
                f" val accuracy {acc * 100:.2f}%"
            )
        # Validation cross-entropy, not accuracy, picks the epoch: on a few hundred
        # clips accuracy moves in 0.3% steps and a lucky spike at a high learning
        # rate (seen: epoch 12 of 40, 88% on test) stopped training too early.
        if val_loss < best_loss:
            best_loss, best_acc, best_epoch = val_loss, acc, epoch
            best_weights = model.get_weights()
        elif epoch - best_epoch >= config.patience:
            break
    model.set_weights(best_weights)
    return model, best_acc, epoch, best_epoch


def representative_rows(n: int, limit: int = REPRESENTATIVE_MAX) -> npt.NDArray[np.int64]:
    """Evenly spaced, deterministic row indices (at most ``limit``) of ``n`` rows."""
    rows: npt.NDArray[np.int64] = np.unique(np.linspace(0, n - 1, min(n, limit)).astype(np.int64))
    return rows


def quantize_audio(model: Any, calibration: Int8Array, config: AudioTrainConfig) -> bytes:
    """Full-integer INT8 ``.tflite`` (int8 features in, int8 scores out), compacted.

    Tensor names, description and signature are dropped, per-channel zero points are
    written once, and every constant buffer is 16-byte aligned
    (:func:`tinyslm.flatbuffer.compact`).

    Raises:
        ModelError: the converter did not give an int8 input at scale 1/8,
            zero point 0, or an int8 output.
    """
    import tensorflow as tf

    from tinyslm.quantize import _silenced_fds, run_converter

    frames, bins, channels = (int(d) for d in model.input_shape[1:])
    shape = (frames, bins, channels)
    single = build_model(
        architecture(config.size),
        shape,
        int(model.output_shape[-1]),
        config.seed,
        for_conversion=True,
    )
    fold_batch_norm(model, single)
    sample = to_float(calibration[representative_rows(len(calibration))])
    # Observed input range [-16, 15.875] = int8 [-128, 127] / 8: scale 1/8, zero point 0.
    ramp = (np.arange(np.prod(shape)) % 256 - 128).astype(np.float32) * INPUT_SCALE

    def representative() -> Iterator[list[npt.NDArray[np.float32]]]:
        yield [ramp.reshape((1, *shape))]
        for row in sample:
            yield [row[None, ...]]

    converter = tf.lite.TFLiteConverter.from_keras_model(single)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with _silenced_fds():
        flat = run_converter(converter)  # a full temp folder: one line
    details = io_details(flat)
    iq = details.input_quant
    if details.input_type != "INT8" or details.output_type != "INT8":
        raise ModelError(
            f"converted model has {details.input_type} input / {details.output_type} output,"
            " expected INT8 / INT8"
        )
    if abs(iq.scale - INPUT_SCALE) > 1e-9 or iq.zero_point != 0:
        raise ModelError(
            f"converted input quantization is scale {iq.scale}, zero point {iq.zero_point};"
            f" the front end's features need scale {INPUT_SCALE}, zero point 0"
        )
    # The converter's tensor names and repeated zero points are flash the weights can
    # use (7,048 of the 28-channel `small`'s 20,216 bytes); the device reads neither.
    return compact(flat)


def tflm_predict(
    model_bytes: bytes, features: Int8Array, arena_bytes: int = 256 * 1024
) -> Int8Array:
    """INT8 scores of each ``(T, F)`` feature block on TFLM, one inference at a time.

    Raises:
        ModelError: TFLM cannot load the model or an inference fails.
    """
    from tflite_micro import runtime

    try:
        interp = runtime.Interpreter.from_bytes(bytes(model_bytes), arena_size=arena_bytes)
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"TFLM could not load the model: {exc}") from exc
    out_len = io_details(model_bytes).output_shape[-1]
    out = np.zeros((len(features), out_len), dtype=np.int8)
    for i, block in enumerate(features):
        interp.set_input(block[None, :, :, None].astype(np.int8), 0)
        try:
            interp.invoke()
        except RuntimeError as exc:
            raise ModelError(f"TFLM inference failed on clip {i}: {exc}") from exc
        out[i] = np.asarray(interp.get_output(0)).reshape(-1)
    return out


def confusion_matrix(
    true: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64], num_labels: int
) -> npt.NDArray[np.int64]:
    """Counts, rows true label, columns predicted label."""
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (true, predicted), 1)
    return matrix


def train_audio(
    dataset: AudioDataset, config: AudioTrainConfig | None = None, log: Log | None = None
) -> AudioTrainResult:
    """Augment, extract features, fit, quantize and verify on TFLM (see the module doc).

    Raises:
        DatasetError: a split without clips.
        ModelError: the model cannot be converted or run on TFLM.
    """
    config = config or AudioTrainConfig()
    window = len(dataset.clips[0].samples)
    input_shape(config.spec, window)  # refuse a window too short for a frame before any work
    sets = feature_sets(dataset, config, log)
    num_labels = len(dataset.labels)

    start = time.perf_counter()
    history: list[dict[str, float]] = []
    model, val_acc, epochs_run, best_epoch = _fit(sets, num_labels, config, log, history)
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    # Calibrate on the clips as recorded (copy 0 of each), the inputs the device sees;
    # the balancing extras come after them.
    n_clips = sum(1 for c in dataset.clips if c.split == "train")
    originals = sets.x_train[: n_clips * (config.augment_copies + 1) : config.augment_copies + 1]
    flat = quantize_audio(model, originals, config)
    convert_seconds = time.perf_counter() - start

    start = time.perf_counter()
    float_pred = model.predict(to_float(sets.x_test), batch_size=256, verbose=0).argmax(axis=1)
    int8_pred = tflm_predict(flat, sets.x_test).astype(np.int64).argmax(axis=1)
    matrix = confusion_matrix(sets.y_test, int8_pred, num_labels)
    per_class = []
    for i, label in enumerate(dataset.labels):
        total = int(matrix[i].sum())
        per_class.append((label, float(matrix[i, i] / total) if total else float("nan"), total))
    arena = min_arena_bytes(flat, start=8 * 1024)
    verify_seconds = time.perf_counter() - start
    details = io_details(flat)
    return AudioTrainResult(
        labels=dataset.labels,
        model=flat,
        float_accuracy=float(np.mean(float_pred == sets.y_test)),
        int8_accuracy=float(np.mean(int8_pred == sets.y_test)),
        val_accuracy=val_acc,
        per_class=tuple(per_class),
        confusion=tuple(tuple(int(v) for v in row) for row in matrix),
        arena_bytes=arena,
        macs=macs(flat),
        params=int(model.count_params()),
        ops=model_ops(flat),
        input_quant=details.input_quant,
        output_quant=details.output_quant,
        epochs_run=epochs_run,
        best_epoch=best_epoch,
        n_train=len(dataset.split("train")),
        n_train_examples=len(sets.x_train),
        n_val=len(sets.x_val),
        n_test=len(sets.x_test),
        feature_seconds=sets.seconds,
        train_seconds=train_seconds,
        convert_seconds=convert_seconds,
        history=tuple(history),
        verify_seconds=verify_seconds,
    )
