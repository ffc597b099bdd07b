"""Round 52 (H4): generate's refusal of a text model over the board's budgets names the fix.

A model trained for the STM32H7 (1.5 MB) given to 'generate --board esp32' was refused
with 'does not fit board esp32: model 1567904 bytes > flash budget 1048576 bytes
(model_flash_kb 1024)' and nothing more: the budgets a text model is sized for are
train's (--board), so the line now says to train it again for this board.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from tinyslm.cli import cli

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "model"


def test_a_text_model_over_the_boards_budget_is_refused_with_the_fix(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(FIXTURE, model)
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest.get("modality", "text") == "text"
    manifest["arena_bytes"] = 200 * 1024  # as a model trained for the STM32H7's 384 KB
    (model / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "proj"
    result = CliRunner().invoke(
        cli, ["generate", "--board", "esp32", "--model", str(model), "-o", str(out)]
    )
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: does not fit board esp32: arena "), lines[0]
    assert lines[0].endswith(
        "; train it again for this board: tinyslm train DATA --board esp32 sizes the "
        "model for these budgets"
    ), lines[0]
    assert not out.exists()
