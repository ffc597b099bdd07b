"""Round 51: the two refusals of an ``--extra-train`` set's ``_unknown_`` clips beside
DATA without that class, each named by what made the clips ``_unknown_``.

``load_training_clips`` names the flag that made a word ``_unknown_`` (only
``--keywords`` had a test: a wrong flag name for ``--unknown-words`` went unseen), and
``with_training_clips``, public, keeps its own guard for a caller that loads the set
itself (``load_training_clips`` refuses first, so only a direct call reaches it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_audio_dataset import CFG, SPEAKERS, make_folder
from test_r50_data_lists import _extra_list, _extra_refused

from tinyslm.audio.dataset import (
    UNKNOWN,
    AudioDatasetConfig,
    load_audio_dataset,
    with_training_clips,
)
from tinyslm.errors import DatasetError


def test_a_word_unknown_words_made_unknown_names_that_flag(tmp_path: Path) -> None:
    """--unknown-words bed: the set's 'bed' rows are _unknown_ by that flag, not by
    --keywords (which was not given)."""
    data = load_audio_dataset(make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS}), CFG)
    d = tmp_path / "d"
    words = _extra_list(tmp_path / "y", ["yes", "no", "bed"])
    assert _extra_refused(words, data, unknown_words=("bed",)) == (
        f"{words}: its word 'bed', trained as {UNKNOWN} (--unknown-words), has no class in"
        f" {d}, which has no {UNKNOWN}/ folder (nor a word trained as {UNKNOWN}): add"
        f" {UNKNOWN}/ clips to {d}, or drop that --extra-train list"
    )


def _refused_directly(data_root: Path, extra_root: Path, config: AudioDatasetConfig) -> str:
    data = load_audio_dataset(data_root, CFG)
    extra = load_audio_dataset(extra_root, config)
    with pytest.raises(DatasetError) as info:
        with_training_clips(data, extra)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


def test_with_training_clips_refuses_unknown_clips_without_the_class(tmp_path: Path) -> None:
    """Called directly, with a set loaded by the caller: its _unknown_/ folder's clips,
    and a word its own --keywords made _unknown_, are refused by the folder as written
    (without the guard: "label '_unknown_' is not one of ...", advising --keywords)."""
    d = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    unknown = make_folder(
        tmp_path / "u", {"yes": ["a", "b"], "no": ["c", "e"], UNKNOWN: ["f", "g"]}, fresh=1
    )
    assert _refused_directly(d, unknown, CFG) == (
        f"{unknown}: its {UNKNOWN} clips have no class in {d}, which has no {UNKNOWN}/"
        f" folder (nor a word trained as {UNKNOWN}): add {UNKNOWN}/ clips to {d}, or write u"
        f" without them ('tinyslm synth --unknown-clips 0')"
    )
    maybe = make_folder(
        tmp_path / "m", {"yes": ["a", "b"], "no": ["c", "e"], "maybe": ["f", "g"]}, fresh=1
    )
    chosen = AudioDatasetConfig(window_samples=CFG.window_samples, keywords=("yes", "no"))
    assert _refused_directly(d, maybe, chosen) == (
        f"{maybe}: its word 'maybe', trained as {UNKNOWN} (--keywords), has no class in {d},"
        f" which has no {UNKNOWN}/ folder (nor a word trained as {UNKNOWN}): add {UNKNOWN}/"
        f" clips to {d}, or drop that --extra-train folder"
    )
