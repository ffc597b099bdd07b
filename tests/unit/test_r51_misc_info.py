"""Round 51: info's line limit is the one a project gets.

A text project's ``TINYSLM_MAX_LINE`` is the board's usual limit where that is above the
model's (:func:`tinyslm.emit.text.line_limit`); info printed the manifest's ``max_line``
for a model folder and for a project alike, so a project generate had written for a
model of 128 bytes was said to take 128-byte lines where its firmware takes 256.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

from tinyslm.boards import load_board
from tinyslm.emit.text import line_limit
from tinyslm.info import board_fits, format_info, model_info
from tinyslm.manifest import load_model_dir
from tinyslm.pipeline import run_generate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _short_lined_model(root: Path) -> Path:
    """The fixture model with a line limit (128) under every board's (256)."""
    model = root / "m"
    shutil.copytree(FIXTURES / "model", model)
    manifest, _ = load_model_dir(model, probe_arena=False)
    dataclasses.replace(manifest, max_line=128).write(model)
    return model


def _row(text: str) -> str:
    found = re.search(r"^device line limit +(.*)$", text, re.M)
    assert found is not None, text
    return found.group(1)


def test_a_model_folders_line_limit_names_what_a_project_raises_it_to(tmp_path: Path) -> None:
    info = model_info(_short_lined_model(tmp_path))
    assert _row(format_info(info)) == (
        "128 bytes (the model's; a project gets its board's where higher: esp32 256, stm32h7 256)"
    )
    doc = info.to_dict()
    assert doc["max_line"] == 128  # the model's own
    for board in doc["boards"]:
        # What generate writes for that board: emit.text.line_limit, not re-derived.
        assert board["max_line"] == line_limit(load_board(board["board"]), 128) == 256


def test_a_projects_line_limit_is_what_generate_wrote(tmp_path: Path) -> None:
    project = tmp_path / "p"
    run_generate("esp32", project, model_dir=_short_lined_model(tmp_path))
    assert "#define TINYSLM_MAX_LINE 256" in (project / "src" / "tinyslm_settings.h").read_text()
    info = model_info(project)
    assert _row(format_info(info)) == "256 bytes (board esp32's usual limit, above the model's 128)"
    assert info.to_dict()["max_line"] == 256


def test_a_line_limit_no_board_raises_is_said_plainly() -> None:
    info = model_info(FIXTURES / "model")
    assert info.manifest.max_line == 256
    assert _row(format_info(info)) == "256 bytes"
    assert {b["max_line"] for b in info.to_dict()["boards"]} == {256}


def test_the_row_names_only_the_boards_the_model_fits(tmp_path: Path) -> None:
    """A board the model does not fit gets no project: its raised limit is not said (the
    row is of 'each fitting board')."""
    info = model_info(_short_lined_model(tmp_path))
    esp32 = load_board("esp32")
    # One byte over the ESP32's flash budget, within the STM32H7's.
    big = dataclasses.replace(info.manifest, model_bytes=esp32.model_budget_bytes + 1)
    fits = board_fits(big, info.arena_size)
    assert {f.board: f.fits for f in fits} == {"esp32": False, "stm32h7": True}
    text = format_info(dataclasses.replace(info, manifest=big, fits=fits))
    assert _row(text) == (
        "128 bytes (the model's; a project gets its board's where higher: stm32h7 256)"
    )
