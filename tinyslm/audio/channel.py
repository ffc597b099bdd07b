"""The channel between a talker and the microphone, as training augmentation.

Speech Commands' speakers recorded themselves on their own devices in their own rooms,
and a keyword model meets new speakers on new devices in new rooms. Speed changes give
it other voices (:func:`tinyslm.audio.train.change_speed`), background recordings other
noise; these two functions give it other channels:

- :func:`tilt`: a microphone and its front end colour the spectrum. A first-order FIR,
  ``y[n] = x[n] + a * x[n - 1]``, tilts it by up to about ``20 * log10((1 + |a|) /
  (1 - |a|))`` dB between 0 Hz and 8 kHz (``a`` 0.7: 15 dB; ``a < 0`` brightens, as a
  cheap electret or a close talker's pre-emphasis, ``a > 0`` darkens, as a far or
  covered microphone).
- :func:`room_response` and :func:`reverberate`: a room adds a decaying tail of
  reflections after the direct sound. The response is the direct path (1.0) then
  Gaussian noise under an exponential decay that falls 60 dB in ``rt60`` seconds
  (Polack's statistical model of a diffuse tail), scaled so that the direct-to-
  reverberant energy ratio is ``drr_db``; truncated at 0.4 s, past which a 1 s keyword
  window holds little of it.

Both keep the clip's length and its RMS level (the gain augmentation that follows
decides the level). Training's copies must be the same on every x86-64 CPU
(docs/reproducibility.md), so only IEEE arithmetic in a fixed order (elementwise, running
products, numpy's sums), Python's ``math`` on scalars and numpy's FFT are used: numpy picks
its vectorised ``exp``/``power`` kernels by CPU, but its pocketfft module is built once for
the wheel's baseline (numpy 2.4: SSE code only, no AVX kernels to choose).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Float64Array = npt.NDArray[np.float64]

# 60 dB of amplitude decay is a factor of 1000: exp(-ln(1000) * t / rt60).
_LN_1000 = math.log(1000.0)
# Longest room response kept, seconds.
MAX_RESPONSE_S = 0.4


def _rms(x: Float64Array) -> float:
    return float(np.sqrt(np.mean(x * x)))


def _same_level(y: Float64Array, level: float) -> Float64Array:
    now = _rms(y)
    out: Float64Array = y * (level / now) if now > 0 else y
    return out


def tilt(x: Float64Array, a: float) -> Float64Array:
    """``x[n] + a * x[n - 1]`` (``x[-1]`` taken as 0), at ``x``'s RMS level."""
    y = x.copy()
    y[1:] += a * x[:-1]
    return _same_level(y, _rms(x))


def room_response(
    rt60_s: float, drr_db: float, rng: np.random.Generator, sample_rate: int
) -> Float64Array:
    """A direct path of 1.0, then a Gaussian tail 60 dB down after ``rt60_s`` seconds,
    its energy ``drr_db`` dB under the direct path's; at most :data:`MAX_RESPONSE_S` long.
    """
    if rt60_s <= 0:
        raise ValueError(f"rt60 must be > 0 s, got {rt60_s}")
    length = max(2, int(min(rt60_s, MAX_RESPONSE_S) * sample_rate))
    ratio = math.exp(-_LN_1000 / (rt60_s * sample_rate))
    decay = np.cumprod(np.full(length - 1, ratio))  # exp(-k t / rt60), one product a sample
    tail = rng.standard_normal(length - 1) * decay
    tail *= math.sqrt(10 ** (-drr_db / 10) / float(np.sum(tail * tail)))
    return np.concatenate([[1.0], tail])


def reverberate(x: Float64Array, response: Float64Array) -> Float64Array:
    """``x`` convolved with ``response`` (by FFT), cut to ``len(x)``, at ``x``'s RMS level."""
    n = len(x) + len(response) - 1
    size = 1 << (n - 1).bit_length()
    full = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(response, size), size)
    return _same_level(full[: len(x)], _rms(x))
