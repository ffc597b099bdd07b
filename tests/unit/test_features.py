"""Table-driven tests of the tokenizer spec in ``tinyslm/text/features.py``.

Expected ids come from a tiny independent reference below: explicit feature
byte strings (tag byte + bytes) hashed with a separately written FNV-1a, so a
change to the tokenizer's word splitting, feature order or hashing shows up
here instead of being copied into the expectation.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinyslm.text.features import FeatureSpec, encode, fmix32, fnv1a, tokenize, words


def ref_fnv(data: bytes) -> int:
    """FNV-1a 32-bit written out from the published constants."""
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) % (1 << 32)
    return h


def ref_fmix(h: int) -> int:
    """MurmurHash3's fmix32, written out from the published constants."""
    for shift, mult in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
        h = ((h ^ (h >> shift)) * mult) % (1 << 32)
    return h ^ (h >> 16)


def ref_id(feature: bytes, buckets: int) -> int:
    return 1 + ref_fnv(feature) % (buckets - 1)


def ref_ids(features: list[bytes], spec: FeatureSpec) -> list[int]:
    ids: list[int] = []
    for f in features:
        if len(ids) + spec.hashes > spec.seq_len:
            break  # an n-gram's ids go in whole or not at all
        h = ref_fnv(f)
        for _ in range(spec.hashes):
            ids.append(1 + h % (spec.buckets - 1))
            h = ref_fmix(h)
    return ids + [0] * (spec.seq_len - len(ids))


# --- FNV-1a --------------------------------------------------------------------

FNV_VECTORS = [
    (b"", 0x811C9DC5),
    (b"a", 0xE40C292C),
    (b"foobar", 0xBF9CF968),
]


@pytest.mark.parametrize(("data", "expected"), FNV_VECTORS)
def test_fnv1a_known_vectors(data: bytes, expected: int) -> None:
    assert fnv1a(data) == expected
    assert ref_fnv(data) == expected


def test_fnv1a_continues_from_state() -> None:
    assert fnv1a(b"bar", fnv1a(b"foo")) == fnv1a(b"foobar")


# MurmurHash3_x86_32 of the empty input is fmix32(seed): its published vectors.
FMIX_VECTORS = [(0, 0), (1, 0x514E28B7), (0xFFFFFFFF, 0x81F16F39)]


@pytest.mark.parametrize(("h", "expected"), FMIX_VECTORS)
def test_fmix32_known_vectors(h: int, expected: int) -> None:
    assert fmix32(h) == expected
    assert ref_fmix(h) == expected


# --- words ---------------------------------------------------------------------

WORD_CASES = [
    (b"", []),
    (b"turn on", [b"turn", b"on"]),
    (b"  lights,on!!", [b"lights", b"on"]),
    (b"set 21 degrees", [b"set", b"21", b"degrees"]),
    (b"caf\xc3\xa9 au lait", [b"caf\xc3\xa9", b"au", b"lait"]),
    (b"it's", [b"it", b"s"]),
    (b"a_b-c", [b"a", b"b", b"c"]),
    (b"\x00x\x7fy", [b"x", b"y"]),
    (b"a\x80b\xffc", [b"a\x80b\xffc"]),  # every byte >= 0x80 is a word byte, valid UTF-8 or not
]


@pytest.mark.parametrize(("data", "expected"), WORD_CASES)
def test_words(data: bytes, expected: list[bytes]) -> None:
    assert words(data) == expected


# --- tokenize: exact ids ---------------------------------------------------------

ALL = FeatureSpec(buckets=4096, seq_len=16)
UNI = FeatureSpec(buckets=4096, seq_len=16, bigrams=False, char_trigrams=False)
BI = FeatureSpec(buckets=4096, seq_len=16, unigrams=False, char_trigrams=False)
TRI = FeatureSpec(buckets=4096, seq_len=16, unigrams=False, bigrams=False)
SMALL = FeatureSpec(buckets=97, seq_len=8)
TWO = FeatureSpec(buckets=4096, seq_len=16, hashes=2)
THREE = FeatureSpec(buckets=97, seq_len=8, hashes=3)

# Every feature of "turn on", in spec order.
TURN_ON = [
    b"\x01turn",
    b"\x01on",
    b"\x02turn on",
    b"\x03<tu",
    b"\x03tur",
    b"\x03urn",
    b"\x03rn>",
    b"\x03<on",
    b"\x03on>",
]

TOKEN_CASES = [
    ("empty", "", ALL, []),
    ("punctuation only", "?!., -- ;:", ALL, []),
    (
        "two words, all families",
        "turn on",
        ALL,
        TURN_ON,
    ),
    ("unigrams only", "Turn ON", UNI, [b"\x01turn", b"\x01on"]),
    ("bigrams only", "lights on now", BI, [b"\x02lights on", b"\x02on now"]),
    ("bigrams of one word: none", "lights", BI, []),
    ("trigrams only", "on", TRI, [b"\x03<on", b"\x03on>"]),
    ("single letter word: one trigram", "a", TRI, [b"\x03<a>"]),
    ("digits are word bytes", "set 21", UNI, [b"\x01set", b"\x0121"]),
    ("non-ascii is one word", "café", UNI, [b"\x01caf\xc3\xa9"]),
    (
        "non-ascii trigrams are bytes",
        "é",
        TRI,
        [b"\x03<\xc3\xa9", b"\x03\xc3\xa9>"],
    ),
    ("punctuation separates", "on,off", UNI, [b"\x01on", b"\x01off"]),
    (
        # 9 n-grams need 18 ids: the first 8 fill 16, the last is cut whole.
        "two ids per n-gram, cut at seq_len",
        "turn on",
        TWO,
        TURN_ON,
    ),
    # 3 ids per n-gram in 8 slots: two n-grams, then 2 slots of padding.
    ("three ids, an n-gram never split", "dim it", THREE, [b"\x01dim", b"\x01it"]),
    (
        "small buckets",
        "dim it",
        SMALL,
        [
            b"\x01dim",
            b"\x01it",
            b"\x02dim it",
            b"\x03<di",
            b"\x03dim",
            b"\x03im>",
            b"\x03<it",
            b"\x03it>",
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "spec", "features"),
    [c[1:] for c in TOKEN_CASES],
    ids=[c[0] for c in TOKEN_CASES],
)
def test_tokenize_matches_reference(text: str, spec: FeatureSpec, features: list[bytes]) -> None:
    assert tokenize(text, spec) == ref_ids(features, spec)


def test_bytes_input_equals_str_input() -> None:
    assert tokenize("café on", ALL) == tokenize("café on".encode(), ALL)


@pytest.mark.parametrize(
    ("upper", "lower"),
    [("TURN ON THE LIGHTS", "turn on the lights"), ("DiM It", "dim it"), ("ÉA", "Éa")],
)
def test_mixed_case_equals_lowercase(upper: str, lower: str) -> None:
    assert tokenize(upper, ALL) == tokenize(lower, ALL)


def test_non_ascii_is_not_lowercased() -> None:
    # Only A-Z fold; the bytes of "É" (0xC3 0x89) differ from "é" (0xC3 0xA9).
    assert tokenize("É", UNI) != tokenize("é", UNI)


def test_padding_is_zero_and_trailing() -> None:
    ids = tokenize("lights on", ALL)
    n = 2 + 1 + 6 + 2  # unigrams, bigram, trigrams of <lights> and <on>
    assert all(i != 0 for i in ids[:n])
    assert ids[n:] == [0] * (ALL.seq_len - n)


def test_long_input_truncates_with_unigrams_first() -> None:
    spec = FeatureSpec(buckets=4096, seq_len=8)
    text = " ".join(f"w{i}" for i in range(20))
    expected = [f"\x01w{i}".encode() for i in range(8)]
    assert tokenize(text, spec) == ref_ids(expected, spec)


def test_truncation_cuts_inside_bigrams() -> None:
    spec = FeatureSpec(buckets=4096, seq_len=4)
    expected = [b"\x01a", b"\x01b", b"\x01c", b"\x02a b"]
    assert tokenize("a b c", spec) == ref_ids(expected, spec)


def test_very_long_input_has_exact_length() -> None:
    spec = FeatureSpec(buckets=512, seq_len=128)
    ids = tokenize("turn on the lights " * 2000, spec)
    assert len(ids) == 128
    assert 0 not in ids


@pytest.mark.parametrize("buckets", [2, 3, 17, 4096, 2**31 - 1])
def test_ids_in_range(buckets: int) -> None:
    spec = FeatureSpec(buckets=buckets, seq_len=64)
    ids = tokenize("Set the LIVING room thermostat to 21.5 degrees, café!", spec)
    nonzero = [i for i in ids if i != 0]
    assert nonzero
    assert all(1 <= i <= buckets - 1 for i in nonzero)


def test_two_buckets_maps_every_feature_to_one() -> None:
    spec = FeatureSpec(buckets=2, seq_len=6)
    assert tokenize("ab", spec) == [1, 1, 1, 0, 0, 0]  # unigram + 2 trigrams, no bigram
    assert tokenize("ab", FeatureSpec(buckets=2, seq_len=7, hashes=2)) == [1] * 6 + [0]


def test_duplicates_are_kept() -> None:
    ids = tokenize("on on", UNI)
    assert ids[0] == ids[1] == ref_id(b"\x01on", UNI.buckets)


# --- FeatureSpec ---------------------------------------------------------------

BAD_SPECS = [
    ({"buckets": 1}, "buckets"),
    ({"buckets": 0}, "buckets"),
    ({"buckets": 2**31}, "buckets"),
    ({"seq_len": 0}, "seq_len"),
    ({"seq_len": 4097}, "seq_len"),
    ({"unigrams": False, "bigrams": False, "char_trigrams": False}, "feature family"),
    ({"hashes": 0}, "hashes"),
    ({"hashes": 9}, "hashes"),
    ({"hashes": 3, "seq_len": 2}, "holds no n-gram"),
]


@pytest.mark.parametrize(("kwargs", "needle"), BAD_SPECS)
def test_spec_validation(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        FeatureSpec(**kwargs)  # type: ignore[arg-type]


def test_spec_round_trip() -> None:
    spec = FeatureSpec(buckets=1000, seq_len=40, bigrams=False, hashes=2)
    data = spec.to_dict()
    assert data == {
        "buckets": 1000,
        "seq_len": 40,
        "unigrams": True,
        "bigrams": False,
        "char_trigrams": True,
        "hashes": 2,
    }
    # A manifest round-trips through JSON, so from_dict sees plain objects.
    loaded: dict[str, object] = json.loads(json.dumps(data))
    assert FeatureSpec.from_dict(loaded) == spec
    assert FeatureSpec.from_dict({}) == FeatureSpec()
    assert FeatureSpec.from_dict({**data, "hashes": 1}) == FeatureSpec(
        buckets=1000, seq_len=40, bigrams=False, hashes=1
    )


def test_spec_without_hashes_is_one_id_per_ngram() -> None:
    # Manifests written before the key existed describe one-id models; a one-id
    # spec is still written without it, so their bytes do not change.
    old = {
        "buckets": 8192,
        "seq_len": 128,
        "unigrams": True,
        "bigrams": True,
        "char_trigrams": True,
    }
    spec = FeatureSpec.from_dict(old)
    assert spec.hashes == 1
    assert spec.to_dict() == old


def test_spec_to_json_is_sorted_and_stable() -> None:
    text = FeatureSpec(buckets=10, seq_len=3, hashes=1).to_json()
    assert text == (
        '{"bigrams": true, "buckets": 10, "char_trigrams": true, "seq_len": 3, "unigrams": true}'
    )
    assert FeatureSpec(buckets=10, seq_len=4, hashes=2).to_json() == (
        '{"bigrams": true, "buckets": 10, "char_trigrams": true, "hashes": 2, "seq_len": 4, '
        '"unigrams": true}'
    )


def test_spec_unknown_keys_rejected() -> None:
    with pytest.raises(ValueError, match="unknown feature spec keys: bucket, trigrams"):
        FeatureSpec.from_dict({"bucket": 10, "trigrams": True})


def test_spec_from_dict_validates_values() -> None:
    with pytest.raises(ValueError, match="seq_len"):
        FeatureSpec.from_dict({"seq_len": 0})


# --- encode --------------------------------------------------------------------


def test_encode_shape_dtype_and_rows() -> None:
    texts = ["turn on", "", "café"]
    out = encode(texts, ALL)
    assert out.shape == (3, ALL.seq_len)
    assert out.dtype == np.int32
    for row, text in zip(out, texts, strict=True):
        assert row.tolist() == tokenize(text, ALL)


def test_encode_empty() -> None:
    out = encode([], SMALL)
    assert out.shape == (0, SMALL.seq_len)
    assert out.dtype == np.int32


def test_encode_accepts_generators_and_bytes() -> None:
    items: list[str | bytes] = [b"dim it", "dim it"]
    out = encode((t for t in items), SMALL)
    assert out[0].tolist() == out[1].tolist()


def test_encode_fills_the_array_without_python_int_lists() -> None:
    # Issue 9: a 50 MB CSV needed 2.9 GB, mostly encode()'s list of Python int
    # lists (~40 bytes per id before the int32 array). Peak memory now stays close
    # to the array itself.
    import tracemalloc

    spec = FeatureSpec(buckets=4096, seq_len=128)
    texts = [f"turn on the kitchen lights number {i} please" for i in range(4_000)]
    tracemalloc.start()
    try:
        ids = encode(texts, spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ids.shape == (4_000, 128) and ids.dtype == np.int32
    assert peak < 1.5 * ids.nbytes, (peak, ids.nbytes)
    assert ids[123].tolist() == tokenize(texts[123], spec)
    assert encode(iter(texts[:3]), spec).tolist() == [tokenize(t, spec) for t in texts[:3]]
    assert encode([], spec).shape == (0, 128)
