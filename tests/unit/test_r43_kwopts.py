"""Keyword training options (round 43, kwopts report defects 1-6).

1. A --stride-ms x --average rule whose first detection needs more audio than the
   validation streams hold is refused before training; eval/emulate --data and train warn
   when streams are too short for the rule to fire (their 0 false accepts measured
   nothing); the threshold advice no longer blames the model then; the rule text says
   when no keyword lies whole in every averaged window (not "up to 0.00 s").
2. --extra-train refusals name the way forward.
3. --board / --max-model-kb on keyword data are not "text intent options".
4-5. --seed's and --stride-ms's help.
6. The same --extra-train folder twice is read once.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import numpy as np
import pytest
from click.testing import CliRunner
from test_audio_dataset import CFG, SPEAKERS, make_folder

from tinyslm.audio.dataset import (
    UNKNOWN,
    AudioDataset,
    AudioDatasetConfig,
    Clip,
    NoiseRecording,
    load_audio_dataset,
    load_training_clips,
)
from tinyslm.audio.evaluate import _unfired
from tinyslm.audio.fit import (
    _load_data,
    refuse_unfirable_rule,
    rule_text,
    stream_lengths,
    threshold_advice,
    unfired_warning,
    unique_extra_train,
    untested_streams,
)
from tinyslm.audio.options import audio_config
from tinyslm.audio.spec import KeywordSpec
from tinyslm.audio.stream import compose
from tinyslm.errors import DatasetError

RATE = 16000
SLOW = KeywordSpec(stride_frames=49, average=16)  # --stride-ms 980 x --average 16: 15.69 s


def _dataset(split: str, keywords: int, unknown: int, noise_seconds: float) -> AudioDataset:
    """``keywords`` and ``unknown`` 1 s clips in ``split``, and one background recording whose
    ``split`` part is ``noise_seconds`` long."""
    rng = np.random.default_rng(0)

    def clip(label: str, i: int) -> Clip:
        return Clip(
            label, split, f"s{i}", f"{label}/{i}.wav", rng.integers(-99, 99, RATE, np.int16)
        )

    clips = [clip("yes", i) for i in range(keywords)] + [clip(UNKNOWN, i) for i in range(unknown)]
    n = int(noise_seconds * RATE)
    spans = tuple((s, 0, n) if s == split else (s, n, n) for s in ("train", "val", "test"))
    noise = NoiseRecording("n.wav", np.zeros(n, np.int16), spans)
    return AudioDataset(("_silence_", UNKNOWN, "yes", "no"), tuple(clips), (noise,), "/x/ds")


def test_stream_lengths_are_the_composed_streams() -> None:
    data = _dataset("val", 3, 2, 6.0)
    lengths = stream_lengths(data, "val", RATE)
    clips = data.split("val")
    noise = [n.part("val") for n in data.noise]
    words = compose([(2, c.samples) for c in clips if c.label == "yes"], noise)
    others = compose([(-1, c.samples) for c in clips if c.label == UNKNOWN], noise)
    assert lengths.keywords == len(words.samples) and lengths.unknown == len(others.samples)
    assert lengths.noise == (6 * RATE,) and lengths.longest == len(words.samples)


def test_a_rule_no_val_stream_can_fire_on_is_refused() -> None:
    # Keyword stream 1.5 + 2 x 2.5 = 6.5 s, unknown words 4.0 s, noise 6.0 s: all under 15.69 s.
    data = _dataset("val", 2, 1, 6.0)
    with pytest.raises(DatasetError) as info:
        refuse_unfirable_rule(data, SLOW)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("--stride-ms 980 x --average 16: the first detection needs 15.69 s")
    assert "the longest validation stream of ds is 6.50 s" in msg
    assert "lower --average to 6 or less (at --stride-ms 980)" in msg
    assert "--stride-ms to 360 or less (at --average 16)" in msg
    longest = stream_lengths(data, "val", RATE).longest
    # The advice is the most that fits: one more does not.
    for fits, over in (
        (KeywordSpec(stride_frames=49, average=6), KeywordSpec(stride_frames=49, average=7)),
        (KeywordSpec(stride_frames=18, average=16), KeywordSpec(stride_frames=19, average=16)),
    ):
        assert fits.shortest_detection_samples <= longest < over.shortest_detection_samples
        refuse_unfirable_rule(data, fits)
    refuse_unfirable_rule(data, KeywordSpec())  # the default rule needs 1.39 s
    # No val stream at all: nothing to refuse here (the threshold advice says what to add).
    refuse_unfirable_rule(_dataset("test", 2, 1, 0.0), SLOW)


def test_streams_too_short_for_the_rule_are_said_not_to_measure() -> None:
    data = _dataset("test", 2, 1, 6.0)
    warning = unfired_warning(data, "test", SLOW, "do X")
    assert warning is not None and "\n" not in warning
    assert warning.startswith(
        "the test streams of noise (6.0 s), unknown words (4.0 s) and keywords (6.5 s) are"
        " shorter than the 15.69 s that the rule --stride-ms 980 x --average 16 needs"
    )
    assert "0 false accepts are no measurement and no keyword there can be hit; do X" in warning
    assert unfired_warning(data, "test", KeywordSpec(), "do X") is None
    # eval and emulate --data (keyword_warnings): the model's rule on the scored split.
    manifest = SimpleNamespace(labels=("_silence_", UNKNOWN, "yes", "no"), features=SLOW)
    (said,) = _unfired(data, "test", "test", manifest)  # type: ignore[arg-type]
    assert said.startswith("the test streams of noise") and "--split all streams all" in said
    (whole,) = _unfired(data, "all", "test", manifest)  # type: ignore[arg-type]
    assert whole.startswith("the streams of noise") and "--split all" not in whole
    assert _unfired(data, "test", "test", SimpleNamespace(labels=manifest.labels,
                    features=KeywordSpec())) == ()  # type: ignore[arg-type]  # fmt: skip


def test_the_threshold_advice_does_not_blame_the_model_for_an_unfirable_rule() -> None:
    streams: Any = SimpleNamespace(
        threshold_q=-128, threshold_found=True, val_noise_seconds=12.1, val_unknown_seconds=14.0
    )
    untested = untested_streams(_dataset("val", 9, 5, 6.0), SLOW)
    assert untested.startswith("the val streams of noise (6.0 s) and unknown words (14.0 s)")
    advice = threshold_advice(streams, untested)
    assert advice is not None and "\n" not in advice
    # Before: "the model fired on nothing in their 12.1 s of noise and 14.0 s of unknown
    # words: check the false rejections (train longer ...)": nothing could fire there.
    assert "train longer" not in advice and "in their 12.1 s" not in advice
    assert "no detection was possible there" in advice
    assert "on the streams that could fire the model fired on nothing" in advice
    # Each kind its own remedy; a shorter rule only where one could fire (6 s > 1 s).
    assert (
        f"(give longer background recordings (_background_noise_/) or more {UNKNOWN} clips"
        " or lower --average or --stride-ms)" in advice
    )
    found: Any = SimpleNamespace(**{**vars(streams), "threshold_q": 20})
    assert "so threshold_q 20 was chosen on the other streams" in str(
        threshold_advice(found, untested)
    )
    assert untested_streams(_dataset("val", 9, 5, 6.0), KeywordSpec()) == ""


def test_the_advice_keeps_the_model_judged_on_what_could_fire() -> None:
    """Review: synth's 5 s backgrounds leave 0.5 s of val noise per recording: the old
    warning ('the model fired on nothing ... check the false rejections') was replaced
    by one blaming the stream length, and 'lower --average' cannot help a stream shorter
    than the 1 s window."""
    streams: Any = SimpleNamespace(
        threshold_q=-128, threshold_found=True, val_noise_seconds=0.5, val_unknown_seconds=9.0
    )
    untested = untested_streams(_dataset("val", 9, 9, 0.5), KeywordSpec())
    assert untested.startswith("the val streams of noise (0.5 s) are shorter than the 1.39 s")
    assert "more _unknown_ clips" not in untested and "lower --average" not in untested
    advice = str(threshold_advice(streams, untested))
    assert "the model fired on nothing: check the false rejections" in advice


def test_the_rule_text_says_when_no_keyword_lies_whole() -> None:
    text = rule_text(SLOW)
    assert "0.00 s" not in text
    assert "16 averaged (they share no audio: no keyword lies whole in all 16)" in text
    assert "a keyword up to 0.59 s lies whole in both" in rule_text(KeywordSpec())


# --- 2: --extra-train refusals that name the way forward ----------------------------------


@pytest.mark.parametrize("has_unknown", [True, False])
def test_an_extra_label_data_lacks_names_keywords(tmp_path: Path, has_unknown: bool) -> None:
    words = {"yes": SPEAKERS, "no": SPEAKERS, **({UNKNOWN: SPEAKERS} if has_unknown else {})}
    data = load_audio_dataset(make_folder(tmp_path / "d", words), CFG)
    extra = make_folder(tmp_path / "syn", {"stop": ["tts1", "tts2"]})
    with pytest.raises(DatasetError) as info:
        load_training_clips(extra, data)
    msg = str(info.value)
    assert "label 'stop' is not one of" in msg
    d = str(tmp_path / "d")
    # Without an _unknown_ class, --keywords alone led to "no class" (review: a circle).
    way = f"list {d}'s" if has_unknown else f"add _unknown_/ clips to {d} and list its"
    assert msg.endswith(
        f"{way} keywords with --keywords to train it as _unknown_,"
        " or drop that --extra-train folder"
    )
    if not has_unknown:
        # Following it with --keywords alone: the word is named, not synth's _unknown_/.
        with pytest.raises(DatasetError) as again:
            load_training_clips(tmp_path / "syn", data, keywords=("yes", "no"))
        said = str(again.value)
        assert "its word 'stop', trained as _unknown_ (--keywords), has no class" in said
        assert "--unknown-clips 0" not in said and "drop that --extra-train folder" in said


def test_extra_unknown_clips_without_an_unknown_class_name_the_remedies(tmp_path: Path) -> None:
    """synth writes _unknown_/ by default: recordings of the keywords alone could not take it
    ("label '_unknown_' is not one of ds2's labels")."""
    data = load_audio_dataset(make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}), CFG)
    extra = make_folder(tmp_path / "syn", {"yes": ["tts1"], UNKNOWN: ["tts1", "tts2"]})
    with pytest.raises(DatasetError) as info:
        load_training_clips(extra, data)
    msg = str(info.value)
    assert "\n" not in msg and "has no _unknown_/ folder" in msg
    assert "add _unknown_/ clips to" in msg and "'tinyslm synth --unknown-clips 0'" in msg


@pytest.mark.parametrize("flag", ["keywords", "unknown_words"])
def test_a_word_only_in_an_extra_set_is_said_to_be_there(tmp_path: Path, flag: str) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS, "up": SPEAKERS})
    extra = make_folder(tmp_path / "syn", {"stop": ["tts1", "tts2"]})
    chosen = ("yes", "stop") if flag == "keywords" else ("stop",)
    words = AudioDatasetConfig(window_samples=CFG.window_samples, **{flag: chosen})
    with pytest.raises(DatasetError) as info:
        _load_data(root, words, (str(extra),))
    msg = str(info.value)
    option = "--" + flag.replace("_", "-")
    # Before: "--unknown-words names 'stop', which has no clips", beside a set holding them.
    assert f"{option} names 'stop', which is only in --extra-train {extra}" in msg
    assert "which has no clips" not in msg and "\n" not in msg
    if flag == "unknown_words":
        # DATA has no _unknown_/ folder: --keywords would lead to "no class" (review).
        assert "DATA has no _unknown_/ folder to train it with" in msg
        with_unknown = make_folder(
            tmp_path / "d2", {"yes": SPEAKERS, "no": SPEAKERS, UNKNOWN: SPEAKERS}
        )
        with pytest.raises(DatasetError, match="list DATA's keywords with --keywords"):
            _load_data(with_unknown, words, (str(extra),))
    # A word in no set at all: the plain refusal.
    typo = AudioDatasetConfig(window_samples=CFG.window_samples, **{flag: ("stopp",)})
    with pytest.raises(DatasetError, match="names 'stopp', which has no clips"):
        _load_data(root, typo, (str(extra),))


# --- 3-5: options and their help ------------------------------------------------------------


@pytest.mark.parametrize("name", ["board", "max_model_kb"])
def test_board_on_keyword_data_is_not_a_text_intent_option(name: str) -> None:
    with pytest.raises(click.UsageError) as info:
        audio_config({name: "esp32", "stride_ms": 400, "average": 2}, {name})
    msg = str(info.value)
    assert "text intent" not in msg
    assert "an option of text datasets (--board and --max-model-kb size text models only" in msg
    assert "a keyword model's size is --keyword-model" in msg


def test_help_of_board_seed_and_stride() -> None:
    from tinyslm.cli import cli

    out = " ".join(CliRunner().invoke(cli, ["train", "--help"], terminal_width=400).output.split())
    assert "20<=x<=980" in out and "x>=20]" not in out
    assert "--board [esp32|stm32h7] Text datasets only" in out
    assert "--max-model-kb INTEGER RANGE Text datasets only" in out
    assert "keyword clips whose names carry no <speaker>_nohash_ (speaker-named" in out


def test_a_stride_above_the_window_is_refused_with_why() -> None:
    from tinyslm.cli import cli

    result = CliRunner().invoke(cli, ["train", "x", "--stride-ms", "1200"])
    assert result.exit_code == 1
    assert "1200 is above the 980 ms that the model's 1 s window spans" in result.output


# --- 6: the same --extra-train folder twice ---------------------------------------------------


def test_the_same_extra_folder_twice_is_read_once(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "syn").mkdir()
    (tmp_path / "other").mkdir()
    kept, notes = unique_extra_train(("syn", "./syn", "other", str(tmp_path / "syn"), "syn"))
    assert kept == ("syn", "other")
    assert notes == (
        "--extra-train ./syn is syn again: the same folder, read once",
        f"--extra-train {tmp_path / 'syn'} is syn again: the same folder, read once",
        "--extra-train syn given twice: the same folder, read once",
    )
    assert unique_extra_train(("a", "b")) == (("a", "b"), ())


def test_an_extra_folder_twice_adds_its_clips_once(tmp_path: Path) -> None:
    """What fit_audio reads for ``--extra-train syn --extra-train ./syn``: 24 clips, not 48."""
    data = load_audio_dataset(make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}), CFG)
    extra = make_folder(tmp_path / "syn", {"yes": ["tts1", "tts2"]}, fresh=1)
    kept, _ = unique_extra_train((str(extra), str(extra / ".." / "syn")))
    for path in kept:
        data = load_training_clips(path, data)
    assert sum(1 for c in data.clips if c.source.startswith("syn/")) == 3
