"""Round 50, second data fixer: a word only an --extra-train set has is found from the
sets' listings (no recording read, so a short background recording there refuses
nothing), an extra set's capped ``_unknown_`` draw follows --seed, and a list's header
names its rows' fields whatever the column order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_audio_dataset import CFG, SPEAKERS, make_folder, refused, tone
from test_r43_kw_data import clip_rows
from test_r43_kw_data import make_folder as make_yes_no
from test_r50_data_extra import _list_data, _synth_like

import tinyslm.audio.dataset as ds
import tinyslm.audio.fit as fit
from tinyslm.audio.dataset import UNKNOWN, AudioDatasetConfig, load_audio_dataset
from tinyslm.audio.wav import write_wav
from tinyslm.errors import DatasetError

# --- 1. a word only an --extra-train set has: named from the sets' listings ---------------


def test_a_word_only_an_extra_set_has_is_named_without_reading_the_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The set was loaded whole to find the word: its background recording, shorter than
    the window (training never reads it), refused the set instead, and every clip of
    every set was read for one name."""
    data = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    first = make_folder(tmp_path / "x1", {"yes": ["a"]}, 0, 1)
    extra = make_folder(tmp_path / "x2", {"go": ["a", "b"]}, 0, 2)
    (extra / ds.NOISE).mkdir()
    write_wav(extra / ds.NOISE / "short.wav", tone(400))
    read = ds.read_wav
    reads: list[str] = []
    monkeypatch.setattr(ds, "read_wav", lambda p: reads.append(str(p)) or read(p))
    words = AudioDatasetConfig(keywords=("yes", "no", "go"))
    with pytest.raises(DatasetError) as info:
        fit._load_data(data, words, [str(first), str(extra)])
    assert str(info.value) == (
        f"{data}: --keywords names 'go', which is only in --extra-train {extra}; DATA has no"
        " clips of it (a keyword needs DATA's clips to be validated and tested: drop it from"
        " --keywords)"
    )
    assert not [r for r in reads if str(tmp_path / "x") in r], reads


def test_the_sets_after_the_one_holding_the_word_are_not_looked_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    extra = make_folder(tmp_path / "x1", {"go": ["a", "b"]}, 0, 1)
    later = make_folder(tmp_path / "x2", {"go": ["c"]}, 0, 2)
    looked: list[str] = []
    listing = ds.extra_train_words
    monkeypatch.setattr(ds, "extra_train_words", lambda p: looked.append(str(p)) or listing(p))
    words = AudioDatasetConfig(unknown_words=("go",))
    with pytest.raises(DatasetError, match=f"only in --extra-train {extra};"):
        fit._load_data(data, words, [str(extra), str(later)])
    assert looked == [str(extra)]
    assert ds.extra_train_words(later) == {"go"}


# --- 2. an extra set's capped _unknown_ draw follows --seed -----------------------------


def _kept_unknown(root: Path, seed: int | None) -> list[str]:
    data = _list_data(root / "d", train=10, unknown=8)
    syn = _synth_like(root / "syn", voices=2)
    seeded: dict[str, Any] = {} if seed is None else {"seed": seed}
    mixed = ds.load_training_clips(syn, data, **seeded)
    return sorted(c.source for c in mixed.clips if c.label == UNKNOWN and "syn/" in c.source)


def test_the_extra_sets_unknown_draw_follows_the_seed(tmp_path: Path) -> None:
    """It always drew with seed 0 (load_training_clips took no seed): every --seed kept the
    same 8 of the 12."""
    drawn = {s: _kept_unknown(tmp_path / f"s{s}", s) for s in (0, 1, 2, 3)}
    assert all(len(kept) == 8 for kept in drawn.values())
    assert len({tuple(kept) for kept in drawn.values()}) > 1, drawn
    assert _kept_unknown(tmp_path / "again", 1) == drawn[1]
    assert _kept_unknown(tmp_path / "default", None) == drawn[0]  # seed 0: as before


class _Stop(Exception):
    """Raised by a stub where the real step would read and train."""


def test_train_passes_its_seed_to_the_extra_sets_draw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinyslm.audio.train import AudioTrainConfig

    data = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    extra = make_folder(tmp_path / "x", {"yes": ["a"]}, 0, 1)
    seeds: list[int] = []

    def stub(*args: Any, seed: int = 0, **kwargs: Any) -> Any:
        seeds.append(seed)
        raise _Stop

    monkeypatch.setattr(ds, "load_training_clips", stub)
    monkeypatch.setattr(fit, "refuse_unfirable_rule", lambda *a: None)  # tiny clips
    with pytest.raises(_Stop):
        fit.fit_audio(data, AudioTrainConfig(seed=7, extra_train=(str(extra),)))
    assert seeds == [7]


# --- 3. a list's header names its rows' fields, in any column order ------------------------


def _lists(root: Path, header: str, row: str) -> Path:
    """A list of root's clips under ``header``, each row ``row`` formatted."""
    lines = [row.format(path=p, label=lb) for p, lb in clip_rows(root)]
    listed = root / f"{header.replace(',', '_')}.csv"
    listed.write_text(header + "\n" + "\n".join(lines) + "\n")
    return listed


@pytest.mark.parametrize(
    ("header", "row"),
    [("path,label", "{path},{label},train"), ("label,path", "{label},{path},train")],
)
def test_a_third_cell_under_a_header_without_split_is_refused(
    tmp_path: Path, header: str, row: str
) -> None:
    """Under path,label it was taken as a split unsaid; label,path refused it."""
    root = make_yes_no(tmp_path / "d")
    listed = _lists(root, header, row)
    assert refused(listed) == (
        f"{listed}: line 2: expected 2 fields as the header names, got 3 (add split to the"
        f" header, {header},split, or drop the extra cell)"
    )


def test_any_column_order_takes_the_same_rows(tmp_path: Path) -> None:
    """A trailing comma (a blank cell past the header's) and a last split column left out
    are no split in every order: label,path refused both."""
    root = make_yes_no(tmp_path / "d")

    def seen(header: str, row: str) -> list[tuple[str, str, str]]:
        dataset = load_audio_dataset(_lists(root, header, row), CFG)
        assert not dataset.given_splits
        return [(c.source, c.label, c.split) for c in dataset.clips]

    plain = seen("path,label", "{path},{label}")
    for header, row in (
        ("path,label", "{path},{label},"),
        ("label,path", "{label},{path},"),
        ("path,label,split", "{path},{label}"),
        ("label,path,split", "{label},{path}"),
        ("label,path", "{label},{path}"),
        ("path,label", "{path},{label},,"),
        ("path,label,split", "{path},{label},,"),
    ):
        assert seen(header, row) == plain, (header, row)


def test_a_trailing_comma_after_a_split_is_the_same_row_in_every_order(tmp_path: Path) -> None:
    """A spreadsheet's empty last column (``a.wav,yes,train,``): path,label,split refused
    it, label,path,split took it (round 50's review)."""
    root = make_yes_no(tmp_path / "d")

    def seen(header: str, row: str) -> list[tuple[str, str, str]]:
        return [
            (c.source, c.label, c.split)
            for c in load_audio_dataset(_lists(root, header, row), CFG).clips
        ]

    given = seen("path,label,split", "{path},{label},train")
    for header, row in (
        ("path,label,split", "{path},{label},train,"),
        ("label,path,split", "{label},{path},train,"),
    ):
        assert seen(header, row) == given, (header, row)


def test_a_missing_cell_that_is_not_a_last_split_is_refused(tmp_path: Path) -> None:
    root = make_yes_no(tmp_path / "d")
    listed = _lists(root, "path,split,label", "{path},{label}")
    assert refused(listed) == (
        f"{listed}: line 2: expected 3 fields as the header names, got 2 (give an empty split"
        " cell where a clip has no split)"
    )
    listed = _lists(root, "label,path", "{path}")
    assert refused(listed) == (
        f"{listed}: line 2: expected 2 fields as the header names, got 1 (give each row the"
        " header's columns, label,path)"
    )
