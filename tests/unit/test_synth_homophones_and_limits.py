"""tinyslm synth, review fixes: homophones of a keyword are never ``_unknown_``, range
errors name the option, synth.json lists only the engines used, and an output folder
inside a keyword dataset is refused.

The engine tests need espeak-ng / flite (``require_tool`` skips them without, or fails
in CI); the rest runs everywhere.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from shared_paths import require_tool

from tinyslm.audio.synth import (
    MAX_BACKGROUND_S,
    RANGE_BOUNDS,
    SynthConfig,
    _check_not_in_a_dataset,
    _jobs,
    _SoundAlike,
    find_voices,
    synthesize,
)
from tinyslm.audio.synth_words import listed_homophones, near_misses
from tinyslm.cli import cli
from tinyslm.errors import OutputExistsError


def synth(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["synth", *args])
    return result.exit_code, result.stdout, result.stderr


# ------------------------------------------------------------ 1. homophones


@pytest.mark.parametrize(
    ("keyword", "homophone"),
    [("see", "sea"), ("by", "buy"), ("new", "knew"), ("four", "for"), ("two", "to")],
)
def test_near_misses_are_never_a_homophone_of_the_keyword(keyword: str, homophone: str) -> None:
    """Before: near_misses gave see -> sea, by -> buy, new -> knew, four -> for: the same
    sound trained as the keyword and as _unknown_."""
    misses = near_misses(keyword, 6, frozenset({keyword}))
    assert homophone not in misses and len(misses) == 6
    assert listed_homophones(keyword, homophone)
    assert not any(listed_homophones(keyword, m) for m in misses)
    # Nor a homophone of another keyword.
    assert "to" not in near_misses("go", 20, frozenset({"go", "two"}))


def test_the_engines_phonemes_find_homophones_and_are_deterministic() -> None:
    require_tool("espeak-ng", "flite")
    _, voices = find_voices(SynthConfig(max_voices_per_engine=2, engines=("espeak-ng", "flite")))
    alike = _SoundAlike(("two", "ok"), voices)
    assert alike(["to", "too", "okay", "go", "oak", "tool"]) == {"to", "too", "okay"}
    again = _SoundAlike(("two", "ok"), voices)
    assert again(["tool", "oak", "okay", "go", "too", "to"]) == {"to", "too", "okay"}
    # A homophone no table lists is left out by its phonemes alone.
    assert _SoundAlike(("four",), voices)(["fore", "fower", "faux"]) >= {"fore"}


@pytest.mark.parametrize(
    ("words", "homophones"), [(("two", "ok"), {"to", "too", "okay"}), (("four", "window"), {"for"})]
)
def test_unknown_words_leave_out_the_keywords_homophones(
    words: tuple[str, ...], homophones: set[str]
) -> None:
    """Before: 'synth two ok' put "to" and "okay" (common words, spelled otherwise) under
    _unknown_; 'synth four window' put "for" there."""
    require_tool("espeak-ng")
    config = SynthConfig(engines=("espeak-ng",), max_voices_per_engine=2, near_misses=6)
    _, voices = find_voices(config)
    jobs, unknown, misses, _ = _jobs(words, voices, config)
    assert not homophones & set(unknown)
    assert not homophones & {j.word for j in jobs}
    assert (unknown, misses) == _jobs(words, voices, config)[1:3]  # deterministic


def test_synth_two_ok_writes_no_homophone_under_unknown(tmp_path: Path) -> None:
    """The reviewer's run, with one engine to keep it short."""
    require_tool("espeak-ng")
    out = tmp_path / "kws"
    code, _, stderr = synth(
        *("two", "ok", "-o", str(out), "--engine", "espeak-ng", "--max-voices", "2"),
        *("--clips", "1", "--unknown-clips", "30", "--background-seconds", "0"),
    )
    assert code == 0, stderr
    said = {p.name.split("_")[0] for p in (out / "_unknown_").iterdir()}
    assert said and not said & {"to", "too", "okay"}


# ------------------------------------------------------------ 2. range errors


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--rate", "2,1"], "'--rate': expected 0.1 <= LOW <= HIGH <= 10, got '2,1'"),
        (["--pitch", "0.05,1"], "'--pitch': expected 0.1 <= LOW <= HIGH <= 10"),
        (["--snr", "5,200"], "'--snr': expected -60 <= LOW <= HIGH <= 120"),
        (["--background-seconds", "1e9"], "'--background-seconds': 1000000000.0 is not in"),
    ],
)
def test_range_errors_name_the_option(tmp_path: Path, args: list[str], needle: str) -> None:
    """Before: "rate_range must be ...", "background_seconds must be in 0..3600"."""
    out = tmp_path / "out"
    code, stdout, stderr = synth("yes", "-o", str(out), *args)
    assert code != 0 and stdout == "" and not out.exists()
    assert len(stderr.splitlines()) == 1 and stderr.startswith("error: "), stderr
    assert needle in stderr
    assert not re.search(r"\b(rate_range|pitch_range|snr_db_range|background_seconds)\b", stderr)


def test_help_shows_the_real_limits() -> None:
    params = {p.name: p for p in cli.commands["synth"].params if isinstance(p, click.Option)}
    for option, name in (("rate", "rate_range"), ("pitch", "pitch_range"), ("snr", "snr_db_range")):
        least, most = RANGE_BOUNDS[name]
        assert f"within {least:g}..{most:g}" in (params[option].help or ""), option
    background = params["background_seconds"].type
    assert isinstance(background, click.FloatRange)
    assert (background.min, background.max) == (0, MAX_BACKGROUND_S)
    text = " ".join(CliRunner().invoke(cli, ["synth", "--help"]).output.split())
    assert "0<=x<=3600" in text


# ------------------------------------------------------------ 3. engines used


def test_only_the_engines_whose_voices_are_used_are_listed(tmp_path: Path) -> None:
    """Before: '--voice flite-slt' listed espeak-ng, flite and festival in synth.json."""
    require_tool("flite", "espeak-ng")
    engines, voices = find_voices(SynthConfig(voices=("flite-slt",)))
    assert [v.speaker for v in voices] == ["flite-slt"]
    assert len(engines) == 1 and engines[0].startswith("flite ")
    config = SynthConfig(
        voices=("flite-slt",), clips_per_voice=1, unknown_clips_per_voice=1, background_seconds=0
    )
    result = synthesize(["yes"], tmp_path / "kws", config)
    assert result.engines == engines
    record = json.loads((tmp_path / "kws" / "synth.json").read_text())
    assert record["engines"] == list(engines)


# ------------------------------------------------------------ 4. inside a dataset


def make_dataset(root: Path) -> Path:
    for label in ("up", "down", "_unknown_"):
        (root / label).mkdir(parents=True)
        (root / label / "a_nohash_0.wav").write_bytes(b"")
    return root


@pytest.mark.parametrize("inside", ["synth", "up/more", "_unknown_/x/y", "down"])
def test_an_output_inside_a_keyword_dataset_is_refused(tmp_path: Path, inside: str) -> None:
    """Before: 'synth up -o ds/synth' succeeded and then eval/train of ds failed ("a folder
    inside a label folder")."""
    ds = make_dataset(tmp_path / "ds")
    if inside == "down":
        (ds / "down" / "a_nohash_0.wav").unlink()  # an empty label folder as -o
    before = sorted(p.relative_to(ds).as_posix() for p in ds.rglob("*"))
    with pytest.raises(OutputExistsError) as exc:
        synthesize(["up"], ds / inside, SynthConfig(background_seconds=0))
    msg = str(exc.value)
    assert "\n" not in msg and f"inside the keyword dataset {ds.resolve()}" in msg
    assert f"--extra-train {tmp_path.resolve() / 'ds-synth'}" in msg
    assert sorted(p.relative_to(ds).as_posix() for p in ds.rglob("*")) == before


def test_the_cli_refuses_it_in_one_line(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path / "ds")
    code, stdout, stderr = synth("up", "-o", str(ds / "synth"))
    assert code == 1 and stdout == "" and len(stderr.splitlines()) == 1
    assert stderr.startswith("error: ") and "inside the keyword dataset" in stderr


def test_a_folder_beside_a_dataset_or_in_a_home_is_not_refused(tmp_path: Path) -> None:
    make_dataset(tmp_path / "ds")
    _check_not_in_a_dataset(tmp_path / "ds-synth")  # beside it
    home = tmp_path / "home"
    (home / "music").mkdir(parents=True)
    (home / "music" / "song.wav").write_bytes(b"")
    (home / "documents").mkdir()
    _check_not_in_a_dataset(home / "synth")  # a folder of songs does not make a dataset
