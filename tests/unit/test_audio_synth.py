"""tinyslm.audio.synth: synthetic keyword datasets from offline TTS engines.

The signal helpers and the near-miss rules run everywhere; the rest needs the
engines (``apt-get install espeak-ng flite festival festvox-kallpc16k
festvox-kdlpc16k festvox-us-slt-hts``) and skips without them, or fails in CI.
Few words and few voices keep each test to seconds.
"""

from __future__ import annotations

import json
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from shared_paths import require_tool

from tinyslm.audio.dataset import NOISE, SILENCE, UNKNOWN, load_audio_dataset, speaker_of
from tinyslm.audio.spec import KeywordSpec
from tinyslm.audio.synth import (
    SynthConfig,
    SynthResult,
    Voice,
    _finish,
    _Job,
    _read_engine_wav,
    _Take,
    coloured_noise,
    find_voices,
    long_for_the_detector,
    long_phrase_note,
    resample,
    synthesize,
    trim,
)
from tinyslm.audio.synth_words import LEXICON, near_misses
from tinyslm.audio.wav import SAMPLE_RATE, parse_wav, read_wav
from tinyslm.errors import DatasetError, OutputExistsError, ToolchainError

# One voice per engine, two clips, small unknown set, short noise: a few seconds.
SMALL = SynthConfig(
    max_voices_per_engine=1, clips_per_voice=2, unknown_clips_per_voice=2, background_seconds=2
)


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(exc.value)
    assert msg and "\n" not in msg, msg
    return msg


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# ------------------------------------------------------------ no engine needed


def test_near_misses_follow_the_rules() -> None:
    yes = near_misses("yes", 6)
    assert len(yes) == 6 and "yet" in yes and "chess" in yes and "yes" not in yes
    stop = near_misses("stop", 6, frozenset({"top"}))
    assert "shop" in stop and "top" not in stop  # excluded words never come back
    assert near_misses("stop", 6) == near_misses("stop", 6)  # no seed, no randomness
    assert all(w in LEXICON for w in near_misses("right", 5))  # real words first
    phrase = near_misses("lights on", 4)
    assert phrase[0] == "lights" and all(p != "lights on" for p in phrase)
    # Too few real words: pronounceable pseudo-words fill up to the count.
    marvin = near_misses("marvin", 4)
    assert len(marvin) == 4 and all("arvin" in w or w.startswith("m") for w in marvin)


def test_resample_keeps_the_band_and_drops_what_is_above() -> None:
    src = 22050
    t = np.arange(src) / src
    env = np.hanning(src)
    out = resample(np.sin(2 * np.pi * 1000 * t) * env, src, SAMPLE_RATE)
    assert len(out) == SAMPLE_RATE
    ref = np.sin(2 * np.pi * 1000 * np.arange(SAMPLE_RATE) / SAMPLE_RATE) * np.hanning(SAMPLE_RATE)
    assert np.max(np.abs(out - ref)) < 1e-3
    alias = resample(np.sin(2 * np.pi * 9000 * t) * env, src, SAMPLE_RATE)  # above 8 kHz
    assert np.sqrt(np.mean(alias**2)) < 1e-3
    up = resample(np.sin(2 * np.pi * 500 * np.arange(8000) / 8000), 8000, SAMPLE_RATE)
    assert len(up) == 2 * 8000 and abs(np.sqrt(np.mean(up**2)) - np.sqrt(0.5)) < 1e-3


def test_trim_keeps_the_frames_within_40_db_of_the_loudest() -> None:
    x = np.zeros(8000)  # 10 ms frames of 160 samples
    x[1920:3040] = 0.5  # frames 12..18
    x[5120:5280] = 0.004  # frame 32, -42 dB: cut
    x[4000:4160] = 0.006  # frame 25, -38 dB: kept, so the stretch ends there
    out = trim(x)
    assert len(out) == 4160 - 1920 and out[0] == 0.5 and out[-1] == 0.006
    assert trim(np.zeros(800)).size == 0


@pytest.mark.parametrize(("colour", "slope_db"), [("white", 0.0), ("pink", -3.0), ("brown", -6.0)])
def test_noise_colours_have_their_slope_per_octave(colour: str, slope_db: float) -> None:
    n = 1 << 16
    x = coloured_noise(colour, n, np.random.default_rng(1))
    assert abs(np.sqrt(np.mean(x**2)) - 1) < 1e-9
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)

    def band(lo: float) -> float:
        return float(power[(freqs >= lo) & (freqs < 2 * lo)].mean())

    octave_db = [10 * np.log10(band(2 * lo) / band(lo)) for lo in (250, 500, 1000, 2000)]
    assert abs(np.mean(octave_db) - slope_db) < 0.5, octave_db
    again = coloured_noise(colour, n, np.random.default_rng(1))
    assert np.array_equal(x, again)


def test_a_clip_in_a_room_rings_on_after_the_word_with_the_drawn_room() -> None:
    # channel's own tests prove the room's decay and ratio; this proves synth uses it.
    # A 0.2 s tone stands in for an engine's rendering (no TTS needed).
    tone = np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE // 5) / SAMPLE_RATE)
    job = _Job("yes/v_nohash_0.wav", "yes", "yes", Voice("espeak-ng", "en", "v"), 0)
    take = _Take("yes.", 1.0, 1.0)

    def finish(reverb: float) -> tuple[np.ndarray, dict[str, object]]:
        config = SynthConfig(
            noise_probability=0.0,
            speed_range=(1.0, 1.0),
            rt60_range=(0.3, 0.3),
            reverb_probability=reverb,
        )
        made = _finish(job, take, np.random.default_rng(7), (SAMPLE_RATE, tone), config)
        return parse_wav(Path(made.key), made.pcm).astype(np.float64), made.params

    dry, dry_params = finish(0.0)
    wet, wet_params = finish(1.0)
    # The same draws place the word in both, so the word ends at the same sample.
    start_ms, drr_db = dry_params["start_ms"], wet_params["drr_db"]
    assert isinstance(start_ms, float) and isinstance(drr_db, float)
    end = round(start_ms * SAMPLE_RATE / 1000) + len(tone)
    assert wet_params["start_ms"] == start_ms and "rt60_s" not in dry_params
    assert not np.any(dry[end + 1 :])
    assert wet_params["rt60_s"] == 0.3 and 0 <= drr_db <= 12
    # A 0.3 s room falls 60 dB in 0.3 s: about 20 dB between windows 100 ms apart once the
    # word has stopped (15-29 dB over 30 generator seeds: the tail is Gaussian noise).
    ms = SAMPLE_RATE // 1000
    early = np.mean(wet[end + 50 * ms : end + 100 * ms] ** 2)
    late = np.mean(wet[end + 150 * ms : end + 200 * ms] ** 2)
    assert late > 0 and 12 < 10 * np.log10(early / late) < 32


def test_a_phrase_a_little_too_long_is_sped_up_to_fit_and_more_is_refused() -> None:
    """A rendering longer than the window (a slow rate draw of 'lights off') is resampled
    faster until it fills 95 % of the window, by at most ``max_fit_speedup``; the clip
    records the factor. Past the cap it is refused naming the word, as before. A tone
    stands in for the engine's rendering: it trims to exactly its own length."""
    job = _Job("lights_off/v_nohash_0.wav", "lights_off", "lights off", Voice("e", "en", "v"), 0)
    take = _Take("lights off.", 0.8, 1.0)
    config = SynthConfig(speed_range=(1.0, 1.0), noise_probability=0.0, reverb_probability=0.0)

    def finish(seconds: float, cfg: SynthConfig = config) -> tuple[np.ndarray, dict[str, object]]:
        n = round(seconds * SAMPLE_RATE)
        tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / SAMPLE_RATE)
        made = _finish(job, take, np.random.default_rng(3), (SAMPLE_RATE, tone), cfg)
        clip = parse_wav(Path(made.key), made.pcm).astype(np.float64)
        assert len(clip) == SAMPLE_RATE
        return clip, made.params

    def spoken(clip: np.ndarray) -> float:
        loud = np.flatnonzero(clip)
        return (loud[-1] - loud[0] + 1) / SAMPLE_RATE

    clip, params = finish(0.9)  # fits: untouched, and nothing new in its record
    assert "fit_speed" not in params and abs(spoken(clip) - 0.9) < 0.002
    assert params["spoken_ms"] == 900.0
    clip, params = finish(1.1)
    assert params["fit_speed"] == round(1.1 / 0.95, 4) and abs(spoken(clip) - 0.95) < 0.002
    assert params["spoken_ms"] == 950.0  # the length as placed in the window, after the fit
    # Draws are made before the fit: the same word and place as a clip that fits.
    assert params["peak_dbfs"] == finish(0.9)[1]["peak_dbfs"]
    clip, params = finish(1.18)  # 1.242x: just under the cap
    assert params["fit_speed"] == round(1.18 / 0.95, 4) and abs(spoken(clip) - 0.95) < 0.002
    for seconds, cfg, cap in (
        (1.2, config, "1.25x"),
        (1.01, replace(config, max_fit_speedup=1.0), "1x"),
    ):
        with pytest.raises(DatasetError) as info:
            finish(seconds, cfg)
        msg = one_line(info)
        assert f"'lights off' said by v (rate 0.80, speed 1.00) lasts {seconds:.2f} s" in msg
        assert f"longer than the 1.00 s window even {cap} faster" in msg


def test_phrases_longer_than_the_detector_sees_whole_are_said() -> None:
    """The default rule averages 2 windows 400 ms apart, whose common span is 0.59 s: a
    keyword whose median spoken length is over it is named (a median at the limit is not),
    with the rule at half the stride, which sees 0.79 s whole; another rule moves the limit."""

    def result(*medians: tuple[str, float]) -> SynthResult:
        return SynthResult(Path("x"), (), (), (), (), (), (), medians)

    rule = KeywordSpec()
    assert long_for_the_detector(result(("yes", 390.0), ("stop", 590.0)), rule) == ()
    assert long_phrase_note(result(("yes", 390.0)), rule) is None
    both = result(("yes", 390.0), ("lights on", 630.0), ("good morning", 590.1))
    assert long_for_the_detector(both, rule) == (("lights on", 630.0), ("good morning", 590.1))
    note = long_phrase_note(both, rule)
    assert note == (
        "note: 'lights on' 0.63 s, 'good morning' 0.59 s (median spoken length) are longer"
        " than the 0.59 s that train's default detector sees whole in each of the 2 windows it"
        " averages (400 ms apart); phrases this long were missed less with 'tinyslm train"
        ' --stride-ms 200\' (0.79 s, twice the inferences; docs/audio.md, "Long phrases")'
    )
    one = long_phrase_note(result(("lights on", 630.0)), rule)
    assert one is not None and "(median spoken length) is longer" in one
    assert long_for_the_detector(both, replace(rule, average=1)) == ()  # 0.99 s whole
    three = replace(rule, stride_frames=10, average=3)  # 3 windows 200 ms apart: 0.59 s
    assert long_for_the_detector(both, three) == long_for_the_detector(both, rule)


@pytest.mark.parametrize(
    ("words", "needle"),
    [
        ([], "at least one word"),
        (["yes", "_unknown_"], "'_unknown_' is not a word"),
        (["yes", "stop now!"], "'stop now!' is not a word"),
        (["yes", "x" * 41], "at most 40"),
        (["Yes", "yes"], "same folder yes"),
        (["lights on", "lights-on"], "same folder lights_on"),
        # Two classes no model can tell apart; written without a word before.
        (["to", "two"], "'to' and 'two' sound the same, so no model can tell them apart"),
        (["lights to", "yes", "lights two"], "'lights to' and 'lights two' sound the same"),
    ],
)
def test_bad_words_are_refused_in_one_line_before_anything(
    tmp_path: Path, words: list[str], needle: str
) -> None:
    with pytest.raises(DatasetError) as info:
        synthesize(words, tmp_path / "out", SMALL)
    assert needle in one_line(info)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"rate_range": (0.0, 1.0)}, "rate_range"),
        ({"speed_range": (1.2, 1.1)}, "speed_range"),
        ({"snr_db_range": (20.0, 10.0)}, "snr_db_range"),
        ({"peak_dbfs_range": (-3.0, 2.0)}, "peak_dbfs_range"),
        ({"clips_per_voice": 0}, "clips_per_voice"),
        ({"noise_probability": 1.5}, "noise_probability"),
        ({"reverb_probability": -0.1}, "reverb_probability"),
        ({"rt60_range": (0.0, 0.5)}, "rt60_range"),
        ({"max_fit_speedup": 0.9}, "max_fit_speedup must be >= 1"),
        ({"engines": ("piper",)}, "unknown TTS engine 'piper'"),
    ],
)
def test_impossible_configs_are_refused(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(DatasetError) as info:
        SynthConfig(**kwargs)  # type: ignore[arg-type]
    assert needle in one_line(info)


INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        # Round 33: OverflowError in the engine's arguments (rate, pitch), ZeroDivisionError
        # (SNR -inf), all-zero clips and a synth.json holding NaN (SNR nan), or a failure
        # after every clip was rendered (background seconds): refused before any of it.
        ({"rate_range": (INF, INF)}, "rate_range must be 0.1 <= low <= high <= 10, got inf"),
        ({"rate_range": (1.0, INF)}, "rate_range must be"),
        ({"pitch_range": (1e308, 1e308)}, "pitch_range must be"),
        ({"pitch_range": (1.0, 1e308)}, "pitch_range must be"),
        ({"speed_range": (NAN, NAN)}, "speed_range must be"),
        ({"rt60_range": (0.1, INF)}, "rt60_range must be"),
        ({"snr_db_range": (-INF, -INF)}, "snr_db_range must be -60 <= low <= high <= 120"),
        ({"snr_db_range": (-INF, 10.0)}, "snr_db_range must be"),
        ({"snr_db_range": (-1e308, -1e308)}, "snr_db_range must be"),
        ({"snr_db_range": (1e308, 1e308)}, "snr_db_range must be"),
        ({"snr_db_range": (NAN, NAN)}, "snr_db_range must be"),
        ({"snr_db_range": (5.0, NAN)}, "snr_db_range must be"),
        ({"peak_dbfs_range": (-INF, -1.0)}, "peak_dbfs_range must be"),
        ({"background_seconds": INF}, "background_seconds must be in 0..3600, got inf"),
        ({"background_seconds": NAN}, "background_seconds must be in 0..3600, got nan"),
        ({"background_seconds": -1.0}, "background_seconds must be in"),
        ({"max_shift_ms": NAN}, "max_shift_ms must be in"),
        ({"max_shift_ms": INF}, "max_shift_ms must be in"),
        ({"max_fit_speedup": NAN}, "max_fit_speedup must be >= 1"),
        ({"max_fit_speedup": INF}, "max_fit_speedup must be >= 1"),
    ],
)
def test_non_finite_or_absurd_numbers_are_refused(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(DatasetError) as info:
        SynthConfig(**kwargs)  # type: ignore[arg-type]
    assert needle in one_line(info)


def test_the_bounds_keep_every_default_and_documented_setting() -> None:
    SynthConfig()  # the CLI's defaults are SynthConfig's
    # Wide but sane: the fixture's and docs/audio.md's SNRs, a slow and a fast voice, an
    # hour of background noise, a long shift; and the bounds themselves.
    SynthConfig(snr_db_range=(-5.0, 20.0), rate_range=(0.5, 2.0), pitch_range=(0.5, 2.0))
    SynthConfig(snr_db_range=(0.0, 20.0), background_seconds=3600.0, max_shift_ms=500.0)
    SynthConfig(rate_range=(0.1, 10.0), snr_db_range=(-60.0, 120.0), peak_dbfs_range=(-120, 0))


def test_no_engine_is_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tinyslm.audio.synth.shutil.which", lambda name: None)
    with pytest.raises(ToolchainError) as info:
        synthesize(["yes"], tmp_path / "out")
    assert "no text-to-speech engine found" in one_line(info)
    with pytest.raises(ToolchainError) as info:
        synthesize(["yes"], tmp_path / "out", SynthConfig(engines=("flite",)))
    assert "flite is not installed" in one_line(info)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------ with the engines


@pytest.fixture
def espeak() -> None:
    require_tool("espeak-ng")


@pytest.mark.parametrize("engine", ["espeak-ng", "flite", "festival"])
def test_each_engine_writes_speech_commands_clips(tmp_path: Path, engine: str) -> None:
    require_tool(engine)
    config = SynthConfig(
        engines=(engine,),
        max_voices_per_engine=2,
        clips_per_voice=1,
        unknown_clips_per_voice=1,
        background_seconds=0,
        noise_probability=0.0,
        reverb_probability=0.0,
    )
    result = synthesize(["yes", "stop"], tmp_path / "out", config)
    assert len(result.speakers) == 2 and result.engines[0].startswith(engine + " ")
    assert dict(result.clips) == {"yes": 2, "stop": 2, UNKNOWN: 2}
    root = tmp_path / "out"
    wavs = sorted(root.rglob("*.wav"))
    assert len(wavs) == 6
    for path in wavs:
        samples = read_wav(path)  # the loader's strict reader: 16 kHz mono 16-bit PCM
        assert len(samples) == SAMPLE_RATE
        speaker = speaker_of(path)
        assert speaker in result.speakers, path
        # The word sits inside the window: silence at both ends, speech in between.
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 64)
        assert loud.size > 1600, path  # at least 0.1 s of it is audible
        assert loud[0] > 0 and loud[-1] < SAMPLE_RATE - 1, path
    record = json.loads((root / "synth.json").read_text())
    assert sorted(record["clips"]) == sorted(p.relative_to(root).as_posix() for p in wavs)


def test_same_words_seed_and_engines_give_the_same_bytes(tmp_path: Path, espeak: None) -> None:
    config = SynthConfig(
        engines=("espeak-ng",),
        max_voices_per_engine=3,
        clips_per_voice=2,
        unknown_clips_per_voice=2,
        noise_probability=1.0,  # every random step is exercised
        reverb_probability=1.0,
        background_seconds=2,
    )
    synthesize(["yes", "go"], tmp_path / "a", config)
    synthesize(["yes", "go"], tmp_path / "b", config)
    first, second = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert len(first) == 3 * (2 * 2 + 2) + 3 + 2  # clips, noise, synth.json, file record
    assert first == second
    # One worker instead of two: the order of rendering plays no part.
    synthesize(["yes", "go"], tmp_path / "c", SynthConfig(**{**config.__dict__, "jobs": 1}))
    assert tree(tmp_path / "c") == first
    # Another seed: other clips (same names, other bytes).
    synthesize(["yes", "go"], tmp_path / "d", SynthConfig(**{**config.__dict__, "seed": 1}))
    other = tree(tmp_path / "d")
    wavs = [k for k in first if k.endswith(".wav") and k in other]
    assert wavs and all(first[k] != other[k] for k in wavs)


def test_the_loader_reads_it_and_keeps_each_voice_on_one_side(tmp_path: Path, espeak: None) -> None:
    config = SynthConfig(
        engines=("espeak-ng",),
        max_voices_per_engine=24,
        clips_per_voice=1,
        unknown_clips_per_voice=1,
        background_seconds=10,
    )
    result = synthesize(["yes", "no"], tmp_path / "out", config)
    assert result.background == tuple(f"{NOISE}/{c}_noise.wav" for c in ("brown", "pink", "white"))
    data = load_audio_dataset(tmp_path / "out")
    assert data.labels == (SILENCE, UNKNOWN, "no", "yes")
    sides: dict[str, set[str]] = {}
    for clip in data.clips:
        if clip.label != SILENCE:
            sides.setdefault(clip.speaker, set()).add(clip.split)
    assert set(sides) == set(result.speakers)  # the voice is the speaker, in _unknown_ too
    assert all(len(s) == 1 for s in sides.values())
    assert {next(iter(s)) for s in sides.values()} == {"train", "val", "test"}


def test_synthesize_counts_the_clips_it_sped_up(tmp_path: Path, espeak: None) -> None:
    """With a window shorter than some renderings of 'yes', those clips are sped up, the
    result counts them and synth.json names their factor; the rest are as without a fit."""
    base = SynthConfig(
        engines=("espeak-ng",),
        max_voices_per_engine=3,
        clips_per_voice=3,
        unknown_clips_per_voice=0,
        background_seconds=0,
    )
    loose = synthesize(["yes"], tmp_path / "loose", base)
    assert loose.fitted == 0 and loose.max_fit_speed == 1.0
    # A window that the longest 'yes' overfills by about 10 %, so some fit and some do not.
    tight_window = round(loose.longest_ms[0][1] * SAMPLE_RATE / 1000 / 1.1)
    tight = synthesize(
        ["yes"], tmp_path / "tight", replace(base, window_samples=tight_window, max_shift_ms=0)
    )
    clips = json.loads((tmp_path / "tight" / "synth.json").read_text())["clips"]
    fits = [p["fit_speed"] for p in clips.values() if "fit_speed" in p]
    assert 0 < tight.fitted == len(fits) < len(clips)
    assert tight.max_fit_speed == max(fits) <= 1.25
    for key in (tmp_path / "tight" / "yes").iterdir():
        assert len(read_wav(key)) == tight_window


def test_a_word_longer_than_the_window_is_refused(tmp_path: Path, espeak: None) -> None:
    config = SynthConfig(engines=("espeak-ng",), max_voices_per_engine=1, clips_per_voice=1)
    with pytest.raises(DatasetError) as info:
        synthesize(["yes", "good morning to everyone here"], tmp_path / "out", config)
    msg = one_line(info)
    assert "'good morning to everyone here' said by espeak-" in msg
    assert "longer than the 1.00 s window" in msg
    assert not (tmp_path / "out").exists()


def test_an_occupied_folder_is_refused_and_kept(tmp_path: Path, espeak: None) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(OutputExistsError) as info:
        synthesize(["yes"], out, SMALL)
    assert "not empty" in one_line(info)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_force_replaces_its_own_clips_and_keeps_the_users(tmp_path: Path, espeak: None) -> None:
    out = tmp_path / "out"
    config = SynthConfig(
        engines=("espeak-ng",), max_voices_per_engine=2, clips_per_voice=2, background_seconds=0
    )
    synthesize(["yes", "no"], out, config)
    # The record names the command that rewrites the folder (it said 'generate').
    about = json.loads((out / ".tinyslm-files.json").read_text())["about"]
    assert "'tinyslm synth --force' replaces only these" in about
    mine = out / "yes" / "0a7c2a8d_nohash_0.wav"  # a real recording added to the folder
    mine.write_bytes((out / "yes" / "espeak-en-us-m1_nohash_0.wav").read_bytes())
    with pytest.raises(OutputExistsError) as info:
        synthesize(["yes", "no"], out, config)
    assert "--force" in one_line(info)
    fewer = SynthConfig(**{**config.__dict__, "clips_per_voice": 1, "seed": 3})
    synthesize(["yes", "no"], out, fewer, force=True)
    names = sorted(p.name for p in (out / "yes").iterdir())
    assert names == [
        "0a7c2a8d_nohash_0.wav",
        "espeak-en-gb-m2_nohash_0.wav",
        "espeak-en-us-m1_nohash_0.wav",
    ]  # the user's clip kept, the now unmade _nohash_1 clips pruned
    assert load_audio_dataset(out).labels == (UNKNOWN, "no", "yes")
    # A word left out is pruned with its folder: an empty 'no/' would make the
    # loader refuse the dataset.
    synthesize(["yes", "up"], out, fewer, force=True)
    assert not (out / "no").exists()
    assert load_audio_dataset(out).labels == (UNKNOWN, "up", "yes")
    assert (out / "yes" / "0a7c2a8d_nohash_0.wav").is_file()
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError) as info:
        synthesize(["yes"], plain, config, force=True)
    assert "not a tinyslm synthetic dataset" in one_line(info)


def test_variation_is_within_the_configured_ranges(tmp_path: Path, espeak: None) -> None:
    config = SynthConfig(
        engines=("espeak-ng",),
        max_voices_per_engine=4,
        clips_per_voice=4,
        unknown_clips_per_voice=0,
        peak_dbfs_range=(-12.0, -6.0),
        max_shift_ms=0.0,
        noise_probability=0.0,
        reverb_probability=0.0,
        background_seconds=0,
    )
    result = synthesize(["left"], tmp_path / "out", config)
    record = json.loads((tmp_path / "out" / "synth.json").read_text())
    spoken = [p["spoken_ms"] for p in record["clips"].values()]
    assert result.median_ms == (("left", float(np.median(spoken))),)
    assert result.longest_ms == (("left", max(spoken)),)

    def in_range(v: float, r: tuple[float, float]) -> bool:
        return r[0] <= v <= r[1]

    params = list(record["clips"].values())
    assert len(params) == 16 and len({p["voice"] for p in params}) == 4
    for p, path in zip(params, sorted((tmp_path / "out" / "left").iterdir()), strict=True):
        assert in_range(p["rate"], config.rate_range) and in_range(p["pitch"], config.pitch_range)
        assert in_range(p["speed"], config.speed_range) and "noise" not in p
        samples = read_wav(path).astype(np.float64) / 32768
        peak_db = 20 * np.log10(np.abs(samples).max())
        assert abs(peak_db - p["peak_dbfs"]) < 0.01  # no noise: the peak is as drawn
        loud = np.flatnonzero(samples)
        # No noise or room: the sound in the clip is the recorded length, within one 10 ms
        # trim frame (its quietest edge samples round to 0 in int16).
        assert -10 < (loud[-1] - loud[0] + 1) * 1000 / SAMPLE_RATE - p["spoken_ms"] <= 0
        middle = (loud[0] + loud[-1]) / 2
        assert abs(middle - SAMPLE_RATE / 2) < 0.02 * SAMPLE_RATE  # centred: no shift asked


def test_rates_and_pitches_espeak_cannot_follow_are_refused(tmp_path: Path, espeak: None) -> None:
    """espeak-ng clamps -s to 80..450 and -p to 0..99: --rate 3 and --rate 6 gave the same
    WAVs while synth.json recorded 3 and 6. Refused, naming what it can follow."""
    for kwargs, said in (
        ({"rate_range": (3.0, 3.0)}, "--rate 3,3: espeak-ng follows 0.46..2.57 only"),
        ({"pitch_range": (1.0, 4.0)}, "--pitch 1,4: espeak-ng follows 0.50..1.49 only"),
    ):
        config = SynthConfig(engines=("espeak-ng",), max_voices_per_engine=1, **kwargs)
        with pytest.raises(DatasetError) as info:
            synthesize(["yes"], tmp_path / "out", config)
        assert one_line(info).startswith(said)
    assert not (tmp_path / "out").exists()
    edge = SynthConfig(engines=("espeak-ng",), rate_range=(0.46, 2.57), pitch_range=(0.5, 1.49))
    assert find_voices(edge)[1]  # the ends themselves pass


def test_engines_once_in_their_order_and_named_voices_before_the_cut() -> None:
    """A repeated --engine rendered every clip twice and listed its voices twice; --voice
    with --max-voices refused a voice that was not among the first few."""
    require_tool("flite")
    engines, voices = find_voices(SynthConfig(engines=("flite", "flite"), max_voices_per_engine=1))
    assert len(engines) == 1 and len(voices) == 1
    _, voices = find_voices(
        SynthConfig(engines=("flite",), voices=("flite-kal",), max_voices_per_engine=1)
    )
    assert [v.speaker for v in voices] == ["flite-kal"]
    require_tool("espeak-ng")
    one = find_voices(SynthConfig(engines=("flite", "espeak-ng"), max_voices_per_engine=1))
    other = find_voices(SynthConfig(engines=("espeak-ng", "flite"), max_voices_per_engine=1))
    assert one == other  # the same run, whatever the order given


def test_an_engine_output_without_samples_is_one_line(tmp_path: Path) -> None:
    """A header and no audio reached numpy's FFT (a traceback)."""
    empty = tmp_path / "e.wav"
    with wave.open(str(empty), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)
    with pytest.raises(ToolchainError, match=r"^flite saying 'yes': came out empty$"):
        _read_engine_wav(empty, "flite saying 'yes'")
