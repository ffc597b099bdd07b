"""Round 53 (rr1): review of rvf3's label key (NFKC, then lower case).

NFKC before lower case spelled the Greek lunate capital sigma (U+03F9) as a capital
sigma, then a sigma, but its small letter (U+03F2) as the final sigma: two labels that differ
only in case, refused by the key before round 53 (NFC, lower case), became two keywords.
The key now lowers first, as that one did, so every two labels it refused stay refused.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from audio_clips import WIN, word_folders

from tinyslm.audio.dataset import AudioDatasetConfig, label_key, load_audio_dataset
from tinyslm.errors import DatasetError

CFG = AudioDatasetConfig(window_samples=WIN)


def _old_key(label: str) -> str:
    """The key before round 53: labels equal under it were refused as one."""
    return unicodedata.normalize("NFC", label).lower()


@pytest.mark.parametrize(("one", "other"), [("\u03f9", "\u03f2"), ("\u03f9\u0391", "\u03f2\u03b1")])
def test_lunate_sigma_in_two_cases_is_one_label(one: str, other: str) -> None:
    assert _old_key(one) == _old_key(other)
    assert label_key(one) == label_key(other)


def test_every_label_the_old_key_made_one_still_is() -> None:
    # label_key(x) == label_key(_old_key(x)) for each code point alone, before and after a
    # letter and with a combining mark: then two labels one by the old key are one by this.
    split = [
        ascii(text)
        for cp in range(0x110000)
        if not 0xD800 <= cp < 0xE000
        for text in (chr(cp), "a" + chr(cp), chr(cp) + "\u0301")
        if label_key(text) != label_key(_old_key(text))
    ]
    assert split == []


def test_lunate_sigma_folders_in_two_cases_are_refused(tmp_path: Path) -> None:
    root = word_folders(tmp_path, "no", "\u03f9\u0391", "\u03f2\u03b1")
    with pytest.raises(DatasetError, match="only in case"):
        load_audio_dataset(root, CFG)
