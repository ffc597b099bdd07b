"""Two behaviours of 73780db that its tests did not hold.

- ``generate --force`` names each earlier choice it drops: a ``--label-threshold`` whose
  label the new model lacks is dropped with a note (the README's generate row says so).
- A format-1 model folder (no content hash) whose model.tflite is cut short is one line
  on every walk of the flatbuffer: at one cut io_details still reads it and
  embedding_rows, which check_against_model runs next, is the first to fail.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_r45_gen_fixes import _cut_model_folder

from tinyslm.cli import cli
from tinyslm.errors import ModelError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TEXT_MODEL = FIXTURES / "model"


# --- generate --force: a label threshold whose label the model lacks ---------------------


def _notes(label_thresholds: dict[str, float]) -> list[str]:
    from tinyslm.boards import load_board
    from tinyslm.manifest import LABEL_THRESHOLDS_FORMAT, LabelThreshold, load_model_dir
    from tinyslm.pipeline import PreviousProject, dropped_choices

    manifest, _ = load_model_dir(TEXT_MODEL, probe_arena=False)
    assert "gone" not in manifest.labels
    old = replace(
        manifest,
        format_version=LABEL_THRESHOLDS_FORMAT,
        label_thresholds=(LabelThreshold("gone", 0.6, 26),),
    )
    return dropped_choices(
        PreviousProject(old),
        manifest,
        load_board("esp32"),
        threshold=None,
        label_thresholds=label_thresholds,
        mic_pins=(),
    )


def test_a_label_threshold_for_a_label_the_model_lacks_is_named_as_dropped() -> None:
    assert _notes({}) == [
        "--label-threshold gone=0.6 of the project is dropped: the model has no label 'gone'"
    ]
    # Given again on the command line: asked for, so nothing to say of it here.
    assert _notes({"gone": 0.6}) == []


# --- a flatbuffer cut where only embedding_rows fails -------------------------------------


def test_embedding_rows_of_a_cut_model_is_a_model_error(tmp_path: Path) -> None:
    from tinyslm.flatbuffer import embedding_rows, io_details, model_ops

    model = (TEXT_MODEL / "model.tflite").read_bytes()
    for walk in (io_details, model_ops, embedding_rows):
        with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
            walk(model[: len(model) - 1000])
    cut = model[: len(model) - 100]
    io_details(cut)  # this cut passes the first walk: the next one must say it
    with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
        embedding_rows(cut)
    # As the user meets it: one line naming the file, no traceback, nothing written.
    folder = _cut_model_folder(tmp_path, short_by=100)
    for argv in (
        ["info", str(folder)],
        ["generate", "--board", "esp32", "--model", str(folder), "-o", str(tmp_path / "p")],
    ):
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert "not a TFLite flatbuffer" in lines[0] and str(folder / "model.tflite") in lines[0]
    assert not (tmp_path / "p").exists()
