"""Round 44, keyword data as a user brings it: a clip list whose path column has a name
of its own is still a clip list (it was taken for a text dataset and told to add a text
column)."""

from __future__ import annotations

from pathlib import Path

from test_audio_dataset import refused  # one set of tiny-clip helpers
from test_r43_kw_data import clip_rows, make_folder

from tinyslm.modality import AUDIO, TEXT, check_data_modality, modality_of_data


def test_a_list_with_its_own_path_column_name_is_audio(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d")
    data = root / "sounds.csv"
    data.write_text("sound,label\n" + "".join(f"{p},{lb}\n" for p, lb in clip_rows(root)))
    # Before: TEXT, and train said the file needs a text column.
    assert modality_of_data(data).name == AUDIO
    check_data_modality(data, AUDIO)
    msg = refused(data)
    assert "got sound,label" in msg and "text" not in msg.replace(str(tmp_path), ""), msg


def test_phrases_naming_wav_files_stay_text(tmp_path: Path) -> None:
    for text in (
        "phrase,intent\nplay song.wav,play\nplay intro.wav,play\n",
        "phrase,intent\nplay.wav,play\nturn it up,up\n",  # one row names no clip
        "sound,label\n",  # a header alone: nothing says clips
    ):
        (tmp_path / "t.csv").write_text(text)
        assert modality_of_data(tmp_path / "t.csv").name == TEXT, text


def test_clip_lists_with_spaces_in_their_paths_and_jsonl_keys_of_their_own(
    tmp_path: Path,
) -> None:
    """Review of round 44: the first version needed paths without spaces, and read CSV
    only ("my clips/yes 0.wav" and {"sound": ...} were still told to add a text column)."""
    import json

    root = make_folder(tmp_path / "my clips")
    rows = clip_rows(root)
    spaced = tmp_path / "spaced"
    spaced.mkdir()
    for path, _ in rows:  # the same clips under names with spaces, beside the lists
        (spaced / path.replace("_nohash_", " nohash ")).parent.mkdir(exist_ok=True)
        (spaced / path.replace("_nohash_", " nohash ")).write_bytes((root / path).read_bytes())
    renamed = [(p.replace("_nohash_", " nohash "), lb) for p, lb in rows]
    lists = {
        "a.csv": "sound,label\n" + "".join(f"{p},{lb}\n" for p, lb in renamed),
        "b.jsonl": "".join(json.dumps({"sound": p, "label": lb}) + "\n" for p, lb in renamed),
        "c.jsonl": "".join(json.dumps({"sound": p, "label": lb}) + "\n" for p, lb in rows),
    }
    for name, text in lists.items():
        (spaced / name).write_text(text)
        assert modality_of_data(spaced / name).name == AUDIO, name
        check_data_modality(spaced / name, AUDIO)
    # A phrase naming a file that is not there, with spaces, stays text.
    (spaced / "t.jsonl").write_text(json.dumps({"sound": "play song.wav", "label": "play"}))
    assert modality_of_data(spaced / "t.jsonl").name == TEXT
