"""Load a keyword-spotting dataset of WAV clips, validate it and split it by speaker.

Two sources:

- A folder in the Speech Commands layout: ``<keyword>/*.wav`` (one folder per
  keyword; its name is the label), optional ``_unknown_/*.wav`` (other words:
  the ``_unknown_`` class), optional ``_silence_/*.wav`` (clips of the ``_silence_``
  class, read as a list's ``_silence_`` label is: Google's published test set has
  this folder) and optional ``_background_noise_/*.wav`` (long
  recordings: the ``_silence_`` class and noise for augmentation). Other
  folders starting with ``_`` or ``.`` are refused or ignored respectively;
  files that are not ``.wav`` are ignored, and audio files among them (``.m4a``,
  ``.mp3``, ``.wave`` ...) are counted in a warning naming the first; so are
  ``.wav`` files beside the label folders (not in a label folder, so not read).
- A list file, ``.csv`` (``path,label[,split]``, optional header row, whose columns
  may come in any order: ``label,path``; every row then has the fields its header names,
  so a split cell needs a ``split`` column, though blank cells past them and a last
  ``split`` cell left out are no split) or
  ``.jsonl`` (``{"path": ..., "label": ..., "split": ...}``, one object a line: lines
  end at CR, LF or CRLF only, as a JSON string may hold U+2028 or U+0085 raw), paths
  relative to
  the list file (``\\`` separators, as a list written on Windows has them, are
  read as ``/`` where the path does not exist as written; a name that differs from
  the file's only in Unicode normalisation, NFC against macOS's NFD, finds the file
  and keeps the list's spelling, its speaker's too, so the same split). The labels
  ``_unknown_``, ``_silence_`` and ``_background_noise_`` mean what the folders
  above mean. A list gives a split (``train``/``val``/``test``;
  ``training``/``validation``/``testing`` too) for every clip or for none
  (background recordings are split in time, see below); an empty split cell (or
  JSONL ``""``) is no split, as JSONL ``null`` is.

Rules:

- Split by speaker, never by clip. When a file is named
  ``<speaker>_nohash_<n>.wav`` the speaker is the part before ``_nohash_`` (in
  an ``_unknown_`` folder a leading ``<word>_`` is dropped, as that folder holds
  ``<word>_<speaker>_nohash_<n>.wav``: everything up to the first ``_``, so there
  ``john_doe_nohash_0.wav`` is speaker ``doe`` and ``<word>_john_doe_nohash_0.wav`` is
  ``john_doe``; no rule tells ``john_doe`` from ``bed_0a7c2a8d``, and reading either
  otherwise would move Speech Commands' splits), and its split is Speech Commands' own
  ``which_set``: SHA-1 of the speaker name, modulo ``MAX_NUM_WAVS_PER_CLASS +
  1``, as a percentage; below ``val_percent`` is ``val``, below ``val_percent +
  test_percent`` is ``test``, the rest ``train``. So the same speaker lands on the
  same side in every run, on every machine and for every word, and the seed
  plays no part. Other names are split the same way by the hash of
  ``<seed>:<path>``: seeded by file, each file its own speaker. A list's own splits
  are kept as given; where they put one speaker's clips in two splits, the dataset
  carries a warning naming how many speakers and up to 3 of them (not refused: it
  may be meant).
- Clips are fitted to the model's window (``window_samples``, 1 s): a shorter
  clip is zero-padded on both sides (centred); a longer one is trimmed to its
  loudest window (the word is where the energy is) and the dataset carries a
  warning saying how many were trimmed; a clip longer than
  ``max_clip_windows`` windows is refused (a keyword clip holds one utterance;
  a long recording belongs in ``_background_noise_`` or must be cut first).
- ``_silence_``: slices of the background recordings. Each recording is cut in
  time into a train, a val and a test part (in that order, by the same
  percentages), so no stretch of noise is on two sides; each split gets
  ``silence_percent`` % of its mean keyword clip count as silence slices, at
  seeded positions inside that split's part. No background folder, no
  ``_silence_`` class.
- ``unknown_words`` relabels those keyword folders (or list labels) as
  ``_unknown_``; ``keywords`` keeps only those as keywords and relabels every other
  word as ``_unknown_`` (a full Speech Commands download, 35 words, trained for 7). A
  word either names that has no clips is refused (``words_must_exist``; an
  ``--extra-train`` dataset may lack some). A folder or label spelling the silence or
  noise class as a word (``noise/``) that ``keywords`` relabels is kept with a warning
  saying where such recordings belong (:func:`_special_words_note`).
- ``_unknown_`` is one class among the keywords: where a split holds more
  ``_unknown_`` clips than its largest keyword (``cap_unknown``), a seeded draw keeps
  as many as that keyword has, taken in turn from each unknown word (in an
  ``_unknown_`` folder, the ``<word>_`` of its names) so that every word stays, and
  the dataset carries a warning saying how many were kept. Uncapped, 28 other words
  of Speech Commands would make ``_unknown_`` 30 times a keyword: class balancing
  would then copy every keyword 30 times (memory and hours of training), and the
  figures would be mostly ``_unknown_``'s. Clips left out are not read. ``_silence_``
  clips (a ``_silence_/`` folder's) are no keyword here. An ``--extra-train`` set's
  ``_unknown_`` clips are capped with the training split they join: counting DATA's
  training clips and earlier sets', ``_unknown_`` there may grow to its largest keyword
  (the set's own largest keyword halved ``tinyslm synth``'s default output, 6
  ``_unknown_`` clips a voice against 3 of each keyword).
- Refused with one line: an unreadable, truncated or wrongly formatted WAV (see
  :mod:`tinyslm.audio.wav`; the line names the file, and for a format refusal how many
  other files of the dataset have that format, from their headers), an empty folder or
  keyword folder, fewer than 2 keywords, a label with fewer than 2 clips or (with
  speaker names) fewer than 2 speakers, a label none of whose speakers falls in
  ``train``, a background recording shorter than the window, a folder inside a label
  folder, a ``.wav`` name that is not a file, a label folder or clip whose name is not
  UTF-8 or has control characters, a label folder whose name starts or ends with white
  space, a label folder that is another label's folder (a link to it), a top-level link
  that leads nowhere (dangling or looping), a clip that is another folder's clip (a
  symbolic or hard link), two labels (folders or list labels) that differ only in case,
  Unicode form or compatibility form (:func:`label_key`: lower case, NFKC), one
  recording (the same samples, once fitted to the window) under two labels, clips of
  ``_unknown_/`` whose flattened ``<word>_`` name is one of the keywords (by
  :func:`label_key`, after ``keywords`` and ``unknown_words``: recordings of a keyword
  trained as not one; other words' names are what that folder is for; checking a model,
  its keywords: :func:`refuse_keyword_named_unknown`); in a list, a file listed twice (by the file:
  ``./yes/a.wav``, ``/data/yes/a.wav``, ``../data/yes/a.wav`` and a hard link to it are
  ``yes/a.wav``), a
  path naming a folder, a path or label that is not UTF-8 text, a special label other
  than ``_unknown_``, ``_silence_`` and ``_background_noise_``, a header other than
  path, label and split in some order (``file,label``), fields separated by ``;`` or
  tabs, a path that does not exist (the line says where it was looked for, and the
  path to list when it exists relative to the current folder instead). The label counts
  are training's rules: ``training_rules=False`` (``tinyslm eval``, which scores
  recordings a user made to check a model, often one speaker) drops them.
- ``--extra-train`` sets (:func:`load_training_clips`): a label that is one of
  DATA's labels, or a word ``keywords`` or ``unknown_words`` names, spelled otherwise
  (:func:`label_key`) is refused, and so are ``_unknown_/`` clips named as one of
  DATA's keywords; a clip whose samples training already has (one of DATA's training
  clips, one an earlier set added, as a folder and a list of its files are, or an
  earlier clip of the same set) is dropped with a note saying how many of each. Every
  clip of a set is training material: a list's split column places none of them (a
  note counts the clips it puts in val or test), so it need not give every clip one.
  The warning about speakers also in DATA's validation or test split counts only
  speakers of ``<speaker>_nohash_`` names (an unnamed clip is its own speaker). Its
  background recordings and ``_silence_`` clips are not used, so not read (a note says
  each): a short recording or a long ``_silence_`` clip there refuses nothing. Its
  ``_unknown_`` clips are capped with the training split they join (above).
- A keyword folder or list label spelling a special class as a word (``unknown``,
  ``silence``, ``noise``, ``background_noise``: :func:`_refuse_special_keyword`) is refused
  in training unless ``keywords`` names it or it is a word a ``tinyslm synth`` folder was
  written for (its ``synth.json``); ``word_options=False`` (the benchmark, which takes
  neither option) leaves those options out of the line. A ``<speaker>_nohash_`` name is
  read in any case; a word's clip without sound (every sample the same) is kept with a
  warning.
- More labels than the device's detector holds (``MAX_LABELS``, 16, ``_silence_`` and
  ``_unknown_`` included) are refused by ``train`` before any feature is computed
  (:func:`refuse_too_many_labels`), saying to choose the keywords with ``keywords``.
- A validation or test clip with the same samples as a training clip (a copy under
  another name, which a split by file can put on the other side) is kept, with a
  warning per split saying how many and naming the first pair; under training's rules
  only (``eval`` scores data the model may never have trained on, whose train split
  it did not learn). Copies inside one split are kept too, with a warning per split
  saying how many and naming the first pair (training weighs such a recording, or a
  figure counts it, once per copy); under ``eval``'s rules as well, as its figures count
  them so.
- Hidden names (a leading ``.``) are not data: such folders are not labels and
  such files are not clips (macOS's ``._<clip>.wav`` AppleDouble files, ``.DS_Store``).
  Nor are files that are not ``.wav``: their names are not checked.

Label order (the model's output order): ``_silence_`` and ``_unknown_`` first
when present, then the keywords sorted, as Speech Commands' training script does.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import posixpath
import random
import re
import shlex
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tinyslm.audio.wav import SAMPLE_RATE, WavFormatError, format_key, read_wav
from tinyslm.errors import DatasetError, json_reason, one_line, quoted

SILENCE = "_silence_"
UNKNOWN = "_unknown_"
NOISE = "_background_noise_"
SPLITS = ("train", "val", "test")
# AudioDatasetConfig's word choices as the user gives them (tinyslm train).
_FLAGS = {"keywords": "--keywords", "unknown_words": "--unknown-words"}
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # Speech Commands' constant, kept for identical splits
LIST_SUFFIXES = (".csv", ".jsonl")

_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}
# Any case: a speaker's "SPK1_NOHASH_0.wav" (a tool or file system that writes names in
# upper case) was split one file at a time, so most speakers landed on two sides unsaid.
# Speech Commands' own names are lower case, and split as before.
_NOHASH = re.compile(r"_nohash_.*$", re.IGNORECASE)
# Audio files a recorder or phone writes that tinyslm does not read: skipped, but said.
_OTHER_AUDIO = (
    ".wave", ".m4a", ".mp3", ".mp4", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma",
    ".aif", ".aiff", ".aifc", ".caf", ".amr", ".3gp", ".webm",
)  # fmt: skip
_LIST_HEADER = "path,label[,split]"

Samples = npt.NDArray[np.int16]


@dataclass(frozen=True)
class AudioDatasetConfig:
    """How to read and split a keyword dataset.

    Raises:
        DatasetError: (from ``__post_init__``) impossible percentages or sizes.
    """

    window_samples: int = SAMPLE_RATE
    val_percent: float = 10.0
    test_percent: float = 10.0
    seed: int = 0
    silence_percent: float = 10.0
    unknown_words: tuple[str, ...] = ()
    max_clip_windows: int = 3
    training_rules: bool = True
    keywords: tuple[str, ...] = ()
    cap_unknown: bool = True
    words_must_exist: bool = True
    # The caller takes --keywords and --unknown-words (train); the benchmark does not, so
    # a refusal there names only what to change in the data (refuse_too_many_labels too).
    word_options: bool = True

    def __post_init__(self) -> None:
        for name in ("keywords", "unknown_words"):
            words = tuple(str(w) for w in getattr(self, name))
            object.__setattr__(self, name, words)
            special = sorted({w for w in words if w.startswith("_")})
            if special:
                raise DatasetError(
                    f"{_FLAGS[name]} names {quoted(special[0])}: a word, not a special label"
                    f" ({UNKNOWN}, {SILENCE} and {NOISE} are the dataset's own)"
                )
        both = sorted(set(self.keywords) & set(self.unknown_words))
        if both:
            raise DatasetError(
                f"{quoted(both[0])} is in both --keywords and --unknown-words; give it in one"
            )
        v, t = self.val_percent, self.test_percent
        if not (0 <= v < 100 and 0 <= t < 100 and v + t < 100):
            raise DatasetError(
                f"val_percent {v} and test_percent {t} must be >= 0 and sum to less than 100"
            )
        if self.window_samples <= 0:
            raise DatasetError(f"window_samples must be positive, got {self.window_samples}")
        if not 0 <= self.silence_percent <= 100:
            raise DatasetError(f"silence_percent must be in 0..100, got {self.silence_percent}")
        if self.max_clip_windows < 1:
            raise DatasetError(f"max_clip_windows must be >= 1, got {self.max_clip_windows}")

    def label_of(self, word: str) -> str:
        """The label a folder name or list label ``word`` gets (``_unknown_`` or itself)."""
        if word in self.unknown_words:
            return UNKNOWN
        if self.keywords and word not in self.keywords and word not in (UNKNOWN, SILENCE, NOISE):
            return UNKNOWN
        return word


@dataclass(frozen=True, eq=False)
class Clip:
    """One labelled clip, fitted to the window.

    Attributes:
        label: a keyword, ``_unknown_`` or ``_silence_``.
        split: ``train``, ``val`` or ``test``.
        speaker: the speaker name, or the file's own name when it has none ("" for silence).
        source: where it came from, relative to the dataset (silence: ``file@sample``).
        samples: int16, exactly ``window_samples`` long.
    """

    label: str
    split: str
    speaker: str
    source: str
    samples: Samples

    @cached_property
    def digest(self) -> bytes | None:
        """What a copy of this recording shares: a digest of its samples, computed once
        (the copy checks of a load and of ``--extra-train`` each read it); ``None`` for a
        constant window, a silent take padded to the window, which is every silent clip
        and so no recording's copy."""
        if _constant(self.samples):
            return None
        return _clip_digest(self.samples)


@dataclass(frozen=True, eq=False)
class NoiseRecording:
    """A background recording and the sample range each split may use (``[start, end)``)."""

    source: str
    samples: Samples
    spans: tuple[tuple[str, int, int], ...]

    def part(self, split: str) -> Samples:
        """The stretch of the recording that belongs to ``split``."""
        for name, start, end in self.spans:
            if name == split:
                return self.samples[start:end]
        raise KeyError(split)


@dataclass(frozen=True, eq=False)
class AudioDataset:
    """A validated keyword dataset, split by speaker.

    Attributes:
        labels: the model's output order (``_silence_``, ``_unknown_`` if present, keywords).
        clips: every clip, in a stable order (label, then source).
        noise: the background recordings (for silence and augmentation).
        source: the folder or list file it was read from.
        warnings: non-fatal findings, one line each (about every split, as train says them).
        split_warnings: the same findings as ``(split, line)``, a finding about the clips
            of several splits once per split; see :meth:`warnings_for`.
        given_splits: whether a list's split column placed the clips (what a user changes
            to move a clip to another split: that column, not ``--seed``).
        extra_clips: how many of the last ``clips`` ``--extra-train`` sets added
            (:func:`with_training_clips`; a later set's repeats of them are dropped).
    """

    labels: tuple[str, ...]
    clips: tuple[Clip, ...]
    noise: tuple[NoiseRecording, ...]
    source: str
    warnings: tuple[str, ...] = ()
    split_warnings: tuple[tuple[str, str], ...] = ()
    given_splits: bool = False  # a list's split column placed the clips (no hash did)
    extra_clips: int = 0

    @property
    def keywords(self) -> tuple[str, ...]:
        return tuple(lb for lb in self.labels if lb not in (SILENCE, UNKNOWN))

    def split(self, name: str) -> tuple[Clip, ...]:
        """The clips of split ``name`` (``train``, ``val`` or ``test``)."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return tuple(c for c in self.clips if c.split == name)

    def warnings_for(self, name: str) -> tuple[str, ...]:
        """The warnings about split ``name`` alone (``eval`` scores one split: a note that
        training's split lost unknown clips is beside the point there). Without
        ``split_warnings`` (a dataset built by hand), every warning."""
        if not self.split_warnings:
            return self.warnings
        return tuple(line for split, line in self.split_warnings if split == name)


def dataset_name(source: Path | str) -> str:
    """The folder's or list's name as the manifest records it and ``eval`` compares it:
    no path, resolved ('tinyslm train .' recorded ''), and a byte that is not UTF-8 (held
    as a lone surrogate) or a line break written as the shell shows it ('\\xff'): the
    manifest, the report page and a project's tinyslm.json are UTF-8, and a lone
    surrogate ended training in a traceback at the report, after the whole run."""
    return one_line(Path(source).resolve().name)


def speaker_of(path: Path | str) -> str | None:
    """The speaker in a Speech Commands name (``<speaker>_nohash_<n>.wav``), else ``None``.

    In an ``_unknown_`` folder, whose names are ``<word>_<speaker>_nohash_<n>.wav``,
    the word is dropped so that a speaker's other words land on the same side.
    """
    # Read as spelled once normalised: "_unknown_/x/../bed_ab_nohash_0.wav" is in
    # _unknown_ (its parent read as "..", so the word stayed in the speaker name and the
    # speaker's other clips could land on the other side of the split).
    path = Path(os.path.normpath(path))
    if _NOHASH.search(path.name) is None:
        return None
    name = _NOHASH.sub("", path.name)
    if path.parent.name == UNKNOWN and "_" in name:
        name = name.split("_", 1)[1]
    return name or None


def which_set(hash_name: str, val_percent: float, test_percent: float) -> str:
    """Speech Commands' ``which_set``: the split of everything hashed as ``hash_name``."""
    digest = hashlib.sha1(hash_name.encode("utf-8")).hexdigest()
    percentage = (int(digest, 16) % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)
    if percentage < val_percent:
        return "val"
    if percentage < val_percent + test_percent:
        return "test"
    return "train"


def loudest_window(samples: Samples, window: int) -> Samples:
    """The ``window`` consecutive samples with the most energy (the first such, on ties)."""
    if len(samples) <= window:
        return samples
    energy = np.concatenate(([0], np.cumsum(samples.astype(np.int64) ** 2)))
    sums = energy[window:] - energy[:-window]
    start = int(np.argmax(sums))
    return samples[start : start + window]


def fit_to_window(samples: Samples, window: int) -> Samples:
    """Centre-pad with zeros to ``window`` samples, or trim to the loudest ``window``."""
    if len(samples) >= window:
        return np.ascontiguousarray(loudest_window(samples, window), dtype=np.int16)
    out = np.zeros(window, dtype=np.int16)
    start = (window - len(samples)) // 2
    out[start : start + len(samples)] = samples
    return out


@dataclass(frozen=True)
class _Entry:
    path: Path
    source: str  # display name relative to the dataset
    label: str
    split: str | None  # given by a list file, else None
    word: str  # the label as written, before unknown_words


def label_key(label: str) -> str:
    """``label`` as two labels no model can tell apart compare: in lower case and NFKC
    (``Yes`` is ``yes``; ``café`` as macOS spells it, NFD, is ``café`` in NFC: they look
    the same; ``yes`` in fullwidth letters, as a CJK input method types it, is ``yes``).
    Training refuses two such labels in one dataset; ``eval`` and ``emulate --data`` a
    data label that is the model's keyword by this key but spelled otherwise."""
    # Lower case, not casefold(): folding spells 'ß' 'ss', which made 'Maße' (measures)
    # and 'Masse' (mass), two words spoken apart, one label refused "only in case".
    # NFKC again after lower(): lower case may leave a sequence NFKC would compose.
    # Lower case first too, as the key before round 53 did: NFKC first spelled the
    # lunate capital sigma (U+03F9) as a capital sigma, lower case a sigma, but its small
    # letter (U+03F2) as a final sigma, so two labels differing only in case, refused
    # before, became two keywords.
    lowered = unicodedata.normalize("NFC", label).lower()
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", lowered).lower())


def how_labels_differ(label: str, other: str) -> str:
    """``only in case``, or in Unicode form, of two labels with the same :func:`label_key`:
    NFC and NFD names look the same on screen, so the message names each one's form."""
    if label.lower() == other.lower():
        return "only in case"
    nfc_label, nfc_other = (unicodedata.normalize("NFC", t) for t in (label, other))
    if nfc_label.lower() == nfc_other.lower():
        what = "Unicode form" if nfc_label == nfc_other else "case and Unicode form"
        return f"only in {what} ({unicode_form(label)} against {unicode_form(other)})"
    nfkc_label, nfkc_other = (unicodedata.normalize("NFKC", t) for t in (label, other))
    if nfkc_label.lower() == nfkc_other.lower():
        # 'yes' in fullwidth letters beside 'yes' (round 53: two keywords before): named so a
        # user sees why two names that a font may draw alike or not are one word.
        if nfkc_label == nfkc_other:
            return (
                "only in compatibility form (fullwidth letters, ligatures ...: both are"
                f" {nfkc_other!r} in NFKC)"
            )
        return (
            "only in case and compatibility form (fullwidth letters, ligatures ...: both are"
            f" {label_key(other)!r} in NFKC, lower case)"
        )
    return f"only in case and Unicode form (both are {label_key(other)!r} in NFKC, lower case)"


def unicode_form(text: str) -> str:
    """``NFC``, ``NFD``, or ``mixed NFC/NFD``: how a name that differs from another only
    in that is spelled."""
    if unicodedata.is_normalized("NFC", text):
        return "NFC"
    return "NFD" if unicodedata.is_normalized("NFD", text) else "mixed NFC/NFD"


def _file_id(path: Path) -> tuple[int, int]:
    """The file ``path`` is, whatever its names: a hard link is the same file under a
    second name (``resolve()`` tells only symbolic links apart)."""
    st = path.stat()
    return st.st_dev, st.st_ino


def _listing(folder: Path) -> list[Path]:
    """``folder``'s entries, or one line saying why they cannot be read."""
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise DatasetError(f"{folder}: cannot read: {exc.strerror or exc}") from None


def _check_name(path: Path, label: bool = False) -> None:
    """Refuse a name the loader would use (a label folder, a clip): one that is not UTF-8
    (bytes from another system's encoding; labels, speaker hashes and the feature cache's
    keys are all text), a ``label`` folder's name with white space around it (a list's
    labels are stripped; 'yes ' as a folder was a keyword of its own, which its user
    cannot see; renaming it is theirs to do), or one with control characters (a label
    reaches the terminal, C strings and JSON; a clip's name, every error and warning that
    names it). Names the loader skips (hidden files, a ``.txt``) are not checked: they
    are not data."""
    name = path.name
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(name).decode("utf-8", "backslashreplace")
        raise DatasetError(f"{path.parent / shown}: the name is not UTF-8; rename it") from None
    if label and name != name.strip():
        raise DatasetError(
            f"{path.parent / repr(name)}: the folder name starts or ends with white space,"
            f" so its label is not {name.strip()!r}; rename it"
        )
    if not name.isprintable():
        raise DatasetError(f"{path.parent / repr(name)}: the name has control characters")


def _wavs(folder: Path, skipped: list[Path]) -> list[Path]:
    """The folder's ``.wav`` files. Hidden names are not clips, as hidden folders are not
    labels: macOS writes a ``._<name>.wav`` AppleDouble file (no audio) beside every clip
    it copies to a FAT or network drive or zips. Other audio files (a phone's ``.m4a``
    voice memos, a ``.wave``) are not read either; they are added to ``skipped``, so the
    dataset can say so (they vanished unsaid).

    A folder inside a label folder, or a ``.wav`` name that is not a file (a dangling
    link), is refused: their clips were silently left out, while the summary counted
    the rest as the whole label.
    """
    found = []
    listing = sorted(_listing(folder))
    for p in listing:
        if p.name.startswith("."):
            continue
        if p.is_dir() or p.suffix.lower() == ".wav":
            _check_name(p)  # in every line that names it, and a clip's source
        if p.is_dir() and folder.name == NOISE:
            # Not a label folder, and it holds recordings, not clips.
            raise DatasetError(
                f"{p}: a folder inside {NOISE}; put its recordings directly in {folder}"
            )
        if p.is_dir():
            raise DatasetError(
                f"{p}: a folder inside a label folder; put its clips directly in {folder}"
                + _one_level_down(folder, listing)
            )
        if p.suffix.lower() != ".wav":
            if p.suffix.lower() in _OTHER_AUDIO:
                skipped.append(p)
            continue
        if not p.is_file():
            raise DatasetError(f"{p}: not a readable file (a broken link?)")
        found.append(p)
    return sorted(found)


def _one_level_down(folder: Path, listing: list[Path]) -> str:
    """The other reading of a label folder holding folders and no clip: a dataset of its
    own, given by its parent (``data/`` holding ``speech_commands/``, or ``train/`` and
    ``test/`` dataset folders), where flattening it into one label would be wrong. Not
    of a special folder: ``_unknown_/bed/`` is one word's clips, no dataset."""
    if folder.name.startswith("_"):
        return ""
    if any(p.suffix.lower() == ".wav" and not p.name.startswith(".") for p in listing):
        return ""
    return f", or, if the folders in {folder.name} are labels, give {folder} as the dataset"


def _other_audio(files: list[Path]) -> str:
    """What to do with audio files tinyslm does not read (``files``: not empty)."""
    rename = (
        " (or rename a .wave to .wav)" if any(f.suffix.lower() == ".wave" for f in files) else ""
    )
    return f"convert them to 16 kHz mono 16-bit .wav with sox or ffmpeg{rename}"


def _printable(text: str) -> str:
    """``text`` as a message may show it: a name the loader does not check (not a clip)
    may hold bytes that are not UTF-8 or control characters."""
    text = os.fsencode(text).decode("utf-8", "backslashreplace")
    return text if text.isprintable() else repr(text)


def _skipped_notes(root: Path, skipped: list[Path]) -> list[str]:
    """The warnings for audio files not read: ``.wav`` files beside the label folders
    (not in one, so no label), and audio files that are not ``.wav``."""
    loose = [p for p in skipped if p.suffix.lower() == ".wav"]
    other = [p for p in skipped if p.suffix.lower() != ".wav"]
    notes = []
    if loose:
        first = _printable(loose[0].name)
        notes.append(
            f"{len(loose)} .wav file(s) beside the label folders are not in a label folder,"
            f" so not read (first: {first}): move each into its <label>/ folder"
        )
    if other:
        first = _printable(str(other[0].relative_to(root)))
        notes.append(
            f"{len(other)} audio file(s) that are not .wav were skipped (first: {first});"
            f" tinyslm reads .wav clips only: {_other_audio(other)}"
        )
    return notes


def _scan_folder(
    root: Path, config: AudioDatasetConfig
) -> tuple[list[_Entry], list[_Entry], list[Path]]:
    """Entries of the clip folders and of the background folder, and the audio files
    that are not ``.wav`` (skipped)."""
    clips: list[_Entry] = []
    noise: list[_Entry] = []
    skipped: list[Path] = []
    spelled: dict[str, str] = {}  # a folder name by label_key: as first seen
    real: dict[Path, Path] = {}  # where a label folder really is: the folder as listed
    clip_real: dict[tuple[int, int], Path] = {}  # which file a clip is: the clip as listed
    for folder in sorted(_listing(root)):
        name = folder.name
        if name.startswith("."):
            continue
        if folder.is_symlink() and not folder.exists():
            # A label link to nothing (or to itself) was skipped without a word, its clips
            # left out, while a dangling clip link is refused (_wavs).
            _check_name(folder)
            raise DatasetError(
                f"{folder}: a link that leads nowhere (dangling or looping); fix or remove it"
            )
        if not folder.is_dir():
            # Files beside the label folders (a list, a README) are not data; an audio
            # file there is most likely a misplaced clip: said, as in a label folder.
            if folder.suffix.lower() == ".wav" or folder.suffix.lower() in _OTHER_AUDIO:
                skipped.append(folder)
            continue
        _check_name(folder, label=True)
        first = spelled.setdefault(label_key(name), name)
        if first != name:
            # On a case-sensitive disk 'Yes/' and 'yes/' were two keywords no model can
            # tell apart (as a list's labels are refused, _scan_list); so were 'café/' in
            # NFC and in NFD (macOS's), which even look the same.
            raise DatasetError(
                f"{folder}: differs from {root / first} {how_labels_differ(name, first)};"
                " put its clips in one folder"
            )
        seen = real.setdefault(folder.resolve(), folder)
        if seen != folder:
            # 'yes2 -> yes' made two keywords of the same clips. A link to a folder of its
            # own (clips kept elsewhere) is a label like any other.
            link, other = (folder, seen) if folder.is_symlink() else (seen, folder)
            raise DatasetError(
                f"{link}: the same folder as {other} (a link); each label needs its own folder"
            )
        if name.startswith("_") and name not in (UNKNOWN, SILENCE, NOISE):
            raise DatasetError(
                f"{folder}: unknown special folder (only {UNKNOWN}, {SILENCE} and {NOISE}"
                " start with '_')"
            )
        others: list[Path] = []
        files = _wavs(folder, others)
        if not files:
            held = Counter(f.suffix.lower() for f in others)
            what = ", ".join(f"{n} {suffix}" for suffix, n in sorted(held.items()))
            hint = (
                f" (its audio files are not .wav: {what}; {_other_audio(others)})" if others else ""
            )
            raise DatasetError(f"{folder}: no .wav files{hint}")
        skipped += others
        label = config.label_of(name)
        target = noise if name == NOISE else clips
        for f in files:
            # By the file itself: a hard link has no target to resolve() to, and was taken
            # as a second clip.
            where = clip_real.setdefault(_file_id(f), f)
            if where != f:
                # A clip linked into a second folder was two clips: under two labels,
                # or one clip heard twice and split by its two names.
                symbolic = f.is_symlink() or where.is_symlink()
                link, other = (f, where) if f.is_symlink() else (where, f)
                kind = "a link" if symbolic else "a hard link"
                raise DatasetError(
                    f"{link}: the same file as {other} ({kind}); a clip belongs in one place"
                )
        target.extend(_Entry(f, f"{name}/{f.name}", label, None, name) for f in files)
    # Checking a model (training_rules off), background recordings alone are data: the
    # false accepts of the room a device will sit in.
    if not clips and (config.training_rules or not noise):
        raise DatasetError(
            f"{root}: no keyword folders with .wav files (expected {root}/<keyword>/*.wav)"
        )
    return clips, noise, skipped


def _list_rows(path: Path) -> Iterable[tuple[int, str, str, str | None]]:
    """(line, path, label, split) of each row of a CSV or JSONL list."""
    # The text loader's reading: a list saved as UTF-16 said "cannot read: 'utf-8'
    # codec can't decode ..."; now the line and byte, and what to do, as train says.
    from tinyslm.text.dataset import read_utf8

    text = read_utf8(path)
    if path.suffix.lower() == ".jsonl":
        # At CR, LF and CRLF only (no JSON string holds them raw): str.splitlines() also
        # breaks at U+2028, U+0085, \f ..., which a JSON string may hold raw
        # (json.dumps(ensure_ascii=False)); a valid row was "invalid JSON" and every later
        # line number was off by one per such break.
        for number, line in enumerate(re.split(r"\r\n|\r|\n", text), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise DatasetError(
                    f"{path}: line {number}: invalid JSON ({json_reason(exc)})"
                ) from None
            if not isinstance(obj, dict) or not all(
                isinstance(obj.get(k), str) for k in ("path", "label")
            ):
                # The keys it has: {"file": ...} is a clip list with another key name.
                keys = [_printable(str(k)) for k in list(obj)[:5]] if isinstance(obj, dict) else []
                more = ", ..." if isinstance(obj, dict) and len(obj) > 5 else ""
                got = f" (got the keys {', '.join(keys)}{more})" if keys else ""
                raise DatasetError(
                    f"{path}: line {number}: expected an object with string 'path' and 'label'"
                    f" ('split' optional){got}"
                )
            split = obj.get("split")
            if split is not None and not isinstance(split, str):
                raise DatasetError(f"{path}: line {number}: 'split' must be a string")
            # Stripped as the CSV cells are: "yes " was a keyword of its own. An empty
            # split is no split, as null is (and as a CSV's blank cell is).
            yield number, obj["path"].strip(), obj["label"].strip(), (split or "").strip() or None
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    first = True
    columns: dict[str, int] | None = None  # a header in another order: column by name
    named: list[str] | None = None  # the header's columns, in its order (None: no header)
    for number, row in _csv_rows(reader, path):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if len(cells) == 1 and (";" in cells[0] or "\t" in cells[0]):
            # A list saved by a European spreadsheet ("path;label;split") or as TSV.
            sep = "';'" if ";" in cells[0] else "tabs"
            raise DatasetError(
                f"{path}: line {number}: fields are separated by {sep}; separate them"
                f" with ',' ({_LIST_HEADER})"
            )
        # The header is the first row with anything in it (the modality sniffer skips
        # blank lines too, so a list opening with one was called audio, then refused).
        header, first = first, False
        if header and _is_header(cells):
            columns = _header_columns(path, number, cells)
            named = [c.lower() for c in cells]
            continue
        ran_on = (
            f" (a quote opened on line {number} runs on to line {reader.line_num})"
            if reader.line_num > number
            else ""
        )
        # A row has the fields its header names, whatever the column order: under
        # 'path,label' a third cell was taken as a split unsaid, while 'label,path'
        # refused it. (A row of neither 2 nor 3 fields under path,label[,split] is
        # refused below, as without a header.)
        if named is not None and (
            columns is not None
            or len(cells) in (2, 3)
            or (len(cells) > len(named) and not any(cells[len(named) :]))
        ):
            cells = _header_fields(path, number, named, cells, ran_on)
        if columns is not None:
            split_cell = cells[columns["split"]] if "split" in columns else ""
            yield number, cells[columns["path"]], cells[columns["label"]], split_cell or None
            continue
        if len(cells) not in (2, 3):
            raise DatasetError(
                f"{path}: line {number}: expected path,label[,split], got {len(cells)} fields"
                + ran_on
            )
        # A blank split cell (a trailing comma, a background row left blank) is no split:
        # it was refused as "split '' is not train, val or test".
        yield number, cells[0], cells[1], (cells[2] if len(cells) == 3 else "") or None


def _header_fields(
    path: Path, number: int, named: list[str], cells: list[str], ran_on: str
) -> list[str]:
    """``cells`` as the header ``named`` lays them out, in any column order: blank cells
    past its columns (a trailing comma) are nothing, a split column named last may be
    left out (no split, as a blank cell is); anything else of another width is refused.

    Raises:
        DatasetError: a cell the header has no column for, or a column without a cell.
    """
    width = len(named)
    if len(cells) > width and not any(cells[width:]):
        return cells[:width]
    if len(cells) == width - 1 and named[-1] == "split":
        return [*cells, ""]
    if len(cells) != width:
        raise _header_width_problem(path, number, named, len(cells), ran_on)
    return cells


def _header_width_problem(
    path: Path, number: int, named: list[str], got: int, ran_on: str
) -> DatasetError:
    """The refusal of a row whose field count is not its header's (``named``), saying what
    to change: a cell a header without a split column has no place for, or a missing one
    (``ran_on``: a quote running on to later lines, which is then the cause)."""
    if ran_on:
        why = ran_on
    elif got > len(named) and "split" not in named:
        why = f" (add split to the header, {','.join(named)},split, or drop the extra cell)"
    elif got < len(named) and "split" in named:
        why = " (give an empty split cell where a clip has no split)"
    else:
        why = f" (give each row the header's columns, {','.join(named)})"
    return DatasetError(
        f"{path}: line {number}: expected {len(named)} fields as the header names, got {got}" + why
    )


def _is_header(cells: list[str]) -> bool:
    """Whether a list's first row is a header: it names no clip (no cell ends in ``.wav``)
    and a cell is a column name (``file,label`` is a header, not a clip named 'file')."""
    lowered = [c.lower() for c in cells]
    if any(c.endswith((".wav", ".wave")) for c in lowered):
        return False
    names = {"path", "label", "split", "file", "filename", "file_name", "wav", "audio", "text"}
    return bool(names & set(lowered))


def _header_columns(path: Path, number: int, cells: list[str]) -> dict[str, int] | None:
    """The columns a header names, in any order as the text loader takes its own (``None``:
    ``path,label[,split]``, read as a header-less list is); anything else is refused."""
    lowered = [c.lower() for c in cells]
    if lowered in (["path", "label"], ["path", "label", "split"]):
        return None
    if len(set(lowered)) == len(lowered) and {"path", "label"} <= set(lowered) <= set(
        ("path", "label", "split")
    ):
        return {name: i for i, name in enumerate(lowered)}
    raise DatasetError(
        f"{path}: line {number}: a list of WAV clips needs the header path,label"
        f" (split optional), got {','.join(cells)}"
    )


def _csv_rows(reader: Any, path: Path) -> Iterator[tuple[int, list[str]]]:
    """``reader``'s rows with the line each starts on; a row the csv module refuses (a
    field over its size limit, a NUL byte) is one line naming the list and the line.

    Named by its first line: a quote never closed swallows the lines after it, and the
    csv module's own line number is where it gave up, up to the end of the list.
    """
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DatasetError(f"{path}: line {start}: {exc}") from None
        yield start, row


def _scan_list(
    path: Path, config: AudioDatasetConfig, extra: bool = False
) -> tuple[list[_Entry], list[_Entry]]:
    """The clip and background entries of a list (``extra``: an ``--extra-train`` set,
    whose split column places nothing, so need not be whole)."""
    clips: list[_Entry] = []
    noise: list[_Entry] = []
    with_split = 0
    unsplit_line: int | None = None  # the first clip row without a split
    listed: dict[tuple[int, int], tuple[str, int]] = {}  # a listed file: (as listed, line)
    spelled: dict[str, tuple[str, int]] = {}  # a label by label_key: as first given
    for number, rel, label, split in _list_rows(path):
        if not rel or not label:
            raise DatasetError(f"{path}: line {number}: empty path or label")
        for text, why in (
            (rel, "{!a} is not UTF-8 text; rename the file"),
            (label, "label {!a} is not UTF-8 text"),
        ):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                # JSON can hold a lone surrogate ("\udcff", as json.dumps writes a
                # non-UTF-8 file name); it failed later, deep in the split's hash. Before
                # the control-character check: a surrogate is not printable either.
                raise DatasetError(f"{path}: line {number}: " + why.format(text)) from None
        if not label.isprintable():
            raise DatasetError(f"{path}: line {number}: label {label!r} has control characters")
        first, at = spelled.setdefault(label_key(label), (label, number))
        if first != label:
            # 'Yes' and 'yes' became two keywords no model can tell apart (a folder
            # dataset cannot hold both on a case-insensitive disk; synth refuses them),
            # and so did 'café' in NFC and in NFD, which look the same.
            raise DatasetError(
                f"{path}: line {number}: label {label!r} differs from {first!r} (line {at}) "
                f"{how_labels_differ(label, first)}; spell it one way"
            )
        if label.startswith("_") and label not in (UNKNOWN, SILENCE, NOISE):
            # As folder mode refuses the folder: "_unknown" (a typo) was a keyword.
            raise DatasetError(
                f"{path}: line {number}: unknown special label {label!r} (only {UNKNOWN}, "
                f"{SILENCE} and {NOISE} start with '_')"
            )
        if not rel.isprintable():
            # A newline in the path split the "does not exist" error over two lines.
            raise DatasetError(f"{path}: line {number}: path {rel!r} has control characters")
        if split is not None:
            if split.lower() not in _SPLIT_ALIASES:
                raise DatasetError(
                    f"{path}: line {number}: split {split!r} is not train, val or test"
                )
            split = _SPLIT_ALIASES[split.lower()]
            # Background recordings are split in time, so their split is not counted.
            with_split += label != NOISE
        elif label != NOISE and unsplit_line is None:
            unsplit_line = number
        wav = path.parent / rel
        try:
            windows = "\\" in rel and (path.parent / rel.replace("\\", "/")).is_file()
            if not wav.is_file() and windows:
                # A list written on Windows (yes\clip.wav): the same file, and the same
                # name for the seeded split as the list written with '/'.
                rel = rel.replace("\\", "/")
                wav = path.parent / rel
            if not wav.exists():
                # A name written in another Unicode form than the file's (an NFC list,
                # NFD names from macOS): the file as spelled on disk; ``rel`` stays as
                # listed, so the seeded split is the one the list gets where the file
                # system does not tell the two forms apart.
                wav = _other_unicode_form(wav) or wav
            found = wav.is_file()
            folder = not found and wav.is_dir()
            # A file listed twice could sit in two classes, or in train and in test; by
            # the file itself, as "/data/yes/a.wav" or "../data/yes/a.wav" is "yes/a.wav"
            # too, and so is a hard link to it (another name, nothing to resolve()).
            real = _file_id(wav) if found else None
        except OSError as exc:  # a name too long for the file system, say
            raise DatasetError(f"{path}: line {number}: {rel}: {exc.strerror or exc}") from None
        if folder:
            raise DatasetError(f"{path}: line {number}: {rel} is a folder, not a WAV file")
        if real is None:  # not found
            raise DatasetError(f"{path}: line {number}: {rel} does not exist{_missing(path, rel)}")
        # One spelling per file: "./yes/a.wav" hashed to another split than "yes/a.wav".
        rel = posixpath.normpath(rel)
        if real in listed:
            before, at = listed[real]
            same = "" if before == rel else f" (as {before})"
            raise DatasetError(f"{path}: line {number}: {rel} is already listed on line {at}{same}")
        listed[real] = (rel, number)
        word, label = label, config.label_of(label)
        entry = _Entry(wav, rel, label, split, word)
        (noise if label == NOISE else clips).append(entry)
    if not clips and (config.training_rules or not noise):
        raise DatasetError(f"{path}: no clips listed")
    if 0 < with_split < len(clips) and not extra:
        # Where: one empty cell in a list of thousands was a hunt.
        raise DatasetError(
            f"{path}: line {unsplit_line}: no split, while {with_split} of its"
            f" {len(clips)} clips {'has' if with_split == 1 else 'have'} one; give a split"
            " for every clip or for none"
        )
    return clips, noise


def _other_unicode_form(wav: Path) -> Path | None:
    """``wav`` as spelled on disk where its names differ from the listed ones only in
    Unicode normalisation (NFC and NFD look the same), else ``None``."""
    if wav.is_absolute():
        here, parts = Path(wav.anchor), wav.parts[1:]
    else:
        here, parts = Path(), wav.parts
    for part in parts:
        step = here / part
        if not step.exists() and part not in (".", ".."):
            want = unicodedata.normalize("NFC", part)
            try:
                same = sorted(
                    p for p in os.listdir(here) if unicodedata.normalize("NFC", p) == want
                )
            except OSError:
                return None
            if len(same) != 1:
                return None
            step = here / same[0]
        here = step
    return here if here.exists() else None


def _missing(path: Path, rel: str) -> str:
    """Why a listed path is not found: list paths are relative to the list's folder,
    and the path a user checked with ``ls`` is relative to the current one."""
    if Path(rel).is_absolute():
        return ""
    where = path.parent / rel
    note = f" (looked for {where}: list paths are relative to the list's folder"
    try:
        from_here = Path(rel).is_file() and Path(rel).resolve() != where.resolve()
        if from_here:
            fixed = os.path.relpath(Path(rel).resolve(), path.parent.resolve())
            return f"{note}; {rel} exists relative to the current folder: list it as {fixed})"
    except (OSError, ValueError):
        pass
    return note + ")"


def _split_of(entry: _Entry, config: AudioDatasetConfig) -> tuple[str, str]:
    """(speaker, split) of a clip: given, by speaker hash, or by seeded file hash.

    The speaker as the list spells it (``source``), not as the disk does (``path``): a
    list's NFC name of an NFD file (macOS's) was hashed in NFD here, and in NFC where the
    file system opens either spelling, so one list split two ways."""
    speaker = speaker_of(entry.source)
    if entry.split is not None:
        return speaker or entry.source, entry.split
    if speaker is not None:
        return speaker, which_set(speaker, config.val_percent, config.test_percent)
    key = f"{config.seed}:{entry.source}"
    return entry.source, which_set(key, config.val_percent, config.test_percent)


class MissingWordError(DatasetError):
    """``--keywords`` or ``--unknown-words`` names a word DATA has no clips of.

    Attributes:
        flag: the option that named it.
        word: the word.
    """

    def __init__(self, message: str, *, flag: str, word: str) -> None:
        super().__init__(message)
        self.flag = flag
        self.word = word


def _check_words(entries: list[_Entry], config: AudioDatasetConfig, where: str) -> None:
    """Every word ``keywords`` and ``unknown_words`` name has clips (a typo is not a
    keyword with no clips, nor an unknown word that was never there)."""
    present = sorted({e.word for e in entries} - {UNKNOWN, SILENCE, NOISE})
    for name, words in (("keywords", config.keywords), ("unknown_words", config.unknown_words)):
        for word in words:
            if word not in present:
                shown = ", ".join(present[:40]) + (", ..." if len(present) > 40 else "")
                # Its own type: tinyslm.audio.fit._load_data refuses a word that only an
                # --extra-train set has as such, by flag and word, not by the wording.
                raise MissingWordError(
                    f"{where}: {_FLAGS[name]} names {quoted(word)}, which has no clips"
                    f" (its words: {shown})",
                    flag=_FLAGS[name],
                    word=word,
                )


def _unknown_word(entry: _Entry) -> str:
    """The word an ``_unknown_`` clip says, as far as its name tells (for spreading a draw)."""
    if entry.word != UNKNOWN:
        return entry.word  # a keyword folder or list label relabelled as unknown
    name = Path(entry.source).name
    nohash = _NOHASH.search(name)
    if nohash is not None and name.index("_") < nohash.start():
        return name.split("_", 1)[0]  # Speech Commands' flattened <word>_<speaker>_nohash_
    return UNKNOWN


def _cap_note(kept: str, trained: bool = False) -> str:
    """The warning for ``_unknown_`` clips the cap left out (``trained``: an
    ``--extra-train`` set's, capped with the training split it joins)."""
    if trained:
        return (
            f"{UNKNOWN} would have more training clips than the largest keyword (this set's"
            " clips with DATA's training split and any earlier --extra-train set's): kept"
            f" {kept} (a seeded draw over its words), so that it is one class among the"
            " keywords"
        )
    return (
        f"{UNKNOWN} has more clips than the largest keyword: kept {kept}"
        " (a seeded draw over its words), so that it is one class among the keywords"
    )


def _cap_unknown(
    placed: list[tuple[_Entry, str, str]],
    config: AudioDatasetConfig,
    trained: Counter[str] | None = None,
) -> tuple[list[tuple[_Entry, str, str]], list[tuple[str, str]]]:
    """At most as many ``_unknown_`` clips per split as its largest keyword has, drawn
    in turn from each unknown word (a seeded order within each), and the splits that
    lost clips with how many were kept (``("train", "1 of 3 in train")``). A split
    without keyword clips keeps its unknown clips. ``_silence_`` clips (a ``_silence_/``
    folder's) are no keyword: a folder of them larger than every keyword set the cap.

    ``trained``: the clips per label training already has, which an ``--extra-train``
    set's clips join: the cap is then the combined training split's, its largest keyword
    counted with DATA's clips (and earlier sets'), less the ``_unknown_`` clips it already
    holds. A set's own cap halved ``tinyslm synth``'s default output (6 ``_unknown_``
    clips a voice, 3 of each keyword) however many keyword clips DATA had."""
    left_out: set[int] = set()
    dropped: list[tuple[str, str]] = []
    for split in SPLITS:
        unknown = [p for p in placed if p[0].label == UNKNOWN and p[2] == split]
        keywords = Counter(e.label for e, _, s in placed if s == split)
        held = 0  # _unknown_ clips training already has
        if trained is not None and split == "train":
            keywords.update(trained)
            held = trained[UNKNOWN]
        largest = max(
            (n for label, n in keywords.items() if label not in (UNKNOWN, SILENCE)), default=0
        )
        cap = max(0, largest - held)
        if not largest or len(unknown) <= cap:
            continue
        by_word: dict[str, list[tuple[_Entry, str, str]]] = defaultdict(list)
        for item in sorted(unknown, key=lambda p: p[0].source):
            by_word[_unknown_word(item[0])].append(item)
        queues = []
        for word in sorted(by_word):
            group = by_word[word]
            random.Random(f"{config.seed}:{split}:{word}").shuffle(group)
            queues.append(group)
        drawn: list[tuple[_Entry, str, str]] = []
        while len(drawn) < cap:
            for group in queues:
                if group and len(drawn) < cap:
                    drawn.append(group.pop())
        chosen = {id(item) for item in drawn}
        left_out.update(id(item) for item in unknown if id(item) not in chosen)
        dropped.append((split, f"{len(drawn)} of {len(unknown)} in {split}"))
    if not dropped:
        return placed, []
    kept = [p for p in placed if id(p) not in left_out]  # file order, as without a draw
    return kept, dropped


def _mixed_speakers(placed: list[tuple[_Entry, str, str]]) -> tuple[list[str], str] | None:
    """Speakers a list's given splits put in more than one split: the note naming how
    many and up to 3 of them with their splits, and the held-out splits it concerns
    (``eval`` scores one split); ``None`` where there are none.

    Only splits the list gives (tinyslm's own are disjoint by speaker), and only
    speakers a name tells (``<speaker>_nohash_<n>.wav``): elsewhere a clip is its own
    speaker and cannot be in two splits.
    """
    splits: dict[str, set[str]] = defaultdict(set)
    for entry, speaker, split in placed:
        if entry.split is not None and speaker_of(entry.source) is not None:
            splits[speaker].add(split)
    mixed = sorted(s for s, found in splits.items() if len(found) > 1)
    if not mixed:
        return None
    shown = "; ".join(
        f"{s}: {', '.join(x for x in SPLITS if x in splits[s])}" for s in mixed[:3]
    ) + ("; ..." if len(mixed) > 3 else "")
    # Not train: scored alone (eval), its figures are no held-out ones to spoil.
    involved = [x for x in ("val", "test") if any(x in splits[s] for s in mixed)]
    # Which figures it makes optimistic: val's and test's, where a speaker is also in
    # train; val and test sharing voices only (the threshold tested on its own voices).
    held = [x for x in ("val", "test") if any({"train", x} <= splits[s] for s in mixed)]
    why = (
        f"the {' and '.join(held)} figures then hear voices the model trained on"
        if held
        else "val and test then hear the same voices"
    )
    many = "1 speaker has" if len(mixed) == 1 else f"{len(mixed)} speakers have"
    return involved, f"{many} clips in more than one split ({shown}): {why}"


def split_levers(clips: Iterable[Clip], given: bool) -> str:
    """What moves clips between splits, for a message about a split without them: the
    list's split column; a speaker name's hash (the seed plays no part); a seeded hash of
    each clip's path, where names carry no speaker (``--seed``)."""
    if given:
        return "the list's split column places every clip: change it there"
    named = [speaker_of(c.source) is not None for c in clips if c.label != SILENCE]
    if named and all(named):
        return (
            "clips are split by speaker (<speaker>_nohash_ names): add clips from more"
            " speakers, or give a list with a split column"
        )
    return (
        "clips without <speaker>_nohash_ names are split one by one, seeded: add clips,"
        " try another --seed, or give a list with a split column"
    )


def _check_labels(clips: list[Clip], where: str, given: bool) -> None:
    by_label: dict[str, list[Clip]] = defaultdict(list)
    for clip in clips:
        by_label[clip.label].append(clip)
    keywords = sorted(lb for lb in by_label if lb not in (SILENCE, UNKNOWN))
    if len(keywords) < 2:
        found = f"only one keyword ({keywords[0]!r})" if keywords else "no keyword"
        raise DatasetError(f"{where}: {found}; a keyword model needs at least 2")
    for label in sorted(by_label):
        group = by_label[label]
        if len(group) < 2:
            raise DatasetError(
                f"{where}: label {label!r} has 1 clip ({group[0].source}); each needs at least 2"
            )
        speakers = sorted({c.speaker for c in group})
        if len(speakers) < 2:
            raise DatasetError(
                f"{where}: label {label!r}: all {len(group)} clips are from speaker"
                f" {speakers[0]!r}; a speaker-disjoint split needs at least 2"
            )
        if not any(c.split == "train" for c in group):
            # Of a user's own clips (no speaker names), "2 speakers" were 2 clips, and
            # "lower val/test percentages" named a setting train does not offer.
            named = all(speaker_of(c.source) is not None for c in group)
            what = f"{len(speakers)} speakers" if named and not given else f"{len(group)} clips"
            raise DatasetError(
                f"{where}: label {label!r}: none of its {what} falls in the training"
                f" split; {split_levers(group, given)}"
            )


def _read(entry: _Entry, others: list[_Entry]) -> Samples:
    """``read_wav`` of a clip or recording; a format refusal counts the dataset's other
    files in the same format (their headers alone), so that a folder of phone recordings
    is not refused one file at a time."""
    try:
        return read_wav(entry.path)
    except WavFormatError as exc:
        key = format_key(entry.path)
        same = sum(1 for e in others if e.path != entry.path and key and format_key(e.path) == key)
        if not same:
            raise
        raise DatasetError(
            f"{exc} (and {same} more file(s) of this dataset in this format: convert them all)"
        ) from None


def _seconds_under(samples: int, limit: float) -> str:
    """``samples`` in seconds, with the decimals that show them under ``limit`` seconds
    (0.0999 s, not "0.10 s is shorter than the 0.1 s window")."""
    seconds = samples / SAMPLE_RATE
    for digits in range(2, 7):
        shown = f"{seconds:.{digits}f}"
        if float(shown) < limit:
            return shown
    return shown


def _noise_recordings(
    entries: list[_Entry], config: AudioDatasetConfig, clips: list[_Entry]
) -> tuple[NoiseRecording, ...]:
    out = []
    train_share = 1 - (config.val_percent + config.test_percent) / 100
    everyone = clips + entries
    for entry in entries:
        samples = _read(entry, everyone)
        n = len(samples)
        if n < config.window_samples:
            window = config.window_samples / SAMPLE_RATE
            raise DatasetError(
                f"{entry.path}: background recording of {_seconds_under(n, window)} s is shorter"
                f" than the {window:g} s window; record at least {window:g} s (minutes are"
                " better)"
            )
        a = math.floor(n * train_share)
        b = a + math.floor(n * config.val_percent / 100)
        spans = (("train", 0, a), ("val", a, b), ("test", b, n))
        out.append(NoiseRecording(entry.source, samples, spans))
    return tuple(out)


def _noise_cell_note(celled: list[_Entry], config: AudioDatasetConfig) -> str:
    """The warning for background rows of a list that give a split, which is not used."""
    first = celled[0]
    train = 100 - config.val_percent - config.test_percent
    return (
        f"{len(celled)} {NOISE} row(s) give a split (first: {first.source}, {first.split!r}),"
        f" which is not used: every background recording is split in time (its first"
        f" {train:g}% train, the next {config.val_percent:g}% val, the last"
        f" {config.test_percent:g}% test)"
    )


def _silence(
    noise: tuple[NoiseRecording, ...], clips: list[Clip], config: AudioDatasetConfig
) -> tuple[list[Clip], list[tuple[str, str]]]:
    made: list[Clip] = []
    warnings: list[tuple[str, str]] = []
    win = config.window_samples
    counts = Counter(c.split for c in clips if c.label not in (SILENCE, UNKNOWN))
    keywords = len({c.label for c in clips if c.label not in (SILENCE, UNKNOWN)})
    for split in SPLITS:
        if counts[split] == 0:
            continue
        want = max(1, round(config.silence_percent / 100 * counts[split] / keywords))
        usable = [r for r in noise if len(r.part(split)) >= win]
        if not usable:
            warnings.append(
                (split, f"no background recording is long enough to give {split} silence")
            )
            continue
        rng = random.Random(f"{config.seed}:silence:{split}")
        for i in range(want):
            rec = usable[i % len(usable)]
            part = rec.part(split)
            start = rng.randrange(len(part) - win + 1)
            offset = dict((s, a) for s, a, _ in rec.spans)[split] + start
            made.append(
                Clip(SILENCE, split, "", f"{rec.source}@{offset}", part[start : start + win].copy())
            )
    return made, warnings


def _scan(
    root: Path, config: AudioDatasetConfig, extra: bool = False
) -> tuple[list[_Entry], list[_Entry], list[Path]]:
    """The clip and background entries of a folder or list (no WAV read), and the audio
    files a folder holds that are not read."""
    if root.is_dir():
        return _scan_folder(root, config)
    if root.is_file() and root.suffix.lower() in LIST_SUFFIXES:
        return (*_scan_list(root, config, extra), [])
    if root.exists():
        raise DatasetError(f"{root}: expected a folder or a .csv/.jsonl list of WAV files")
    raise DatasetError(f"{root}: no such file or folder")


def _refuse_keyword_named_unknown(
    entries: list[_Entry], keywords: Iterable[str], root: Path, *, scoring: bool = False
) -> None:
    """Refuse ``_unknown_/`` clips whose flattened ``<word>_`` name is a keyword (by
    :func:`label_key`): recordings of the keyword trained as "not a keyword", and a right
    answer on them scored as a miss (``scoring``: the keywords are a model's, the data is
    to check it). Only those names: a full Speech Commands download flattened into
    ``_unknown_/`` holds every other word too, as it should."""
    keys = {label_key(k): k for k in keywords}
    named: dict[str, list[_Entry]] = defaultdict(list)
    for entry in entries:
        if entry.word != UNKNOWN or Path(entry.source).parent.name != UNKNOWN:
            continue
        word = _unknown_word(entry)
        if word != UNKNOWN and label_key(word) in keys:
            named[keys[label_key(word)]].append(entry)
    if not named:
        return
    # Every keyword at once: naming only the first refused the data again once it was moved.
    words = sorted(named)
    purpose = (
        "the model's right answer on them would be scored wrong (a miss, and in the"
        " streams a false accept)"
        if scoring
        else f"they would train {'it' if len(words) == 1 else 'them'} as {UNKNOWN}"
    )
    found = [entry for word in words for entry in named[word]]
    what = (
        f"the keyword {words[0]!r}"
        if len(words) == 1
        else "keywords (" + ", ".join(f"{w} {len(named[w])}" for w in words) + ")"
    )
    raise DatasetError(
        f"{root}: {len(found)} clip(s) in {UNKNOWN}/ are named as {what}"
        f" (first: {found[0].source}), so {purpose}:"
        f" {_keyword_named_way(root, words, keywords)}"
    )


# Folder names other tools give the classes tinyslm spells _unknown_, _silence_ and
# _background_noise_ (Edge Impulse exports "unknown" and "noise"), by label_key with
# "-" and " " read as "_" and the outer "_" dropped.
_SPECIAL_SPELLINGS = {
    "unknown": UNKNOWN,
    "silence": SILENCE,
    "noise": SILENCE,
    "background_noise": NOISE,
    "backgroundnoise": NOISE,
}


def _special_spelling(word: str) -> str | None:
    """The special class ``word`` spells as a word (``Noise``: ``_silence_``), else ``None``."""
    return _SPECIAL_SPELLINGS.get(label_key(word).replace("-", "_").replace(" ", "_").strip("_"))


def _special_words_note(entries: list[_Entry], config: AudioDatasetConfig, root: Path) -> list[str]:
    """Warnings for folders (or list labels) spelling the silence or noise class as a word
    (``noise/``, ``silence/``) that ``keywords`` relabelled ``_unknown_``: refused as a
    keyword without ``keywords`` (:func:`_refuse_special_keyword`), with it they were
    trained as unknown *words* unsaid, and filled the ``_unknown_`` cap's draw with noise.
    Kept, as ``keywords`` is how a user picks words from a download: the line says where
    such recordings belong. Of DATA and of an ``--extra-train`` set. Not of ``unknown/``
    (``_unknown_`` is what it means), a word ``unknown_words`` names (the user's choice)
    or a ``tinyslm synth`` folder's own word (speech of the word)."""
    if not config.keywords:
        return []
    counts = Counter(
        e.word
        for e in entries
        if e.label == UNKNOWN
        and e.word not in config.unknown_words
        and _special_spelling(e.word) in (SILENCE, NOISE)
    )
    if counts:
        spoken = _synth_labels(root)
        counts = Counter({w: n for w, n in counts.items() if w not in spoken})
    notes = []
    for word, n in sorted(counts.items()):
        what = f"label {word!r}" if root.is_file() else f"folder {word}/"
        notes.append(
            f"{what} ({n} clip(s)) spells the {_special_spelling(word)} class as a word;"
            " --keywords trains it"
            f" as {UNKNOWN} (other words): clips of silence or noise belong in {SILENCE}/,"
            f" long recordings in {NOISE}/ (--unknown-words {shlex.quote(word)} keeps it an"
            " unknown word without this warning)"
        )
    return notes


def _refuse_special_keyword(
    keywords: Iterable[str], config: AudioDatasetConfig, root: Path
) -> None:
    """Refuse a keyword spelled as a special class without its underscores (``unknown``,
    ``silence``, ``noise``, ``background_noise``): it was trained as a word to detect, so
    the device reported "unknown" for every other word and "noise" in any noise. A word
    ``--keywords`` names is kept: that is the way to mean it; so is a word a ``tinyslm
    synth`` folder was written for (:func:`_synth_labels`): its clips are the word spoken."""
    spoken: frozenset[str] | None = None  # read only where a special spelling is found
    for word in sorted(keywords):
        special = _special_spelling(word)
        if special is None or word in config.keywords:
            continue
        spoken = _synth_labels(root) if spoken is None else spoken
        if word in spoken:
            continue
        if special != UNKNOWN:
            fix = f"name it {SILENCE} (clips of silence or noise) or {NOISE} (long recordings)"
        elif config.word_options:
            fix = f"name it {UNKNOWN}, or pass --unknown-words {shlex.quote(word)}"
        else:
            fix = f"name it {UNKNOWN}"
        keep = f" (--keywords naming {word!r} keeps it a keyword)" if config.word_options else ""
        raise DatasetError(
            f"{root}: label {word!r} would be trained as a keyword to detect, not as the"
            f" {special} class; {fix}{keep}"
        )


def _synth_labels(root: Path) -> frozenset[str]:
    """The keyword folders a ``tinyslm synth`` folder at ``root`` was written for (the
    words its ``synth.json`` records): ``synth silence yes`` writes TTS speech of the word
    "silence" to ``silence/``, which train refused as the _silence_ class, and the advice to
    rename it to ``_silence_/`` trained that speech as silence. Empty for a list, another
    folder or an unreadable record; a folder a user added there is not among them."""
    from tinyslm.audio.synth import RECORD, label_of  # synth imports this module

    try:
        record = json.loads((root / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: nested thousands deep
        return frozenset()
    words = record.get("words") if isinstance(record, dict) else None
    if not isinstance(words, list):
        return frozenset()
    return frozenset(label_of(word) for word in words if isinstance(word, str))


def _keyword_named_way(root: Path, words: list[str], keywords: Iterable[str]) -> str:
    """What to do with keyword-named ``_unknown_/`` clips at ``root``. A ``tinyslm synth``
    folder (``synth.json`` at its root) was written for other words: synth keeps the words
    it is given, and their near homophones, out of ``_unknown_/``."""
    from tinyslm.audio.synth import RECORD  # synth imports this module

    if (root / RECORD).is_file():
        return (
            f"synthesize it for every keyword, which keeps them out of {UNKNOWN}/"
            f" ('tinyslm synth {' '.join(sorted(keywords))} -o {root} --force'), or"
            f" without {UNKNOWN}/ clips ('--unknown-clips 0')"
        )
    if root.is_file():
        return f"label them {_either(words)} or take them out of the list"
    folders = " or ".join(f"{w}/" for w in words)
    return f"move them into {folders} or out of the dataset"


def _either(words: list[str]) -> str:
    """``'go'`` or ``'go' or 'no'``."""
    return " or ".join(repr(w) for w in words)


def refuse_keyword_named_unknown(
    path: Path | str, keywords: Iterable[str], config: AudioDatasetConfig, split: str = "all"
) -> None:
    """Refuse data to check a model whose ``_unknown_/`` clips of the ``split`` scored
    (``all``: every clip) are named as one of the model's ``keywords`` (eval, emulate
    --data): a right answer on them was scored as a miss and a detection in the stream as
    a false accept. Refused, not warned, as a keyword spelled otherwise is: every figure
    of such data is wrong. Clips of another split are not scored, so not refused.

    Raises:
        DatasetError: such clips (one line naming every keyword and its count).
    """
    root = Path(path)
    entries = _scan(root, config)[0]
    if split != "all":
        entries = [e for e in entries if _split_of(e, config)[1] == split]
    _refuse_keyword_named_unknown(entries, keywords, root, scoring=True)


def refuse_too_many_labels(dataset: AudioDataset, keywords_option: bool = True) -> None:
    """Refuse more labels than the device's detector holds (``MAX_LABELS``, ``_silence_``
    and ``_unknown_`` included), before any feature is computed: the whole training ran
    first, then failed on an internal field. ``keywords_option``: the caller takes
    ``--keywords`` (``train``); the benchmark does not, so the dataset must change.

    Raises:
        DatasetError: too many labels (one line, with the most keywords that fit).
    """
    from tinyslm.audio.detector import MAX_LABELS

    labels = dataset.labels
    if len(labels) <= MAX_LABELS:
        return
    # With --keywords every other word is _unknown_, one label of its own.
    most = MAX_LABELS - (SILENCE in labels) - 1
    shown = ", ".join(labels[:6]) + (f", ... {labels[-1]}" if len(labels) > 6 else "")
    way = (
        f"list at most {most} keywords with --keywords (every other word is then trained"
        f" as {UNKNOWN})"
        if keywords_option
        else f"give a dataset of at most {most} keyword folders (move the other words'"
        f" clips into {UNKNOWN}/)"
    )
    raise DatasetError(
        f"{dataset.source}: {len(labels)} labels ({shown}); the device's detector takes at"
        f" most {MAX_LABELS}, {SILENCE} and {UNKNOWN} included: {way}"
    )


def load_audio_dataset(path: Path | str, config: AudioDatasetConfig | None = None) -> AudioDataset:
    """Load a Speech Commands folder or a CSV/JSONL list, validate and split it.

    Raises:
        DatasetError: anything the module docstring lists as refused (one line).
    """
    return _load(Path(path), config if config is not None else AudioDatasetConfig())


def _load(
    root: Path,
    config: AudioDatasetConfig,
    *,
    extra: bool = False,
    trained: Counter[str] | None = None,
) -> AudioDataset:
    """:func:`load_audio_dataset`; ``extra``: an ``--extra-train`` set (with no val or test
    percentage), every clip of which is training material, so a list's split column places
    none of them (its val rows were trained on while its notes spoke of "the val
    figures", which are DATA's), and its copies of its own clips are said where they are
    dropped (:func:`_drop_repeats`), not as counted once per copy. ``trained``: the
    training clips per label the set joins, which the ``_unknown_`` cap counts
    (:func:`_cap_unknown`)."""
    entries, noise_entries, skipped = _scan(root, config, extra)
    special_notes: list[str] = []  # silence or noise folders --keywords made _unknown_
    unsplit: list[str] = []
    unused: list[str] = []  # an --extra-train set's files not read, as notes
    if extra:
        unsplit = [e.source for e in entries if e.split not in (None, "train")]
        entries = [replace(e, split=None) for e in entries]
        # Training takes neither (with_training_clips), so neither is read: a background
        # recording shorter than the window or a long _silence_ clip refused the whole
        # set, and minutes of noise were read for nothing.
        unused = _unused_notes(entries, noise_entries)
        entries = [e for e in entries if e.label != SILENCE]
        noise_entries = []
    if config.words_must_exist:
        _check_words(entries, config, str(root))
    if config.training_rules:
        # The keywords trained here are the data's own. Checking a model, they are the
        # model's (refuse_keyword_named_unknown); an --extra-train set's, DATA's.
        named_keywords = {e.label for e in entries} - {UNKNOWN, SILENCE, NOISE}
        _refuse_keyword_named_unknown(entries, named_keywords, root)
        if not extra:
            _refuse_special_keyword(named_keywords, config, root)
    if config.training_rules or extra:
        # An --extra-train set's noise/ joined _unknown_ under --keywords as unsaid as
        # DATA's did (train prints it after the set's path). Not eval's: it trains nothing.
        special_notes = _special_words_note(entries, config, root)
    placed = [(entry, *_split_of(entry, config)) for entry in entries]
    capped: list[tuple[str, str]] = []
    if config.cap_unknown:
        placed, capped = _cap_unknown(placed, config, trained)

    limit = config.max_clip_windows * config.window_samples
    clips: list[Clip] = []
    trimmed: list[tuple[str, str]] = []  # (split, source)
    soundless: list[tuple[str, str]] = []  # (split, source) of a word's clip without sound
    everyone = entries + noise_entries  # for a format refusal's count of the others
    for entry, speaker, split in placed:
        samples = _read(entry, everyone)
        if len(samples) > limit:
            raise DatasetError(
                f"{entry.path}: {len(samples) / SAMPLE_RATE:.2f} s is longer than"
                f" {config.max_clip_windows} windows; a clip holds one utterance"
                f" (put long recordings in {NOISE} or cut them)"
            )
        if len(samples) > config.window_samples:
            trimmed.append((split, entry.source))
        if entry.label != SILENCE and _constant(samples):
            soundless.append((split, entry.source))
        fitted = fit_to_window(samples, config.window_samples)
        clips.append(Clip(entry.label, split, speaker, entry.source, fitted))
    given = any(entry.split is not None for entry in entries)
    _refuse_relabelled_copies(clips, str(root))
    if config.training_rules:
        _check_labels(clips, str(root), given)

    # Each finding as train says it (every split in one line) and per split (eval's).
    warnings: list[str] = []
    by_split: list[tuple[str, str]] = []
    for note in _skipped_notes(root, skipped) + special_notes:
        warnings.append(note)
        by_split += [(split, note) for split in SPLITS]
    if capped:
        joined = trained is not None
        warnings.append(_cap_note(", ".join(kept for _, kept in capped), joined))
        by_split += [(split, _cap_note(kept, joined)) for split, kept in capped]
    # Training's load only: the warning says the held-out figures will be optimistic,
    # true only of a model trained on this dataset's train split. eval and emulate --data
    # (training_rules off) cannot tell that from the data: a dataset the model never saw
    # has no learnt train split, and --split all prints no val or test figure. A model
    # trained here was warned by train (its output and train --json's warnings).
    for split, note in _held_out_copies(clips) if config.training_rules else []:
        warnings.append(note)
        by_split.append((split, note))
    for split, note in [] if extra else _same_split_copies(clips, config.training_rules):
        warnings.append(note)
        by_split.append((split, note))
    if unsplit:
        note = (
            f"its split column puts {len(unsplit)} clip(s) in val or test (first:"
            f" {unsplit[0]}), which is not used: every clip of an --extra-train set joins"
            " the training split (DATA's own splits give the figures)"
        )
        warnings.append(note)
        by_split.append(("train", note))
    mixed = _mixed_speakers(placed)
    if mixed is not None:
        involved, note = mixed
        warnings.append(note)
        by_split += [(split, note) for split in involved]

    def trim_note(sources: list[str]) -> str:
        return (
            f"{len(sources)} clip(s) longer than the {config.window_samples}-sample window"
            f" were trimmed to their loudest window (first: {sources[0]})"
        )

    # Each said once for the whole load and once for each split that holds such clips
    # (eval prints the split it scores).
    for placed_clips, note_of in ((trimmed, trim_note), (soundless, _soundless_note)):
        if placed_clips:
            warnings.append(note_of([source for _, source in placed_clips]))
            for split in SPLITS:
                mine = [source for s, source in placed_clips if s == split]
                if mine:
                    by_split.append((split, note_of(mine)))
    noise = _noise_recordings(noise_entries, config, entries)
    celled = [entry for entry in noise_entries if entry.split is not None]
    if celled:
        # Honouring the cell would move a list's figures (its recordings have always been
        # split in time); ignoring it unsaid let a user believe a recording was test only.
        note = _noise_cell_note(celled, config)
        warnings.append(note)
        by_split += [(split, note) for split in SPLITS]
    if noise and config.silence_percent > 0:
        silence, notes = _silence(noise, clips, config)
        clips.extend(silence)
        warnings.extend(line for _, line in notes)
        by_split += notes
    for note in unused:
        warnings.append(note)
        by_split.append(("train", note))
    clips.sort(key=lambda c: (c.label, c.source))
    labels_present = {c.label for c in clips}
    specials = tuple(lb for lb in (SILENCE, UNKNOWN) if lb in labels_present)
    keywords = tuple(sorted(labels_present - {SILENCE, UNKNOWN}))
    return AudioDataset(
        specials + keywords,
        tuple(clips),
        noise,
        str(root),
        tuple(warnings),
        tuple(by_split),
        given,
    )


def _soundless_note(sources: list[str]) -> str:
    """The warning for keyword and ``_unknown_`` clips whose samples are all the same: a
    muted microphone (an app denied it records zeros) or a failed conversion. They were
    read as recordings of their word unsaid, and only their label's figures showed it."""
    return (
        f"{len(sources)} clip(s) of words hold no sound (every sample the same; first:"
        f" {sources[0]}), so they are no recording of their label: a muted microphone or"
        f" a failed conversion? remove them (silence belongs in {SILENCE}/ or {NOISE}/)"
    )


def _unused_notes(entries: list[_Entry], noise: list[_Entry]) -> list[str]:
    """What an ``--extra-train`` set holds that training does not take: its background
    recordings (DATA's are the training noise) and its ``_silence_`` clips (DATA's
    background gives the silence), said as :func:`with_training_clips` says them."""
    notes = []
    if noise:
        notes.append(f"its {NOISE} recordings are not used for training")
    silent = sum(1 for e in entries if e.label == SILENCE)
    if silent:
        notes.append(f"its {silent} {SILENCE} clip(s) are not used for training")
    return notes


def with_training_clips(dataset: AudioDataset, extra: AudioDataset) -> AudioDataset:
    """``dataset`` with every clip of ``extra`` added to its training split.

    For clips that should teach the model but never judge it, such as ``tinyslm
    synth``'s voices next to real recordings: validation (which picks the epoch and
    the detector threshold) and test stay ``dataset``'s own speakers. ``extra``'s
    background recordings are not used (``dataset``'s are the training noise), and
    its ``_silence_`` clips are dropped for the same reason; a note says each. A clip
    whose samples training already has (one of ``dataset``'s training clips, one an
    earlier set added, or an earlier clip of ``extra``) is read once, with a note.

    Raises:
        DatasetError: ``extra`` has a label ``dataset`` lacks, or another window length.
    """
    window = len(dataset.clips[0].samples)
    added: list[Clip] = []
    for clip in extra.clips:
        if clip.label == SILENCE:
            continue
        if clip.label == UNKNOWN and UNKNOWN not in dataset.labels:
            # A folder's clip: its first part is the folder, so the word as written (a
            # list's is refused by load_training_clips, which has the list's labels).
            raise _no_unknown_class(extra.source, clip.source.split("/")[0], dataset)
        if clip.label not in dataset.labels:
            _refuse_respelled(clip.label, clip.source, dataset, {}, extra.source)
            # --keywords trains other words as _unknown_ only where DATA has that class.
            way = (
                f"list {dataset.source}'s keywords with --keywords to train it as {UNKNOWN}"
                if UNKNOWN in dataset.labels
                else f"add {UNKNOWN}/ clips to {dataset.source} and list its keywords with"
                f" --keywords to train it as {UNKNOWN}"
            )
            raise DatasetError(
                f"{extra.source}: label {clip.label!r} is not one of {dataset.source}'s"
                f" labels ({', '.join(dataset.labels)}): {way}, or drop that --extra-train"
                f" {_set_kind(extra.source)}"
            )
        if len(clip.samples) != window:
            raise DatasetError(
                f"{extra.source}: clips of {len(clip.samples)} samples; {dataset.source}'s"
                f" are {window}"
            )
        added.append(_as_training(clip, f"{Path(extra.source).name}/{clip.source}"))
    _refuse_held_out_copies(dataset, extra, added)
    _refuse_relabelled_copies([*dataset.clips, *added], extra.source)
    notes = list(dataset.warnings) + [f"{extra.source}: {w}" for w in extra.warnings]
    added, repeated = _drop_repeats(dataset, added)
    if repeated:
        notes.append(f"{extra.source}: {repeated}")
    # Speakers a name tells only: an unnamed clip is its own speaker (its path), and equal
    # relative paths in two datasets ('take1.wav') are no shared voice.
    held_out = {
        c.speaker
        for c in dataset.clips
        if c.split != "train" and c.speaker and speaker_of(c.source) is not None
    }
    shared = sorted({c.speaker for c in added if speaker_of(c.source) is not None} & held_out)
    if shared:
        notes.append(
            f"{extra.source}: {len(shared)} speaker(s) also in {dataset.source}'s validation"
            f" or test split (first: {shared[0]}); its figures will be optimistic"
        )
    if extra.noise:
        notes.append(f"{extra.source}: its {NOISE} recordings are not used for training")
    # A _silence_/ folder is read as a list's _silence_ label is: dropped, but said (it
    # was refused out loud before the folder was read, then dropped without a word).
    silent = sum(1 for clip in extra.clips if clip.label == SILENCE)
    if silent:
        notes.append(f"{extra.source}: its {silent} {SILENCE} clip(s) are not used for training")
    return AudioDataset(
        dataset.labels,
        dataset.clips + tuple(added),
        dataset.noise,
        dataset.source,
        tuple(notes),
        given_splits=dataset.given_splits,
        extra_clips=dataset.extra_clips + len(added),
    )


def _no_unknown_class(
    where: str, word: str, dataset: AudioDataset, flag: str = "--keywords"
) -> DatasetError:
    """The refusal of an ``--extra-train`` set's ``_unknown_`` clips beside a ``dataset``
    without that class: ``word`` as written (``_unknown_``, or a word ``flag`` made one).

    synth writes ``_unknown_/`` by default, so recordings of the keywords alone could not
    take its output: say which side to change. '--unknown-clips 0' drops only a synth
    folder's ``_unknown_/`` clips: not a word --keywords made ``_unknown_``, nor a list's
    ``_unknown_`` rows."""
    listed = _set_kind(where) == "list"
    if word == UNKNOWN:
        theirs = f"its {UNKNOWN} clips have"
        drop = (
            f"take its {UNKNOWN} rows out of the list"
            if listed
            else f"write {Path(where).name} without them ('tinyslm synth --unknown-clips 0')"
        )
    else:
        theirs = f"its word {word!r}, trained as {UNKNOWN} ({flag}), has"
        drop = f"drop that --extra-train {_set_kind(where)}"
    return DatasetError(
        f"{where}: {theirs} no class in {dataset.source}, which has no {UNKNOWN}/ folder"
        f" (nor a word trained as {UNKNOWN}): add {UNKNOWN}/ clips to {dataset.source}, or"
        f" {drop}"
    )


def _set_kind(where: str) -> str:
    """``list`` or ``folder``: what an ``--extra-train`` set is, for a message's advice."""
    path = Path(where)
    return "list" if path.suffix.lower() in LIST_SUFFIXES and not path.is_dir() else "folder"


def _as_training(clip: Clip, source: str) -> Clip:
    """``clip`` as a training clip named ``source``, with its digest when the set's own
    load computed it (its copy check): the same samples, so each extra clip is hashed
    once, not once per check (its own load's, DATA's validation and test, two labels,
    repeats)."""
    moved = Clip(clip.label, "train", clip.speaker, source, clip.samples)
    if "digest" in vars(clip):
        vars(moved)["digest"] = clip.digest  # what cached_property itself stores
    return moved


def _refuse_respelled(
    word: str, source: str, dataset: AudioDataset, named: dict[str, str], where: str
) -> None:
    """Refuse an ``--extra-train`` label that is one of ``dataset``'s labels or a word
    ``named`` (word -> its option) spelled otherwise (:func:`label_key`): 'Yes/' beside
    DATA's 'yes' was trained as _unknown_ under --keywords, or refused with advice to
    use --keywords, as DATA itself refuses 'Yes/' beside 'yes/'."""
    theirs = {label_key(lb): f"{dataset.source}'s label" for lb in dataset.labels}
    spelled = {label_key(lb): lb for lb in dataset.labels}
    for name, flag in named.items():
        theirs.setdefault(label_key(name), f"the {flag} word")
        spelled.setdefault(label_key(name), name)
    other = spelled.get(label_key(word))
    if other is None or other == word:
        return
    raise DatasetError(
        f"{where}: label {word!r} (first: {source}) differs from {theirs[label_key(word)]}"
        f" {other!r} {how_labels_differ(word, other)}; spell it {other!r} (rename the folder,"
        " or the list's label)"
    )


def _drop_repeats(dataset: AudioDataset, added: list[Clip]) -> tuple[list[Clip], str | None]:
    """``added`` without the clips whose samples training already has: one of DATA's own
    training clips (``--extra-train`` naming a copy of DATA's train split), one an earlier
    ``--extra-train`` set added (a folder and a list of its files), or an earlier clip of
    ``added`` itself; and a note saying how many, of which. Same label only: another
    label's copy is refused first (:func:`_refuse_relabelled_copies`). A repeat adds no
    information, only weight: its recording counted twice unsaid. DATA's own copies are
    DATA's (its split and its figures, which ``eval`` repeats) and stay, with a note
    (:func:`_same_split_copies`); what an extra set adds is tinyslm's doing, so a
    recording joins training once."""
    own = len(dataset.clips) - dataset.extra_clips
    index: dict[bytes, tuple[str, Clip]] = {}
    for origin, clips in (
        ("data", [c for c in dataset.clips[:own] if c.split == "train"]),
        ("earlier", dataset.clips[own:]),
    ):
        for clip in clips:
            if clip.digest is not None:
                index.setdefault(clip.digest, (origin, clip))
    kept: list[Clip] = []
    dropped: list[tuple[str, Clip, Clip]] = []  # (origin, the repeat, what it repeats)
    for clip in added:
        found = index.get(clip.digest) if clip.digest is not None else None
        if found is None:
            if clip.digest is not None:
                index[clip.digest] = ("itself", clip)
            kept.append(clip)
        else:
            dropped.append((found[0], clip, found[1]))
    if not dropped:
        return kept, None
    return kept, _repeats_note(dropped, dataset.source)


def _repeats_note(dropped: list[tuple[str, Clip, Clip]], data: str) -> str:
    """The note for an ``--extra-train`` set's repeats, by where each was already read."""
    what = {
        "data": f"{data}'s own training clips",
        "earlier": "recordings an earlier --extra-train set added",
        "itself": "repeats of its own other clips",
    }
    counts = Counter(origin for origin, _, _ in dropped)
    _, clip, first = dropped[0]
    pair = f"first: {clip.source} = {first.source}"
    if len(counts) == 1:
        (origin,) = counts
        head = f"{len(dropped)} of its clips are {what[origin]} ({pair})"
    else:
        where = {
            "data": f"{data}'s training clips",
            "earlier": "an earlier set",
            "itself": "itself",
        }
        parts = ", ".join(f"{counts[o]} from {where[o]}" for o in what if counts[o])
        head = f"{len(dropped)} of its clips are recordings training already has ({parts}; {pair})"
    return f"{head}; each is read once (a repeat adds only weight)"


def _clip_digest(samples: Samples) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(samples).tobytes(), digest_size=16).digest()


def _constant(samples: Samples) -> bool:
    return bool(samples.size == 0 or np.all(samples == samples.flat[0]))


def _copies_of(clips: Iterable[Clip], originals: Iterable[Clip]) -> list[tuple[Clip, Clip]]:
    """``(clip, the first of originals with its samples)`` for each clip of ``clips`` that
    copies one. A constant window (a silent take, padded to the window) is every silent
    clip: two of them are not one recording, so it is never a copy."""
    index: dict[bytes, Clip] = {}
    for original in originals:
        if original.digest is not None:
            index.setdefault(original.digest, original)
    return [(clip, index[d]) for clip in clips if (d := clip.digest) is not None and d in index]


def _same_recordings(clips: Iterable[Clip]) -> list[list[Clip]]:
    """The groups of two or more clips with the same samples, each in read order.

    A constant window (a silent take, padded to the window) is every silent clip: two of
    them are not one recording, so they are never grouped.
    """
    groups: dict[bytes, list[Clip]] = defaultdict(list)
    for clip in clips:
        if clip.digest is not None:
            groups[clip.digest].append(clip)
    return [group for group in groups.values() if len(group) > 1]


def _refuse_relabelled_copies(clips: list[Clip], where: str) -> None:
    """Refuse one recording under two labels (a clip copied into the wrong folder, or a
    list naming two copies with different labels): training would be told the same
    sound is two words, and a score would count one of them wrong whatever the model
    said."""
    for group in _same_recordings(clips):
        other = next((c for c in group if c.label != group[0].label), None)
        if other is not None:
            raise DatasetError(
                f"{where}: {group[0].source} ({group[0].label}) and {other.source}"
                f" ({other.label}) are the same recording under two labels: keep the one"
                " that is right"
            )


def _held_out_copies(clips: list[Clip]) -> list[tuple[str, str]]:
    """``(split, warning)`` for the validation and test clips that are copies of training
    clips: the split that picks the epoch and threshold, or gives the figures, would
    score what was learnt. A speaker-named copy lands beside its original; copies under
    other names are split one by one and so can land on both sides."""
    copies: dict[str, list[tuple[Clip, Clip]]] = defaultdict(list)
    for group in _same_recordings(clips):
        trained = next((c for c in group if c.split == "train"), None)
        if trained is not None:
            for clip in group:
                if clip.split != "train":
                    copies[clip.split].append((clip, trained))
    return _split_notes(
        copies,
        lambda split: (
            f"are copies of training clips ({{first}}); the {split} figures will be"
            " optimistic: remove the copies"
        ),
    )


def _split_notes(
    copies: dict[str, list[tuple[Clip, Clip]]], what: Callable[[str], str]
) -> list[tuple[str, str]]:
    """``(split, note)`` for each split with copies, in split order: how many, then
    ``what(split)`` with ``{first}`` standing for the first pair (copy = original)."""
    return [
        (
            split,
            f"{len(found)} {split} clip(s) "
            + what(split).format(first=f"first: {found[0][0].source} = {found[0][1].source}"),
        )
        for split in SPLITS
        if (found := copies.get(split))
    ]


def _same_split_copies(clips: list[Clip], training: bool) -> list[tuple[str, str]]:
    """``(split, warning)`` for each split holding copies of its own clips (the same
    samples under another name, or twice in a list under two names).

    Kept, and said: they are the user's data, and dropping them would move the split's
    figures (``eval`` reads the same data and must repeat ``train``'s) and a dataset's
    model without a word, while keeping them unsaid let one recording weigh twice in
    training, or count twice in a figure. speech_commands_dev holds none (checked clip by
    clip in round 49), so it loads as before. ``training``: train reads the train split
    to fit on; ``eval`` scores whichever split it is given.
    """
    copies: dict[str, list[tuple[Clip, Clip]]] = defaultdict(list)
    for group in _same_recordings(clips):
        first: dict[str, Clip] = {}
        for clip in group:
            original = first.setdefault(clip.split, clip)
            if original is not clip:
                copies[clip.split].append((clip, original))

    def effect(split: str) -> str:
        if not training:  # eval: --split all scores this split among the others
            return f"scoring the {split} split counts such a recording once per copy"
        if split == "train":
            return "training weighs such a recording once per copy"
        return f"the {split} figures count such a recording once per copy"

    return _split_notes(
        copies,
        lambda split: (
            f"are copies of other {split} clips ({{first}}); {effect(split)}: remove the copies"
        ),
    )


def _refuse_held_out_copies(dataset: AudioDataset, extra: AudioDataset, added: list[Clip]) -> None:
    """Refuse extra training clips whose samples are a validation or test clip's.

    ``--extra-train DATA`` naming DATA itself (or a copy of it) trained on every clip
    that then picked the epoch and the threshold and was scored as "test": the figures
    were training figures, with only a warning about shared speakers.
    """
    copies = _copies_of(added, [c for c in dataset.clips if c.split in ("val", "test")])
    if copies:
        first, theirs = copies[0]
        raise DatasetError(
            f"{extra.source}: {len(copies)} of its clips are {dataset.source}'s own validation"
            f" or test clips (first: {first.source} = {theirs.source}, {theirs.split} split);"
            " training on them would score the model on what it learnt: give --extra-train"
            " other recordings"
        )


def _extra_config(keywords: tuple[str, ...], unknown_words: tuple[str, ...]) -> AudioDatasetConfig:
    """How an ``--extra-train`` set is read: no val or test part, no silence, words named
    that it lacks allowed."""
    return AudioDatasetConfig(
        val_percent=0,
        test_percent=0,
        silence_percent=0,
        keywords=keywords,
        unknown_words=unknown_words,
        words_must_exist=False,
        # The label and speaker counts are for a split; these clips are all training
        # material (one speaker's own recordings, one synth voice, a single word).
        training_rules=False,
    )


def extra_train_words(path: Path | str) -> frozenset[str]:
    """The words an ``--extra-train`` set holds clips of (its folder names or list labels
    as written; not ``_unknown_`` and the other special labels), from its listing alone:
    no recording is read (``tinyslm train`` asks it only to name the set holding a word
    DATA lacks, where reading every set whole let a short background recording there,
    which training never reads, refuse the set instead).

    Raises:
        DatasetError: the set's folder or list is unusable (as :func:`load_training_clips`
            finds it before reading a clip).
    """
    entries = _scan(Path(path), _extra_config((), ()), extra=True)[0]
    return frozenset(e.word for e in entries) - {UNKNOWN, SILENCE, NOISE}


def load_training_clips(
    path: Path | str,
    dataset: AudioDataset,
    keywords: tuple[str, ...] = (),
    unknown_words: tuple[str, ...] = (),
    seed: int = 0,
) -> AudioDataset:
    """:func:`with_training_clips` of the dataset at ``path`` (read by the same rules).

    Every clip there is training material, so nothing of it is split off. ``keywords``
    and ``unknown_words`` relabel its words as they relabelled ``dataset``'s; it need
    not have every word they name. Its ``_unknown_`` clips are capped with ``dataset``'s
    training split (:func:`_cap_unknown`, a draw seeded by ``seed``: train's ``--seed``),
    and refused, by the word as written, where ``dataset`` has no ``_unknown_`` class.

    Raises:
        DatasetError: as :func:`load_audio_dataset` and :func:`with_training_clips`.
    """
    window = len(dataset.clips[0].samples)
    config = replace(_extra_config(keywords, unknown_words), window_samples=window, seed=seed)
    # Before relabelling: under --keywords a 'Yes/' folder beside DATA's 'yes' was trained
    # as _unknown_ without a word (its label gone by the time the clips are added).
    entries = _scan(Path(path), config, extra=True)[0]
    named = {w: "--keywords" for w in keywords} | {w: "--unknown-words" for w in unknown_words}
    for entry in entries:
        if entry.word not in (UNKNOWN, SILENCE, NOISE):
            _refuse_respelled(entry.word, entry.source, dataset, named, str(path))
    _refuse_keyword_named_unknown(entries, dataset.keywords, Path(path))
    unknown = sorted((e.source, e.word) for e in entries if e.label == UNKNOWN)
    if unknown and UNKNOWN not in dataset.labels:
        # By the label as written: a list's path named its folder ('clips') as the word,
        # "trained as _unknown_ (--keywords)" of its own _unknown_ rows, with no --keywords.
        word = unknown[0][1]
        flag = "--unknown-words" if word in unknown_words else "--keywords"
        raise _no_unknown_class(str(path), word, dataset, flag)
    # The _unknown_ cap is the training split's, DATA's and every set's clips together.
    trained = Counter(c.label for c in dataset.clips if c.split == "train")
    return with_training_clips(dataset, _load(Path(path), config, extra=True, trained=trained))
