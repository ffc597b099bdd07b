"""What the README says, held to the code: the monitor's row size, and the one warning a
cache entry that cannot be used gives (audio features printed a progress line on stdout
instead, and nothing at all under -q)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_r41_cache import synthetic_dataset  # noqa: E402


def test_the_readme_states_the_monitors_row_size() -> None:
    from tinyslm.monitor import MAX_LINE_BYTES

    readme = REPO.joinpath("README.md").read_text(encoding="utf-8")
    rows = re.search(r"a line with no newline is shown in rows of ([\d,]+) bytes", readme)
    assert rows is not None, "the monitor row no longer says its row size"
    assert int(rows.group(1).replace(",", "")) == MAX_LINE_BYTES


def test_an_unreadable_audio_feature_entry_is_one_warning_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tinyslm.audio.train import AudioTrainConfig, feature_sets

    monkeypatch.setenv("TINYSLM_CACHE_DIR", str(tmp_path / "cache"))
    data = synthetic_dataset()
    config = AudioTrainConfig(size="small", augment_copies=0, balance_classes=False)
    first = feature_sets(data, config)
    (entry,) = (tmp_path / "cache" / "audio-features").iterdir()
    cut = entry / "x_test.npy"
    cut.write_bytes(cut.read_bytes()[:100])  # a full disk, a partial copy
    capsys.readouterr()
    again = feature_sets(data, config)  # no log: as train -q runs it
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: the cache entry {entry} is unusable")
    assert (again.x_test == first.x_test).all()
