"""Round 52 (rvh2), review of ef674b4: a ``tinyslm synth`` folder's own words that spell a
special class (``synth silence yes``) are keywords, not the class; the Speech Commands
benchmark, which has no --keywords or --unknown-words, refuses such a label without
advising them; and an upper-case ``<word>_<speaker>_NOHASH_`` name in ``_unknown_/`` names
its word.

The synth test renders a few clips (``require_tool`` skips it without espeak-ng)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from audio_clips import WIN, word_folders
from shared_paths import require_tool

from tinyslm.audio.dataset import SILENCE, UNKNOWN, AudioDatasetConfig, load_audio_dataset
from tinyslm.audio.synth import RECORD, SynthConfig, synthesize
from tinyslm.audio.wav import write_wav
from tinyslm.errors import DatasetError

CFG = AudioDatasetConfig(window_samples=WIN)
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_a_synth_folder_trains_the_special_words_it_speaks_as_keywords(tmp_path: Path) -> None:
    # Before: 'synth silence yes' then 'train' of that folder was refused ("label
    # 'silence' would be trained as a keyword ... name it _silence_"): the clips are TTS
    # speech of the word, and renaming the folder as told trained that speech as silence.
    require_tool("espeak-ng")
    config = SynthConfig(
        engines=("espeak-ng",),
        max_voices_per_engine=10,
        clips_per_voice=1,
        unknown_clips_per_voice=0,
        background_seconds=0.0,
    )
    out = tmp_path / "syn"
    synthesize(["silence", "noise", "yes"], out, config)
    assert load_audio_dataset(out).labels == ("noise", "silence", "yes")
    # A folder the user added there is no word synth spoke: still refused.
    shutil.copytree(out / "yes", out / "unknown")
    with pytest.raises(DatasetError, match=r"label 'unknown' would be trained as a keyword"):
        load_audio_dataset(out)


@pytest.mark.parametrize("record", ["{not json", '{"words": "silence"}', "[]"])
def test_a_broken_synth_record_exempts_nothing(tmp_path: Path, record: str) -> None:
    root = word_folders(tmp_path, "yes", "no", "silence")
    (root / RECORD).write_text(record, encoding="utf-8")
    with pytest.raises(DatasetError, match=r"label 'silence' would be trained as a keyword"):
        load_audio_dataset(root, CFG)
    # The same folder with a readable record of its words: a keyword.
    (root / RECORD).write_text(json.dumps({"words": ["silence", "yes", "no"]}), encoding="utf-8")
    assert load_audio_dataset(root, CFG).labels == ("no", "silence", "yes")


def test_upper_case_unknown_names_name_their_word(tmp_path: Path) -> None:
    # ef674b4 made _unknown_word read _NOHASH_ in any case, untested: reverting that
    # hunk alone left every test passing. 'YES_SPK00_NOHASH_0.WAV' in _unknown_/ is a
    # recording of the keyword 'yes', trained as _unknown_ unsaid before.
    root = word_folders(tmp_path, "yes", "no", UNKNOWN, seed=1)
    for s in range(3):
        write_wav(
            root / UNKNOWN / f"YES_SPK{s:02d}_NOHASH_0.WAV",
            np.random.default_rng(100 + s).integers(-3000, 3001, WIN).astype(np.int16),
        )
    with pytest.raises(DatasetError) as info:
        load_audio_dataset(root, CFG)
    msg = str(info.value)
    assert "\n" not in msg
    assert f"3 clip(s) in {UNKNOWN}/ are named as the keyword 'yes'" in msg
    assert f"(first: {UNKNOWN}/YES_SPK00_NOHASH_0.WAV)" in msg


def _benchmark() -> object:
    """benchmarks/speech_commands.py, loaded as the script is run."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_r52_rvh2", BENCHMARKS / "speech_commands.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


@pytest.mark.parametrize(("folder", "special"), [("unknown", UNKNOWN), ("Noise", SILENCE)])
def test_the_benchmark_refuses_a_special_spelling_without_train_s_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], folder: str, special: str
) -> None:
    # Before: "... name it _unknown_, or pass --unknown-words unknown (--keywords naming
    # 'unknown' keeps it a keyword)", options the benchmark does not take (exit 2 on them).
    root = word_folders(tmp_path / "d", "yes", "no", folder)
    argv = ["--data", str(root), "--sizes", "small", "--epochs", "1", "--quiet"]
    assert _benchmark().main(argv) == 2  # type: ignore[attr-defined]
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    assert err.startswith(
        f"error: {root}: label {folder!r} would be trained as a keyword to detect, not as"
        f" the {special} class; name it {special}"
    ), err
    assert "--keywords" not in err and "--unknown-words" not in err, err
    # train keeps its options in the line.
    with pytest.raises(DatasetError, match=r"\(--keywords naming .* keeps it a keyword\)$"):
        load_audio_dataset(root, CFG)
