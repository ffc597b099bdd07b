"""A text dataset whose file name is not UTF-8 (a byte from another system's encoding,
``cmds\\xff.csv``: Python holds it as the lone surrogate U+DCFF) is read like any other.

Its name went as it was into the manifest's ``dataset``, the report page and the
project's ``tinyslm.json``, none of which can hold a lone surrogate: ``tinyslm train``
ended in a UnicodeEncodeError traceback after the whole training (drawing report.html),
``train --no-report`` wrote a model that ``generate`` then failed on with one, and
``report --data`` with such a file failed so too. The name is now recorded and shown as
the shell shows it, ``cmds\\xff.csv``, as errors already named such paths.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tinyslm import pipeline
from tinyslm.text.dataset import load_dataset

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NOT_UTF8 = os.fsdecode(b"cmds\xff.csv")  # 'cmds\udcff.csv'


def _copy(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    shutil.copyfile(FIXTURES / "fixture_commands.csv", path)
    return path


@pytest.mark.parametrize(
    ("name", "shown"), [(NOT_UTF8, "cmds\\xff.csv"), ("two\nlines.csv", "two\\nlines.csv")]
)
def test_the_recorded_name_is_utf8_text_on_one_line(tmp_path: Path, name: str, shown: str) -> None:
    source = load_dataset(_copy(tmp_path, name)).source
    assert source == shown
    source.encode("utf-8")  # what the manifest, the page and tinyslm.json are written in


def test_a_plain_name_is_recorded_as_it_is(tmp_path: Path) -> None:
    # eval tells train's dataset from another by this name: an ordinary one is unchanged,
    # so models trained before keep matching their file.
    assert load_dataset(_copy(tmp_path, "my commands é.csv")).source == "my commands é.csv"


def test_report_data_named_so_draws_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = _copy(tmp_path, NOT_UTF8)
    out = tmp_path / "report.html"
    pipeline.run_report(FIXTURES / "model", out, data=Path(data.name))
    page = out.read_bytes()
    assert b"Figures: cmds\\xff.csv test split (tinyslm report --data)" in page


def test_a_manifest_holding_such_a_name_reads_it_as_the_shell_shows_it(tmp_path: Path) -> None:
    # A model trained with --no-report before this fix recorded the name so: generate
    # then failed writing tinyslm.json with a traceback, and info printed it. Round 53:
    # read as a tinyslm of now records it, not refused (test_r53_f2_raw_names).
    from tinyslm.manifest import load_model_dir

    model = tmp_path / "model"
    shutil.copytree(FIXTURES / "model", model)
    manifest = model / "manifest.json"
    text = manifest.read_text(encoding="utf-8")
    assert '"dataset": "fixture_commands.csv"' in text
    manifest.write_text(text.replace("fixture_commands.csv", "cmds\\udcff.csv"), encoding="utf-8")
    loaded, _ = load_model_dir(model, probe_arena=False)
    # As a tinyslm of now records that file: eval takes it for train's dataset.
    assert loaded.metrics["dataset"] == load_dataset(_copy(tmp_path, NOT_UTF8)).source
    assert loaded.metrics["dataset"] == "cmds\\xff.csv"
