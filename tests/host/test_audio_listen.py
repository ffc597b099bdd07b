"""The C listening loop (firmware/audio/tinyslm_listen.c) detects exactly what stream.py does.

``tests/host/audio_listen_driver.c`` runs the C loop (front end, feature window,
detector: the firmware's own files, ``-std=c99 -Wall -Wextra -Werror -pedantic``)
and hands every window it would infer on to this test, which answers with the
scores of the committed keyword fixture model on TFLM (``tflite_micro``, the
firmware's kernels) computed on the C side's own features. The Python loop
(:func:`tinyslm.audio.stream.listen`) runs the same model on its own features.
On real Speech Commands clips in a row with background noise between them, both
must give identical windows and identical detections (label, t_ms, window sum,
score). Also: any chunk sizes give the same result (1, 7, 160, 4096 samples and
a mix, under ASan+UBSan too), a long stream (the window and the detector's ring
wrap thousands of times), a non-default compile-time geometry, resets between
streams, failing inferences, and the Cortex-M7 object's size.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from core_harness import SANITIZE_FLAGS, SANITIZER_ENV, sanitizers_work
from listen_harness import (
    FIXTURE,
    Scorer,
    batch,
    drive,
    fixture_labels,
    pseudo_model,
    tflm_scorer,
)
from m7_object import build_m7_object
from shared_paths import dataset_path, missing, require_path

from tinyslm.audio.dataset import AudioDatasetConfig, load_audio_dataset
from tinyslm.audio.detector import Detection, DetectorSpec, detect
from tinyslm.audio.stream import StreamProtocol, StreamSpec, compose, listen, stream_features
from tinyslm.errors import ToolchainError
from tinyslm.toolchain import ccompile

pytestmark = pytest.mark.toolchain

REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "firmware" / "audio"
SOURCES = [
    AUDIO / f for f in ("tinyslm_listen.c", "tinyslm_audio_frontend.c", "tinyslm_kws_detector.c")
]
DRIVER = Path(__file__).resolve().parent / "audio_listen_driver.c"
HOST_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")
OTHERS = ("down", "left", "right", "stop")  # folded into _unknown_, as for the fixture


def _build(out: Path, extra: Sequence[str] = (), defines: Sequence[str] = ()) -> Path:
    try:
        return ccompile.compile_executable(
            [*SOURCES, DRIVER], out, include_dirs=[AUDIO], defines=list(defines),
            cflags=(*HOST_FLAGS, *extra),
        )  # fmt: skip
    except ToolchainError as exc:
        if "not found" in str(exc):
            missing(str(exc))
        raise


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("listen") / "audio_listen_driver")


@pytest.fixture(scope="module")
def labels() -> list[str]:
    return fixture_labels()


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return tflm_scorer()


@dataclass
class CRun:
    detections: list[list[Detection]]  # per stream
    us: list[int]
    windows: list[list[bytes]]  # per stream, every window the C loop inferred on
    failures: list[int]
    counters: tuple[int, ...]  # frames, inferences, detections, failures (last stream), found


def run_c(
    exe: Path,
    spec: StreamSpec,
    streams: Sequence[np.ndarray],
    scorer: Scorer,
    work: Path,
    chunks: Sequence[int] = (160,),
    fail: Callable[[int], int] = lambda i: 0,
    env: dict[str, str] | None = None,
) -> CRun:
    files = []
    for i, samples in enumerate(streams):
        path = work / f"stream{i}.pcm"
        path.write_bytes(samples.astype("<i2").tobytes())
        files.append(str(path))
    d = spec.detector
    args = [d.num_labels, d.window, d.threshold_q, d.suppression_ms, d.non_keyword_mask,
            d.stride_frames, *chunks]  # fmt: skip
    rest = ["--", *files[1:]] if len(files) > 1 else []
    events = drive([str(exe), files[0], *map(str, args), *rest], scorer, spec.frames,
                   spec.frontend.num_bins, fail=fail, env=env)  # fmt: skip
    run = CRun([[]], [], [[]], [], ())
    for event in events:
        tag, values = event[0], [int(v) for v in event[1:] if isinstance(v, int)]
        if tag == "I":
            window = event[2]
            assert isinstance(window, bytes)
            run.windows[-1].append(window)
        elif tag == "D":
            run.detections[-1].append(Detection(*values[:4]))
            run.us.append(values[4])
        elif tag == "F":
            run.failures.append(values[0])
        elif tag == "R":
            run.detections.append([])
            run.windows.append([])
        elif tag == "E":
            run.counters = tuple(values)
    return run


def py_windows(samples: np.ndarray, spec: StreamSpec) -> list[bytes]:
    feats = stream_features(samples, spec.frontend)
    ks = range(spec.frames - 1, len(feats), spec.stride_frames)
    return [feats[k - spec.frames + 1 : k + 1].tobytes() for k in ks]


@pytest.fixture(scope="module")
def material(labels: list[str]) -> dict[str, object]:
    """Test-split clips (keywords, unknown) and the test side of the background noise."""
    root = require_path(dataset_path("speech_commands_dev"), "the speech_commands_dev dataset")
    ds = load_audio_dataset(root, AudioDatasetConfig(unknown_words=OTHERS))
    assert list(ds.labels) == labels
    test = ds.split("test")
    index = {name: i for i, name in enumerate(labels)}
    keywords = [(index[c.label], c.samples) for c in test if index[c.label] >= 2]
    unknown = [c.samples for c in test if c.label == "_unknown_"]
    noise = [r.part("test") for r in ds.noise]
    return {"keywords": keywords, "unknown": unknown, "noise": noise}


def default_spec(num_labels: int, **kw: int) -> StreamSpec:
    return StreamSpec(DetectorSpec(num_labels=num_labels, **kw))


def test_real_clips_identical_detections(
    driver: Path, scorer: Scorer, material: dict[str, object], labels: list[str],
    tmp_path: Path,
) -> None:  # fmt: skip
    """Keyword clips (and unknown words) in a row with noise between: C == Python."""
    start = time.perf_counter()
    keywords = material["keywords"]
    unknown = material["unknown"]
    noise = material["noise"]
    assert isinstance(keywords, list) and isinstance(unknown, list) and isinstance(noise, list)
    rng = np.random.default_rng(11)
    picked = [keywords[i] for i in sorted(rng.choice(len(keywords), 16, replace=False))]
    picked += [(1, c) for c in unknown[:4]]
    order = rng.permutation(len(picked))
    stream = compose([picked[i] for i in order], noise, StreamProtocol(gap_ms=1200, snr_db=10.0))
    spec = default_spec(len(labels))
    expected = listen(stream.samples, spec, batch(scorer))
    c = run_c(driver, spec, [stream.samples], scorer, tmp_path)

    assert c.windows[0] == py_windows(stream.samples, spec)  # the C window, byte for byte
    assert c.detections[0] == list(expected.detections)
    assert c.failures == [] and set(c.us) == {7}
    frames, inferences, detections, failures, found = c.counters
    assert (frames, inferences) == (expected.frames, len(expected.times_ms))
    assert detections == found == len(expected.detections) and failures == 0
    # The first inference ends at frame 48: 48 * 20 + 30 ms.
    assert int(expected.times_ms[0]) == 990
    # The fixture model does hear most words (parity on a stream without detections
    # would prove little), and the keyword stream detects them at the right place.
    hits = sum(
        1 for d in expected.detections for label, s, e in stream.spans
        if label == d.label and s <= d.t_ms <= e + 750
    )  # fmt: skip
    assert len(expected.detections) >= 8 and hits >= 8
    print(
        f"\nlisten parity: {len(stream.samples) / 16000:.1f} s, {frames} frames,"
        f" {inferences} inferences, {detections} detections identical ({hits} on the right"
        f" word), {time.perf_counter() - start:.1f} s"
    )


@pytest.fixture(scope="module")
def short_stream(material: dict[str, object]) -> np.ndarray:
    keywords = material["keywords"]
    noise = material["noise"]
    assert isinstance(keywords, list) and isinstance(noise, list)
    return compose(keywords[:8], noise, StreamProtocol(gap_ms=1200)).samples


@pytest.mark.parametrize("chunks", [(1,), (7,), (160,), (4096,), (1, 7, 160, 4096, 333)])
def test_chunk_sizes_do_not_matter(
    driver: Path, scorer: Scorer, short_stream: np.ndarray, labels: list[str],
    chunks: tuple[int, ...], tmp_path: Path,
) -> None:  # fmt: skip
    spec = default_spec(len(labels))
    expected = listen(short_stream, spec, batch(scorer))
    c = run_c(driver, spec, [short_stream], scorer, tmp_path, chunks=chunks)
    assert c.detections[0] == list(expected.detections)
    assert len(expected.detections) >= 4
    assert c.counters[:2] == (expected.frames, len(expected.times_ms))


def test_sanitizers_chunks_and_resets(
    short_stream: np.ndarray, labels: list[str], tmp_path: Path
) -> None:
    """ASan+UBSan build; three streams with resets between them, odd chunk sizes."""
    reason = sanitizers_work(tmp_path)
    if reason is not None:
        missing(reason)
    exe = _build(tmp_path / "driver_san", extra=("-O1", "-g", *SANITIZE_FLAGS))
    spec = default_spec(len(labels), stride_frames=3, window=4, threshold_q=0, suppression_ms=500)
    streams = [short_stream, short_stream[:40000], short_stream[::-1].copy()]
    c = run_c(exe, spec, streams, pseudo_model(5), tmp_path, chunks=(4096, 1, 7),
              env={**SANITIZER_ENV})  # fmt: skip
    for got, samples in zip(c.detections, streams, strict=True):
        assert got == list(listen(samples, spec, batch(pseudo_model(5))).detections)
    assert sum(len(d) for d in c.detections) == c.counters[4] >= 3


def test_long_stream_ring_wraps(driver: Path, material: dict[str, object], tmp_path: Path) -> None:
    """Three minutes: the feature window shifts ~9,000 times, the detector's ring wraps."""
    noise = material["noise"]
    keywords = material["keywords"]
    assert isinstance(noise, list) and isinstance(keywords, list)
    stream = compose(keywords[:90], noise, StreamProtocol(gap_ms=1000, snr_db=5.0)).samples
    assert len(stream) >= 180 * 16000
    spec = StreamSpec(DetectorSpec(num_labels=5, window=5, stride_frames=3, threshold_q=0,
                                   suppression_ms=700))  # fmt: skip
    scorer = pseudo_model(5)
    expected = listen(stream, spec, batch(scorer))
    c = run_c(driver, spec, [stream], scorer, tmp_path, chunks=(4096, 160))
    assert c.detections[0] == list(expected.detections)
    assert len(expected.detections) >= 20
    assert c.counters[0] == expected.frames >= 9000


def test_other_geometry(tmp_path: Path, short_stream: np.ndarray) -> None:
    """-DTINYSLM_KWS_FRAMES=10 with stride 1 and window 1: the compile-time size is honoured."""
    exe = _build(tmp_path / "driver10", defines=["TINYSLM_KWS_FRAMES=10"])
    spec = StreamSpec(DetectorSpec(num_labels=5, window=1, stride_frames=1, threshold_q=20,
                                   suppression_ms=300), frames=10)  # fmt: skip
    scorer = pseudo_model(5)
    expected = listen(short_stream, spec, batch(scorer))
    c = run_c(exe, spec, [short_stream], scorer, tmp_path, chunks=(333,))
    assert c.windows[0] == py_windows(short_stream, spec)
    assert c.detections[0] == list(expected.detections) and len(expected.detections) >= 5


def test_failed_inferences_are_skipped(
    driver: Path, short_stream: np.ndarray, tmp_path: Path
) -> None:
    """Every 5th inference fails: on_error gets its code, the detector never sees it."""
    spec = StreamSpec(DetectorSpec(num_labels=5, window=2, threshold_q=0, suppression_ms=500))
    scorer = pseudo_model(5)
    full = listen(short_stream, spec, batch(scorer))
    keep = [i for i in range(len(full.times_ms)) if i % 5 != 4]
    expected = detect(spec.detector, full.scores[keep], [int(full.times_ms[i]) for i in keep])
    c = run_c(driver, spec, [short_stream], scorer, tmp_path, fail=lambda i: 3 if i % 5 == 4 else 0)
    assert c.failures == [3] * (len(full.times_ms) - len(keep))
    assert c.detections[0] == expected and len(expected) >= 3
    assert c.counters[3] == len(c.failures)


def test_bad_config_refused(driver: Path, tmp_path: Path) -> None:
    pcm = tmp_path / "empty.pcm"
    pcm.write_bytes(b"")
    # stride 0; a detector config the detector refuses (every label masked)
    for args in (["5", "3", "51", "1000", "3", "0"], ["5", "3", "51", "1000", "31", "2"]):
        out = subprocess.run([str(driver), str(pcm), *args, "160"], capture_output=True,
                             check=True, timeout=30)  # fmt: skip
        assert out.stdout == b"X", args


def test_cortex_m7_build_and_size(tmp_path: Path) -> None:
    obj = build_m7_object(AUDIO / "tinyslm_listen.c", tmp_path / "listen_m7.o", [AUDIO])
    print(f"\nlistening loop on Cortex-M7 -Os: .text {obj.text} B, .rodata {obj.rodata} B")
    assert 0 < obj.text + obj.rodata < 1024
    assert obj.static == 0  # all state is the caller's tinyslm_listen_t
    # t_ms is kept with 32-bit adds and one division per frame by a constant: no helpers
    assert obj.undefined <= {
        "memset", "memcpy", "memmove", "tinyslm_audio_frontend_feed",
        "tinyslm_audio_frontend_reset", "tinyslm_kws_detector_init",
        "tinyslm_kws_detector_reset", "tinyslm_kws_detector_push",
    }, obj.undefined  # fmt: skip


def test_fixture_model_is_what_labels_say(labels: list[str]) -> None:
    from tinyslm.flatbuffer import io_details

    model = (FIXTURE / "model.tflite").read_bytes()
    details = io_details(model)
    assert details.output_shape[-1] == len(labels) and labels[:2] == ["_silence_", "_unknown_"]
    assert details.input_quant.zero_point == 0
    print(f"\nkws fixture: {len(model)} bytes, sha256 {hashlib.sha256(model).hexdigest()[:12]}")
