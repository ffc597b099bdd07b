"""tinyslm synth, round 42: the homophone check uses each engine's own phonemes (no
``t2p``) and synth.json names them; a background length shorter than the window is
refused; espeak-ng's rate and pitch limits apply only when an espeak-ng voice speaks.

The engine tests need festival / flite (``require_tool`` skips them without, or fails
in CI); the rest runs everywhere.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from shared_paths import require_tool

from tinyslm.audio.synth import SynthConfig, Voice, _SoundAlike, find_voices, synthesize
from tinyslm.cli import cli
from tinyslm.errors import DatasetError


def only_on_path(monkeypatch: pytest.MonkeyPatch, folder: Path, *tools: str) -> None:
    """PATH holding just ``tools`` (as a festival-only install, or one without t2p)."""
    folder.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        assert found is not None
        (folder / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(folder))


# ------------------------------------------------------------ 1. homophones


@pytest.mark.parametrize(("engine", "voice"), [("festival", "kal_diphone"), ("flite", "slt")])
def test_each_engine_finds_homophones_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str, voice: str
) -> None:
    """Before: without flite's t2p on PATH (a festival-only install), flite and festival
    voices were checked by the table alone, and 'synth mourning' trained "morning" as
    _unknown_; with t2p it did not."""
    require_tool(engine)
    only_on_path(monkeypatch, tmp_path / "bin", engine)
    voices = [Voice(engine, voice, f"{engine}-x")]
    assert _SoundAlike(("mourning",), voices)(["morning", "yes", "mourn"]) == {"morning"}
    # A phrase is looked up word by word (festival's lexicon holds words).
    assert _SoundAlike(("good mourning",), voices)(["good morning", "good evening"]) == {
        "good morning"
    }


@pytest.mark.parametrize("voice", ["kal_diphone", "cmu_us_slt_arctic_hts"])
def test_festival_entries_spelled_otherwise_or_without_phonemes(voice: str) -> None:
    """festival prints a lexicon entry as the lexicon spells it ("gup" comes back as the
    name "Gup") or with nil phonemes ("o'clock"): the first version of the lookup took
    both for missing entries, and 'synth' with every voice (the benchmark's seven words,
    whose near-misses include "gup") stopped with "no lexicon entry printed for 'gup'"."""
    require_tool("festival")
    voices = [Voice("festival", voice, f"festival-{voice}")]
    if voice not in {v.name for v in find_voices(SynthConfig(engines=("festival",)))[1]}:
        pytest.skip(f"festival voice {voice} is not installed")
    alike = _SoundAlike(("up",), voices)
    assert alike(["gup", "o'clock", "cup"]) == set()
    assert _SoundAlike(("cup",), voices)(["gup", "o'clock", "kup"]) == {"kup"}


def test_the_bytes_do_not_depend_on_t2p_and_synth_json_names_the_phonemes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: PATH with and without t2p gave different _unknown_ clips (2 "morning"
    clips without), and synth.json did not say what had checked the homophones."""
    require_tool("festival", "t2p")
    config = SynthConfig(
        voices=("festival-kal",),
        clips_per_voice=1,
        unknown_clips_per_voice=40,
        background_seconds=0,
        reverb_probability=0,
    )
    outs = []
    for name, tools in (("alone", ("festival",)), ("t2p", ("festival", "t2p"))):
        with monkeypatch.context() as m:
            only_on_path(m, tmp_path / f"bin-{name}", *tools)
            synthesize(["mourning"], tmp_path / name, config)
        outs.append(tmp_path / name)
    assert not [p for p in (outs[0] / "_unknown_").iterdir() if p.name.startswith("morning")]
    records = [(o / "synth.json").read_bytes() for o in outs]
    assert records[0] == records[1]
    record = json.loads(records[0])
    assert record["homophone_phonemes"] == ["festival (voice_kal_diphone) lex.lookup"]


# ------------------------------------------------------------ 2. background length


@pytest.mark.parametrize("seconds", [0.0001, 0.5, 0.99])
def test_a_background_shorter_than_the_window_is_refused(seconds: float) -> None:
    """Before: written, then refused by train ("background recording of 2 samples is
    shorter than the 16000-sample window")."""
    with pytest.raises(DatasetError) as exc:
        SynthConfig(background_seconds=seconds)
    assert str(exc.value) == (
        f"--background-seconds {seconds:g} is shorter than the 1 s window, which train"
        " refuses as background noise; give 0 (none) or at least 1"
    )
    SynthConfig(background_seconds=0)
    SynthConfig(background_seconds=1)


def test_the_cli_refuses_a_short_background_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["synth", "yes", "-o", str(out), "--background-seconds", "0.5"]
    )
    assert result.exit_code != 0 and result.stdout == "" and not out.exists()
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "--background-seconds 0.5 is shorter than the 1 s window" in result.stderr


# ------------------------------------------------------------ 3. espeak-ng's limits


def test_espeak_limits_apply_only_when_an_espeak_voice_speaks() -> None:
    """Before: 'synth yes --voice flite-slt --rate 10,10' was refused ("espeak-ng
    follows 0.46..2.57 only") because espeak-ng was installed."""
    require_tool("espeak-ng", "flite")
    _, voices = find_voices(SynthConfig(voices=("flite-slt",), rate_range=(10.0, 10.0)))
    assert [v.speaker for v in voices] == ["flite-slt"]
    with pytest.raises(DatasetError, match=r"espeak-ng follows 0\.46\.\.2\.57 only"):
        find_voices(SynthConfig(voices=("flite-slt", "espeak-en-us-m1"), rate_range=(10.0, 10.0)))
