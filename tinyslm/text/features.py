"""The on-device tokenizer: the single spec that ``firmware/text/tinyslm_tokenizer.c`` mirrors.

Text becomes a fixed-length vector of int32 bucket ids, so no vocabulary has to
live in flash. The spec is deliberately small enough to re-implement byte for
byte in C:

1. Work on the UTF-8 bytes of the text. ``A``-``Z`` become ``a``-``z``; every
   other byte is kept as is.
2. A *word* is a maximal run of word bytes: ``a``-``z``, ``0``-``9`` and every
   byte >= 0x80 (so a UTF-8 word hashes as its bytes). Anything else splits.
3. Features, in this order, until ``seq_len`` ids are filled:
   a. word unigrams: tag byte 0x01 followed by the word;
   b. word bigrams: tag byte 0x02, word i-1, one space (0x20), word i;
   c. character trigrams of ``<word>``: tag byte 0x03 followed by three bytes of
      the word wrapped in ``<`` and ``>`` (a word of n bytes gives n trigrams).
   Duplicates are kept (the model averages them, so counts carry weight).
4. Each feature is hashed with 32-bit FNV-1a (offset basis 2166136261, prime
   16777619) over tag + bytes, and mapped to ``1 + h % (buckets - 1)``.
   With ``hashes`` = k > 1 the feature gets k ids, adjacent: the next hash is
   MurmurHash3's 32-bit finalizer (``fmix32``) of the one before, each mapped
   the same way. A feature whose k ids do not all fit is dropped with everything
   after it (truncation never splits a feature).
   Id 0 is padding; the rest of the vector is filled with 0.

Why k ids per n-gram: a bag of hashed n-grams loses accuracy where unrelated
n-grams share a row (CLINC150 has about 35,000 distinct n-grams; a 150 KB model
has 2,048 rows). Summing two rows per n-gram (a Bloom embedding, Serra &
Karatzoglou 2017) makes two n-grams identical to the model only when both of
their rows coincide, at no cost in flash; the device does one more
multiply-xorshift and reads one more row per n-gram. It is an option
(``tinyslm train --hashes 2``), not the default: measured on CLINC150 it raises
in-scope accuracy of a crowded table a little but separates out-of-scope phrases
a little worse (docs/architecture.md).

Unigrams come first so that a very long input, truncated at ``seq_len``, keeps
its words before its sub-word detail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from tinyslm.flatbuffer import TensorSpec

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619
TAG_UNIGRAM = 0x01
TAG_BIGRAM = 0x02
TAG_TRIGRAM = 0x03
# Ids per n-gram are a small count; the C struct keeps it in a byte.
MAX_HASHES = 8
# The default seq_len holds this many n-grams of one id; ``tinyslm train``'s
# --seq-len on auto keeps room for as many whatever --hashes is (128 one-id
# n-grams hold every CLINC150 phrase's).
SEQ_LEN_NGRAMS = 128
# The model's input: bucket ids are indices, not values, so they stay int32 (never
# quantized). Quantize and verify check the flatbuffer against model_input().
INPUT_DTYPE = "int32"

# Byte -> lowercase byte, and byte -> "is a word byte". Tables keep the hot loop
# free of branches and make the C mirror obvious.
_LOWER = bytes((b + 32) if 65 <= b <= 90 else b for b in range(256))
_IS_WORD = tuple((48 <= b <= 57) or (97 <= b <= 122) or b >= 0x80 for b in range(256))


@dataclass(frozen=True)
class FeatureSpec:
    """Everything the firmware needs to reproduce the model's input ids.

    Attributes:
        buckets: hash buckets B (embedding rows); ids fall in [1, B-1], 0 pads.
        seq_len: fixed number of ids L fed to the model per phrase.
        unigrams: emit word unigram features.
        bigrams: emit word bigram features.
        char_trigrams: emit character trigram features of ``<word>``.
        hashes: ids per n-gram, their rows summed, so that two n-grams that share
            one row still differ (1: one row each, as models before this option).
    """

    buckets: int = 4096
    seq_len: int = SEQ_LEN_NGRAMS
    unigrams: bool = True
    bigrams: bool = True
    char_trigrams: bool = True
    hashes: int = 1

    def __post_init__(self) -> None:
        if not 2 <= self.buckets <= 2**31 - 1:
            raise ValueError(f"buckets must be in [2, 2^31-1], got {self.buckets}")
        if not 1 <= self.seq_len <= 4096:
            raise ValueError(f"seq_len must be in [1, 4096], got {self.seq_len}")
        if not (self.unigrams or self.bigrams or self.char_trigrams):
            raise ValueError("at least one feature family must be enabled")
        if not 1 <= self.hashes <= MAX_HASHES:
            raise ValueError(f"hashes must be in [1, {MAX_HASHES}], got {self.hashes}")
        if self.hashes > self.seq_len:
            raise ValueError(f"seq_len {self.seq_len} holds no n-gram of {self.hashes} ids")

    def to_dict(self) -> dict[str, int | bool]:
        d = asdict(self)
        # A one-id spec is written as before the key existed (from_dict reads a
        # missing key as 1), so that older manifests and models keep their bytes.
        if self.hashes == 1:
            del d["hashes"]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> FeatureSpec:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown feature spec keys: {', '.join(unknown)}")
        return cls(**known)  # type: ignore[arg-type]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def fnv1a(data: bytes, h: int = FNV_OFFSET) -> int:
    """32-bit FNV-1a of ``data``, continuing from state ``h``."""
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFF
    return h


def fmix32(h: int) -> int:
    """MurmurHash3's 32-bit finalizer: the next hash of an n-gram's ids (see the spec)."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


def words(data: bytes) -> list[bytes]:
    """Split lowercased bytes into words (runs of word bytes)."""
    out: list[bytes] = []
    start = -1
    for i, b in enumerate(data):
        if _IS_WORD[b]:
            if start < 0:
                start = i
        elif start >= 0:
            out.append(data[start:i])
            start = -1
    if start >= 0:
        out.append(data[start:])
    return out


# The word bytes of step 2 (after step 1's A-Z folding), for a regex: the dataset
# checks read every phrase, and a per-byte Python loop is slow on a large file.
_WORD_RUN = re.compile(rb"[a-z0-9\x80-\xff]+")


def input_words(text: str | bytes) -> bytes:
    """The words the tokenizer reads in ``text``, joined by one space.

    Every feature comes from this word sequence alone, so two phrases with the same
    value get the same ids under every spec: what the model sees as one input (only
    ``A``-``Z`` is case-folded; punctuation, spacing and other case are not kept).
    Equal to ``b" ".join(words(...))`` of the lowercased bytes (a word holds no space).
    """
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return b" ".join(_WORD_RUN.findall(data.translate(_LOWER)))


def has_ids(text: str | bytes, spec: FeatureSpec) -> bool:
    """Whether ``tokenize(text, spec)`` holds any id (not only padding).

    The device answers a line without one ``{"error":"no_tokens"}`` and runs no
    inference; eval and emulate test ``ids.any()``. Worked out from the words
    rather than by hashing every n-gram: the first feature always fits
    (``seq_len >= hashes``), a word always gives a unigram and trigrams, and
    bigrams need two words.
    """
    ws = input_words(text)
    if not ws:
        return False
    return spec.unigrams or spec.char_trigrams or b" " in ws


def _features(spec: FeatureSpec, ws: list[bytes]) -> Iterator[int]:
    """Yield raw 32-bit hashes in spec order (unbounded; the caller truncates)."""
    if spec.unigrams:
        for w in ws:
            yield fnv1a(w, fnv1a(bytes((TAG_UNIGRAM,))))
    if spec.bigrams:
        for a, b in pairwise(ws):
            yield fnv1a(a + b" " + b, fnv1a(bytes((TAG_BIGRAM,))))
    if spec.char_trigrams:
        tri_seed = fnv1a(bytes((TAG_TRIGRAM,)))
        for w in ws:
            padded = b"<" + w + b">"
            for i in range(len(padded) - 2):
                yield fnv1a(padded[i : i + 3], tri_seed)


def tokenize(text: str | bytes, spec: FeatureSpec) -> list[int]:
    """Return exactly ``spec.seq_len`` ids for ``text`` (str is encoded as UTF-8)."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    ws = words(data.translate(_LOWER))
    ids: list[int] = []
    mod = spec.buckets - 1
    last = spec.seq_len - spec.hashes  # the last start at which a whole n-gram fits
    for h in _features(spec, ws):
        if len(ids) > last:
            break
        ids.append(1 + h % mod)
        for _ in range(spec.hashes - 1):
            h = fmix32(h)
            ids.append(1 + h % mod)
    ids.extend([0] * (spec.seq_len - len(ids)))
    return ids


def encode(texts: Iterable[str | bytes], spec: FeatureSpec) -> npt.NDArray[np.int32]:
    """Tokenize many texts into an ``(n, seq_len)`` int32 array.

    Rows go straight into the array: a list of Python int lists first costs
    about 40 bytes per id (4.6 KB per phrase at seq_len 128, gigabytes for a
    large dataset) against 4 in the array.
    """
    items = texts if isinstance(texts, Sequence) else list(texts)
    out = np.zeros((len(items), spec.seq_len), dtype=INPUT_DTYPE)
    for i, text in enumerate(items):
        out[i] = tokenize(text, spec)
    return out


def model_input(spec: FeatureSpec) -> TensorSpec:
    """The model's input tensor for ``spec``: one phrase of int32 ids, ``[1, seq_len]``."""
    from tinyslm.flatbuffer import TensorSpec

    return TensorSpec(INPUT_DTYPE, (1, spec.seq_len))
