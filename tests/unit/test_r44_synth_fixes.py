"""tinyslm synth, round-44 fixes: an output folder beside unrelated recordings is not
"inside a keyword dataset", festival's diphone pitch limits are checked up front, noise
never clips a clip, --max-voices never drops a --voice-named voice unsaid, synth.json
does not depend on the order of --engine/--voice, a long run says it started (and
singular forms), and the long-phrase note offers --stride-ms 200 only to phrases it
sees whole.

Tests that need an engine skip without it (``require_tool``); each renders a few clips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from shared_paths import require_tool

from tinyslm.audio import synth as synth_module
from tinyslm.audio.spec import KeywordSpec
from tinyslm.audio.synth import (
    RECORD,
    SynthConfig,
    SynthResult,
    Voice,
    _check_not_in_a_dataset,
    _finish,
    _Job,
    _Take,
    find_voices,
    long_phrase_note,
    synthesize,
)
from tinyslm.audio.wav import SAMPLE_RATE, parse_wav
from tinyslm.cli import cli
from tinyslm.errors import DatasetError, OutputExistsError

SMALL = {"clips_per_voice": 1, "unknown_clips_per_voice": 0, "background_seconds": 0.0}


def wav(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


# ------------------------------------------------------------ 1. inside a dataset


def test_an_output_below_a_folder_that_is_no_dataset_is_accepted(tmp_path: Path) -> None:
    """Before: data/projects/kws/synth-out was refused as "inside the keyword dataset
    data", because data/podcasts holds .wav files; data/projects (existing, no clip)
    already keeps data from being a dataset. And music/kws-synth beside music/songs: one
    folder of recordings is no dataset of keywords."""
    wav(tmp_path / "data" / "podcasts" / "episode1.wav")
    (tmp_path / "data" / "projects" / "kws").mkdir(parents=True)
    _check_not_in_a_dataset(tmp_path / "data" / "projects" / "kws" / "synth-out")
    wav(tmp_path / "music" / "songs" / "track01.wav")
    _check_not_in_a_dataset(tmp_path / "music" / "kws-synth")


@pytest.mark.parametrize("inside", ["synth", "new/deeper/out", "up/more", "down"])
def test_outputs_inside_a_dataset_are_still_refused(tmp_path: Path, inside: str) -> None:
    ds = tmp_path / "ds"
    for label in ("up", "_unknown_"):
        wav(ds / label / "a_nohash_0.wav")
    if inside == "down":
        (ds / "down").mkdir()  # an empty label folder given as -o itself
    with pytest.raises(OutputExistsError, match=f"inside the keyword dataset {ds.resolve()}"):
        _check_not_in_a_dataset(ds / inside)


# ------------------------------------------------------------ 2. festival's pitch


@pytest.mark.parametrize(
    ("pitch", "voices"),
    [((0.3, 0.4), ()), ((6.0, 8.0), ("festival-kal",)), ((10.0, 10.0), ("festival-ked",))],
)
def test_festival_diphone_pitch_limits_are_refused_up_front(
    tmp_path: Path, pitch: tuple[float, float], voices: tuple[str, ...]
) -> None:
    """Before: festival crashed ("failed (exit -6): corrupted size vs. prev_size", exit
    -11) after rendering, at pitch factors within the advertised 0.1..10."""
    require_tool("festival")
    config = SynthConfig(engines=("festival",), voices=voices, pitch_range=pitch, **SMALL)
    with pytest.raises(DatasetError) as info:
        synthesize(["yes", "no"], tmp_path / "out", config)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"--pitch {pitch[0]:g},{pitch[1]:g}: festival")
    assert "0.50..4.50 only" in msg
    assert not (tmp_path / "out").exists()


def test_festival_pitch_limits_pass_at_their_ends_and_for_the_hts_voice() -> None:
    require_tool("festival")
    _, voices = find_voices(SynthConfig(engines=("festival",), pitch_range=(0.5, 4.5)))
    assert any(v.speaker == "festival-kal" for v in voices)
    # festival-slt keeps its own pitch: any factor is fine there.
    _, voices = find_voices(SynthConfig(voices=("festival-slt",), pitch_range=(6.0, 8.0)))
    assert [v.speaker for v in voices] == ["festival-slt"]


# ------------------------------------------------------------ 4. no clipping


def finish(config: SynthConfig, seed: int = 7) -> tuple[np.ndarray, dict[str, object]]:
    tone = 0.9 * np.sin(2 * np.pi * 300 * np.arange(SAMPLE_RATE // 3) / SAMPLE_RATE)
    job = _Job("yes/v_nohash_0.wav", "yes", "yes", Voice("espeak-ng", "en", "v"), 0)
    made = _finish(job, _Take("yes", 1.0, 1.0), np.random.default_rng(seed), (16000, tone), config)
    return parse_wav(Path(made.key), made.pcm).astype(np.int64), made.params


@pytest.mark.parametrize("snr", [-60.0, 0.0, 5.0])
def test_noise_never_clips_and_the_record_says_the_scaling(snr: float) -> None:
    """Before: noise was added after the peak was set with no headroom: at -1 dBFS and
    an SNR of 5 dB clips reached 32767, at -60 dB they were square waves."""
    config = SynthConfig(
        noise_probability=1.0,
        snr_db_range=(snr, snr),
        peak_dbfs_range=(-1.0, -1.0),
        reverb_probability=0.0,
        speed_range=(1.0, 1.0),
    )
    clip, params = finish(config)
    assert clip.max() < 32767 and clip.min() > -32768
    assert np.count_nonzero(np.abs(clip) >= 32000) < 10  # no square wave
    scaled = params["scaled_db"]
    assert isinstance(scaled, float) and scaled < 0
    # The peak is the drawn level again, after the scaling.
    peak_db = 20 * np.log10(np.abs(clip).max() / 32768)
    assert abs(peak_db - -1.0) < 0.01
    assert params["snr_db"] == snr


def test_a_clip_that_does_not_clip_is_not_scaled() -> None:
    config = SynthConfig(
        noise_probability=1.0,
        snr_db_range=(40.0, 40.0),
        peak_dbfs_range=(-20.0, -20.0),
        reverb_probability=0.0,
    )
    _, params = finish(config)
    assert "scaled_db" not in params


# ------------------------------------------------------------ 5. --max-voices and --voice


def test_max_voices_never_drops_a_voice_named_with_voice_unsaid() -> None:
    """Before: --voice flite-kal --voice flite-slt --max-voices 1 wrote flite-slt's
    clips alone and said nothing of flite-kal."""
    require_tool("flite")
    config = SynthConfig(voices=("flite-kal", "flite-slt"), max_voices_per_engine=1)
    with pytest.raises(DatasetError) as info:
        find_voices(config)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("--max-voices 1 keeps 1 of the 2 flite voices")
    assert "flite-kal" in msg and "flite-slt" in msg
    both = find_voices(SynthConfig(voices=("flite-kal", "flite-slt"), max_voices_per_engine=2))
    assert sorted(v.speaker for v in both[1]) == ["flite-kal", "flite-slt"]


def test_the_cli_refuses_it_in_one_line(tmp_path: Path) -> None:
    require_tool("flite")
    out = tmp_path / "p1"
    result = CliRunner().invoke(
        cli,
        ["synth", "yes", "no", "-o", str(out), "--voice", "flite-kal", "--voice", "flite-slt",
         "--max-voices", "1", "--clips", "1", "--unknown-clips", "0",
         "--background-seconds", "0"],
    )  # fmt: skip
    assert result.exit_code == 1 and result.stdout == "" and not out.exists()
    assert len(result.stderr.splitlines()) == 1 and "--max-voices 1 keeps 1" in result.stderr


# ------------------------------------------------------------ 8. synth.json and order


def test_the_order_and_repetition_of_engines_and_voices_do_not_change_the_record(
    tmp_path: Path,
) -> None:
    """Before: '--engine flite --engine espeak-ng' and the other order wrote the same clips
    and a different synth.json (config.engines), and so a different .tinyslm-files.json."""
    assert SynthConfig(engines=("festival", "flite", "flite")).engines == ("flite", "festival")
    assert SynthConfig(voices=("b", "a", "b")).voices == ("a", "b")
    require_tool("flite", "espeak-ng")

    def record(engines: tuple[str, ...], name: str) -> bytes:
        config = SynthConfig(engines=engines, max_voices_per_engine=1, **SMALL)
        synthesize(["yes", "no"], tmp_path / name, config)
        return (tmp_path / name / RECORD).read_bytes()

    assert record(("flite", "espeak-ng"), "a") == record(("espeak-ng", "flite", "flite"), "b")


# ------------------------------------------------------------ 9. progress, singular


def test_a_long_run_says_it_started_and_one_voice_is_singular(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the default run said nothing for minutes, and a one-voice run printed
    "1 voices". The start line is for long runs (monkeypatched here to every run)."""
    require_tool("flite")
    monkeypatch.setattr(synth_module, "PROGRESS_CLIPS", 1)
    out = tmp_path / "one"
    result = CliRunner().invoke(
        cli,
        ["synth", "yes", "no", "-o", str(out), "--voice", "flite-slt", "--clips", "1",
         "--unknown-clips", "0", "--background-seconds", "0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "1 voices" not in result.stdout and "; 1 voice (flite " in result.stdout
    assert result.stderr.splitlines()[0].startswith(
        "synth: rendering 2 clips with 1 voice (flite), "
    )


def test_progress_every_few_seconds_names_the_voices_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(synth_module, "PROGRESS_EVERY_S", 0.0)
    lines: list[str] = []
    done = synth_module._Done(3, lines.append, 0.0)
    for _ in range(3):
        done.one()
    # The last one is not said: the summary follows at once.
    assert [line.split(" (")[0] for line in lines] == [
        "synth: 1 of 3 voices rendered",
        "synth: 2 of 3 voices rendered",
    ]


def test_one_clip_sped_up_to_fit_is_singular(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = SynthResult(tmp_path, ("flite 2",), ("flite-slt",), (("yes", 1),), (), (), (), ())
    fake = SynthResult(**{**fake.__dict__, "fitted": 1, "max_fit_speed": 1.1})
    monkeypatch.setattr(synth_module, "synthesize", lambda *a, **k: fake)
    result = CliRunner().invoke(cli, ["synth", "yes", "-o", str(tmp_path / "x")])
    assert result.exit_code == 0, result.stderr
    assert "1 clip was longer than the window at its rate and was sped up" in result.stderr


# ------------------------------------------------------------ 3. homophone keywords


@pytest.mark.parametrize(("a", "b"), [("flour", "flower"), ("don't", "dont")])
def test_keywords_the_engines_say_alike_are_refused(tmp_path: Path, a: str, b: str) -> None:
    """Before: 'synth flour flower' wrote two classes of the same sound (flite -ps gives
    'f l aw er' for both, espeak-ng 'fl'aU3')."""
    require_tool("flite")
    config = SynthConfig(voices=("flite-slt",), **SMALL)
    with pytest.raises(DatasetError) as info:
        synthesize([a, b], tmp_path / "out", config)
    assert str(info.value) == (
        f"synth: {a!r} and {b!r} have the same phonemes (stress aside) in every engine used"
        " (flite -ps), so no model trained on these voices can tell them apart; give one of"
        " them"
    )
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------ 7. long-phrase note


def result(*medians: tuple[str, float]) -> SynthResult:
    return SynthResult(Path("x"), (), (), (), (), (), (), medians)


def test_the_note_offers_the_200_ms_rule_only_to_phrases_it_sees_whole() -> None:
    """Before: 'rock-n-roll' 0.93 s was told it was missed less with --stride-ms 200,
    which sees 0.79 s whole."""
    rule = KeywordSpec()
    note = long_phrase_note(result(("rock-n-roll", 930.0)), rule)
    assert note is not None and "missed less" not in note
    assert "'rock-n-roll' 0.93 s (median spoken length) is longer than the 0.59 s" in note
    assert (
        "; it is longer than the 0.79 s that 'tinyslm train --stride-ms 200' sees whole too:"
        " 'tinyslm train --average 1' sees 0.99 s whole (one window, no averaging), or a"
        ' phrase of at most 0.79 s is seen whole at 200 ms (docs/audio.md, "Long phrases")'
    ) in note
    mixed = long_phrase_note(result(("o'clock", 610.0), ("rock-n-roll", 930.0)), rule)
    assert mixed is not None
    assert "\"o'clock\" is seen whole by 'tinyslm train --stride-ms 200' (0.79 s" in mixed
    assert "; 'rock-n-roll' is longer than that too" in mixed
    # Every one within the 200 ms rule's span: the measured line, as before.
    within = long_phrase_note(result(("lights on", 630.0)), rule)
    assert within is not None and "phrases this long were missed less" in within


# ------------------------------------------------------------ review of round 44


def test_a_merger_of_one_lexicon_is_not_refused() -> None:
    """'merry' and 'marry' are alike to flite (the CMU lexicon) but not to espeak-ng:
    the espeak-ng voices teach the difference, so the pair is not refused."""
    require_tool("flite")
    require_tool("espeak-ng")
    from tinyslm.audio.synth import _SoundAlike, find_voices

    _, voices = find_voices(SynthConfig(engines=("espeak-ng", "flite"), max_voices_per_engine=1))
    assert _SoundAlike(["merry", "marry"], voices).same_keywords() is None
    assert _SoundAlike(["flour", "flower"], voices).same_keywords() == ("flour", "flower")


def test_one_folder_of_recordings_is_no_dataset_whatever_the_branch(tmp_path: Path) -> None:
    from tinyslm.audio.synth import _check_not_in_a_dataset

    songs = tmp_path / "music" / "songs"
    songs.mkdir(parents=True)
    (songs / "track01.wav").write_bytes(b"RIFF")
    _check_not_in_a_dataset(tmp_path / "music" / "kws-synth")
    _check_not_in_a_dataset(songs / "kws")  # was "inside the keyword dataset music"


def test_the_one_word_note_quotes_its_path() -> None:
    import shlex

    from tinyslm.cli import one_word_note

    note = one_word_note("yes", Path("/tmp/my synth"))
    quoted = shlex.quote("/tmp/my synth")  # the command between the outer quotes runs
    assert f"'tinyslm train {quoted}' refuses" in note and f"'--extra-train {quoted}'" in note
