"""Wrong model inputs to ``tinyslm eval`` / ``info``: one line naming the file or folder.

A generated project given to ``eval`` (which needs the model folder) said
``PROJECT/manifest.json not found (run 'tinyslm train' first)``, as if nothing had been
trained; an edited ``modality`` said ``unknown modality 'video'`` without the file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.errors import ModelError
from tinyslm.manifest import MANIFEST_NAME, load_model_dir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from kws import keyword_model_dir  # noqa: E402

TEXT_MODEL = FIXTURES / "model"
TEXT_DATA = FIXTURES / "fixture_commands.csv"


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_eval_scores_a_generated_project_as_its_model_folder(tmp_path: Path) -> None:
    """info and report read a project; eval said "PROJECT/manifest.json not found (run
    'tinyslm train' first)". It now scores the project's model array with its manifest
    (tinyslm.json): the figures of the model folder it was generated from."""
    project = tmp_path / "proj"
    code, _, err = _run(
        "generate", "--model", str(TEXT_MODEL), "--board", "esp32", "-o", str(project)
    )
    assert code == 0, err
    assert (project / "tinyslm.json").is_file()
    figures = []
    for model in (TEXT_MODEL, project):
        code, out, err = _run("eval", str(model), str(TEXT_DATA), "--json", "-")
        assert code == 0, err
        figures.append({k: v for k, v in json.loads(out).items() if k != "seconds"})
    assert figures[0] == figures[1]
    # A folder that is neither still gets the train hint.
    with pytest.raises(ModelError, match=r"manifest\.json not found \(run 'tinyslm train'"):
        load_model_dir(tmp_path)


@pytest.mark.parametrize("command", ["info", "eval"])
def test_an_unknown_modality_names_the_manifest(tmp_path: Path, command: str) -> None:
    model = keyword_model_dir(tmp_path / "kw")
    path = model / MANIFEST_NAME
    raw = json.loads(path.read_text())
    raw["modality"] = "video"
    path.write_text(json.dumps(raw))
    args = [command, str(model)] + ([str(TEXT_DATA)] if command == "eval" else [])
    code, out, err = _run(*args)
    assert code != 0 and out == ""
    assert err == f"error: {path}: unknown modality 'video' (known: audio, text)\n"
