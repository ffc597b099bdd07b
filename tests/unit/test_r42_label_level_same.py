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


def test_a_threshold_at_the_trained_level_moves_nothing(tmp_path: Path) -> None:
    """Before: 'threshold 0.402 (q=-25) instead of the trained 0.402 (q=-25)', and info
    and eval set training's figures aside as of another threshold."""
    from tinyslm.metrics import TRAINED
    from tinyslm.operating_point import with_threshold

    manifest, _ = load_model_dir(FIXTURE, probe_arena=False)
    assert with_threshold(manifest, manifest.threshold) is manifest
    moved = with_threshold(manifest, 0.6)
    assert TRAINED in moved.metrics and moved.threshold_q != manifest.threshold_q
    out = tmp_path / "proj"
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
            "--threshold",
            str(manifest.threshold),
        ],
    )
    assert made.exit_code == 0, made.output
    assert f"(q={manifest.threshold_q}): the trained one, so nothing is moved" in made.output
    assert "instead of the trained" not in made.output
    info = CliRunner().invoke(cli, ["info", str(out), "--json", "-"])
    assert TRAINED not in json.loads(info.stdout).get("metrics", {})


def test_own_levels_do_not_claim_the_models_threshold() -> None:
    """Before: a keyword project's info read 'detector threshold 0.699 (q=51), set with
    generate --label-threshold no=0.902 (trained: 0.699, q=51)': nothing set the 0.699."""
    import sys

    from tinyslm.audio.fit import summary_rows

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
    from dataclasses import replace

    from kws import keyword_manifest

    trained = replace(
        keyword_manifest(),
        metrics={"eval_split": "test", "threshold_rule": "lowest threshold without a false accept"},
    )
    own = with_label_thresholds(trained, {"no": 0.9})
    row = dict(summary_rows(own))["detector threshold"]
    assert row == (
        "0.699 (q=51), lowest threshold without a false accept; own levels set with generate "
        "--label-threshold no=0.902"
    )
