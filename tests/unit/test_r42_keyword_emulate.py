"""Round 42, keyword side after training: ``emulate --data`` warns as ``eval`` does and
refuses data it cannot stream; ``monitor --wav`` fails when the board did not hear the
recording whole; readable tables; noise-only splits, background rows with a split cell,
a WAV with two ``data`` chunks; and hand-edited keyword settings named.

The committed fixture model (tests/fixtures/kws.py) is scored; nothing here trains.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fake_serial import FakePort, use_port
from shared_paths import require_tool

from tinyslm import monitor as monitor_mod
from tinyslm.audio.dataset import AudioDatasetConfig, load_audio_dataset
from tinyslm.audio.evaluate import (
    KeywordEvalResult,
    format_keyword_eval,
    keyword_warnings,
    load_for_model,
)
from tinyslm.audio.frames import FRAME_END
from tinyslm.audio.frontend import FrontendSpec
from tinyslm.audio.stream import StreamFigures
from tinyslm.audio.wav import parse_wav, wav_bytes, write_wav
from tinyslm.cli import cli
from tinyslm.emulate.keywords import KeywordDataResult, format_data_result, load_keyword_data
from tinyslm.errors import DatasetError, ToolchainError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from kws import keyword_manifest, keyword_model_dir  # noqa: E402

RATE = 16000


def _noise(path: Path, seconds: float, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    write_wav(path, rng.normal(0, 800, int(seconds * RATE)).clip(-32768, 32767).astype(np.int16))
    return path


def _clips(folder: Path, label: str, n: int) -> None:
    for i in range(n):
        _noise(folder / label / f"spk{i}_nohash_0.wav", 1.0, seed=100 + i)


# --- 1. emulate --data: eval's warnings, and a split with nothing to stream -------------


def test_emulate_data_gives_evals_warnings_for_the_same_split(tmp_path: Path) -> None:
    data = tmp_path / "room"
    _noise(data / "_background_noise_" / "kitchen.wav", 12.0)
    manifest = keyword_manifest()
    loaded = load_keyword_data(data, manifest, "test")
    dataset, split_name, _ = load_for_model(data, "test", manifest, lambda _: None)
    assert loaded.warnings == keyword_warnings(dataset, "test", split_name, manifest)
    (warning,) = loaded.warnings
    assert warning.startswith("no clips in the test split: streamed its 1 s of the 12 s")


# Round 47: a split of only _unknown_ clips for a model without _unknown_ is no longer
# refused: those clips are streamed as unknown words (test_r47_kweval_data), and a split
# of only _silence_ clips for a model without _silence_ still is.


@pytest.fixture(scope="module")
def kws_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An esp32 project generated from the keyword fixture model (treat as read-only)."""
    require_tool("cc")
    from tinyslm.pipeline import run_generate

    base = tmp_path_factory.mktemp("r42_kws")
    run_generate("esp32", base / "esp32", model_dir=keyword_model_dir(base / "model"))
    return base / "esp32"


def test_emulate_data_json_has_the_warnings(kws_project: Path, tmp_path: Path) -> None:
    data = tmp_path / "room"
    _noise(data / "_background_noise_" / "kitchen.wav", 12.0)
    result = CliRunner().invoke(
        cli, ["emulate", str(kws_project), "--data", str(data), "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert len(doc["warnings"]) == 1
    assert doc["warnings"][0].startswith("no clips in the test split: streamed its 1 s")
    # Readable: one stream, no keyword stream claimed as measured.
    assert ", 1 stream, " in result.stderr
    assert "accuracy (keyword clips detected) n/a (no keyword clips)\n" in result.stderr
    assert "keyword stream n/a)" in result.stderr


# --- 2. monitor --wav: a board that did not hear the recording whole ------------------


class EndBoard(FakePort):
    """Answers the END frame with ``lines`` (nothing at all for none)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines

    def write(self, data: bytes) -> int:
        super().write(data)
        if data[2] == FRAME_END:
            self.answer("".join(line + "\n" for line in self.lines).encode())
        return len(data)


def _end(frames: int) -> str:
    return json.dumps({"end": {"frames": frames, "inferences": 0, "detections": 0}})


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    return _noise(tmp_path / "half.wav", 0.5)


def _monitor(wav: Path) -> tuple[int, list[str], list[str]]:
    result = CliRunner().invoke(cli, ["monitor", "--wav", str(wav), "--port", "fake", "--fast"])
    rows = [ln for ln in result.stderr.splitlines() if not ln.startswith("monitor: ")]
    return result.exit_code, result.stdout.splitlines(), rows


def test_monitor_wav_fails_when_the_board_never_ends(
    monkeypatch: pytest.MonkeyPatch, wav: Path
) -> None:
    use_port(monkeypatch, EndBoard([]))
    with pytest.raises(ToolchainError, match="no end-of-stream answer from the board on x"):
        monitor_mod.monitor_wav(wav, "x", echo=lambda _: None, pace=False, end_timeout=0.2)


def test_monitor_wav_passes_a_whole_stream(monkeypatch: pytest.MonkeyPatch, wav: Path) -> None:
    use_port(monkeypatch, EndBoard([_end(FrontendSpec().num_frames(8000))]))
    code, out, err = _monitor(wav)
    assert code == 0 and err == []
    assert out == ["end of stream: 24 frames, 0 inferences, 0 detections"]


@pytest.mark.parametrize(
    ("lines", "warning"),
    [
        ([_end(20)], "warning: the board counted 20 front-end frames; the recording makes 24"),
        (
            ['{"error":"bad_frame","reason":"bad crc","detail":3}', _end(24)],
            "warning: the board dropped 1 serial frame of the recording (bad crc 1)",
        ),
    ],
)
def test_monitor_wav_fails_when_audio_was_lost(
    monkeypatch: pytest.MonkeyPatch, wav: Path, lines: list[str], warning: str
) -> None:
    use_port(monkeypatch, EndBoard(lines))
    code, _, err = _monitor(wav)
    assert code == 1
    assert err[0].startswith(warning), err
    assert err[1:] == [
        f"error: the board did not hear all of {wav}: its detections are not the whole "
        "recording's (warnings above)"
    ]


# --- 4. tables that read right ---------------------------------------------------------


def _figures(keyword_clips: int, hits: int) -> StreamFigures:
    return StreamFigures(
        threshold_q=51,
        keyword_clips=keyword_clips,
        keyword_hits=hits,
        keyword_false_accepts=0,
        noise_seconds=12.0,
        noise_false_accepts=0,
        unknown_seconds=0.0,
        unknown_false_accepts=0,
        keyword_seconds=3.0 * keyword_clips,
        per_label=((4, keyword_clips, hits),) if keyword_clips else (),
        window=3,
        suppression_ms=1000,
        stride_ms=40,
    )


def _data_result(figures: StreamFigures, streams: int) -> KeywordDataResult:
    return KeywordDataResult(
        source="room", split="test", figures=figures, streams=streams, parity_streams=streams,
        device_detections=0, reference_detections=0, parity_detections=0, errors=(),
        labels=keyword_manifest().labels,
    )  # fmt: skip


def test_emulate_data_table_reads_right() -> None:
    lines = format_data_result(_data_result(_figures(3, 2), 2), "emulator").splitlines()
    assert lines[0] == "emulator: room [test], 2 streams, 21 s of audio, threshold_q 51"
    assert lines[1] == "accuracy (keyword clips detected) 66.67% (2/3): yes 2/3"
    assert lines[2] == "false-rejection rate 33.33%"
    none = format_data_result(_data_result(_figures(0, 0), 1), "emulator").splitlines()
    assert none[0].startswith("emulator: room [test], 1 stream, 12 s")
    assert none[1] == "accuracy (keyword clips detected) n/a (no keyword clips)"
    assert none[3].endswith("(noise 0, unknown words 0, keyword stream n/a)")


def test_eval_says_na_without_a_keyword_stream() -> None:
    manifest = keyword_manifest()
    result = KeywordEvalResult(
        source="room", split="test", model_sha256=manifest.model_sha256, model_bytes=1,
        arena_bytes=1, threshold_q=51, clips=0, correct=0, per_label=(), unknown_words=(),
        stream=_figures(0, 0),
    )  # fmt: skip
    rows = format_keyword_eval(result).splitlines()
    assert rows[-1].strip() == "n/a in the keyword stream (no keyword clips)"
    # No keyword stream: null, as the table's n/a (round 44: it read 0, a measured count).
    assert result.summary()["keyword_false_accepts"] is None


def test_monitor_end_row_counts_in_the_singular() -> None:
    row = monitor_mod.format_device_line('{"end":{"frames":1,"inferences":1,"detections":1}}')
    assert row == "end of stream: 1 frame, 1 inference, 1 detection"


# --- 5. a noise-only split under a window ----------------------------------------------


def test_eval_noise_only_split_under_a_window_says_it_is_split_in_time(tmp_path: Path) -> None:
    data = tmp_path / "n5"
    _noise(data / "_background_noise_" / "room.wav", 5.0)
    with pytest.raises(DatasetError) as err:
        load_for_model(data, "test", keyword_manifest(), lambda _: None)
    assert str(err.value) == (
        f"{data}: split 'test' has under a window of background audio: each recording is "
        "split in time and the test split is 10% of it (0.50 s of the longest, under the "
        "1.00 s window); --split all streams all of it"
    )


# --- 6. a background row's split cell ----------------------------------------------------


def test_a_background_rows_split_cell_is_warned_about(tmp_path: Path) -> None:
    _clips(tmp_path, "yes", 2)
    _noise(tmp_path / "_background_noise_" / "room.wav", 3.0)
    listing = tmp_path / "list.csv"
    listing.write_text(
        "yes/spk0_nohash_0.wav,yes,train\nyes/spk1_nohash_0.wav,yes,test\n"
        "_background_noise_/room.wav,_background_noise_,test\n"
    )
    dataset = load_audio_dataset(listing, AudioDatasetConfig(training_rules=False))
    note = (
        "1 _background_noise_ row(s) give a split (first: _background_noise_/room.wav, "
        "'test'), which is not used: every background recording is split in time (its "
        "first 80% train, the next 10% val, the last 10% test)"
    )
    assert note in dataset.warnings
    assert note in dataset.warnings_for("val")


# --- 7. a WAV with two data chunks ---------------------------------------------------------


def test_a_wav_with_two_data_chunks_is_refused(tmp_path: Path) -> None:
    one = wav_bytes(np.zeros(16000, dtype=np.int16))
    extra = np.ones(40000, dtype="<i2").tobytes()
    raw = one + b"data" + struct.pack("<I", len(extra)) + extra
    raw = raw[:4] + struct.pack("<I", len(raw) - 8) + raw[8:]
    with pytest.raises(DatasetError) as err:
        parse_wav(tmp_path / "two.wav", raw)
    assert str(err.value) == (
        f"{tmp_path / 'two.wav'}: unreadable WAV: a second 'data' chunk at byte {len(one)} "
        "(a WAV holds its samples in one; reading the first alone would drop the rest of "
        "the audio)"
    )


# --- 8. hand-edited keyword settings --------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "old", "new", "said"),
    [
        (
            "tinyslm_settings.c",
            ".threshold_milli = 699,",
            ".threshold_milli = 500,",
            "threshold_milli 500 does not match tinyslm.json's threshold 0.699 (the settings "
            "were edited: :info would report 0.500 while the detector runs at 0.699; "
            "regenerate the project, with --threshold for another level)",
        ),
        (
            "tinyslm_settings.h",
            "#define TINYSLM_KWS_AVERAGE 3",
            "#define TINYSLM_KWS_AVERAGE 2",
            "TINYSLM_KWS_AVERAGE 2 does not match tinyslm.json's average 3 (the settings were "
            "edited; regenerate the project, or train with another rule)",
        ),
        (
            "tinyslm_settings.c",
            ".non_keyword_mask = 3u,",
            ".non_keyword_mask = 1u,",
            "non_keyword_mask 1 does not match tinyslm.json's non-keyword labels' mask 3",
        ),
    ],
)
def test_hand_edited_keyword_settings_are_named(
    kws_project: Path, tmp_path: Path, file: str, old: str, new: str, said: str
) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(kws_project, copy)
    path = copy / "src" / file
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    result = CliRunner().invoke(cli, ["emulate", str(copy), "--text", ":info"])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {path}: {said}"), line
