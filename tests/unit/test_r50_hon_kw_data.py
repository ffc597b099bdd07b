"""Round 50 honesty audit: a keyword-data behaviour of round 49 no test held (reverted
alone, the commit's own test modules passed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_audio_dataset import CFG, SPEAKERS, make_folder

from tinyslm.audio.dataset import load_audio_dataset
from tinyslm.errors import DatasetError


def test_a_list_where_one_clip_has_a_split_says_it_in_the_singular(tmp_path: Path) -> None:
    # df16ab8 #01: "1 of its 30 clips has one", not "1 of its 30 clips have one".
    root = make_folder(tmp_path / "d", {"yes": SPEAKERS, "no": SPEAKERS})
    rows = ["path,label,split"]
    for i, p in enumerate(sorted(root.glob("[ny]*/*.wav"))):
        rows.append(f"{p.relative_to(root).as_posix()},{p.parent.name},{'train' if i == 0 else ''}")
    (root / "list.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DatasetError) as info:
        load_audio_dataset(root / "list.csv", CFG)
    assert str(info.value).endswith(
        f": no split, while 1 of its {len(rows) - 1} clips has one; give a split for every"
        " clip or for none"
    ), info.value
