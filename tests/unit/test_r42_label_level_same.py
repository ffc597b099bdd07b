"""``generate --label-threshold LABEL=P`` where P selects the model's own level (round 42).

The firmware lists only the labels whose level differs from the model's (``:info``'s
``label_thresholds``), and decides the same for such a label as for any other; but the
level was recorded, so ``info`` listed ``own thresholds door_lock 0.402 (q=-25)`` while
the board said ``"label_thresholds":{}``. Now such a level is not recorded, and
generate says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.manifest import load_model_dir
from tinyslm.operating_point import with_label_thresholds

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "model"


def test_a_level_equal_to_the_models_is_not_recorded() -> None:
    manifest, _ = load_model_dir(FIXTURE, probe_arena=False)
    same = with_label_thresholds(manifest, {"door_lock": manifest.threshold})
    assert same.label_thresholds == ()
    both = with_label_thresholds(manifest, {"door_lock": manifest.threshold, "alarm_set": 0.9})
    assert [t.label for t in both.label_thresholds] == ["alarm_set"]
    # Earlier levels are replaced, also by nothing.
    again = with_label_thresholds(both, {"door_lock": manifest.threshold})
    assert again.label_thresholds == ()


def test_info_and_the_board_agree(tmp_path: Path) -> None:
    manifest, _ = load_model_dir(FIXTURE, probe_arena=False)
    out = tmp_path / "proj"
    level = f"door_lock={manifest.threshold}"
    made = CliRunner().invoke(
        cli,
        [
            "generate",
            "--board",
            "esp32",
            "--model",
            str(FIXTURE),
            "-o",
            str(out),
            "--label-threshold",
            level,
        ],
    )
    assert made.exit_code == 0, made.output
    assert f"--label-threshold {level}: the model's own threshold" in made.output
    assert "own thresholds:" not in made.output
    info = CliRunner().invoke(cli, ["info", str(out), "--json", "-"])
    assert info.exit_code == 0, info.output
    assert json.loads(info.stdout)["label_thresholds"] == {}
    board = CliRunner().invoke(cli, ["emulate", str(out), "--text", ":info"])
    assert board.exit_code == 0, board.output
    answer = json.loads(board.stdout.splitlines()[0])["info"]
    assert answer.get("label_thresholds", {}) == {}
