"""tinyslm_tokenize and tinyslm_decide (C, via ctypes) against the Python spec.

The tokenizer must be byte-identical to tinyslm.text.features.tokenize for any bytes:
checked on the demo set, on every CLINC150 phrase when the dataset is present,
and on 100k seeded random byte strings over several FeatureSpec variants.
"""

from __future__ import annotations

import csv
import ctypes
import json
import random

import numpy as np
import pytest
from core_harness import REPO, CDecision, CModelInfo, CoreLib, Driver
from shared_paths import dataset_path, missing

from tinyslm.decision import decide, score_milli
from tinyslm.text.features import FeatureSpec, tokenize

DEMO_CSV = REPO / "tinyslm" / "data" / "demo_commands.csv"
CLINC_JSON = dataset_path("clinc150", "data_full.json")


# --------------------------------------------------------------------------
# random tokenizer inputs


SPEC_VARIANTS = (
    FeatureSpec(),
    FeatureSpec(buckets=2048, seq_len=256, hashes=2),  # train's choice for a crowded table
    FeatureSpec(buckets=2, seq_len=8, hashes=2),
    FeatureSpec(buckets=3, seq_len=1, bigrams=False, char_trigrams=False),
    FeatureSpec(buckets=1000, seq_len=16, unigrams=False),
    FeatureSpec(buckets=1000, seq_len=17, hashes=3),  # n-grams that end mid-vector
    FeatureSpec(buckets=2**31 - 1, seq_len=64, unigrams=False, bigrams=False),
    FeatureSpec(buckets=97, seq_len=300, char_trigrams=False, hashes=8),
    FeatureSpec(buckets=50_000, seq_len=4096),
)

_WORDS = (b"turn", b"ON", b"the", b"Lights", b"kitchen", b"42", b"x", b"Play", b"MUSIC", b"a1b2")


def random_text(rng: random.Random) -> bytes:
    """One random input: printable ASCII, valid UTF-8, control bytes/NUL, raw bytes, or long."""
    kind = rng.random()
    if kind < 0.3:
        return " ".join(
            "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randrange(0, 8)))
            for _ in range(rng.randrange(0, 8))
        ).encode()
    if kind < 0.5:
        return rng.choice([b" ", b",", b".", b"!", b"?", b"-", b"  "]).join(
            rng.choice(_WORDS) for _ in range(rng.randrange(0, 10))
        )
    if kind < 0.7:
        return "".join(
            chr(
                rng.choice(
                    (
                        rng.randrange(0x20, 0x80),
                        rng.randrange(0xA0, 0x800),
                        rng.randrange(0x4E00, 0x9FFF),
                        rng.randrange(0x1F300, 0x1F6FF),
                    )
                )
            )
            for _ in range(rng.randrange(0, 24))
        ).encode()
    if kind < 0.85:
        return bytes(
            rng.choice((0, 1, 9, 10, 13, 27, 31, 32, 65, 90, 97, 122, 127, 128, 255))
            for _ in range(rng.randrange(0, 30))
        )
    if kind < 0.995:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1000, 20_000)))


def _check_same(lib: CoreLib, spec: FeatureSpec, texts: list[bytes]) -> None:
    run = lib.tokenizer(spec)
    for text in texts:
        count, ids = run(text)
        expected = tokenize(text, spec)
        if ids != expected:
            first = next(i for i, (a, b) in enumerate(zip(ids, expected, strict=True)) if a != b)
            pytest.fail(
                f"{spec}: {text[:80]!r}: id {first} is {ids[first]}, Python {expected[first]}"
            )
        # the returned count is the number of non-padding ids, all at the front
        assert count == sum(1 for i in expected if i != 0), text[:80]
        assert all(i > 0 for i in ids[:count]) and not any(ids[count:])


def _demo_texts() -> list[bytes]:
    if not DEMO_CSV.is_file():
        pytest.skip(f"demo dataset {DEMO_CSV} not present yet")
    with DEMO_CSV.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    texts = [(r.get("text") or "").encode() for r in rows]
    if not texts:
        pytest.skip(f"demo dataset {DEMO_CSV} is empty")
    return texts


def test_demo_set_matches_python(core_lib: CoreLib) -> None:
    texts = _demo_texts()
    for spec in (FeatureSpec(), FeatureSpec(buckets=512, seq_len=24, hashes=2)):
        _check_same(core_lib, spec, texts)


@pytest.mark.slow
def test_clinc150_matches_python(core_lib: CoreLib) -> None:
    if not CLINC_JSON.is_file():
        missing(f"CLINC150 not found at {CLINC_JSON}")
    data = json.loads(CLINC_JSON.read_text(encoding="utf-8"))
    texts = [str(row[0]).encode() for rows in data.values() for row in rows]
    assert len(texts) > 20_000
    _check_same(core_lib, FeatureSpec(), texts)
    _check_same(core_lib, FeatureSpec(buckets=2048, seq_len=256, hashes=2), texts)


@pytest.mark.slow
def test_random_bytes_match_python(core_lib: CoreLib) -> None:
    rng = random.Random(20240611)
    texts = [random_text(rng) for _ in range(100_000)]
    assert any(len(t) > 1000 for t in texts) and any(0 in t for t in texts)
    for k, spec in enumerate(SPEC_VARIANTS):
        _check_same(core_lib, spec, texts[k :: len(SPEC_VARIANTS)])


@pytest.mark.slow
def test_tokenizer_under_sanitizers(asan_driver: Driver) -> None:
    """Exact-size heap copies of each input, so ASan sees any read past len."""
    rng = random.Random(99)
    texts = [random_text(rng) for _ in range(3000)] + [b"", b"a", b"\x00", b"A" * 5000]
    for spec in SPEC_VARIANTS:
        counts, ids = asan_driver.tokenize_batch(texts, spec)
        expected = np.array([tokenize(t, spec) for t in texts], dtype=np.int32)
        np.testing.assert_array_equal(ids, expected)
        np.testing.assert_array_equal(counts, (expected != 0).sum(axis=1))


@pytest.mark.parametrize(
    ("scale", "zero_point"),
    [
        (1 / 256, -128),
        (1 / 255, -128),
        (0.0041, -128),
        (0.0037, 0),
        (0.0078125, -128),
        (0.0123, -20),
    ],
)
def test_decide_matches_python(core_lib: CoreLib, scale: float, zero_point: int) -> None:
    rng = random.Random(5)
    for threshold_q in (-128, -1, 0, 13, 127, 128):
        for q in range(max(-128, zero_point), 128):
            scores = [rng.randint(-128, q) for _ in range(5)]
            scores[rng.randrange(5)] = q
            got = core_lib.decide(scores, scale, zero_point, threshold_q)
            want = decide(np.array(scores, dtype=np.int8), scale, zero_point, threshold_q)
            assert (got.index, got.score_q) == (want.index, want.score_q), scores
            assert got.score_milli == score_milli(q, scale, zero_point), (scale, zero_point, q)
            assert bool(got.local) == (want.route == "local")


def test_the_ctypes_mirrors_have_the_c_layout(core_lib: CoreLib) -> None:
    # CModelInfo lacked the two label-threshold pointers added in C, so tinyslm_decide
    # read one past the Python struct: test_decide_matches_python segfaulted whenever
    # that memory was not zero.
    for name in ("model_info_size", "model_info_last", "decision_size"):
        getattr(core_lib.lib, f"tinyslm_test_{name}").restype = ctypes.c_size_t
    assert core_lib.lib.tinyslm_test_model_info_size() == ctypes.sizeof(CModelInfo)
    assert core_lib.lib.tinyslm_test_model_info_last() == CModelInfo.label_threshold_milli.offset
    assert core_lib.lib.tinyslm_test_decision_size() == ctypes.sizeof(CDecision)
