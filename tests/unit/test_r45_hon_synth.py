"""Round 45 (honesty hunt): synth's messages and progress as a run prints them.

- The inside-a-dataset refusal's suggestions paste as printed: its ``-o`` path was
  unquoted (two arguments for a folder with a space), and the quoting of its train
  command was untested.
- A run's progress: the start line's count of engine processes (one per voice at most)
  and the "N of M voices rendered" lines, wired into the per-voice task (round 44 drove
  ``_Done`` by hand and stopped short of the count).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from tinyslm.audio import synth as synth_module
from tinyslm.audio.synth import SynthConfig, _check_not_in_a_dataset, synthesize
from tinyslm.errors import OutputExistsError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shared_paths import require_tool
from test_r44_synth_fixes import SMALL, wav


def test_the_inside_a_dataset_refusal_quotes_what_it_suggests(tmp_path: Path) -> None:
    ds = tmp_path / "my ds"
    for label in ("up", "_unknown_"):
        wav(ds / label / "a_nohash_0.wav")
    with pytest.raises(OutputExistsError) as info:
        _check_not_in_a_dataset(ds / "synth")
    msg = str(info.value)
    folder = ds.resolve()
    beside = folder.parent / "my ds-synth"
    assert "\n" not in msg
    suggested = msg.split("write it beside it (", 1)[1].split(")", 1)[0]
    assert shlex.split(suggested) == ["-o", str(beside)]
    command = msg.split(" and train with '", 1)[1]
    assert command.endswith("'")
    assert shlex.split(command[:-1]) == [
        "tinyslm", "train", str(folder), "--extra-train", str(beside),
    ]  # fmt: skip


def _progress_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, voices: tuple[str, ...]
) -> list[str]:
    """The progress lines of a 2-word run of ``voices``, said for every run and at once."""
    require_tool("flite")
    monkeypatch.setattr(synth_module, "PROGRESS_CLIPS", 1)
    monkeypatch.setattr(synth_module, "PROGRESS_EVERY_S", 0.0)
    lines: list[str] = []
    config = SynthConfig(voices=voices, jobs=4, **SMALL)
    synthesize(["yes", "no"], tmp_path / "out", config, progress=lines.append)
    return lines


def test_the_start_line_counts_one_engine_process_per_voice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--jobs 4 and one voice: one engine process runs, not 4."""
    lines = _progress_run(tmp_path, monkeypatch, ("flite-slt",))
    assert lines == [
        "synth: rendering 2 clips with 1 voice (flite), 1 engine process at a time ..."
    ]


def test_a_run_says_the_voices_it_has_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-voice task says each voice done (the last one not: the summary follows)."""
    lines = _progress_run(tmp_path, monkeypatch, ("flite-slt", "flite-kal"))
    assert [line.split(" (")[0] for line in lines] == [
        "synth: rendering 4 clips with 2 voices",
        "synth: 1 of 2 voices rendered",
    ]
