"""``tinyslm monitor --wav`` against a fake serial port that is a keyword board.

The fake port feeds every byte the monitor writes into the keyword project's own C
app (:class:`tinyslm.emulate.keywords.KeywordEmulator`, the fixture model on TFLM) and
returns the app's output on read, as a board on a UART would. So the frames the
monitor sends must be exactly what the firmware's parser accepts, and the lines it
prints must be the board's detections.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from fake_serial import FakePort, use_port
from shared_paths import dataset_path, require_path

from tinyslm import monitor as monitor_mod
from tinyslm.audio.dataset import AudioDatasetConfig, load_audio_dataset
from tinyslm.audio.frames import SAMPLES_PER_FRAME, stream_bytes
from tinyslm.audio.stream import StreamProtocol, compose
from tinyslm.audio.wav import write_wav
from tinyslm.cli import cli
from tinyslm.emulate.keywords import KeywordEmulator, emulator_stream_runner
from tinyslm.errors import ToolchainError
from tinyslm.pipeline import run_generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir

pytestmark = pytest.mark.toolchain  # the fake board is the project's C, compiled here

CLIPS = ("yes/1528225c_nohash_0.wav", "no/1528225c_nohash_0.wav", "up/20d3f11f_nohash_1.wav")


class BoardPort(FakePort):
    """The keyword app behind the port: what is written is fed to it, its lines read."""

    def __init__(self, emu: KeywordEmulator) -> None:
        super().__init__()
        self.emu = emu
        self.write_times: list[float] = []

    def write(self, data: bytes) -> int:
        super().write(data)
        self.write_times.append(time.monotonic())
        for line in self.emu.feed(bytes(data)):
            self.answer(line.encode() + b"\n")
        return len(data)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("monitor_wav")
    run_generate("esp32", base / "proj", model_dir=keyword_model_dir(base / "model"))
    return base / "proj"


@pytest.fixture(scope="module")
def emu(project: Path) -> KeywordEmulator:
    return KeywordEmulator(project)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    root = require_path(dataset_path("speech_commands_dev"), "the speech_commands_dev dataset")
    ds = load_audio_dataset(
        root, AudioDatasetConfig(unknown_words=("down", "left", "right", "stop"))
    )
    by_source = {c.source: c for c in ds.split("test")}
    index = {name: i for i, name in enumerate(ds.labels)}
    clips = [(index[by_source[s].label], by_source[s].samples) for s in CLIPS]
    samples = compose(clips, [n.part("test") for n in ds.noise], StreamProtocol()).samples
    path = tmp_path_factory.mktemp("wav") / "words.wav"
    write_wav(path, samples)
    return path, samples


@pytest.fixture
def board(emu: KeywordEmulator, monkeypatch: pytest.MonkeyPatch) -> BoardPort:
    port = BoardPort(emu)
    opened: list[tuple[str, int]] = []

    def open_port(name: str, baud: int) -> Any:
        opened.append((name, baud))
        return port

    monkeypatch.setattr(monitor_mod, "open_port", open_port)
    port.opened = opened  # type: ignore[attr-defined]
    return port


def test_monitor_wav_prints_the_boards_detections(
    board: BoardPort, emu: KeywordEmulator, recording: tuple[Path, np.ndarray]
) -> None:
    path, samples = recording
    # What the board answers to the same stream fed directly (the reference here).
    expected = emulator_stream_runner(emu)(stream_bytes(samples))
    assert sum('"keyword"' in line for line in expected) >= 1
    result = CliRunner().invoke(
        cli, ["monitor", "--wav", str(path), "--port", "fake", "--fast", "--raw"]
    )
    assert result.exit_code == 0, result.output
    assert board.opened == [("fake", 115200)]  # type: ignore[attr-defined]
    got = result.stdout.splitlines()
    strip = [{k: v for k, v in json.loads(x).items() if k != "us"} for x in got]
    want = [{k: v for k, v in json.loads(x).items() if k != "us"} for x in expected]
    assert strip == want
    assert bytes(board.written) == stream_bytes(samples)  # START, AUDIO..., END, nothing else
    assert board.closed
    # Formatted rows: one per detection and the end summary.
    pretty = CliRunner().invoke(cli, ["monitor", "--wav", str(path), "--port", "x", "--fast"])
    rows = pretty.stdout.splitlines()
    assert rows[-1].startswith("end of stream: ")
    detections = [json.loads(x) for x in expected if '"keyword"' in x]
    for row, d in zip(rows, detections, strict=False):
        assert row.split()[:4] == [
            d["keyword"],
            f"{d['score']:.3f}",
            "at",
            f"{d['t_ms'] / 1000:.3f}",
        ]
    assert len(rows) == len(detections) + 1


def test_monitor_wav_paces_at_real_time_or_the_line_rate(board: BoardPort, tmp_path: Path) -> None:
    samples = (np.sin(np.arange(8000) / 7) * 3000).astype(np.int16)  # 0.5 s
    path = tmp_path / "tone.wav"
    write_wav(path, samples)
    lines = monitor_mod.monitor_wav(path, "fake", 921600, echo=lambda s: None)
    assert lines[-1].startswith('{"end":')
    frames = len(board.write_times)
    assert frames == 2 + -(-len(samples) // SAMPLES_PER_FRAME)
    # Real time: the last AUDIO frame goes out after the audio before it has played.
    span = board.write_times[-1] - board.write_times[0]
    assert span >= (frames - 2) * SAMPLES_PER_FRAME / 16000 * 0.95
    # 115200 baud cannot carry real time: frames are spaced by the line's rate.
    assert monitor_mod.frame_interval(256, 520, 115200) == pytest.approx(5200 / 115200)
    assert monitor_mod.frame_interval(256, 520, 921600) == pytest.approx(0.016)


def test_monitor_wav_refuses_a_bad_file_before_opening_the_port(
    board: BoardPort, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    result = CliRunner().invoke(cli, ["monitor", "--wav", str(bad), "--port", "fake"])
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and len(result.output.splitlines()) == 1
    assert board.opened == []  # type: ignore[attr-defined]
    fast = CliRunner().invoke(cli, ["monitor", "--port", "fake", "--fast"])
    assert fast.exit_code == 1 and fast.output.startswith("error: --fast needs --wav")


def test_monitor_wav_says_when_the_board_never_ends(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class Silent(BoardPort):
        def write(self, data: bytes) -> int:
            return len(data)

    use_port(monkeypatch, Silent(None))  # type: ignore[arg-type]
    path = tmp_path / "short.wav"
    write_wav(path, np.zeros(1600, dtype=np.int16))
    seen: list[str] = []
    # An error, not a row and exit 0: a CI script must tell a dead board from a clean run.
    with pytest.raises(ToolchainError) as err:
        monitor_mod.monitor_wav(path, "x", echo=seen.append, pace=False, end_timeout=0.3)
    assert str(err.value).startswith("no end-of-stream answer from the board on x within 0.3 s")
    assert [row for row in seen if not row.startswith("monitor: ")] == []


def test_an_interrupt_in_the_keyword_model_call_is_raised_after_c_returns(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on text (test_emulate.py): a KeyboardInterrupt (Ctrl-C, or the CLI's SIGTERM and
    SIGHUP) in the model call was kept as last_exception and lost."""
    emu = KeywordEmulator(project, memo={})

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(type(emu._model), "scores", interrupted)
    noise = np.random.default_rng(0).integers(-3000, 3000, 32000).astype(np.int16)
    with pytest.raises(KeyboardInterrupt):
        for at in range(0, 200000, 4096):
            emu.feed(stream_bytes(noise)[at : at + 4096])
    assert emu.last_exception is None
