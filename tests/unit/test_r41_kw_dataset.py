"""Round 41: keyword dataset input that was taken silently, refused for nothing, or named
untruly (tinyslm.audio.dataset and tinyslm.audio.wav, and where their lines are said)."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_audio_dataset import CFG, SPEAKERS, WIN, make_folder, refused, tone
from test_audio_wav import chunk, extensible, fmt_body, refusal, riff, write

from tinyslm.audio.dataset import NOISE, load_audio_dataset
from tinyslm.audio.wav import read_wav, write_wav
from tinyslm.cli import cli
from tinyslm.errors import DatasetError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# --- lists -----------------------------------------------------------------------------


def _rows() -> list[str]:
    """A CSV list's rows for make_folder's yes/no dataset, one clip per speaker."""
    return [f"{w}/{s}_nohash_0.wav,{w}\n" for w in ("yes", "no") for s in SPEAKERS]


@pytest.mark.parametrize("spelling", ["absolute", "../d/yes"])
def test_a_file_listed_twice_under_another_spelling_is_refused(
    tmp_path: Path, spelling: str
) -> None:
    # Only the normalised spelling was compared: the same file listed once as written
    # and once absolute (or through '..') was two clips, in two splits or two labels.
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    rows = _rows()
    (root / "plain.csv").write_text("".join(rows))
    assert len(load_audio_dataset(root / "plain.csv", CFG).clips) == len(rows)
    clip = f"yes/{SPEAKERS[0]}_nohash_0.wav"
    shown = str(root / clip) if spelling == "absolute" else f"../d/{clip}"
    (root / "twice.csv").write_text("".join(rows) + f"{shown},no\n")
    assert refused(root / "twice.csv") == (
        f"{root / 'twice.csv'}: line {len(rows) + 1}: {shown} is already listed on line 1"
        f" (as {clip})"
    )


def test_an_empty_split_cell_is_no_split(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    rows = _rows()
    write_wav(root / "noise.wav", tone(20 * WIN, 500))
    (root / "none.csv").write_text("".join(rows))
    expected = [(c.source, c.split) for c in load_audio_dataset(root / "none.csv", CFG).clips]
    # A trailing comma on every row: "split '' is not train, val or test" before.
    (root / "blank.csv").write_text("path,label,split\n" + "".join(r[:-1] + ",\n" for r in rows))
    got = load_audio_dataset(root / "blank.csv", CFG)
    assert [(c.source, c.split) for c in got.clips] == expected
    # Splits given for the clips, the background recording's cell left blank.
    given = "".join(r[:-1] + ",train\n" for r in rows) + f"noise.wav,{NOISE},\n"
    (root / "noise.csv").write_text(given)
    assert len(load_audio_dataset(root / "noise.csv", CFG).noise) == 1
    # JSONL's "" is its null.
    cells = [r.strip().split(",") for r in rows]
    lines = [json.dumps({"path": p, "label": lb, "split": ""}) for p, lb in cells]
    (root / "blank.jsonl").write_text("\n".join(lines) + "\n")
    got = load_audio_dataset(root / "blank.jsonl", CFG)
    assert [(c.source, c.split) for c in got.clips] == expected


def test_a_list_row_naming_a_folder_says_so(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    (root / "list.csv").write_text("".join(_rows()) + "yes,yes\n")
    n = len(_rows()) + 1
    assert refused(root / "list.csv") == (
        f"{root / 'list.csv'}: line {n}: yes is a folder, not a WAV file"
    )


def test_a_label_with_a_lone_surrogate_is_not_utf8(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    row = {"path": f"yes/{SPEAKERS[0]}_nohash_0.wav", "label": "ye\udcffs"}
    (root / "list.jsonl").write_text(json.dumps(row) + "\n")
    assert refused(root / "list.jsonl") == (
        f"{root / 'list.jsonl'}: line 1: label 'ye\\udcffs' is not UTF-8 text"
    )


# --- folders ---------------------------------------------------------------------------


def test_a_label_folder_linked_to_another_label_is_refused(tmp_path: Path) -> None:
    # 'yes2 -> yes' was a second keyword with the same clips.
    same = make_folder(tmp_path / "same", {"yes": SPEAKERS, "no": SPEAKERS})
    os.symlink("yes", same / "yes2")
    assert refused(same) == (
        f"{same / 'yes2'}: the same folder as {same / 'yes'} (a link); each label needs its"
        " own folder"
    )


@pytest.mark.parametrize("target", ["nowhere", "up"])
def test_a_label_link_that_leads_nowhere_is_refused(tmp_path: Path, target: str) -> None:
    # Dangling, or looping onto itself: skipped without a word, its clips left out.
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    os.symlink(target, root / "up")
    assert refused(root) == (
        f"{root / 'up'}: a link that leads nowhere (dangling or looping); fix or remove it"
    )


def test_a_label_folder_linked_to_clips_kept_elsewhere_is_a_label(tmp_path: Path) -> None:
    # A link to clips kept elsewhere is a label like any other; hidden links are not data.
    elsewhere = make_folder(tmp_path / "elsewhere", {"up": SPEAKERS})
    root = make_folder(tmp_path / "linked", {"yes": SPEAKERS, "no": SPEAKERS})
    os.symlink(elsewhere / "up", root / "up")
    os.symlink("nowhere", root / ".cache")
    assert load_audio_dataset(root, CFG).labels == ("no", "up", "yes")


def test_a_clip_linked_into_a_second_folder_is_refused(tmp_path: Path) -> None:
    # It was two clips: one recording under two labels (or heard twice, split by name).
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    clip = sorted((root / "yes").iterdir())[0]
    os.symlink(clip, root / "no" / "zz_nohash_0.wav")
    assert refused(root) == (
        f"{root / 'no' / 'zz_nohash_0.wav'}: the same file as {clip} (a link); a clip"
        " belongs in one place"
    )


@pytest.mark.parametrize("name", ["a\nb.wav", "tab\there.wav"])
def test_clip_names_with_control_characters_are_refused(tmp_path: Path, name: str) -> None:
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    write_wav(root / "yes" / name, tone())
    assert refused(root) == f"{root / 'yes' / repr(name)}: the name has control characters"


def test_names_the_loader_skips_may_be_any_bytes(tmp_path: Path) -> None:
    # A hidden AppleDouble file or a note whose name is not UTF-8 refused the dataset.
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    before = load_audio_dataset(root, CFG)
    base = os.fsencode(root)
    try:
        (Path(os.fsdecode(base + b"/yes/._caf\xe9_nohash_0.wav"))).write_bytes(bytes(82))
    except OSError:
        pytest.skip("this file system takes UTF-8 names only")
    Path(os.fsdecode(base + b"/no/caf\xe9.txt")).write_text("notes")
    Path(os.fsdecode(base + b"/caf\xe9.txt")).write_text("notes")
    os.mkdir(base + b"/.caf\xe9")
    after = load_audio_dataset(root, CFG)
    assert [c.source for c in after.clips] == [c.source for c in before.clips]
    # Names that are used still are refused: a clip's.
    os.rename(root / "no" / f"{SPEAKERS[0]}_nohash_0.wav", base + b"/no/caf\xe9_nohash_0.wav")
    assert refused(root) == f"{root / 'no'}/caf\\xe9_nohash_0.wav: the name is not UTF-8; rename it"


@pytest.mark.parametrize("name", ["yes ", " yes", "yes\u3000"])
def test_label_folders_with_surrounding_white_space_are_refused(tmp_path: Path, name: str) -> None:
    # A list's labels are stripped; 'yes ' as a folder was a keyword of its own.
    root = make_folder(tmp_path / "d", {name: SPEAKERS, "no": SPEAKERS})
    msg = refused(root)
    assert msg == (
        f"{root / repr(name)}: the folder name starts or ends with white space, so its label"
        " is not 'yes'; rename it"
    ), msg


# --- WAV files -------------------------------------------------------------------------


def test_extensible_24_of_32_bits_names_its_containers(tmp_path: Path) -> None:
    fmt = extensible(valid_bits=24)
    fmt = fmt[:12] + b"\x04\x00\x20\x00" + fmt[16:]  # 4-byte blocks of 32 bits
    path = write(tmp_path, riff(chunk(b"fmt ", fmt), chunk(b"data", bytes(64))))
    assert "24-bit samples in 32-bit containers; convert it with" in refusal(path)


def test_a_pad_byte_left_out_mid_file_is_named(tmp_path: Path) -> None:
    # Sample bytes were read as the next chunk's header: "'àÐà\x9e' chunk cut off".
    samples = bytes(range(0x80, 0x100)) * 4  # loud bytes, as the hunter's sine had
    no_pad = chunk(b"LIST", b"abc", pad=False)
    path = write(tmp_path, riff(chunk(b"fmt ", fmt_body()), no_pad, chunk(b"data", samples)))
    assert refusal(path) == (
        f"{path}: misaligned WAV: the chunk after the odd-sized 'LIST' chunk starts at byte"
        " 47, not 48 (its pad byte missing?)"
    )
    garbage = b"\xe0\xd0\xe0\x9e" + b"\xff\xff\x00\x00"
    path = write(tmp_path, riff(chunk(b"fmt ", fmt_body()), garbage), "garbage.wav")
    msg = refusal(path)
    assert msg.isascii() and msg.endswith(
        "truncated WAV: chunk with id bytes \\xe0\\xd0\\xe0\\x9e cut off at byte 36"
    ), msg


def test_a_wav_path_with_a_line_break_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    odd = tmp_path / "a\nb.wav"
    with pytest.raises(DatasetError) as info:
        read_wav(odd)
    assert str(info.value) == f"{str(odd)!r}: cannot read: No such file or directory"
    from tinyslm.emulate import keywords

    monkeypatch.setattr(keywords, "is_keyword_project", lambda project: True)
    result = CliRunner().invoke(cli, ["emulate", str(tmp_path), "--wav", str(odd)])
    assert result.exit_code == 1, result.output
    assert result.stderr == f"error: {str(odd)!r}: cannot read: No such file or directory\n"


# --- where the labels and lists are read ---------------------------------------------


def test_labels_without_glyphs_in_the_font_draw_without_warnings() -> None:
    from tinyslm.report import heatmap_svg

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        svg, _ = heatmap_svg(["はい", "いいえ", "yes"], [[3, 1, 0], [0, 4, 0], [1, 0, 5]], "test")
    assert [str(w.message) for w in caught] == []
    assert "はい" in svg  # as text, which the browser draws with its own fonts


def test_eval_on_a_utf16_list_says_what_train_says(tmp_path: Path) -> None:
    sys.path.insert(0, str(FIXTURES))
    from kws import keyword_model_dir

    from tinyslm.text.dataset import load_dataset

    model = keyword_model_dir(tmp_path / "kws")
    data = tmp_path / "list.csv"
    data.write_text("path,label\nyes/a.wav,yes\n", encoding="utf-16")
    with pytest.raises(DatasetError) as info:
        load_dataset(data)  # what train reads such a list with (it sniffs as text)
    train_says = str(info.value)
    assert "save the file as UTF-8" in train_says
    result = CliRunner().invoke(cli, ["eval", str(model), str(data)])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"error: {train_says}\n"


def test_the_keyword_loader_says_the_same_of_a_utf16_list(tmp_path: Path) -> None:
    # Through the library (load_audio_dataset): "cannot read: 'utf-8' codec can't
    # decode byte 0xff in position 0: invalid start byte".
    data = tmp_path / "list.csv"
    data.write_text("path,label\nyes/a.wav,yes\n", encoding="utf-16")
    assert refused(data) == (f"{data}: line 1: not valid UTF-8 (byte 0xff); save the file as UTF-8")
