"""One rule for a text project's line limit (mr2 review, F4).

``info.board_max_line`` (what ``info`` prints per board) and ``project.generated_line_limit``
(what ``check_settings`` holds the header to) each wrapped ``emit.text.line_limit``: a
change to one would have let ``info`` print a limit the settings check did not expect.
The project's check now asks ``info``'s rule.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import tinyslm.info
from tinyslm.boards import Board, board_ids, load_board
from tinyslm.manifest import Manifest, load_model_dir
from tinyslm.project import PROJECT_FILE, Project, generated_line_limit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _project(root: Path, board: str) -> tuple[Project, Manifest]:
    model = root / "m"
    shutil.copytree(FIXTURES / "model", model)
    manifest, _ = load_model_dir(model, probe_arena=False)
    return Project(root, board, "0" * 64, manifest, {}), manifest


@pytest.mark.parametrize("board", board_ids())
def test_the_project_check_and_info_agree_on_every_board(board: str, tmp_path: Path) -> None:
    project, manifest = _project(tmp_path, board)
    want, _ = generated_line_limit(project, manifest)
    assert want == tinyslm.info.board_max_line(load_board(board), manifest)


def test_the_project_check_asks_infos_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project, manifest = _project(tmp_path, "esp32")

    def changed_rule(board: Board, m: Manifest) -> int:
        return m.max_line + 100

    monkeypatch.setattr(tinyslm.info, "board_max_line", changed_rule)
    want, what = generated_line_limit(project, manifest)
    assert want == manifest.max_line + 100
    assert f"above {PROJECT_FILE}'s max_line {manifest.max_line}" in what
