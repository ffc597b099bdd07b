"""Round 50's re-read: info's project checks against what generate really writes.

A -D flag on an indented continuation line of build_flags (the layout of every generated
platformio.ini) defines the guarded keyword line limit too; and a text project's
TINYSLM_MAX_LINE is the board's usual limit where that is above the model's.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import pytest

from tinyslm.errors import ProjectError
from tinyslm.info import model_info
from tinyslm.manifest import load_model_dir
from tinyslm.pipeline import run_generate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from kws import keyword_model_dir  # noqa: E402


def test_an_indented_build_flag_is_a_flag(tmp_path: Path) -> None:
    project = tmp_path / "p"
    run_generate("esp32", project, model_dir=keyword_model_dir(tmp_path / "kw"))
    ini = project / "platformio.ini"
    base = ini.read_text()
    assert "build_flags =\n    -D" in base
    ini.write_text(
        base.replace("build_flags =\n", "build_flags =\n    ; -DTINYSLM_KWS_MAX_COMMAND=64\n")
    )
    model_info(project)  # a comment line is no flag
    ini.write_text(
        base.replace("build_flags =\n", "build_flags =\n    -DTINYSLM_KWS_MAX_COMMAND=64\n")
    )
    with pytest.raises(ProjectError, match=r"a build flag defines TINYSLM_KWS_MAX_COMMAND"):
        model_info(project)


def test_a_text_project_of_a_model_with_a_shorter_line_limit_is_its_own(tmp_path: Path) -> None:
    """A model whose max_line (128) is under the board's (256): generate writes 256, and
    info refused the project it had just written."""
    model = tmp_path / "m"
    shutil.copytree(FIXTURES / "model", model)
    manifest, _ = load_model_dir(model, probe_arena=False)
    dataclasses.replace(manifest, max_line=128).write(model)
    project = tmp_path / "p"
    run_generate("esp32", project, model_dir=model)
    assert "#define TINYSLM_MAX_LINE 256" in (project / "src" / "tinyslm_settings.h").read_text()
    model_info(project)  # no error: the header says what generate wrote
    settings = project / "src" / "tinyslm_settings.h"
    settings.write_text(
        settings.read_text().replace("TINYSLM_MAX_LINE 256", "TINYSLM_MAX_LINE 300")
    )
    with pytest.raises(ProjectError, match=r"TINYSLM_MAX_LINE 300 does not match"):
        model_info(project)


def test_synth_kept_note_names_a_kept_folder_of_yours() -> None:
    """A folder of the user's own that synth --force kept (``maybe/``) is a label to
    train as much as a word folder holding a kept clip; the note named only the latter."""
    from tinyslm.cli import synth_kept_note

    note = synth_kept_note(["maybe/", "no/mine.wav", "up/x.wav"], ["up", "_unknown_"])
    assert note.startswith("note: kept 3 of yours: maybe/, no/mine.wav, up/x.wav; ")
    assert "maybe/, no/ are not words synthesized this time" in note
