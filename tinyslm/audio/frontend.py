"""The audio front end: int16 PCM in, int8 log-mel features out, bit-exact on host and device.

This module is the specification and the Python reference; ``firmware/audio/
tinyslm_audio_frontend.c`` is the device mirror (portable C99, no heap, no
floating point), and ``tests/host/test_audio_frontend.py`` proves that both give
identical bytes on real clips. Every step is integer arithmetic with the
rounding written out, so there is nothing left to a libm or an FPU to disagree on:

1. Framing: frames of ``window_samples`` (30 ms) every ``stride_samples``
   (20 ms); a 1 s clip gives ``1 + (16000 - 480) // 320 = 49`` frames. Streaming
   on the device produces the same frames: the first after one window, then one
   per stride.
2. Window: ``v = (x * w + 2**8) >> 9`` with ``w`` a periodic Hann window in Q15
   (``round(32767 * (0.5 - 0.5 cos(2 pi n / N)))``), so ``v`` is the windowed
   sample in Q6 (six extra bits for the FFT's rounding), then zero-padded to
   ``fft_size``.
3. FFT: radix-2 decimation in time, bit-reversed input, int32 data, Q15
   twiddles ``c = round(32767 cos(2 pi k / N))``, ``s = round(32767 sin(2 pi k / N))``;
   each butterfly computes ``t_re = (b_re c + b_im s + 2**14) >> 15`` and
   ``t_im = (b_im c - b_re s + 2**14) >> 15`` in 64 bits, then ``a + t`` and
   ``a - t``. No scaling is needed: the windowed input sums to less than 2**30,
   which bounds every intermediate value (it fits int32).
4. Power: ``p = (re**2 + im**2) >> 16`` in 64 bits for bins ``first_bin ..
   last_bin``.
5. Mel filter bank: ``num_bins`` triangular filters on the HTK mel scale between
   ``lower_hz`` and ``upper_hz``. Bin ``k`` lies between mel points ``i`` and
   ``i + 1`` (``seg[k] = i``) with rising weight ``w[k]`` in Q15 (0..32768);
   filter ``i`` gains ``w p`` and filter ``i - 1`` gains ``(32768 - w) p``.
   By Parseval the sum stays below 2**60 (int64).
6. Log: ``L = 8 * floor(log2 E) + LOG_TABLE[m]`` where ``m`` is the 7 bits below
   the leading one of ``E`` and ``LOG_TABLE[m] = round(8 log2(1 + (m + 0.5) / 128))``,
   i.e. log2 of the filter energy in eighths (0.38 dB per step); ``E = 0`` counts as 1.
7. Output: ``clamp(L - log_offset, -128, 127)`` as int8. The default offset puts a
   full-scale tone near 127, so the 256 steps span the 96 dB below full scale.
   The model's int8 input takes these values as they are (scale 1/8 per step,
   zero point 0 in training's float view: ``feature / 8``).

Right shifts of negative numbers are arithmetic here (numpy) and in the C mirror
(GCC and Clang for every target; the C file refuses to compile otherwise).
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from tinyslm.errors import DatasetError

Q15_ONE: Final = 32768
LOG_MANTISSA_BITS: Final = 7
LOG_STEPS_PER_OCTAVE: Final = 8
INPUT_FRACTION_BITS: Final = 6  # the windowed samples are kept in Q6 for the FFT
POWER_SHIFT: Final = 16
# many_clips_features: clips per call of clips_features (its scratch is about 190 MB per
# 128 one-second clips, measured: 1,000 clips at once took 1.5 GB) and the threads that
# compute chunks at once (each holds one chunk's scratch).
FEATURE_BATCH: Final = 128
FEATURE_THREADS: Final = 4

Int8Array = npt.NDArray[np.int8]
Int64Array = npt.NDArray[np.int64]


def hz_to_mel(hz: float) -> float:
    """HTK mel scale, as TFLM's micro_speech and most keyword front ends use it."""
    return 1127.0 * math.log1p(hz / 700.0)


def mel_to_hz(mel: float) -> float:
    """The inverse of :func:`hz_to_mel`."""
    return 700.0 * math.expm1(mel / 1127.0)


@dataclass(frozen=True)
class FrontendSpec:
    """The front end's parameters; the C mirror's tables are generated from them.

    Raises:
        DatasetError: (from ``__post_init__``) a combination the integer pipeline cannot do.
    """

    sample_rate: int = 16000
    window_samples: int = 480
    stride_samples: int = 320
    fft_size: int = 512
    num_bins: int = 40
    lower_hz: float = 125.0
    upper_hz: float = 7500.0
    log_offset: int = 315

    def __post_init__(self) -> None:
        n = self.fft_size
        problems = []
        if n < 16 or n > 4096 or n & (n - 1):
            problems.append(f"fft_size {n} must be a power of two in 16..4096")
        if not 0 < self.window_samples <= n:
            problems.append(f"window_samples {self.window_samples} must be in 1..fft_size")
        if not 0 < self.stride_samples <= self.window_samples:
            problems.append(f"stride_samples {self.stride_samples} must be in 1..window_samples")
        if not 1 <= self.num_bins <= 254:
            problems.append(f"num_bins {self.num_bins} must be in 1..254")
        if not 0 <= self.lower_hz < self.upper_hz <= self.sample_rate / 2:
            problems.append("need 0 <= lower_hz < upper_hz <= sample_rate / 2")
        if problems:
            raise DatasetError("front end: " + "; ".join(problems))
        seg, weight = _mel_segments(self)
        total = np.zeros(self.num_bins + 2, dtype=np.int64)
        inside = seg >= 0
        # Filter j takes w from segment j (rising) and 32768 - w from segment j + 1.
        np.add.at(total, seg[inside] + 1, weight[inside])
        np.add.at(total, seg[inside], Q15_ONE - weight[inside])
        empty = np.flatnonzero(total[1 : self.num_bins + 1] == 0)
        if empty.size:
            raise DatasetError(
                f"front end: mel filter {int(empty[0])} covers no FFT bin; use fewer bins,"
                " a larger fft_size or a wider lower_hz..upper_hz"
            )

    @property
    def fft_log2(self) -> int:
        return self.fft_size.bit_length() - 1

    def num_frames(self, num_samples: int) -> int:
        """Frames in a clip of ``num_samples`` samples (0 if shorter than a window)."""
        if num_samples < self.window_samples:
            return 0
        return 1 + (num_samples - self.window_samples) // self.stride_samples


def mel_points(spec: FrontendSpec) -> list[float]:
    """The filter bank's ``num_bins + 2`` mel points, evenly spaced from ``lower_hz`` to
    ``upper_hz``: filter ``j`` rises from point ``j``, peaks at ``j + 1`` (its centre) and
    falls to ``j + 2``."""
    lo, hi = hz_to_mel(spec.lower_hz), hz_to_mel(spec.upper_hz)
    return [lo + (hi - lo) * i / (spec.num_bins + 1) for i in range(spec.num_bins + 2)]


def _mel_segments(spec: FrontendSpec) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.int32]]:
    """Per FFT bin 0..fft_size/2: mel segment index (-1 outside) and rising Q15 weight."""
    points = mel_points(spec)
    nbins = spec.fft_size // 2 + 1
    seg = np.full(nbins, -1, dtype=np.int16)
    weight = np.zeros(nbins, dtype=np.int32)
    for k in range(nbins):
        mel = hz_to_mel(k * spec.sample_rate / spec.fft_size)
        if not points[0] < mel < points[-1]:
            continue
        i = max(j for j in range(spec.num_bins + 1) if points[j] <= mel)
        seg[k] = i
        weight[k] = round(Q15_ONE * (mel - points[i]) / (points[i + 1] - points[i]))
    return seg, weight


@dataclass(frozen=True, eq=False)
class FrontendTables:
    """The integer constants both implementations use (the C gets them as a header)."""

    window: npt.NDArray[np.int16]
    cos: npt.NDArray[np.int16]
    sin: npt.NDArray[np.int16]
    first_bin: int
    seg: npt.NDArray[np.uint8]  # for bins first_bin..last_bin
    weight: npt.NDArray[np.uint16]
    log: npt.NDArray[np.uint8]
    bitrev: npt.NDArray[np.int64]

    @property
    def last_bin(self) -> int:
        return self.first_bin + len(self.seg) - 1


@functools.lru_cache(maxsize=8)
def make_tables(spec: FrontendSpec) -> FrontendTables:
    """Compute the tables for ``spec`` (float maths here only; the results are integers).

    Cached per spec (training calls the front end per clip); the arrays are read-only.
    """
    n, win = spec.fft_size, spec.window_samples
    window = np.array(
        [round(32767 * (0.5 - 0.5 * math.cos(2 * math.pi * i / win))) for i in range(win)],
        dtype=np.int16,
    )
    half = n // 2
    cos = np.array([round(32767 * math.cos(2 * math.pi * k / n)) for k in range(half)], np.int16)
    sin = np.array([round(32767 * math.sin(2 * math.pi * k / n)) for k in range(half)], np.int16)
    seg, weight = _mel_segments(spec)
    inside = np.flatnonzero(seg >= 0)
    first, last = int(inside[0]), int(inside[-1])
    steps = [
        round(LOG_STEPS_PER_OCTAVE * math.log2(1 + (m + 0.5) / (1 << LOG_MANTISSA_BITS)))
        for m in range(1 << LOG_MANTISSA_BITS)
    ]
    bits = spec.fft_log2
    bitrev = np.array([int(f"{i:0{bits}b}"[::-1], 2) for i in range(n)], dtype=np.int64)
    tables = FrontendTables(
        window=window,
        cos=cos,
        sin=sin,
        first_bin=first,
        seg=seg[first : last + 1].astype(np.uint8),
        weight=weight[first : last + 1].astype(np.uint16),
        log=np.array(steps, dtype=np.uint8),
        bitrev=bitrev,
    )
    for array in vars(tables).values():
        if isinstance(array, np.ndarray):
            array.flags.writeable = False
    return tables


def _fft(re: Int64Array, im: Int64Array, tables: FrontendTables) -> None:
    """In-place radix-2 DIT FFT of rows already in bit-reversed order (the C loop, vectorised)."""
    frames, n = re.shape
    half = 1
    while half < n:
        step = n // (2 * half)
        c = tables.cos[::step][:half].astype(np.int64)
        s = tables.sin[::step][:half].astype(np.int64)
        r = re.reshape(frames, n // (2 * half), 2, half)
        i = im.reshape(frames, n // (2 * half), 2, half)
        a_re, a_im = r[:, :, 0, :].copy(), i[:, :, 0, :].copy()
        b_re, b_im = r[:, :, 1, :], i[:, :, 1, :]
        t_re = (b_re * c + b_im * s + (1 << 14)) >> 15
        t_im = (b_im * c - b_re * s + (1 << 14)) >> 15
        r[:, :, 0, :] = a_re + t_re
        i[:, :, 0, :] = a_im + t_im
        r[:, :, 1, :] = a_re - t_re
        i[:, :, 1, :] = a_im - t_im
        half *= 2


def _log2_steps(energy: Int64Array, tables: FrontendTables) -> Int64Array:
    """``8 * floor(log2 E) + LOG_TABLE[7 bits below the leading one]``, E = 0 as 1."""
    e = np.maximum(energy, 1)
    msb = np.zeros(e.shape, dtype=np.int64)
    rest = e.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        big = (rest >> shift) != 0
        msb += np.where(big, shift, 0)
        rest = np.where(big, rest >> shift, rest)
    mb = LOG_MANTISSA_BITS
    down = np.maximum(msb - mb, 0)
    up = np.maximum(mb - msb, 0)
    mantissa = ((e >> down) << up) & ((1 << mb) - 1)
    result: Int64Array = msb * LOG_STEPS_PER_OCTAVE + tables.log.astype(np.int64)[mantissa]
    return result


def frame_features(
    frames: npt.ArrayLike, spec: FrontendSpec, tables: FrontendTables | None = None
) -> Int8Array:
    """Features of whole windows: int16 ``(F, window_samples)`` in, int8 ``(F, num_bins)`` out."""
    tables = tables if tables is not None else make_tables(spec)
    x = np.asarray(frames, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != spec.window_samples:
        raise ValueError(f"frames must have shape (F, {spec.window_samples}), got {x.shape}")
    count = x.shape[0]
    shift = 15 - INPUT_FRACTION_BITS
    windowed = (x * tables.window.astype(np.int64) + (1 << (shift - 1))) >> shift
    padded = np.zeros((count, spec.fft_size), dtype=np.int64)
    padded[:, : spec.window_samples] = windowed
    re = np.ascontiguousarray(padded[:, tables.bitrev])
    im = np.zeros_like(re)
    _fft(re, im, tables)
    lo, hi = tables.first_bin, tables.last_bin + 1
    power = (re[:, lo:hi] * re[:, lo:hi] + im[:, lo:hi] * im[:, lo:hi]) >> POWER_SHIFT
    seg = tables.seg.astype(np.int64)
    w = tables.weight.astype(np.int64)
    # Dense integer matrix (bins x filters): numpy's integer matmul is exact.
    bank = np.zeros((len(seg), spec.num_bins), dtype=np.int64)
    rows = np.arange(len(seg))
    rising = seg < spec.num_bins
    bank[rows[rising], seg[rising]] += w[rising]
    falling = seg >= 1
    bank[rows[falling], seg[falling] - 1] += Q15_ONE - w[falling]
    energy = power @ bank
    steps = _log2_steps(energy, tables) - spec.log_offset
    return np.clip(steps, -128, 127).astype(np.int8)


_DEFAULT_SPEC = FrontendSpec()


def clips_features(clips: npt.ArrayLike, spec: FrontendSpec | None = None) -> Int8Array:
    """Features of equal-length clips: int16 ``(B, n)`` in, int8 ``(B, frames, num_bins)`` out.

    Each clip's frames are exactly :func:`clip_features` of that clip (one call for a batch).
    """
    spec = spec if spec is not None else _DEFAULT_SPEC
    x = np.asarray(clips, dtype=np.int16)
    if x.ndim != 2:
        raise ValueError(f"clips must have shape (B, n), got {x.shape}")
    count = spec.num_frames(x.shape[1])
    if count == 0 or x.shape[0] == 0:
        return np.zeros((x.shape[0], count, spec.num_bins), dtype=np.int8)
    starts = np.arange(count) * spec.stride_samples
    frames = x[:, starts[:, None] + np.arange(spec.window_samples)[None, :]]
    flat = frame_features(frames.reshape(-1, spec.window_samples), spec)
    return flat.reshape(x.shape[0], count, spec.num_bins)


def many_clips_features(clips: npt.ArrayLike, spec: FrontendSpec | None = None) -> Int8Array:
    """:func:`clips_features` of any number of clips, in bounded memory and on every core.

    Chunks of FEATURE_BATCH clips go to up to FEATURE_THREADS threads (the numpy work
    releases the GIL: on two cores 1,500 clips took 5.8 s instead of 11.8 s) and are
    joined in order, so the result is the same array, to the byte, on any core count.
    One call on 1,000 clips would hold 1.5 GB of scratch at once; chunked, a few hundred MB.
    """
    spec = spec if spec is not None else _DEFAULT_SPEC
    x = np.asarray(clips, dtype=np.int16)
    if x.ndim != 2:
        raise ValueError(f"clips must have shape (B, n), got {x.shape}")
    chunks = [x[i : i + FEATURE_BATCH] for i in range(0, len(x), FEATURE_BATCH)]
    if len(chunks) <= 1:
        return clips_features(x, spec)
    workers = max(1, min(FEATURE_THREADS, len(chunks), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(functools.partial(clips_features, spec=spec), chunks))
    return np.concatenate(parts)


def clip_features(samples: npt.ArrayLike, spec: FrontendSpec | None = None) -> Int8Array:
    """Features of a clip: every whole window at stride steps; int8 ``(frames, num_bins)``."""
    x = np.asarray(samples, dtype=np.int16)
    if x.ndim != 1:
        raise ValueError(f"a clip must be one-dimensional, got shape {x.shape}")
    frames: Int8Array = clips_features(x[None, :], spec)[0]
    return frames


def _c_array(ctype: str, name: str, values: npt.ArrayLike, per_line: int = 12) -> str:
    items = [str(int(v)) for v in np.asarray(values).ravel()]
    lines = [
        "    " + ", ".join(items[i : i + per_line]) + "," for i in range(0, len(items), per_line)
    ]
    return f"static const {ctype} {name}[{len(items)}] = {{\n" + "\n".join(lines) + "\n};\n"


def render_c_headers(spec: FrontendSpec) -> dict[str, str]:
    """The two generated headers of the C mirror: sizes (``config``) and constants (``tables``).

    ``tinyslm_audio_config.h`` holds macros only, so it can be included anywhere;
    ``tinyslm_audio_tables.h`` defines the static tables and is included by
    ``tinyslm_audio_frontend.c`` alone.
    """
    t = make_tables(spec)
    banner = f"// Generated by tinyslm.audio.frontend.render_c_headers. Do not edit.\n// {spec!r}\n"
    config = (
        banner
        + "#ifndef TINYSLM_AUDIO_CONFIG_H\n#define TINYSLM_AUDIO_CONFIG_H\n\n"
        + f"#define TINYSLM_AUDIO_SAMPLE_RATE {spec.sample_rate}\n"
        + f"#define TINYSLM_AUDIO_WINDOW {spec.window_samples}\n"
        + f"#define TINYSLM_AUDIO_STRIDE {spec.stride_samples}\n"
        + f"#define TINYSLM_AUDIO_FFT_SIZE {spec.fft_size}\n"
        + f"#define TINYSLM_AUDIO_FFT_LOG2 {spec.fft_log2}\n"
        + f"#define TINYSLM_AUDIO_BINS {spec.num_bins}\n"
        + f"#define TINYSLM_AUDIO_FIRST_BIN {t.first_bin}\n"
        + f"#define TINYSLM_AUDIO_LAST_BIN {t.last_bin}\n"
        + f"#define TINYSLM_AUDIO_LOG_OFFSET {spec.log_offset}\n"
        + "\n#endif  // TINYSLM_AUDIO_CONFIG_H\n"
    )
    tables = (
        banner
        + "// Included by tinyslm_audio_frontend.c only.\n"
        + "#ifndef TINYSLM_AUDIO_TABLES_H\n#define TINYSLM_AUDIO_TABLES_H\n\n"
        + "#include <stdint.h>\n\n"
        + "// Periodic Hann window, Q15.\n"
        + _c_array("int16_t", "tinyslm_audio_window", t.window)
        + "\n// cos(2 pi k / N) and sin(2 pi k / N), Q15, k < N / 2.\n"
        + _c_array("int16_t", "tinyslm_audio_cos", t.cos)
        + "\n"
        + _c_array("int16_t", "tinyslm_audio_sin", t.sin)
        + "\n// Mel segment of each bin FIRST_BIN..LAST_BIN and its rising weight, Q15.\n"
        + _c_array("uint8_t", "tinyslm_audio_seg", t.seg)
        + "\n"
        + _c_array("uint16_t", "tinyslm_audio_weight", t.weight)
        + "\n// round(8 log2(1 + (m + 0.5) / 128)): the fraction of an octave, in eighths.\n"
        + _c_array("uint8_t", "tinyslm_audio_log", t.log, per_line=16)
        + "\n#endif  // TINYSLM_AUDIO_TABLES_H\n"
    )
    return {"tinyslm_audio_config.h": config, "tinyslm_audio_tables.h": tables}
