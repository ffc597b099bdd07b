"""``report --data demo``: the page names the bundled set ``demo``, as the user gave it.

``--data demo`` is swapped for the bundled file's path to be read, and that absolute
path (the install's: a home folder, site-packages) went into the page's banner and its
"measured on" row, so one model and one data set drew different pages on two installs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tinyslm import pipeline
from tinyslm.text import dataset

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_report_data_demo_is_the_same_page_from_any_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no file named 'demo' here: the bundled set
    pages = []
    for install in ("one/site-packages", "two"):
        # The fixture model's own data, as the bundled set of two installs.
        bundled = tmp_path / install / "tinyslm" / "data" / "demo_commands.csv"
        bundled.parent.mkdir(parents=True)
        shutil.copyfile(FIXTURES / "fixture_commands.csv", bundled)
        monkeypatch.setattr(dataset, "demo_dataset_path", lambda bundled=bundled: bundled)
        out = tmp_path / f"{install.replace('/', '-')}.html"
        pipeline.run_report(FIXTURES / "model", out, data=Path("demo"))
        pages.append(out.read_bytes())
    assert pages[0] == pages[1]
    assert str(tmp_path).encode() not in pages[0]
    assert b"Figures: demo test split (tinyslm report --data)" in pages[0]
