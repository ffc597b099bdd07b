"""Synthetic keyword speech: a Speech Commands folder made by offline text-to-speech engines.

For users with no recordings (or too few), :func:`synthesize` writes, for each
keyword, clips spoken by every voice of every engine found, in the layout
:mod:`tinyslm.audio.dataset` loads::

    <keyword>/<speaker>_nohash_<n>.wav
    _unknown_/<word>_<speaker>_nohash_<n>.wav      near-misses and common words
    _background_noise_/{white,pink,brown}_noise.wav  seeded synthetic noise (optional)
    synth.json                                       what made each clip

Engines (Debian packages; each optional, found on ``PATH`` at run time):

- ``espeak-ng``: every English accent it has (US, GB, Scottish, RP, Lancaster,
  West Midlands, Caribbean, New York) times a set of voice variants (male,
  female, Klatt ...): about 128 voices. Speed in words per minute, pitch 0..99.
- ``flite``: its built-in voices ``kal``, ``kal16``, ``awb``, ``rms``, ``slt``;
  ``duration_stretch`` and ``int_f0_target_mean`` (``rms`` ignores the latter:
  its pitch is fixed).
- ``festival`` (``text2wave``'s engine) with the festvox voices installed
  (``kal_diphone``, ``ked_diphone``, ``cmu_us_slt_arctic_hts``); one process per
  voice renders all its clips from one Scheme script, as a process start costs
  about a second. ``Duration_Stretch`` and ``int_lr_params`` for the diphone
  voices; the HTS voice takes a rate (``-r``) but keeps its pitch.

Each voice (engine, accent, variant) is one *speaker*, the part before
``_nohash_``, so the dataset loader's speaker split keeps every voice on one side
and a model is tested on voices it never heard.

Each clip varies, drawn from its own seeded generator: the text's punctuation
(``yes``, ``yes.``, ``yes!``, ``yes?``: different intonation), the engine's
speaking rate and pitch, a speed perturbation (resampling, which moves pitch,
tempo and formants together, as a different vocal tract would), the peak level,
the word's position in the 1 s window, and, each with some probability, a
synthetic room (:func:`tinyslm.audio.channel.room_response`, the room training's
augmentation uses: RT60 and direct-to-reverberant ratio drawn) and white, pink or
brown noise at a random SNR. Then:

- Resampling to 16 kHz is done here in numpy (FFT, band-limited, see
  :func:`resample`), not with ``sox``: one dependency fewer, and the bytes
  depend only on numpy, not on a resampler library's version.
- Trim: the spoken word is cut out by energy (10 ms frames above -40 dB of the
  loudest frame), then placed around the window's centre with the time shift.
  A phrase that a slow rate draw makes longer than the window (``lights off``
  at rate 0.8: 1.08 s) is sped up, by resampling as the speed draw is, until it
  fills 95 % of the window, by at most ``max_fit_speedup`` (1.25); the clip
  records the factor (``fit_speed``). With every voice, ``synth "lights on"
  "lights off"`` sped up 5 of its 1,632 clips (round 44): ``lights on`` 2,
  ``lights off`` 1 and ``_unknown_`` 2. Longer than that is refused with one
  line: it would be cut, and the model would learn half a word. Before, the one
  slow clip of ``lights off`` among 408 refused the whole run.
  Each clip records its trimmed length (``spoken_ms``); a keyword whose median is
  longer than the default detector sees whole (:func:`long_for_the_detector`) is
  said, because such phrases are missed more at 400 ms / 2 than at 200 ms / 2
  (offered only to those the 200 ms rule sees whole, 0.79 s).
- Level: the peak is set before noise; a clip the noise would take past full
  scale is then scaled down, speech and noise alike, to that peak (``scaled_db``),
  so no clip clips and every other clip keeps its bytes.
- Determinism: the same words, config and engines give the same bytes. Every
  random choice comes from a generator seeded with a hash of
  ``seed:label:speaker:n``, so a clip does not depend on the order in which
  clips are rendered (they are rendered in parallel) or on the other words.

Nothing is written until every clip has been rendered; the folder is written
through :func:`tinyslm.outdir.write_tree`: a new or empty folder, or with
``force`` an earlier synthetic dataset, whose clips are replaced while
recordings a user added to its folders are kept (so synthetic and recorded
clips can share one dataset folder).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from tinyslm import __version__
from tinyslm.audio import channel
from tinyslm.audio.dataset import NOISE, UNKNOWN
from tinyslm.audio.spec import KeywordSpec
from tinyslm.audio.synth_words import (
    COMMON_WORDS,
    is_speakable,
    listed_homophones,
    near_misses,
)
from tinyslm.audio.wav import SAMPLE_RATE, wav_bytes
from tinyslm.errors import (
    DatasetError,
    OutputError,
    OutputExistsError,
    ToolchainError,
    quoted,
    shell_word,
)
from tinyslm.outdir import Ownership, check_target, real_path, write_tree

ENGINES = ("espeak-ng", "flite", "festival")
RECORD = "synth.json"
# Re-synthesizing (force) replaces and prunes only the clips tinyslm wrote (listed
# with their sha256 in the record); recordings a user added to the folders stay.
OWNERSHIP = Ownership(
    kind="synthetic dataset",
    marker=RECORD,
    record=".tinyslm-files.json",
    keep_foreign=True,
    command="synth",
)
NOISE_COLOURS = ("white", "pink", "brown")
PUNCTUATION = ("", ".", "!", "?")
MAX_WORD_CHARS = 40
_TRIM_DB = 40.0
_DRR_DB = (0.0, 12.0)  # direct-to-reverberant ratio of the synthetic rooms
_FIT_SHARE = 0.95  # a phrase sped up to fit fills this much of the window
_FRAME = SAMPLE_RATE // 100  # 10 ms

# espeak-ng: English accents x voice variants (those present are used).
_ESPEAK_ACCENTS = (
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
    "en-029", "en-us-nyc",
)  # fmt: skip
_ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "klatt", "Annie", "Andy", "steph",
)  # fmt: skip
_ESPEAK_WPM = 175  # espeak-ng's default speed
# What espeak-ng takes: 80..450 words per minute (-s) and pitch 0..99 (-p, 50 its
# default, 100 steps per factor 1): rate and pitch factors it can follow.
_ESPEAK_RATE = (80 / _ESPEAK_WPM, 450 / _ESPEAK_WPM)
_ESPEAK_PITCH = (0.5, 1.49)
# flite: voice -> its mean F0 in Hz (measured on its default output), None: fixed pitch.
# Listed most-different first (see max_voices_per_engine).
_FLITE_VOICES: dict[str, float | None] = {
    "slt": 165.0,
    "kal16": 100.0,
    "awb": 120.0,
    "rms": None,
    "kal": 100.0,
}
# festival: voice -> (speaker id, "lr": pitch set through int_lr_params' mean in Hz;
# "hts": fixed pitch, as festival's HTS module ignores the engine's half-tone option).
_FESTIVAL_VOICES = {
    "cmu_us_slt_arctic_hts": ("festival-slt", "hts"),
    "kal_diphone": ("festival-kal", "lr"),
    "ked_diphone": ("festival-ked", "lr"),
}
_FESTIVAL_F0 = 105.0  # the diphone voices' own target_f0_mean
# The pitch factors festival's diphone ("lr") voices render: at 0.45 and below, and at 5
# and above, festival crashed (SIGSEGV, glibc "corrupted size"), in round 44, on kal and
# ked alike; 0.5..4.5 rendered.
_FESTIVAL_PITCH = (0.5, 4.5)

Floats = npt.NDArray[np.float64]
Range = tuple[float, float]


# SynthConfig's ranges: (least low, most high); 'tinyslm synth' checks its options
# against them and its --help says them (tests/integration/test_cli_synth.py). Factors
# of the engine's own rate and pitch and of the clip's speed; seconds of reverberation;
# dB.
RANGE_BOUNDS: dict[str, tuple[float, float]] = {
    "rate_range": (0.1, 10.0),
    "pitch_range": (0.1, 10.0),
    "speed_range": (0.1, 10.0),
    "rt60_range": (0.01, 10.0),
    "snr_db_range": (-60.0, 120.0),
    "peak_dbfs_range": (-120.0, 0.0),
}

MAX_BACKGROUND_S = 3600.0  # 'tinyslm synth --background-seconds' says it too


@dataclass(frozen=True)
class SynthConfig:
    """What to synthesize and how much to vary it.

    Attributes:
        seed: every random choice derives from it.
        engines: engines to use (``espeak-ng``, ``flite``, ``festival``); empty:
            every one found. A named engine that is missing is an error.
        voices: speaker names to keep (``espeak-en-us-f3``, ``flite-slt``); empty: all.
        max_voices_per_engine: keep this many voices per engine, the first of
            its list (ordered so that the first differ most); 0: all.
        clips_per_voice: clips of each keyword per voice.
        unknown_clips_per_voice: ``_unknown_`` clips per voice, each a word drawn
            from the near-misses (half) and ``common_words`` (half).
        near_misses: near-miss words per keyword.
        common_words: other words for ``_unknown_`` (keywords are left out).
        rate_range: speaking-rate factor given to the engine (1: its default).
        pitch_range: pitch factor given to the engine (1: its default).
        speed_range: speed perturbation by resampling (1: none).
        peak_dbfs_range: the clip's peak level before noise, dB full scale. A clip
            that noise takes past full scale is then scaled, speech and noise alike, so
            that its peak is that level (the gain is ``scaled_db`` in synth.json).
        max_shift_ms: the word's centre moves up to this far from the window's centre.
        noise_probability: share of clips mixed with synthetic noise.
        snr_db_range: signal-to-noise ratio of that noise, dB.
        reverb_probability: share of clips put in a synthetic room (TTS is dry;
            recordings are not).
        max_fit_speedup: a rendering longer than the window is sped up to 95 % of it
            by at most this factor (1: never; longer is refused).
        rt60_range: that room's reverberation time, seconds (-60 dB); its response is
            cut at :data:`tinyslm.audio.channel.MAX_RESPONSE_S` (0.4 s: a 0.6 s room's
            tail is 40 dB down there).
        background_seconds: length of each ``_background_noise_`` file; 0: none.
        window_samples: the clip length (the model's window).
        jobs: engine processes run at once; 0: the number of CPUs.
    """

    seed: int = 0
    engines: tuple[str, ...] = ()
    voices: tuple[str, ...] = ()
    max_voices_per_engine: int = 0
    clips_per_voice: int = 3
    unknown_clips_per_voice: int = 6
    near_misses: int = 6
    common_words: tuple[str, ...] = COMMON_WORDS
    rate_range: Range = (0.8, 1.25)
    pitch_range: Range = (0.85, 1.2)
    speed_range: Range = (0.93, 1.07)
    max_fit_speedup: float = 1.25
    peak_dbfs_range: Range = (-20.0, -1.0)
    max_shift_ms: float = 150.0
    noise_probability: float = 0.5
    snr_db_range: Range = (5.0, 30.0)
    reverb_probability: float = 0.5
    rt60_range: Range = (0.1, 0.6)
    background_seconds: float = 30.0
    window_samples: int = SAMPLE_RATE
    jobs: int = 0

    def __post_init__(self) -> None:
        # Bounds far outside any useful setting, so that inf, nan or 1e308 is refused here,
        # in one line, not as an OverflowError in the engine's arguments, a silent all-zero
        # clip (an SNR of nan) or a failure after every clip was rendered.
        for name, (least, most) in RANGE_BOUNDS.items():
            lo, hi = getattr(self, name)
            if not least <= lo <= hi <= most:  # False for nan as well
                raise DatasetError(
                    f"{name} must be {least:g} <= low <= high <= {most:g}, got {lo}, {hi}"
                )
        for name, most in (("background_seconds", MAX_BACKGROUND_S), ("max_shift_ms", 1000.0)):
            value = getattr(self, name)
            if not 0 <= value <= most:
                raise DatasetError(f"{name} must be in 0..{most:g}, got {value}")
        if self.clips_per_voice < 1:
            raise DatasetError(f"clips_per_voice must be >= 1, got {self.clips_per_voice}")
        for name in ("unknown_clips_per_voice", "near_misses", "max_voices_per_engine", "jobs"):
            if getattr(self, name) < 0:
                raise DatasetError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("noise_probability", "reverb_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise DatasetError(f"{name} must be in 0..1, got {getattr(self, name)}")
        if not (math.isfinite(self.max_fit_speedup) and self.max_fit_speedup >= 1):
            # nan passed "< 1" and, as inf, reached synth.json, which JSON cannot hold.
            raise DatasetError(
                f"max_fit_speedup must be >= 1 and finite, got {self.max_fit_speedup}"
            )
        if self.window_samples <= 0:
            raise DatasetError(f"window_samples must be > 0, got {self.window_samples}")
        if self.background_seconds > 0 and (
            round(self.background_seconds * SAMPLE_RATE) < self.window_samples
        ):
            # train refuses a background recording shorter than its window; the whole
            # synthesis was written first.
            window_s = self.window_samples / SAMPLE_RATE
            raise DatasetError(
                f"--background-seconds {self.background_seconds:g} is shorter than the"
                f" {window_s:g} s window, which train refuses as background noise;"
                f" give 0 (none) or at least {window_s:g}"
            )
        unknown = sorted(set(self.engines) - set(ENGINES))
        if unknown:
            raise DatasetError(f"unknown TTS engine {unknown[0]!r} (known: {', '.join(ENGINES)})")
        # Each once, in one order: synth.json records the config, and '--engine festival
        # --engine flite' (or flite twice) made the same clips under another record.
        object.__setattr__(self, "engines", tuple(e for e in ENGINES if e in self.engines))
        object.__setattr__(self, "voices", tuple(sorted(set(self.voices))))


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an engine voice (and accent, variant) with its parameters."""

    engine: str
    name: str  # the engine's own voice name (``en-gb+f3``, ``slt``, ``kal_diphone``)
    speaker: str  # file-name-safe id, the part before ``_nohash_``


@dataclass(frozen=True)
class _Job:
    key: str  # relative output path
    label: str
    word: str
    voice: Voice
    n: int


@dataclass(frozen=True)
class _Take:
    """What the engine was asked for: text, rate, pitch."""

    text: str
    rate: float
    pitch: float


@dataclass(frozen=True)
class SynthResult:
    """What :func:`synthesize` wrote.

    Attributes:
        out_dir: the dataset folder.
        engines: ``name version`` of each engine used.
        speakers: every voice used, as named in the files.
        clips: clips per label folder (``_unknown_`` included), sorted by label.
        unknown_words: the ``_unknown_`` vocabulary (near-misses first).
        near_misses: keyword -> its near-misses.
        longest_ms: keyword -> its longest rendering after trimming, ms.
        median_ms: keyword -> the median of its renderings after trimming, ms (what
            :func:`long_for_the_detector` compares with the detector's rule).
        background: the ``_background_noise_`` files written.
        seconds: wall time taken.
        fitted: clips sped up to fit the window (``_unknown_`` included).
        max_fit_speed: the largest such factor (1.0: none).
        kept: what ``force`` kept of the user's in the folder (folders end with ``/``).
    """

    out_dir: Path
    engines: tuple[str, ...]
    speakers: tuple[str, ...]
    clips: tuple[tuple[str, int], ...]
    unknown_words: tuple[str, ...]
    near_misses: tuple[tuple[str, tuple[str, ...]], ...]
    longest_ms: tuple[tuple[str, float], ...]
    median_ms: tuple[tuple[str, float], ...]
    background: tuple[str, ...] = field(default=())
    seconds: float = 0.0
    fitted: int = 0
    max_fit_speed: float = 1.0
    kept: tuple[str, ...] = ()


def long_for_the_detector(
    result: SynthResult, keyword: KeywordSpec
) -> tuple[tuple[str, float], ...]:
    """The keywords of ``result`` whose median spoken length (ms) is longer than what
    ``keyword``'s streaming rule sees whole in every window it averages
    (:attr:`KeywordSpec.seen_whole_samples`)."""
    limit_ms = keyword.seen_whole_samples * 1000 / keyword.frontend.sample_rate
    return tuple((w, ms) for w, ms in result.median_ms if ms > limit_ms)


def long_phrase_note(result: SynthResult, keyword: KeywordSpec) -> str | None:
    """One line for the keywords :func:`long_for_the_detector` finds, with the rule that
    sees them whole (half the stride); ``None`` when there are none. Said at synth time
    because the rule is chosen when training (measured: docs/audio.md, "Long phrases").
    ``keyword`` is ``tinyslm train``'s default rule over the synth window: the line calls
    it that."""
    long = long_for_the_detector(result, keyword)
    if not long:
        return None
    faster = replace(keyword, stride_frames=max(keyword.stride_frames // 2, 1))
    rate = keyword.frontend.sample_rate
    words = ", ".join(f"{w!r} {ms / 1000:.2f} s" for w, ms in long)
    verb = "is" if len(long) == 1 else "are"
    head = (
        f"note: {words} (median spoken length) {verb} longer than the"
        f" {keyword.seen_whole_samples / rate:.2f} s that train's default detector sees whole"
        f" in each of the {keyword.average} windows it averages"
        f" ({keyword.stride_ms} ms apart); "
    )
    faster_s = faster.seen_whole_samples / rate
    faster_rule = f"'tinyslm train --stride-ms {faster.stride_ms}'"
    # The faster rule was measured on phrases it sees whole (0.63-0.66 s): one longer
    # than its span is not offered it as a remedy ('rock-n-roll' 0.93 s was).
    fits = [w for w, ms in long if ms <= faster_s * 1000]
    beyond = [w for w, ms in long if ms > faster_s * 1000]
    if not beyond:
        return (
            f"{head}phrases this long were missed less with {faster_rule}"
            f' ({faster_s:.2f} s, twice the inferences; docs/audio.md, "Long phrases")'
        )
    too = ", ".join(repr(w) for w in beyond)
    # A fact of the rules, not a measurement: one window per score sees the most whole.
    single = replace(keyword, average=1).seen_whole_samples / rate
    longest = max(ms for _, ms in long) / 1000
    shorter = f"a phrase of at most {faster_s:.2f} s is seen whole at {faster.stride_ms} ms"
    remedy = (
        f"'tinyslm train --average 1' sees {single:.2f} s whole (one window, no averaging),"
        f" or {shorter}"
        if longest <= single
        else shorter
    )
    if not fits:
        return (
            f"{head}{'it' if len(long) == 1 else 'they'} {verb} longer than the {faster_s:.2f} s"
            f' that {faster_rule} sees whole too: {remedy} (docs/audio.md, "Long phrases")'
        )
    return (
        f"{head}{', '.join(repr(w) for w in fits)} {'is' if len(fits) == 1 else 'are'} seen"
        f" whole by {faster_rule} ({faster_s:.2f} s, twice the inferences), which missed"
        f" phrases of that length less; {too} {'is' if len(beyond) == 1 else 'are'} longer"
        f' than that too: {remedy} (docs/audio.md, "Long phrases")'
    )


def label_of(word: str) -> str:
    """The keyword folder name for ``word``: spaces, hyphens and apostrophes become ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", word).strip("_")


def _file_word(word: str) -> str:
    # In _unknown_ names the word precedes the first "_" (the loader drops it to find
    # the speaker), so it must hold none.
    return re.sub(r"[^a-z0-9]+", "-", word).strip("-")


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def _uniform(rng: np.random.Generator, span: Range) -> float:
    return float(rng.uniform(span[0], span[1])) if span[0] < span[1] else float(span[0])


# ---------------------------------------------------------------- engines


class _Engines:
    """The TTS processes the worker threads have running, so an interrupt stops them.

    An interrupt (Ctrl-C, or SIGTERM/SIGHUP, which the CLI turns into one) reaches the
    main thread only; the pool then waited for every voice job already running (14 s
    after a SIGTERM with festival), long enough for a supervisor to SIGKILL it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[str]] = set()
        self._stopped = False

    def start(self) -> None:
        """Let engines start again (once the workers of an interrupted run are done)."""
        with self._lock:
            self._stopped = False

    def stop(self) -> None:
        """Kill what runs and refuse to start more (until :meth:`start`)."""
        with self._lock:
            self._stopped = True
            running = list(self._running)
        for proc in running:
            proc.kill()

    def run(self, cmd: Sequence[str], what: str, stdin: str | None) -> tuple[int, str, str]:
        with self._lock:
            if self._stopped:
                raise ToolchainError(f"{what}: interrupted")
            proc = subprocess.Popen(
                list(cmd),
                stdin=subprocess.PIPE if stdin is not None else None,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            self._running.add(proc)
        try:
            out, err = proc.communicate(stdin, timeout=600)
        except BaseException:
            proc.kill()
            proc.communicate()
            raise
        finally:
            with self._lock:
                self._running.discard(proc)
        return proc.returncode, out, err


_ENGINES = _Engines()


def _run(cmd: Sequence[str], what: str, stdin: str | None = None) -> str:
    try:
        code, out, err = _ENGINES.run(cmd, what, stdin)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolchainError(f"{what}: {exc}") from exc
    if code != 0:
        tail = (err or out).strip().splitlines()
        raise ToolchainError(f"{what} failed (exit {code}){': ' + tail[-1] if tail else ''}")
    return out


def _version(engine: str) -> str:
    # flite prints its version and exits 1: the exit status says nothing here.
    try:
        done = subprocess.run(
            [engine, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolchainError(f"{engine} --version: {exc}") from exc
    out = done.stdout + done.stderr
    for pattern in (r"text-to-speech: (\S+)", r"flite-(\S+)", r"System: (\S+?):"):
        match = re.search(pattern, out)
        if match:
            return f"{engine} {match.group(1)}"
    return engine


def _espeak_voices() -> list[Voice]:
    listed = _run(["espeak-ng", "--voices=en"], "espeak-ng --voices")
    langs = {line.split()[1] for line in listed.splitlines()[1:] if len(line.split()) > 1}
    variants_out = _run(["espeak-ng", "--voices=variant"], "espeak-ng --voices=variant")
    files = {line.split()[-1].split("/")[-1] for line in variants_out.splitlines()[1:] if line}
    files_lower = {f.lower() for f in files}
    accents = [a for a in _ESPEAK_ACCENTS if a in langs]
    variants = [v for v in _ESPEAK_VARIANTS if v.lower() in files_lower]
    # Diagonal order: the first voices differ in accent and variant both, so that a
    # few voices (max_voices_per_engine) are as different as the engine allows.
    voices = []
    for shift in range(len(variants)):
        for i, accent in enumerate(accents):
            variant = variants[(i + shift) % len(variants)]
            speaker = f"espeak-{accent}-{variant}".lower()
            voices.append(Voice("espeak-ng", f"{accent}+{variant}", speaker))
    return voices


def _flite_voices() -> list[Voice]:
    listed = _run(["flite", "-lv"], "flite -lv").split(":", 1)[-1].split()
    return [Voice("flite", v, f"flite-{v}") for v in _FLITE_VOICES if v in listed]


def _festival_voices() -> list[Voice]:
    listed = _run(["festival", "--pipe"], "festival", stdin="(print (voice.list))\n")
    found = set(re.findall(r"[a-z0-9_]+", listed))
    return [Voice("festival", v, _FESTIVAL_VOICES[v][0]) for v in _FESTIVAL_VOICES if v in found]


_VOICE_LISTS: dict[str, Callable[[], list[Voice]]] = {
    "espeak-ng": _espeak_voices,
    "flite": _flite_voices,
    "festival": _festival_voices,
}


def available_engines() -> tuple[str, ...]:
    """The TTS engines on ``PATH``, in :data:`ENGINES` order."""
    return tuple(e for e in ENGINES if shutil.which(e) is not None)


def find_voices(config: SynthConfig) -> tuple[tuple[str, ...], tuple[Voice, ...]]:
    """The engines (``name version``, only those with a voice used) and voices ``config``
    asks for.

    Raises:
        ToolchainError: no engine found, or a requested engine is missing.
        DatasetError: a requested voice does not exist.
    """
    found = available_engines()
    wanted = config.engines or ENGINES
    missing = [e for e in config.engines if e not in found]
    if missing:
        raise ToolchainError(
            f"TTS engine {missing[0]} is not installed (apt-get install {missing[0]})"
        )
    # Each engine once, in ENGINES' order: a repeated --engine rendered every clip twice.
    engines = [e for e in ENGINES if e in wanted and e in found]
    if not engines:
        raise ToolchainError(
            "no text-to-speech engine found: install one of espeak-ng, flite, festival "
            "(apt-get install espeak-ng flite festival festvox-kallpc16k)"
        )
    listed = {engine: _VOICE_LISTS[engine]() for engine in engines}
    if config.voices:
        # The voices asked for by name, before any cut to max_voices_per_engine (which
        # refused a voice that exists when it was not among the first few).
        names = {v.speaker for voices in listed.values() for v in voices}
        absent = [v for v in config.voices if v not in names]
        if absent:
            raise DatasetError(
                f"no voice {quoted(absent[0])} among the {len(names)} voices of"
                f" {', '.join(engines)}"
            )
        listed = {e: [v for v in vs if v.speaker in config.voices] for e, vs in listed.items()}
    voices: list[Voice] = []
    for engine in engines:
        keep = config.max_voices_per_engine or len(listed[engine])
        if config.voices and len(listed[engine]) > keep:
            # The cut dropped a voice asked for by name, and said nothing of it.
            named = [v.speaker for v in listed[engine]]
            raise DatasetError(
                f"--max-voices {keep} keeps {keep} of the {len(named)} {engine} voices named"
                f" with --voice ({', '.join(named)}); name fewer, or give --max-voices 0"
            )
        voices += listed[engine][:keep]
    if not voices:
        raise ToolchainError(f"{', '.join(engines)}: no English voice found")
    # Only the engines whose voices speak: --voice flite-slt --rate 10,10 was refused
    # for espeak-ng's limits, as espeak-ng was installed.
    _check_engine_ranges(config, voices)
    # Only the engines whose voices are used (--voice flite-slt: flite alone), so that
    # synth.json does not change when an engine that made no clip is upgraded.
    used = [e for e in engines if any(v.engine == e for v in voices)]
    return tuple(_version(e) for e in used), tuple(voices)


def _check_engine_ranges(config: SynthConfig, voices: Sequence[Voice]) -> None:
    """Refuse rate or pitch factors a speaking voice's engine cannot follow, before any
    clip is rendered: espeak-ng clamps them (clips drawn at different factors came out
    the same while synth.json recorded the draws), and festival's diphone voices crash
    outside :data:`_FESTIVAL_PITCH` (a cryptic "failed (exit -11)" after rendering).

    Raises:
        DatasetError: one line naming the option, the engine and what it can do.
    """
    limits: list[tuple[str, Range, Range, str, str]] = []
    if any(v.engine == "espeak-ng" for v in voices):
        others = "--engine flite --engine festival"
        limits += [
            (
                "--rate",
                config.rate_range,
                _ESPEAK_RATE,
                "espeak-ng follows",
                f"espeak-ng out ({others})",
            ),
            (
                "--pitch",
                config.pitch_range,
                _ESPEAK_PITCH,
                "espeak-ng follows",
                f"espeak-ng out ({others})",
            ),
        ]
    if any(v.engine == "festival" and _FESTIVAL_VOICES[v.name][1] == "lr" for v in voices):
        limits.append(
            (
                "--pitch",
                config.pitch_range,
                _FESTIVAL_PITCH,
                "festival's diphone voices (festival-kal, festival-ked) follow",
                "them out (--engine espeak-ng --engine flite, or --voice festival-slt)",
            )
        )
    for option, span, (low, high), who, leave in limits:
        if span[0] < low - 1e-9 or span[1] > high + 1e-9:
            raise DatasetError(
                f"{option} {span[0]:g},{span[1]:g}: {who} {low:.2f}..{high:.2f} only;"
                f" narrow the range or leave {leave}"
            )


def _read_engine_wav(path: Path, what: str) -> tuple[int, Floats]:
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1:
                raise ToolchainError(f"{what}: unexpected output format")
            rate = w.getframerate()
            pcm = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise ToolchainError(f"{what}: unreadable output ({exc})") from exc
    if len(pcm) < 2 or rate <= 0:
        # An engine that wrote a header and no audio (resampling nothing fails in numpy).
        raise ToolchainError(f"{what}: came out empty")
    return rate, np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0


def _espeak(voice: Voice, take: _Take, out: Path) -> list[str]:
    wpm = min(450, max(80, round(_ESPEAK_WPM * take.rate)))
    pitch = min(99, max(0, round(50 + 100 * (take.pitch - 1))))
    return [
        "espeak-ng",
        "-v",
        voice.name,
        "-s",
        str(wpm),
        "-p",
        str(pitch),
        "-w",
        str(out),
        take.text,
    ]


def _flite(voice: Voice, take: _Take, out: Path) -> list[str]:
    cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={1 / take.rate:.4f}"]
    f0 = _FLITE_VOICES[voice.name]
    if f0 is not None:
        cmd += ["--setf", f"int_f0_target_mean={f0 * take.pitch:.2f}"]
    return [*cmd, "-t", take.text, "-o", str(out)]


def _festival_script(voice: Voice, takes: Sequence[tuple[_Take, Path]]) -> str:
    lines = []
    for take, out in takes:
        lines.append(f"(voice_{voice.name})")
        if _FESTIVAL_VOICES[voice.name][1] == "hts":
            lines.append(
                f"(set! hts_engine_params (append {voice.name}::hts_engine_params"
                f' (list (list "-r" {take.rate:.4f}))))'
            )
        else:
            lines.append(f"(Parameter.set 'Duration_Stretch {1 / take.rate:.4f})")
            lines.append(
                f"(set! int_lr_params '((target_f0_mean {_FESTIVAL_F0 * take.pitch:.2f})"
                " (target_f0_std 14) (model_f0_mean 170) (model_f0_std 34)))"
            )
        # Texts are checked speakable (letters, ' - and space) and paths are ours: no quoting.
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{take.text}")) "{out}" \'riff)')
    return "\n".join(lines) + "\n"


def _render(voice: Voice, takes: Sequence[_Take]) -> list[tuple[int, Floats]]:
    """Speak each take with ``voice``: (sample rate, samples in -1..1) per take."""
    with tempfile.TemporaryDirectory(prefix="tinyslm-synth-") as tmp:
        outs = [Path(tmp) / f"{i}.wav" for i in range(len(takes))]
        what = f"{voice.engine} ({voice.speaker})"
        if voice.engine == "festival":
            script = Path(tmp) / "synth.scm"
            script.write_text(
                _festival_script(voice, list(zip(takes, outs, strict=True))), encoding="utf-8"
            )
            _run(["festival", "-b", str(script)], what)
        else:
            make = _espeak if voice.engine == "espeak-ng" else _flite
            for take, out in zip(takes, outs, strict=True):
                _run(make(voice, take, out), f"{what} saying {take.text!r}")
        return [
            _read_engine_wav(out, f"{what} saying {t.text!r}")
            for t, out in zip(takes, outs, strict=True)
        ]


# ---------------------------------------------------------------- signal


def resample(x: Floats, src_rate: float, dst_rate: float) -> Floats:
    """Band-limited resampling of ``x`` from ``src_rate`` to ``dst_rate`` (any ratio).

    In the frequency domain: the spectrum is cut (or zero-extended) at the lower
    Nyquist frequency, with a raised-cosine taper over its top 5 % so that the
    cut does not ring, and transformed back at the new length. Exact for band-limited
    periodic signals; TTS output starts and ends in silence, so the wrap-around
    that assumes is harmless. Pure numpy: the same input gives the same bytes with
    the same numpy (a windowed-sinc loop in numpy was 100 times slower).
    """
    n_out = max(1, round(len(x) * dst_rate / src_rate))
    spectrum = np.fft.rfft(x)
    keep = min(len(spectrum), n_out // 2 + 1)
    out_spectrum = np.zeros(n_out // 2 + 1, dtype=np.complex128)
    out_spectrum[:keep] = spectrum[:keep]
    taper = max(1, keep // 20)
    ramp = 0.5 + 0.5 * np.cos(np.pi * (np.arange(taper) + 1) / (taper + 1))
    out_spectrum[keep - taper : keep] *= ramp
    out: Floats = np.fft.irfft(out_spectrum, n_out) * (n_out / len(x))
    return out


def trim(x: Floats) -> Floats:
    """The stretch from the first to the last 10 ms frame within 40 dB of the loudest."""
    frames = len(x) // _FRAME
    if frames == 0:
        return x
    energy = (x[: frames * _FRAME].reshape(frames, _FRAME) ** 2).sum(axis=1)
    if energy.max() <= 0:
        return x[:0]
    loud = np.flatnonzero(energy >= energy.max() * 10 ** (-_TRIM_DB / 10))
    return x[loud[0] * _FRAME : (loud[-1] + 1) * _FRAME]


def coloured_noise(colour: str, n: int, rng: np.random.Generator) -> Floats:
    """``n`` samples of unit-RMS white, pink (1/f power) or brown (1/f^2) noise."""
    white = rng.standard_normal(n)
    if colour != "white":
        spectrum = np.fft.rfft(white)
        freqs = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0)  # no DC blow-up
        spectrum /= np.sqrt(freqs) if colour == "pink" else freqs
        spectrum[0] = 0
        white = np.fft.irfft(spectrum, n)
    rms = float(np.sqrt(np.mean(white**2)))
    out: Floats = white / rms if rms > 0 else white
    return out


def _headroom_gain(x: Floats, peak: float) -> float:
    """1 when ``x`` fits int16 as it is; else the gain that brings its peak to ``peak``
    (the clip's drawn level; at most the largest int16 sample), so that it does."""
    scaled = np.round(x * 32768.0)
    if scaled.max(initial=0) <= 32767 and scaled.min(initial=0) >= -32768:
        return 1.0
    return min(peak, 32767 / 32768) / float(np.abs(x).max())


def _to_int16(x: Floats) -> npt.NDArray[np.int16]:
    # Named and annotated: numpy 1.26's stubs type this np.clip as Any.
    out: npt.NDArray[np.int16] = np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)
    return out


@dataclass(frozen=True)
class _Clip:
    key: str
    pcm: bytes
    params: dict[str, object]


def _fixed_pitch(voice: Voice) -> bool:
    if voice.engine == "flite":
        return _FLITE_VOICES[voice.name] is None
    return voice.engine == "festival" and _FESTIVAL_VOICES[voice.name][1] == "hts"


def _take(job: _Job, config: SynthConfig) -> tuple[_Take, np.random.Generator]:
    rng = _rng(config.seed, job.label, job.voice.speaker, job.n, job.word)
    text = job.word + PUNCTUATION[int(rng.integers(len(PUNCTUATION)))]
    rate, pitch = _uniform(rng, config.rate_range), _uniform(rng, config.pitch_range)
    # Drawn anyway, so that the draws after it do not depend on the voice.
    take = _Take(text, rate, 1.0 if _fixed_pitch(job.voice) else pitch)
    return take, rng


def _finish(
    job: _Job,
    take: _Take,
    rng: np.random.Generator,
    rendered: tuple[int, Floats],
    config: SynthConfig,
) -> _Clip:
    """Speed, trim, place, reverberate, level and add noise to one rendering."""
    rate, raw = rendered
    speed = _uniform(rng, config.speed_range)
    # Playing samples made at ``rate`` as if made at ``rate * speed`` is a speed change.
    speech = trim(resample(raw, rate * speed, SAMPLE_RATE))
    window = config.window_samples
    what = f"{job.word!r} said by {job.voice.speaker} (rate {take.rate:.2f}, speed {speed:.2f})"
    if not speech.size or not np.any(speech):
        raise ToolchainError(f"{job.voice.engine}: {what} came out silent")
    fit = 1.0
    if len(speech) > window:
        # A two-word phrase at a slow rate draw: speed it up rather than refuse the run.
        # No draw is made here, so the clip's other draws (and every clip that fits) keep
        # their values; the trim is redone because it follows the waveform.
        need = len(speech) / (_FIT_SHARE * window)
        if need <= config.max_fit_speedup:
            fit = need
            speech = trim(resample(raw, rate * speed * fit, SAMPLE_RATE))
        if len(speech) > window:
            raise DatasetError(
                f"{what} lasts {len(speech) / SAMPLE_RATE:.2f} s, longer than the"
                f" {window / SAMPLE_RATE:.2f} s window even {config.max_fit_speedup:g}x"
                " faster; use a shorter word or phrase (or a faster rate range)"
            )
    peak_db = _uniform(rng, config.peak_dbfs_range)
    shift = round(rng.uniform(-1, 1) * config.max_shift_ms * SAMPLE_RATE / 1000)
    start = min(max((window - len(speech)) // 2 + shift, 0), window - len(speech))
    clip: channel.Float64Array = np.zeros(window)
    clip[start : start + len(speech)] = speech
    reverb = rng.uniform() < config.reverb_probability
    if reverb:
        rt60 = _uniform(rng, config.rt60_range)
        drr = _uniform(rng, _DRR_DB)
        # The tail that rings past the window is cut, as a recording's would be.
        clip = channel.reverberate(clip, channel.room_response(rt60, drr, rng, SAMPLE_RATE))
    clip *= 10 ** (peak_db / 20) / np.abs(clip).max()
    params: dict[str, object] = {
        "engine": job.voice.engine,
        "voice": job.voice.name,
        "text": take.text,
        "rate": round(take.rate, 4),
        "pitch": round(take.pitch, 4),
        "speed": round(speed, 4),
        **({"fit_speed": round(fit, 4)} if fit > 1 else {}),
        "peak_dbfs": round(peak_db, 2),
        "start_ms": round(start * 1000 / SAMPLE_RATE, 1),
        "spoken_ms": round(len(speech) * 1000 / SAMPLE_RATE, 1),
    }
    if reverb:
        params.update(rt60_s=round(rt60, 3), drr_db=round(drr, 2))
    if rng.uniform() < config.noise_probability:
        colour = NOISE_COLOURS[int(rng.integers(len(NOISE_COLOURS)))]
        snr = _uniform(rng, config.snr_db_range)
        power = float(np.mean(clip[start : start + len(speech)] ** 2))
        clip += coloured_noise(colour, window, rng) * math.sqrt(power / 10 ** (snr / 10))
        params.update(noise=colour, snr_db=round(snr, 2))
    gain = _headroom_gain(clip, 10 ** (peak_db / 20))
    if gain < 1:
        # Noise on a loud clip went past full scale, and int16 clipped it (at an SNR of
        # -60 dB into a square wave); so would a 0 dBFS peak draw by one sample. Only such
        # a clip is scaled, speech and noise alike (the SNR stays what is recorded): every
        # other clip keeps its bytes.
        clip *= gain
        params["scaled_db"] = round(20 * math.log10(gain), 2)
    pcm = wav_bytes(_to_int16(clip))
    return _Clip(job.key, pcm, params)


def _check_words(words: Sequence[str]) -> tuple[str, ...]:
    if not words:
        raise DatasetError("synth: give at least one word")
    cleaned = tuple(" ".join(w.strip().lower().split()) for w in words)
    labels: dict[str, str] = {}
    for raw, word in zip(words, cleaned, strict=True):
        if not is_speakable(word) or len(word) > MAX_WORD_CHARS:
            raise DatasetError(
                f"synth: {quoted(raw)} is not a word to speak (letters a-z, ' and -, words"
                f" separated by spaces, at most {MAX_WORD_CHARS} characters)"
            )
        label = label_of(word)
        if label in labels:
            raise DatasetError(
                f"synth: {quoted(raw)} and {quoted(labels[label])} give the same folder {label}"
            )
        labels[label] = raw
    # Two keywords that sound the same ("to", "two") are two classes no model can tell
    # apart: every clip of one is heard as the other. The listed homophones (the table
    # that keeps "to" out of "two"'s unknown words); the engines' phonemes need the
    # engines (_SoundAlike.same_keywords, in _jobs, before any clip is rendered).
    for i, a in enumerate(cleaned):
        for b in cleaned[i + 1 :]:
            if listed_homophones(a, b):
                raise DatasetError(
                    f"synth: {quoted(a)} and {quoted(b)} sound the same, so no model can tell them "
                    "apart; give one of them"
                )
    return cleaned


def _normal_phonemes(out: str) -> str:
    """One word's phonemes without stress marks, pauses or spaces: espeak-ng writes
    "ok" ``,oUk'eI`` and "okay" ``oUk'eI``; flite ``pau ow k ey pau``."""
    return re.sub(r"[\s'`,_%=-]+", "", " ".join(p for p in out.split() if p != "pau"))


# One line of festival's (print (lex.lookup "word")): ("word" pos (((m ao r) 1) ...)).
# The head word comes back as the lexicon spells it ("gup" is "Gup", a name), its
# phonemes nil where the lexicon has none ("o'clock").
_FESTIVAL_ENTRY = re.compile(r'^\("([^"]*)" \S+ (.*)\)$')
_FESTIVAL_TOKEN = re.compile(r"^[a-z']+$")


def _festival_tokens(word: str) -> list[str]:
    # festival's lexicon holds single words: a phrase is looked up word by word, split
    # where festival's tokenizer splits it.
    return [t for t in re.split(r"[\s-]+", word) if t]


class _SoundAlike:
    """Which words the engines used say as they say a keyword (homophones).

    By phonemes, not spelling, each engine's own: espeak-ng (``-q -x``, once per
    accent of the espeak-ng voices used), flite (``-ps``, the segments it synthesizes:
    every flite voice reads with the same CMU lexicon) and festival (``lex.lookup``
    with each festival voice used, as each voice selects its lexicon). A word is a
    homophone when any of them gives it a keyword's phonemes, stress left out. The
    engines alone: a tool beside them (flite's ``t2p``, which festival-only installs
    lack) made the result, and the bytes, depend on its presence. Each word is looked
    up alone and cached: deterministic for the same engines, whatever the order of the
    asks. :attr:`tools` names them for synth.json.
    """

    def __init__(self, keywords: Sequence[str], voices: Sequence[Voice]) -> None:
        accents = sorted({v.name.split("+")[0] for v in voices if v.engine == "espeak-ng"})
        self._tools: list[tuple[str, ...]] = [("espeak-ng", a) for a in accents]
        if any(v.engine == "flite" for v in voices):
            self._tools.append(("flite",))
        self._tools += [
            ("festival", n) for n in sorted({v.name for v in voices if v.engine == "festival"})
        ]
        self._cache: dict[tuple[str, ...], str] = {}
        self._keywords = tuple(keywords)

    @property
    def tools(self) -> tuple[str, ...]:
        """What gave the phonemes, as synth.json records it."""
        named = {
            "espeak-ng": "espeak-ng -q -x -v {}",
            "flite": "flite -ps",
            "festival": "festival (voice_{}) lex.lookup",
        }
        return tuple(named[t[0]].format(*t[1:]) for t in self._tools)

    def _festival(self, voice: str, words: Sequence[str]) -> list[str]:
        """Each word's phonemes by ``voice``'s lexicon, one festival process for all."""
        per_word = {w: _festival_tokens(w) for w in words}
        # Words are checked speakable, but common_words come from the caller: a token
        # that is not plain letters (and ') is not looked up, so it needs no quoting
        # in the script; such a word gets no phonemes (compared by the table only).
        tokens = sorted({t for ts in per_word.values() for t in ts if _FESTIVAL_TOKEN.match(t)})
        script = f"(voice_{voice})\n" + "".join(f'(print (lex.lookup "{t}"))\n' for t in tokens)
        out = _run(["festival", "--pipe"], f"festival phonemes ({voice})", stdin=script)
        said: dict[str, str] = {}
        for line in out.splitlines():
            match = _FESTIVAL_ENTRY.match(line.strip())
            if match:
                phones = match.group(2)
                said[match.group(1).lower()] = (
                    "" if phones == "nil" else " ".join(re.findall(r"[a-z@]+", phones))
                )
        missing = [t for t in tokens if t not in said]
        if missing:
            raise ToolchainError(
                f"festival phonemes ({voice}): no lexicon entry printed for {missing[0]!r}"
            )
        return [
            " ".join(said[t] for t in ts) if all(t in said for t in ts) else ""
            for ts in per_word.values()
        ]

    def _look_up(self, words: Collection[str]) -> None:
        for tool in self._tools:
            todo = sorted({w for w in words if (*tool, w) not in self._cache})
            if not todo:
                continue
            said: list[str] = []
            if tool[0] == "espeak-ng":
                # One process for all: a line of text per line of phonemes (a process
                # costs 20 ms; 9 accents x 100 words took 20 s one at a time).
                cmd = ["espeak-ng", "-q", "-x", "-v", tool[1]]
                said = _run(cmd, "espeak-ng phonemes", "\n".join(todo) + "\n").splitlines()
                if len(said) != len(todo):  # lines did not match up: one at a time
                    said = [_run([*cmd, w], f"espeak-ng phonemes of {w!r}") for w in todo]
            elif tool[0] == "festival":
                said = self._festival(tool[1], todo)
            else:
                # flite takes one text. Words are checked speakable (letters, ' - and
                # space, a letter first): safe as one argument.
                said = [
                    _run(["flite", "-ps", "-t", w, "-o", "none"], f"flite phonemes of {w!r}")
                    for w in todo
                ]
            for word, out in zip(todo, said, strict=True):
                self._cache[(*tool, word)] = _normal_phonemes(out)

    def same_keywords(self) -> tuple[str, str] | None:
        """Two keywords that every tool says alike, stress aside (``flour`` and
        ``flower``); ``None`` when there are none. Every one: where one lexicon merges
        two words that the others keep apart (flite's ``merry`` and ``marry``), the voices
        that keep them apart still teach the difference."""
        self._look_up(self._keywords)
        for i, a in enumerate(self._keywords):
            for b in self._keywords[i + 1 :]:
                pairs = zip(self._sounds(a), self._sounds(b), strict=True)
                said = [(x, y) for x, y in pairs if x and y]
                if said and all(x == y for x, y in said):
                    return a, b
        return None

    def _sounds(self, word: str) -> tuple[str, ...]:
        return tuple(self._cache[(*tool, word)] for tool in self._tools)

    def __call__(self, words: Collection[str]) -> set[str]:
        self._look_up([*words, *self._keywords])
        keys = [self._sounds(k) for k in self._keywords]
        alike = set()
        for word in words:
            sounds = self._sounds(word)
            if any(s and s == k[i] for k in keys for i, s in enumerate(sounds)):
                alike.add(word)
        return alike


def _jobs(
    words: tuple[str, ...], voices: Sequence[Voice], config: SynthConfig
) -> tuple[list[_Job], tuple[str, ...], dict[str, tuple[str, ...]], tuple[str, ...]]:
    """The clips to render, the _unknown_ words, each keyword's near-misses and what
    gave the phonemes of the homophone check."""
    keywords = frozenset(words)
    # Homophones of a keyword are never _unknown_ words: the same sound would be
    # trained as the keyword and as _unknown_ ("to" for "two", "okay" for "ok").
    alike = _SoundAlike(words, voices)
    # Two keywords said alike are two classes no model can tell apart (the table in
    # _check_words knows some; the engines' phonemes know "flour" and "flower").
    same = alike.same_keywords()
    if same is not None:
        raise DatasetError(
            f"synth: {same[0]!r} and {same[1]!r} have the same phonemes (stress aside) in"
            f" every engine used ({', '.join(alike.tools)}), so no model trained on these"
            " voices can tell them apart; give one of them"
        )
    misses = {w: near_misses(w, config.near_misses, keywords, alike) for w in words}
    miss_pool = sorted({m for ms in misses.values() for m in ms})
    common_set = {
        w
        for w in config.common_words
        if w not in keywords and not any(listed_homophones(k, w) for k in keywords)
    } - set(miss_pool)
    common = sorted(common_set - alike(sorted(common_set)))
    jobs: list[_Job] = []
    for voice in voices:
        for word in words:
            label = label_of(word)
            for n in range(config.clips_per_voice):
                key = f"{label}/{voice.speaker}_nohash_{n}.wav"
                jobs.append(_Job(key, label, word, voice, n))
        rng = _rng(config.seed, UNKNOWN, voice.speaker)
        counts: dict[str, int] = {}
        for _ in range(config.unknown_clips_per_voice):
            pool = miss_pool if (rng.uniform() < 0.5 or not common) and miss_pool else common
            if not pool:
                break
            word = pool[int(rng.integers(len(pool)))]
            n = counts.get(word, 0)
            counts[word] = n + 1
            key = f"{UNKNOWN}/{_file_word(word)}_{voice.speaker}_nohash_{n}.wav"
            jobs.append(_Job(key, UNKNOWN, word, voice, n))
    return jobs, tuple(miss_pool + common), misses, alike.tools


def _background(config: SynthConfig) -> dict[str, bytes]:
    n = round(config.background_seconds * SAMPLE_RATE)
    if n == 0:
        return {}
    files = {}
    for colour in NOISE_COLOURS:
        # -26 dBFS RMS: well above the front end's floor, far from clipping.
        noise = coloured_noise(colour, n, _rng(config.seed, NOISE, colour)) * 10 ** (-26 / 20)
        files[f"{NOISE}/{colour}_noise.wav"] = wav_bytes(_to_int16(noise))
    return files


def _has_wav(folder: Path) -> bool:
    try:
        return any(
            p.suffix.lower() == ".wav" and not p.name.startswith(".") for p in folder.iterdir()
        )
    except OSError:
        return False


def _is_keyword_dataset(folder: Path, leave_out: str) -> bool:
    """Whether ``folder`` loads as a keyword dataset (:mod:`tinyslm.audio.dataset`): a
    folder whose every visible subfolder, ``leave_out`` aside, holds ``.wav`` clips, and
    one at least. Every one, not any: a home folder with one folder of songs is not a
    dataset, and the loader refuses a subfolder without clips anyway.

    Two at least: a folder holding one folder of recordings (``music/songs``) is no more
    a dataset of one keyword than a music folder, and ``train`` refuses a dataset of one
    keyword."""
    try:
        subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return False
    kept = [p for p in subs if p.name != leave_out]
    return len(kept) >= 2 and all(_has_wav(p) for p in kept)


def _check_not_in_a_dataset(target: Path) -> None:
    """Refuse an output folder inside a keyword dataset (``ds/synth`` beside ``ds/up``,
    or ``ds/up/more``): it became a label folder holding folders, and the next
    ``tinyslm eval`` or ``train`` of ``ds`` failed ("a folder inside a label folder").
    The layout README's "Keywords" section recommends: the synth folder beside the
    recordings, added with ``tinyslm train DATA --extra-train SYNTH``.

    Raises:
        OutputExistsError: one line naming the dataset and where to write instead.
    """
    real = real_path(target)
    for child, folder in zip((real, *real.parents), real.parents, strict=False):
        # The branch towards the output is left out only where this write makes it (a
        # new folder, or the empty output itself): an existing folder on the way that
        # holds no clip already keeps ``folder`` from being a dataset (data/projects/kws
        # beside data/podcasts was refused as inside the dataset data).
        leave = child.name if child == real or not child.exists() else ""
        if _is_keyword_dataset(folder, leave):
            beside = folder.parent / f"{folder.name}-synth"
            raise OutputExistsError(
                f"{target} is inside the keyword dataset {folder} (its clips would become a"
                f" folder inside a label folder); write it beside it"
                f" (-o {shell_word(str(beside))}) and train with"
                f" 'tinyslm train {shell_word(str(folder))} --extra-train"
                f" {shell_word(str(beside))}'"
            )


PROGRESS_CLIPS = 500  # about 10 s on 2 cores: smaller runs say nothing until done
PROGRESS_EVERY_S = 15.0


def _count(n: int, one: str, many: str = "") -> str:
    """``1 voice``, ``2 voices``: the summary said "1 voices" and "1 clips were"."""
    return f"{n} {one if n == 1 else many or one + 's'}"


class _Done:
    """Voices rendered so far, said every :data:`PROGRESS_EVERY_S` seconds (from the
    worker threads: the main one waits on the pool)."""

    def __init__(self, total: int, say: Callable[[str], None] | None, started: float) -> None:
        self._lock = threading.Lock()
        self._total, self._say, self._started = total, say, started
        self._done = 0
        self._last = time.monotonic()

    def one(self) -> None:
        with self._lock:
            self._done += 1
            now = time.monotonic()
            if self._say is None or now - self._last < PROGRESS_EVERY_S:
                return
            if self._done == self._total:
                return  # the summary follows at once
            self._last = now
            self._say(
                f"synth: {self._done} of {_count(self._total, 'voice')} rendered"
                f" ({now - self._started:.0f} s)"
            )


def synthesize(
    words: Sequence[str],
    out_dir: Path | str,
    config: SynthConfig | None = None,
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SynthResult:
    """Write a synthetic keyword dataset for ``words`` to the new folder ``out_dir``.

    Args:
        words: the keywords (``yes``, ``lights on``); each becomes a label folder.
        out_dir: a folder that does not exist or is empty.
        config: variation and amounts (:class:`SynthConfig`).
        force: replace the clips of an earlier ``synthesize`` in ``out_dir``
            (removing those no longer made, unless edited since); files a user
            added there are kept, or refused where a new clip would replace one.
        progress: called with a line to show (without ``\n``) when a run renders
            :data:`PROGRESS_CLIPS` clips or more: one at the start, then one every
            :data:`PROGRESS_EVERY_S` seconds (the default 8 words took minutes unsaid).

    Returns:
        What was written (:class:`SynthResult`).

    Raises:
        DatasetError: a word that is not speakable, that two words share a folder,
            or that comes out longer than the window even ``max_fit_speedup`` faster.
        ToolchainError: no TTS engine (or a requested one) is installed, or one fails.
        OutputError: ``out_dir`` is not empty (without ``force``), is not an earlier
            synthetic dataset (with it), lies inside a keyword dataset or a model folder,
            or cannot be written.
    """
    started = time.monotonic()
    config = config or SynthConfig()
    cleaned = _check_words(words)
    target = Path(out_dir)
    check_target(target, force, ownership=OWNERSHIP)
    _check_not_in_a_dataset(target)
    # A dataset inside a model folder: 'train --force' would then refuse the folder.
    from tinyslm.pipeline import refuse_inside_model_folder

    refuse_inside_model_folder(target, "-o")
    engines, voices = find_voices(config)
    jobs, unknown_words, misses, phoneme_tools = _jobs(cleaned, voices, config)
    # One task per voice: festival renders a voice's clips in one process.
    by_voice: dict[str, list[_Job]] = {}
    for job in jobs:
        by_voice.setdefault(job.voice.speaker, []).append(job)
    # One task per voice: no more engine processes than voices run at once.
    workers = min(config.jobs or os.cpu_count() or 1, max(len(by_voice), 1))
    say = progress if progress is not None and len(jobs) >= PROGRESS_CLIPS else None
    if say is not None:
        names = [e for e in ENGINES if any(v.engine == e for v in voices)]
        say(
            f"synth: rendering {_count(len(jobs), 'clip')} with {_count(len(voices), 'voice')}"
            f" ({', '.join(names)}), {_count(workers, 'engine process', 'engine processes')}"
            " at a time ..."
        )
    done = _Done(len(by_voice), say, started)

    def run_voice(voice_jobs: list[_Job]) -> list[_Clip]:
        takes = [_take(job, config) for job in voice_jobs]
        rendered = _render(voice_jobs[0].voice, [t for t, _ in takes])
        clips = [
            _finish(job, take, rng, r, config)
            for job, (take, rng), r in zip(voice_jobs, takes, rendered, strict=True)
        ]
        done.one()
        return clips

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        clips = [c for batch in pool.map(run_voice, by_voice.values()) for c in batch]
    except BaseException as exc:
        # On an interrupt, stop the engines the workers are running, and those they
        # would start, before waiting for them: synth then ends in moments. Any other
        # error lets the running ones finish, and leaves the engines usable after.
        interrupted = not isinstance(exc, Exception)
        if interrupted:
            _ENGINES.stop()
        try:
            pool.shutdown(wait=True, cancel_futures=True)
        finally:
            if interrupted:
                _ENGINES.start()
        raise
    pool.shutdown()

    files = {c.key: c.pcm for c in clips}
    background = _background(config)
    files.update(background)
    # From the record, as the sped-up count below, so the summary is what synth.json says.
    spoken: dict[str, list[float]] = {}
    for clip, job in zip(clips, jobs, strict=True):
        if job.label != UNKNOWN and isinstance(ms := clip.params["spoken_ms"], float):
            spoken.setdefault(job.word, []).append(ms)
    # The record is what says a clip was sped up; the summary counts from it.
    fits = [f for c in clips if isinstance(f := c.params.get("fit_speed"), float)]
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.label] = counts.get(job.label, 0) + 1
    record = {
        "generator": f"tinyslm {__version__}",
        "words": list(cleaned),
        # jobs changes how fast, never what: left out so the record is the same too.
        "config": {k: v for k, v in asdict(config).items() if k != "jobs"},
        "engines": list(engines),
        "speakers": [v.speaker for v in voices],
        "near_misses": {w: list(m) for w, m in misses.items()},
        # What kept the keywords' homophones out of _unknown_ (besides the table): a
        # different set of tools is a different _unknown_ vocabulary, and is seen here.
        "homophone_phonemes": list(phoneme_tools),
        "clips": {c.key: c.params for c in sorted(clips, key=lambda c: c.key)},
    }
    files[RECORD] = (json.dumps(record, indent=1, sort_keys=True) + "\n").encode()
    # As train's: a refusal after minutes of synthesis would throw them away.
    try:
        written = write_tree(
            dict(sorted(files.items())),
            target,
            force=force,
            ownership=OWNERSHIP,
            prune=True,
            wait_until_free=True,
        )
    except OSError as exc:
        # As train's and generate's: the error alone (a full disk's ENOSPC) named no
        # path, so one could not tell whether the output's disk or /tmp was full.
        raise OutputError(f"cannot write {out_dir}: {exc.strerror or exc}") from exc
    return SynthResult(
        out_dir=target,
        engines=engines,
        speakers=tuple(v.speaker for v in voices),
        clips=tuple(sorted(counts.items())),
        unknown_words=unknown_words,
        near_misses=tuple((w, misses[w]) for w in cleaned),
        longest_ms=tuple((w, round(max(spoken[w]), 1)) for w in cleaned),
        median_ms=tuple((w, round(float(np.median(spoken[w])), 1)) for w in cleaned),
        background=tuple(sorted(background)),
        seconds=time.monotonic() - started,
        fitted=len(fits),
        max_fit_speed=max(fits, default=1.0),
        kept=written.kept,
    )
