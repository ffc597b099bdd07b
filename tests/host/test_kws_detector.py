"""The keyword detector's C mirror fires exactly where the Python rule does.

``firmware/audio/tinyslm_kws_detector.c`` is built with the host compiler
(``-std=c99 -Wall -Wextra -Werror -pedantic``, and again under ASan+UBSan) with
``tests/host/kws_detector_driver.c``; score streams (random, and crafted to sit
on every edge of the rule: exact threshold, ties, suppression boundary, clock
wrap, a reset) go through both, and the detections (label, time, window sum,
score) must be identical. A planted off-by-one in the threshold must be caught.
The Cortex-M7 ``-Os`` object is built with ``-Werror`` and its size printed.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from core_harness import SANITIZE_FLAGS, SANITIZER_ENV, sanitizers_work
from m7_object import build_m7_object
from shared_paths import missing

from tinyslm.audio.detector import Detection, DetectorSpec, detect, inference_times
from tinyslm.errors import ToolchainError
from tinyslm.toolchain import ccompile

pytestmark = pytest.mark.toolchain

REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "firmware" / "audio"
DETECTOR_C = AUDIO / "tinyslm_kws_detector.c"
DRIVER = Path(__file__).resolve().parent / "kws_detector_driver.c"
HOST_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")
RESET = 0xFFFFFFFF  # the driver's "reset here" record


def _build(out: Path, source: Path = DETECTOR_C, extra: tuple[str, ...] = ()) -> Path:
    try:
        return ccompile.compile_executable(
            [source, DRIVER], out, include_dirs=[AUDIO], cflags=(*HOST_FLAGS, *extra)
        )
    except ToolchainError as exc:
        if "not found" in str(exc):
            missing(str(exc))
        raise


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("kws") / "kws_detector_driver")


def c_detect(
    exe: Path,
    spec: DetectorSpec,
    scores: np.ndarray,
    times: list[int],
    env: dict[str, str] | None = None,
) -> list[Detection]:
    records = b"".join(
        int(t).to_bytes(4, "little") + row.astype(np.int8).tobytes()
        for t, row in zip(times, scores, strict=True)
    )
    args = [spec.num_labels, spec.window, spec.threshold_q, spec.suppression_ms]
    levels = [",".join(map(str, spec.label_thresholds_q))] if spec.label_thresholds_q else []
    proc = subprocess.run(
        [str(exe), *map(str, args), str(spec.non_keyword_mask), *levels],
        input=records, capture_output=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    lines = proc.stdout.decode().splitlines()
    assert lines[0] == "init 0", lines[:1]
    return [Detection(*map(int, line.split())) for line in lines[1:]]


def py_detect(spec: DetectorSpec, scores: np.ndarray, times: list[int]) -> list[Detection]:
    """The reference, with the driver's reset records splitting the stream."""
    found: list[Detection] = []
    start = 0
    for end in [*(i for i, t in enumerate(times) if t == RESET), len(times)]:
        found += detect(spec, scores[start:end], times[start:end])
        start = end + 1
    return found


def random_streams() -> list[tuple[DetectorSpec, np.ndarray, list[int]]]:
    rng = np.random.default_rng(2026)
    cases = []
    for k in range(40):
        labels = int(rng.integers(3, 17))
        non_keywords = tuple(int(i) for i in rng.choice(labels, int(rng.integers(0, 2)) + 1, False))
        spec = DetectorSpec(
            num_labels=labels, non_keywords=non_keywords, window=int(rng.integers(1, 17)),
            threshold_q=int(rng.integers(-128, 128)), suppression_ms=int(rng.integers(0, 3000)),
            stride_frames=int(rng.integers(1, 5)),
        )  # fmt: skip
        if k % 4 == 1:
            # Labels with levels of their own (generate --label-threshold) about the global one.
            own = rng.integers(-40, 41, labels) + spec.threshold_q
            spec = replace(spec, label_thresholds_q=tuple(int(q) for q in np.clip(own, -128, 127)))
        n = int(rng.integers(1, 600))
        if k % 2:
            # Softmax-like: one label dominates for a while, the rest share little.
            leader = np.repeat(rng.integers(0, labels, n // 7 + 1), 7)[:n]
            scores = rng.integers(-128, -100, (n, labels))
            scores[np.arange(n), leader] = rng.integers(0, 128, n)
        else:
            scores = rng.integers(-128, 128, (n, labels))
        times = inference_times(spec, n, first_ms=int(rng.integers(0, 2**32 - 20 * n)))
        if k % 5 == 0:  # a clock about to wrap
            times = inference_times(spec, n, first_ms=2**32 - n * spec.stride_ms // 2)
        if k % 3 == 0 and n > 10:
            times[n // 2] = RESET
        cases.append((spec, scores.astype(np.int8), times))
    return cases


def test_random_streams_match(driver: Path) -> None:
    total = 0
    for spec, scores, times in random_streams():
        expected = py_detect(spec, scores, times)
        assert c_detect(driver, spec, scores, times) == expected, spec
        total += len(expected)
    assert total > 100  # the streams did exercise firing, not only silence


def burst(labels: int, n: int, at: list[tuple[int, int, int]], floor: int = -128) -> np.ndarray:
    """``n`` vectors of ``floor`` except ``(label, start, length)`` bursts at 127 (silence at 0)."""
    scores = np.full((n, labels), floor, np.int8)
    scores[:, 0] = 127
    for label, start, length in at:
        scores[start : start + length, 0] = -128
        scores[start : start + length, label] = 127
    return scores


def crafted() -> list[tuple[str, DetectorSpec, np.ndarray, list[Detection]]]:
    spec = DetectorSpec(num_labels=4, window=3, threshold_q=51, suppression_ms=1000)
    exact = np.full((5, 4), -128, np.int8)
    exact[:, 2] = [51, 51, 51, 50, 52]  # mean 51 fires; 51,51,50 does not; 51,50,52 fires
    tie = np.full((3, 4), -128, np.int8)
    tie[:, 2] = tie[:, 3] = 100
    unknown = burst(4, 50, [(1, 10, 20)])
    return [
        # one burst of keyword 2: one detection, when the window first fills with it
        ("one word", spec, burst(4, 50, [(2, 10, 8)]), [Detection(2, 12 * 40, 381, 996)]),
        ("unknown never fires", spec, unknown, []),
        ("silence never fires", spec, burst(4, 50, []), []),
        # inferences 40 ms apart: the second word's window is full at 1040 ms, 960 ms
        # after the first detection (suppressed), and fires at 1080 ms (exactly 1000)
        ("suppression boundary", spec, burst(4, 60, [(3, 0, 5), (2, 24, 5)]),
         [Detection(3, 2 * 40, 381, 996), Detection(2, 27 * 40, 381, 996)]),
        ("exact threshold", spec, exact,
         [Detection(2, 80, 153, 699)]),
        ("tie goes to the lower label", spec, tie, [Detection(2, 80, 300, 891)]),
        # labels with levels of their own: keyword 2 at 52 misses the stream that fires
        # at the global 51 ("exact threshold"); keyword 3 at -128 fires on two vectors
        # in three, a mean of 42 that the global level would not take
        ("own level above", replace(spec, label_thresholds_q=(51, 51, 52, 51)), exact, []),
        ("own level below", replace(spec, label_thresholds_q=(51, 51, 51, -128)),
         burst(4, 50, [(3, 10, 2)]), [Detection(3, 11 * 40, 126, 664)]),
    ]  # fmt: skip


def test_crafted_streams(driver: Path) -> None:
    for name, spec, scores, expected in crafted():
        times = inference_times(spec, len(scores))
        assert py_detect(spec, scores, times) == expected, name
        assert c_detect(driver, spec, scores, times) == expected, name


def test_a_suppression_that_ran_out_is_forgotten_before_the_clock_wraps(driver: Path) -> None:
    """A device clock wraps after 2^32 ms (49.7 days): a detection that old must not
    look 480 ms old and drop a keyword. The vector in between (silence, 2 s after the
    detection) ends the suppression; without it the second word is suppressed as usual."""
    spec = DetectorSpec(num_labels=4, window=1, threshold_q=51, suppression_ms=1000)
    word, silence = burst(4, 1, [(2, 0, 1)]), burst(4, 1, [])
    wrapped = (5000 + 2**32 + 480) & 0xFFFFFFFF
    cases = [
        (np.concatenate([word, silence, word]), [5000, 7000, wrapped], [5000, wrapped]),
        (np.concatenate([word, word]), [5000, 5480], [5000]),
    ]
    for scores, times, fired in cases:
        expected = [Detection(2, t, 127, 996) for t in fired]
        assert py_detect(spec, scores, times) == expected, times
        assert c_detect(driver, spec, scores, times) == expected, times


def test_under_sanitizers(tmp_path: Path) -> None:
    reason = sanitizers_work(tmp_path)
    if reason is not None:
        missing(reason)
    exe = _build(tmp_path / "kws_san", extra=("-O1", "-g", *SANITIZE_FLAGS))
    for spec, scores, times in random_streams()[:12]:
        assert c_detect(exe, spec, scores, times, env=SANITIZER_ENV) == py_detect(
            spec, scores, times
        )


def test_a_planted_threshold_error_is_caught(tmp_path: Path) -> None:
    planted = tmp_path / "tinyslm_kws_detector.c"
    text = DETECTOR_C.read_text()
    assert text.count("det->sum[best] < (int32_t)") == 1
    planted.write_text(text.replace("det->sum[best] < (int32_t)", "det->sum[best] <= (int32_t)"))
    shutil.copy2(AUDIO / "tinyslm_kws_detector.h", tmp_path / "tinyslm_kws_detector.h")
    exe = _build(tmp_path / "planted", source=planted)
    name, spec, scores, expected = crafted()[4]
    assert c_detect(exe, spec, scores, inference_times(spec, len(scores))) != expected, name


def test_bad_configs_are_refused(driver: Path) -> None:
    # too few / too many labels, window 0 / too long, every label masked, mask past the labels
    bad = ("1 3 0 0 0", "17 3 0 0 1", "4 0 0 0 1", "4 17 0 0 1", "4 3 0 0 15", "4 3 0 0 16")
    for line in bad:
        args = line.split()
        out = subprocess.run([str(driver), *args], input=b"", capture_output=True, check=True)
        assert out.stdout.decode().splitlines() == ["init -1"], args


def test_a_refused_detector_ignores_pushes(tmp_path: Path) -> None:
    """After a refused init the detector is unusable (the header): pushes must report
    nothing. It used to fire on every push with window 0 and divide by it (UBSan:
    division by zero in tinyslm_kws_score_milli)."""
    reason = sanitizers_work(tmp_path)
    if reason is not None:
        missing(reason)
    exe = _build(tmp_path / "kws_san", extra=("-O1", "-g", *SANITIZE_FLAGS))
    # too few labels, window 0, every label masked, a mask past the labels
    for line in ("1 3 0 0 0", "4 0 0 0 1", "4 3 0 0 15", "4 3 -128 0 16", "17 3 0 0 1"):
        args = line.split()
        labels = min(int(args[0]), 16)
        scores = np.full(labels, 127, np.int8).tobytes()
        records = b"".join(t.to_bytes(4, "little") + scores for t in range(0, 4000, 40))
        proc = subprocess.run(
            [str(exe), *args], input=records, capture_output=True, timeout=60, check=False,
            env=SANITIZER_ENV,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
        assert proc.stdout.decode().splitlines() == ["init -1"], args


def test_cortex_m7_build_and_size(tmp_path: Path) -> None:
    obj = build_m7_object(DETECTOR_C, tmp_path / "kws_m7.o", [AUDIO])
    print(f"\nkeyword detector on Cortex-M7 -Os: .text {obj.text} B, .rodata {obj.rodata} B")
    assert 0 < obj.text + obj.rodata < 1024
    assert obj.static == 0  # all state is the caller's struct
    # No soft-float or division helpers: integer maths the M7 does natively.
    assert obj.undefined <= {"memset", "memcpy"}, obj.undefined
