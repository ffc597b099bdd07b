"""Round 45: keyword ``emulate --wav`` on the default engine prints no made-up ``us``.

``us`` is the time the inference and the detector took (firmware/audio/tinyslm_listen.h,
docs/audio.md, the project README), 0 where nothing measures it. The host emulator runs
verify's Python loop first and answers every window of the recording from the scores it
recorded (:class:`tinyslm.emulate.keywords.KeywordEmulator`'s memo), so no inference
runs; its clock still ran, and each detection showed a few microseconds: a dictionary
lookup printed as a 2M-MAC inference. The clock now moves only while an inference
really runs: 0 for a window answered from the memo, the host's time for one that ran.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from shared_paths import dataset_path, require_path

from tinyslm.audio.frames import stream_bytes
from tinyslm.audio.wav import read_wav, write_wav
from tinyslm.cli import cli
from tinyslm.emulate.keywords import KeywordEmulator, parse_lines
from tinyslm.pipeline import run_generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_manifest, keyword_model_dir

pytestmark = pytest.mark.toolchain

CLIPS = ("yes/1528225c_nohash_0.wav", "yes/20d3f11f_nohash_0.wav", "no/1528225c_nohash_0.wav")


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A project of the fixture model at the lowest level (so that the short recording
    fires), and three clips, each with 0.5 s of silence either side."""
    root = require_path(dataset_path("speech_commands_dev"), "the speech_commands_dev dataset")
    base = tmp_path_factory.mktemp("r45_us")
    project = base / "proj"
    run_generate("stm32h7", project, model_dir=keyword_model_dir(base / "model",
                 keyword_manifest(threshold_q=-128)))  # fmt: skip
    quiet = np.zeros(8000, dtype=np.int16)
    parts = [[quiet, np.asarray(read_wav(root / c), dtype=np.int16), quiet] for c in CLIPS]
    wav = base / "clips.wav"
    write_wav(wav, np.concatenate([p for group in parts for p in group]))
    return project, wav


def test_wav_detections_answered_from_the_reference_show_no_time(
    recording: tuple[Path, Path],
) -> None:
    project, wav = recording
    result = CliRunner().invoke(cli, ["emulate", str(project), "--wav", str(wav)])
    assert result.exit_code == 0, result.output
    assert "parity with verify's Python loop: identical" in result.stderr
    found = [json.loads(line) for line in result.stdout.splitlines() if '"keyword"' in line]
    assert found, result.stdout
    assert [d["us"] for d in found] == [0] * len(found)


def test_inferences_that_really_run_are_still_timed(recording: tuple[Path, Path]) -> None:
    """Without the reference's scores (an interactive or piped stream) every window runs
    on TFLM's Python runtime, and its host time is what ``us`` shows."""
    project, wav = recording
    emulator = KeywordEmulator(project)
    lines: list[str] = []
    data = stream_bytes(np.asarray(read_wav(wav), dtype=np.int16))
    for at in range(0, len(data), 4096):
        lines += emulator.feed(data[at : at + 4096])
    found = parse_lines(lines).detections
    assert found and emulator.memo_hits == 0
    assert all(d.us > 0 for d in found), found
