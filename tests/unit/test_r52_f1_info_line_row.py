"""Round 52 (F1 #1): info's line-limit row comes from the modality's summary rows, given
the value info knows, not found again by its key.

``info._with_line_limit`` replaced the summary row whose key was ``device line limit``:
a modality that named (or placed) that row otherwise kept the manifest's limit, so a
project generate had raised to 256 bytes was said to take 128-byte lines, with no test
or error. The rows now take the value (``summary_rows(m, line_limit)``), whatever their
key or order.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from tinyslm import modality as modality_module
from tinyslm.info import format_info, model_info
from tinyslm.manifest import Manifest, load_model_dir
from tinyslm.modality import TEXT
from tinyslm.pipeline import run_generate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RAISED = "256 bytes (board esp32's usual limit, above the model's 128)"


@pytest.fixture(scope="module")
def short_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An esp32 project of a model whose limit (128) the board raises to 256."""
    root = tmp_path_factory.mktemp("f1line")
    model = root / "m"
    shutil.copytree(FIXTURES / "model", model)
    manifest, _ = load_model_dir(model, probe_arena=False)
    dataclasses.replace(manifest, max_line=128).write(model)
    run_generate("esp32", root / "p", model_dir=model)
    return root / "p"


def _renamed_first(m: Manifest, line_limit: str | None = None) -> list[tuple[str, str]]:
    """A text modality's rows with the line-limit row renamed and moved to the top."""
    from tinyslm.text.fit import summary_rows

    own = [row for row in summary_rows(m) if row[0] != "device line limit"]
    return [("longest line", line_limit or f"{m.max_line} bytes"), *own]


def test_a_renamed_reordered_line_row_still_says_the_projects_limit(
    short_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: 'longest line  128 bytes' (the manifest's), the project's 256 lost."""
    text_kind = modality_module.MODALITIES[TEXT]
    monkeypatch.setitem(
        modality_module.MODALITIES,
        TEXT,
        dataclasses.replace(text_kind, summary_rows=_renamed_first),
    )
    lines = format_info(model_info(short_project)).splitlines()
    said = [line for line in lines if "bytes" in line and "line" in line.split("  ")[0]]
    assert len(said) == 1, lines
    assert said[0].split("  ", 1)[0] == "longest line" and said[0].endswith(RAISED), lines
    assert not any(line.startswith("device line limit") for line in lines), lines


def test_the_line_row_is_said_once_with_the_projects_limit(short_project: Path) -> None:
    lines = format_info(model_info(short_project)).splitlines()
    limit_rows = [line for line in lines if line.startswith("device line limit")]
    assert len(limit_rows) == 1, lines
    assert limit_rows[0].endswith("  " + RAISED), lines


def test_train_s_rows_keep_the_models_own_limit() -> None:
    """Without a value (train's summary) the row is the manifest's, as before."""
    from tinyslm.text.fit import summary_rows

    manifest, _ = load_model_dir(FIXTURES / "model", probe_arena=False)
    rows = summary_rows(dataclasses.replace(manifest, max_line=128))
    assert [v for k, v in rows if k == "device line limit"] == ["128 bytes"]
