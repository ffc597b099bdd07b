"""Round 48: the threshold rule of a project with ``--label-threshold`` levels.

It showed training's rule id (``in_scope_acc+oos_recall,smoothed; own levels ...``) in
info and the report, and the own levels as ``--label-threshold a=0.9,b=0.3``, which
generate refuses ("one LABEL=P per option").
"""

from __future__ import annotations

import html
import re
import shlex
from dataclasses import replace
from pathlib import Path

import pytest

from tinyslm.boards import load_boards
from tinyslm.errors import ModelError
from tinyslm.manifest import Manifest, load_model_dir
from tinyslm.operating_point import (
    check_reachable,
    parse_label_thresholds,
    with_label_thresholds,
    with_threshold,
)
from tinyslm.report import render_report
from tinyslm.report_data import report_data_from_dataset
from tinyslm.text.fit import summary_rows
from tinyslm.verify import RULE_NO_OOS, RULE_OOS, describe_rule

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def fixture() -> tuple[Manifest, bytes]:
    return load_model_dir(FIXTURES / "model", probe_arena=False)


def _with_rule(manifest: Manifest, rule: str) -> Manifest:
    return replace(manifest, metrics={**manifest.metrics, "threshold_rule": rule})


def _typed_back(rule: str) -> dict[str, float]:
    """The options after 'set with generate', read as generate reads them."""
    words = shlex.split(rule.split("set with generate ", 1)[1])
    assert words[0::2] == ["--label-threshold"] * (len(words) // 2), words
    return parse_label_thresholds(tuple(words[1::2]))


@pytest.mark.parametrize("rule", [RULE_OOS, RULE_NO_OOS])
def test_info_rows_describe_the_trained_rule_and_give_options_generate_takes(
    fixture: tuple[Manifest, bytes], rule: str
) -> None:
    manifest = _with_rule(fixture[0], rule)
    own = with_label_thresholds(manifest, {"door_unlock": 0.9, "lights_on": 0.2})
    shown = dict(summary_rows(own))["threshold rule"]
    assert shown.startswith(describe_rule(rule, "val") + "; own levels set with generate ")
    assert rule not in shown
    assert shown.endswith("--label-threshold door_unlock=0.902 --label-threshold lights_on=0.203")
    assert _typed_back(shown) == {"door_unlock": 0.902, "lights_on": 0.203}


def test_report_row_describes_the_rule(fixture: tuple[Manifest, bytes]) -> None:
    manifest, model = fixture
    manifest = _with_rule(manifest, RULE_OOS)
    data = report_data_from_dataset(model, manifest, FIXTURES / "fixture_commands.csv", ())
    own = with_label_thresholds(manifest, {"door_unlock": 0.9})
    page = render_report(own, data, load_boards())
    row = re.search(r"threshold rule</td><td>([^<]*)", page)
    assert row is not None
    text = html.unescape(row.group(1))
    assert text.startswith("max in-scope accuracy at threshold + out-of-scope recall on val")
    assert "in_scope_acc+oos_recall" not in text
    assert text.endswith("own levels set with generate --label-threshold door_unlock=0.902")


def test_with_threshold_too_the_rule_is_a_command_generate_takes(
    fixture: tuple[Manifest, bytes],
) -> None:
    both = with_label_thresholds(
        with_threshold(fixture[0], 0.6), {"door_unlock": 0.9, "lights_on": 0.2}
    )
    rule = str(both.metrics["threshold_rule"])
    assert rule.startswith(
        "set with generate --threshold 0.601 --label-threshold door_unlock=0.902 "
        "--label-threshold lights_on=0.203 (trained: "
    )


def test_a_label_with_a_space_is_quoted_in_the_rule(fixture: tuple[Manifest, bytes]) -> None:
    manifest = fixture[0]
    spaced = tuple("door unlock" if n == "door_unlock" else n for n in manifest.labels)
    own = with_label_thresholds(replace(manifest, labels=spaced), {"door unlock": 0.9})
    rule = str(own.metrics["threshold_rule"])
    assert rule.endswith("--label-threshold 'door unlock=0.902'")
    assert _typed_back(rule) == {"door unlock": 0.902}


def test_an_old_manifests_rule_keeps_what_it_has() -> None:
    """Recorded before round 48: the id described, the rest as it was written."""
    old = f"{RULE_OOS}; own levels set with generate --label-threshold a=0.9,b=0.3"
    assert describe_rule(old) == (
        f"{describe_rule(RULE_OOS)}; own levels set with generate --label-threshold a=0.9,b=0.3"
    )
    # Rules that are not ids, with or without '; ', stay as written.
    for rule in ("set with generate --threshold 0.5 (trained: 0.7, q=51)", "x; y", ""):
        assert describe_rule(rule) == rule


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_the_range_says_both_ends_are_excluded(value: float) -> None:
    with pytest.raises(ModelError) as caught:
        check_reachable(value, f"--label-threshold a={value:g}")
    assert str(caught.value) == (
        f"--label-threshold a={value:g}: must be between 0 and 1, both excluded (0 < P < 1)"
    )
