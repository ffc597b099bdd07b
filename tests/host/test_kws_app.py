"""The keyword app (firmware/audio/tinyslm_kws_app.c) on the serial line, on the host.

``tests/host/kws_app_driver.c`` feeds the app bytes (framed PCM as
``tinyslm monitor --wav`` sends it, and ``:`` commands) or microphone samples,
with the committed keyword fixture model answered on TFLM by the test
(``listen_harness``). The app's JSON lines must be exactly the detections of
:func:`tinyslm.audio.stream.listen` on the same samples, in any chunk sizes;
``:info`` says it is a keyword model; a corrupted frame is one error line and the
stream goes on without its samples; a failing model is one line until it recovers;
microphone samples are dropped while a serial stream is open, and given back when
the stream's frames stop for 2 s (its END lost).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from listen_harness import Scorer, batch, drive, fixture_labels, lines, pseudo_model, tflm_scorer
from m7_object import build_m7_object
from shared_paths import dataset_path, missing, require_path

from tinyslm.audio.dataset import AudioDatasetConfig, load_audio_dataset
from tinyslm.audio.detector import Detection, DetectorSpec
from tinyslm.audio.frames import FRAME_AUDIO, encode_frame, stream_bytes
from tinyslm.audio.stream import StreamProtocol, StreamSpec, compose, listen
from tinyslm.errors import ToolchainError
from tinyslm.toolchain import ccompile

pytestmark = pytest.mark.toolchain

REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "firmware" / "audio"
COMMON = REPO / "firmware" / "common"
APP_C = AUDIO / "tinyslm_kws_app.c"
SOURCES = [
    APP_C,
    *(AUDIO / f"{n}.c" for n in ("tinyslm_listen", "tinyslm_audio_frontend",
                                 "tinyslm_kws_detector", "tinyslm_audio_frames")),
    COMMON / "tinyslm_json.c",
    Path(__file__).resolve().parent / "kws_app_driver.c",
]  # fmt: skip
HOST_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic")
THRESHOLD_MILLI = 699  # (51 + 128) / 256
SHA = "0123456789abcdef" * 4


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return ccompile.compile_executable(
            SOURCES, tmp_path_factory.mktemp("kws_app") / "kws_app_driver",
            include_dirs=[AUDIO, COMMON], cflags=HOST_FLAGS,
        )  # fmt: skip
    except ToolchainError as exc:
        if "not found" in str(exc):
            missing(str(exc))
        raise


@pytest.fixture(scope="module")
def labels() -> list[str]:
    return fixture_labels()


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return tflm_scorer()


@pytest.fixture(scope="module")
def recording(labels: list[str]) -> np.ndarray:
    """Six test-split keyword clips in a row with test-side background noise between."""
    root = require_path(dataset_path("speech_commands_dev"), "the speech_commands_dev dataset")
    ds = load_audio_dataset(
        root, AudioDatasetConfig(unknown_words=("down", "left", "right", "stop"))
    )
    assert list(ds.labels) == labels
    index = {name: i for i, name in enumerate(labels)}
    test = [c for c in ds.split("test") if index[c.label] >= 2]
    picked = [(index[c.label], c.samples) for c in test[::7][:6]]
    noise = [r.part("test") for r in ds.noise]
    return compose(picked, noise, StreamProtocol(gap_ms=1200, snr_db=10.0)).samples


def spec_for(labels: Sequence[str], **kw: int) -> StreamSpec:
    return StreamSpec(DetectorSpec(num_labels=len(labels), **kw))


def app_events(
    exe: Path,
    spec: StreamSpec,
    labels: Sequence[str],
    inputs: Sequence[tuple[str, bytes]],
    scorer: Scorer,
    work: Path,
    chunk: int = 4096,
    fail: Callable[[int], int] = lambda i: 0,
    threshold_milli: int = THRESHOLD_MILLI,
    hook: str = "after",
) -> list[tuple[object, ...]]:
    """Every record the driver wrote (``hook``: when it registers the action hook)."""
    args = []
    for i, (kind, data) in enumerate(inputs):
        path = work / f"input{i}.bin"
        path.write_bytes(data)
        args.append(f"{kind}:{path}")
    d = spec.detector
    head = [d.num_labels, d.window, d.threshold_q, d.suppression_ms, d.non_keyword_mask,
            d.stride_frames, threshold_milli, chunk]  # fmt: skip
    env = {**os.environ, "TINYSLM_TEST_HOOK": hook}
    return drive([str(exe), *map(str, head), *args, "--", *labels], scorer, spec.frames,
                 fail=fail, env=env)  # fmt: skip


def run_app(*args: Any, **opts: Any) -> tuple[list[str], tuple[int, ...]]:
    """The app's output lines and its end counters (arguments as :func:`app_events`)."""
    events = app_events(*args, **opts)
    end = next(e for e in events if e[0] == "E")
    return lines(events), tuple(int(v) for v in end[1:] if isinstance(v, int))


def detection_line(d: Detection, labels: Sequence[str], us: int = 7) -> str:
    score = f"{d.score_milli // 1000}.{d.score_milli % 1000:03d}"
    return f'{{"keyword":"{labels[d.label]}","score":{score},"t_ms":{d.t_ms},"us":{us}}}'


def pcm(samples: np.ndarray) -> bytes:
    return samples.astype("<i2").tobytes()


def framed(recording: np.ndarray) -> tuple[list[bytes], list[bytes]]:
    """START, one AUDIO frame per 512 bytes of ``recording``, END; and those 512-byte chunks."""
    raw = pcm(recording)
    chunks = [raw[i : i + 512] for i in range(0, len(raw), 512)]
    frames = [encode_frame(1, 0)]
    frames += [encode_frame(FRAME_AUDIO, (i + 1) & 0xFF, c) for i, c in enumerate(chunks)]
    frames.append(encode_frame(3, (len(chunks) + 1) & 0xFF))
    return frames, chunks


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_serial_stream_lines_equal_the_python_loop(
    app: Path, labels: list[str], scorer: Scorer, recording: np.ndarray, chunk: int,
    tmp_path: Path,
) -> None:  # fmt: skip
    spec = spec_for(labels)
    expected = listen(recording, spec, batch(scorer))
    assert len(expected.detections) >= 2  # the fixture does hear some of the six words
    out, _ = run_app(app, spec, labels, [("serial", stream_bytes(recording))], scorer,
                            tmp_path, chunk=chunk)  # fmt: skip
    end = {"end": {"frames": expected.frames, "inferences": len(expected.times_ms),
                   "detections": len(expected.detections)}}  # fmt: skip
    assert out == [detection_line(d, labels) for d in expected.detections] + [
        json.dumps(end, separators=(",", ":"))
    ]
    for line in out:
        json.loads(line)


def test_info_and_commands(app: Path, labels: list[str], tmp_path: Path) -> None:
    spec = spec_for(labels, stride_frames=3, window=4, suppression_ms=900)
    typed = b"\r\n\n:info\r\n:infox\n:nope\r" + b":" + b"x" * 40 + b"\n:info\n"
    out, _ = run_app(app, spec, labels, [("serial", typed)], pseudo_model(5), tmp_path, chunk=3)
    info = {
        "info": {
            "version": "0.1.0", "board": "host", "modality": "keywords", "model_sha256": SHA,
            "model_bytes": 19992, "arena_bytes": 19616,
            "ops": ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D"], "labels": 5,
            "threshold": 0.699, "keywords": labels[2:], "frames": 49, "stride_ms": 60,
            "average": 4, "suppression_ms": 900,
        }
    }  # fmt: skip
    info_line = json.dumps(info, separators=(",", ":"))
    assert out == [
        info_line,
        '{"error":"unknown_command"}',
        '{"error":"unknown_command"}',
        '{"error":"line_too_long","max":32}',
        info_line,
    ]
    assert list(json.loads(out[0])["info"]) == list(info["info"])  # key order


def test_bad_frames_are_one_line_each_and_the_stream_goes_on(
    app: Path, labels: list[str], recording: np.ndarray, tmp_path: Path
) -> None:
    spec = spec_for(labels, threshold_q=0, suppression_ms=500)
    model = pseudo_model(5)
    frames, chunks = framed(recording)
    bad = bytearray(frames[40])
    bad[100] ^= 0x10  # a flipped bit in the payload: the CRC fails, 256 samples are lost
    corrupted = [*frames[:40], bytes(bad), *frames[41:60], *frames[61:]]  # and one frame lost
    delivered = np.concatenate(
        [np.frombuffer(c, "<i2") for i, c in enumerate(chunks) if i + 1 not in (40, 60)]
    ).astype(np.int16)
    expected = listen(delivered, spec, batch(model))
    out, _ = run_app(app, spec, labels, [("serial", b"".join(corrupted))], model, tmp_path,
                     chunk=333)  # fmt: skip
    errors = [line for line in out if '"error"' in line]
    assert errors[0].startswith('{"error":"bad_frame","reason":"bad crc","detail":')
    # after the dropped frame and after the missing one
    assert errors[1:] == ['{"error":"bad_frame","reason":"frames lost","detail":1}'] * 2
    kept = [line for line in out if '"keyword"' in line]
    assert kept == [detection_line(d, labels) for d in expected.detections]
    assert len(kept) >= 5 and out[-1].startswith('{"end":')


@pytest.mark.parametrize("noise", [b"0123456789:;<=>?" * 32, b"0" * 501 + b"\n:info56789"])
def test_a_colon_in_a_lost_frame_does_not_swallow_the_frames_after_it(
    app: Path, labels: list[str], recording: np.ndarray, tmp_path: Path, noise: bytes
) -> None:
    """A frame whose sync byte is lost is PCM outside any frame. A ':' in it used to
    start a command line that took every later frame as its text up to the next CR or
    LF: here the whole rest of the stream, so its detections and END never came. A ':'
    after skipped bytes is noise now, and so (round 50) is one at the start of a line
    among a stray frame's bytes (the PCM held a LF): all 519 bytes are one garbage run."""
    spec = spec_for(labels, threshold_q=0, suppression_ms=500)
    model = pseudo_model(5)
    frames, chunks = framed(recording)
    k = 40
    chunks[k - 1] = noise
    frames[k] = encode_frame(FRAME_AUDIO, k & 0xFF, chunks[k - 1])[1:]  # its 0xA5 lost
    delivered = np.concatenate(
        [np.frombuffer(c, "<i2") for i, c in enumerate(chunks) if i + 1 != k]
    ).astype(np.int16)
    expected = listen(delivered, spec, batch(model))
    out, _ = run_app(app, spec, labels, [("serial", b"".join(frames))], model, tmp_path,
                     chunk=333)  # fmt: skip
    errors = [line for line in out if '"error"' in line]
    assert errors == ['{"error":"bad_frame","reason":"garbage","detail":519}',
                      '{"error":"bad_frame","reason":"frames lost","detail":1}']  # fmt: skip
    kept = [line for line in out if '"keyword"' in line]
    assert kept == [detection_line(d, labels) for d in expected.detections]
    assert len(kept) >= 5
    assert json.loads(out[-1])["end"]["frames"] == expected.frames


@pytest.mark.parametrize(
    ("noise", "answered"),
    [
        (b"\xa5\n", True),  # the line end ended a lone sync byte inside the parser
        (b"\xa5\x5a\x09\r\n", True),  # a header of a bad type, then CRLF
        (b"\x01\x02\n", True),
        (b"\x01\x02", False),  # no line end: the ':' is a lost frame's PCM
    ],
)
def test_a_line_end_after_noise_lets_a_command_through(
    app: Path, labels: list[str], tmp_path: Path, noise: bytes, answered: bool
) -> None:
    """A host resyncs with a line end; one that ended a broken frame candidate (a lone
    0xA5 before it) was eaten by the parser's rescan, and the ':info' after it was
    taken for noise."""
    spec = spec_for(labels)
    out, _ = run_app(app, spec, labels, [("serial", noise + b":info\n")], pseudo_model(5),
                     tmp_path, chunk=1)  # fmt: skip
    assert any(line.startswith('{"info":') for line in out) == answered, out


def test_a_stream_whose_start_is_lost_is_still_heard_alone(
    app: Path, labels: list[str], recording: np.ndarray, tmp_path: Path
) -> None:
    """START hit by a bad CRC: its first AUDIO frame opens the stream instead, so the
    microphone samples arriving between frames are dropped rather than fed to the same
    front end (they used to be, and the END counted the microphone's frames too). An
    END with no stream open answers zero counts: none of the host's audio was heard."""
    spec = spec_for(labels, threshold_q=0, suppression_ms=500)
    model = pseudo_model(5)
    frames, _ = framed(recording)
    start = bytearray(frames[0])
    start[-1] ^= 0x01
    frames[0] = bytes(start)
    expected = listen(recording, spec, batch(model))
    noise = pcm(recording[::-1][:8000].copy())
    inputs: list[tuple[str, bytes]] = [("mic", noise)]
    for i in range(0, len(frames), 100):
        inputs += [("mic", noise)] * (i > 0) + [("serial", b"".join(frames[i : i + 100]))]
    # In sequence: after an END the parser expects the next stream's seq 0 (round 50; it
    # expected the ended stream's next seq, and said 246 frames lost after a lost START).
    inputs.append(("serial", encode_frame(3, 0)))
    out, counters = run_app(app, spec, labels, inputs, model, tmp_path, chunk=4096)
    errors = [line for line in out if '"error"' in line]
    assert len(errors) == 1 and '"reason":"bad crc"' in errors[0], errors
    assert [line for line in out if '"keyword"' in line] == [
        detection_line(d, labels) for d in expected.detections
    ]
    ends = [json.loads(line)["end"] for line in out if line.startswith('{"end"')]
    assert ends == [
        {"frames": expected.frames, "inferences": len(expected.times_ms),
         "detections": len(expected.detections)},
        {"frames": 0, "inferences": 0, "detections": 0},
    ]  # fmt: skip
    assert counters[4] == 0  # feed_samples made none


def test_inference_failures_print_once_until_recovered(
    app: Path, labels: list[str], recording: np.ndarray, tmp_path: Path
) -> None:
    spec = spec_for(labels)
    short = recording[: 16000 * 3]

    def fail(i: int) -> int:
        return -2 if 5 <= i < 20 or i >= 40 else 0

    # Without its END frame, which starts the loop afresh (counters too): the driver's
    # closing counters are then the stream's.
    stream = stream_bytes(short)
    assert stream[-8:][:3] == bytes([0xA5, 0x5A, 3])
    out, counters = run_app(app, spec, labels, [("serial", stream[:-8])],
                            pseudo_model(5), tmp_path, fail=fail)  # fmt: skip
    failures = [line for line in out if "inference_failed" in line]
    assert failures == ['{"error":"inference_failed","code":-2}'] * 2
    inferences = counters[1]
    assert counters[3] == 15 + (inferences - 40) and inferences > 40


def test_microphone_path_and_serial_priority(
    app: Path, labels: list[str], recording: np.ndarray, tmp_path: Path
) -> None:
    spec = spec_for(labels, threshold_q=0, suppression_ms=500)
    model = pseudo_model(5)
    expected = listen(recording, spec, batch(model))
    assert len(expected.detections) >= 5
    # Microphone only: the same detections, t_ms counted from init.
    out, counters = run_app(app, spec, labels, [("mic", pcm(recording))], model, tmp_path,
                            chunk=100)  # fmt: skip
    assert out == [detection_line(d, labels) for d in expected.detections]
    assert counters[4] == len(expected.detections)
    # A serial stream opened in between: microphone samples inside it are dropped.
    # 1.5 s of them between frames, three times: 4.5 s in all, more than the 2 s
    # without a frame that close a stream (TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES), since
    # every frame starts that count again.
    whole = stream_bytes(recording)
    cuts = [
        whole.index(encode_frame(FRAME_AUDIO, k % 256, pcm(recording[(k - 1) * 256 : k * 256])))
        for k in (30, 300, 600)
    ]
    noise = pcm(recording[::-1][:24000].copy())
    inputs = [("serial", whole[: cuts[0]])]
    for a, b in zip(cuts, [*cuts[1:], len(whole)], strict=True):
        inputs += [("mic", noise), ("serial", whole[a:b])]
    out, counters = run_app(app, spec, labels, inputs, model, tmp_path, chunk=4096)
    assert [line for line in out if '"keyword"' in line] == [
        detection_line(d, labels) for d in expected.detections
    ]
    assert not any("stream_timeout" in line for line in out)
    assert counters[4] == 0  # feed_samples made none


def test_after_end_the_microphone_is_heard_alone(
    app: Path, labels: list[str], recording: np.ndarray, tmp_path: Path
) -> None:
    """A played recording that ends with END gives the microphone back as a timeout does:
    the loop starts afresh. It used to go on with the recording's last second in the
    feature window (and its clock), so a word at the end of the recording could fire
    after the END line's counts, from the microphone."""
    spec = spec_for(labels, threshold_q=0, suppression_ms=500)
    model = pseudo_model(5)
    expected = listen(recording, spec, batch(model))
    inputs = [("serial", stream_bytes(recording[: 16000 * 2])), ("mic", pcm(recording))]
    out, counters = run_app(app, spec, labels, inputs, model, tmp_path, chunk=100)
    after = out[next(i for i, line in enumerate(out) if line.startswith('{"end"')) + 1 :]
    assert after == [detection_line(d, labels) for d in expected.detections]
    assert counters[4] == len(expected.detections) >= 5


@pytest.mark.parametrize("lost", ["cut off", "bad crc"])
def test_a_stream_whose_frames_stop_gives_the_microphone_back(
    app: Path, labels: list[str], recording: np.ndarray, tmp_path: Path, lost: str
) -> None:
    """END lost (the host went away half way through it, or its CRC was hit): after 2 s
    of microphone samples without a frame the stream is closed with one line, the loop
    starts afresh on the microphone, and a command is answered (the parser dropped
    the cut-off frame's bytes rather than taking the command for them)."""
    spec = spec_for(labels, threshold_q=0, suppression_ms=500)
    model = pseudo_model(5)
    expected = listen(recording, spec, batch(model))
    whole = stream_bytes(recording[: 16000 * 2])
    end = whole[-8:]
    assert end[:3] == bytes([0xA5, 0x5A, 3])  # the END frame
    lost_end = end[:4] if lost == "cut off" else end[:-1] + bytes([end[-1] ^ 0x40])
    inputs = [
        ("serial", whole[:-8] + lost_end),
        # 100-sample batches: the stream closes with the 320th, exactly 2 s, which is
        # dropped, so the recording after it is heard from its first sample.
        ("mic", bytes(2 * 32000)),
        ("mic", pcm(recording)),
        ("serial", b":info\n"),
    ]
    out, counters = run_app(app, spec, labels, inputs, model, tmp_path, chunk=100)
    assert not any(line.startswith('{"end"') for line in out)
    assert out.count('{"error":"stream_timeout"}') == 1
    after = out[out.index('{"error":"stream_timeout"}') + 1 :]
    assert after[:-1] == [detection_line(d, labels) for d in expected.detections]
    assert json.loads(after[-1])["info"]["modality"] == "keywords"
    assert counters[4] == len(expected.detections) >= 5


def test_every_detection_reaches_the_action_hook_after_its_line(
    app: Path, labels: list[str], recording: np.ndarray, tmp_path: Path
) -> None:
    """What generated projects give src/tinyslm_actions.c: each detection once, with its
    label, score and time, after its JSON line, from the microphone and from serial."""
    spec = spec_for(labels, threshold_q=0, suppression_ms=500)
    model = pseudo_model(5)
    expected = listen(recording, spec, batch(model))
    assert len(expected.detections) >= 5
    want = [("K", d.label, d.score_milli, d.t_ms) for d in expected.detections]
    for kind, data in (("mic", pcm(recording)), ("serial", stream_bytes(recording))):
        events = app_events(app, spec, labels, [(kind, data)], model, tmp_path, chunk=333)
        assert [e for e in events if e[0] == "K"] == want, kind
        # Each hook call comes after its own line is complete, and before the next line.
        for i, event in enumerate(events):
            if event[0] != "K":
                continue
            before = lines(events[:i])
            assert before and before[-1] == detection_line(expected.detections[want.index(event)],
                                                           labels), kind  # fmt: skip
    # Registered before setup: setup clears it (a stale hook from an earlier init never runs).
    for hook in ("early", "none"):
        events = app_events(
            app, spec, labels, [("mic", pcm(recording))], model, tmp_path, chunk=333, hook=hook
        )
        assert not [e for e in events if e[0] == "K"], hook
        assert len([x for x in lines(events) if '"keyword"' in x]) == len(want)


def test_bad_model_info_is_refused(app: Path, labels: list[str]) -> None:
    d = spec_for(labels).detector
    # stride 0; every label masked; a window the detector cannot hold
    for stride, mask, window in ((0, 3, 3), (2, 31, 3), (2, 3, 17)):
        head = [d.num_labels, window, d.threshold_q, d.suppression_ms, mask, stride, 699, 16]
        events = drive([str(app), *map(str, head), "--", *labels], pseudo_model(5), 49)
        assert events == [("X",)], (stride, mask, window)


def test_cortex_m7_build_and_size(tmp_path: Path) -> None:
    obj = build_m7_object(APP_C, tmp_path / "kws_app_m7.o", [AUDIO, COMMON])
    print(f"\nkeyword app on Cortex-M7 -Os: .text {obj.text} B, .rodata {obj.rodata} B")
    assert 0 < obj.text + obj.rodata < 3072
    assert obj.static == 0
    assert {s for s in obj.undefined if not s.startswith("tinyslm_")} <= {"memset", "memcmp"}
