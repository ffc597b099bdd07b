"""Round 51: a manifest's metric edited to an integer past a double's range is refused in
one line. ``math.isfinite(10**400)`` raises OverflowError, so an edited ``float_accuracy``
or ``n_eval`` of 400 digits ended ``tinyslm info`` in a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_support import run_cli

from tinyslm.metrics import check_metrics

MAX_COUNT = 2**53  # the largest count a manifest may hold (tinyslm.metrics)

HUGE = 10**400
FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("float_accuracy", "an integer of 401 digits is not in [0, 1]"),
        ("n_eval", f"a count of 401 digits is past {MAX_COUNT}"),
    ],
)
def test_a_huge_integer_is_refused_naming_its_digits(key: str, said: str) -> None:
    with pytest.raises((TypeError, ValueError), match=r".*") as raised:
        check_metrics({key: HUGE}, ["a", "b"])
    assert said in str(raised.value), raised.value


def test_the_largest_count_is_taken() -> None:
    check_metrics({"n_eval": MAX_COUNT}, ["a", "b"])


@pytest.mark.parametrize("key", ["float_accuracy", "n_eval", "n_oos_eval"])
def test_info_refuses_it_in_one_line(key: str, tmp_path: Path) -> None:
    model = tmp_path / "m"
    shutil.copytree(FIXTURE_MODEL, model)
    path = model / "manifest.json"
    text = path.read_text()
    doc = json.loads(text)
    assert key in doc["metrics"], sorted(doc["metrics"])
    # json.dumps writes the integer whole, as a hand edit would.
    doc["metrics"][key] = HUGE
    path.write_text(json.dumps(doc))
    proc = run_cli("info", str(model))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "401 digits" in proc.stderr, proc.stderr


def test_a_huge_rate_is_refused_too() -> None:
    """noise_fa_per_hour is a number, not a fraction or a count: a keyword model's info
    turned it into a float and ended in an OverflowError traceback."""
    with pytest.raises(ValueError, match=r"an integer of 401 digits is past 9007199254740992"):
        check_metrics({"noise_fa_per_hour": HUGE}, ["a", "b"])
    check_metrics({"noise_fa_per_hour": 12, "noise_seconds": 40.0}, ["a", "b"])


@pytest.mark.parametrize("value", [2, -3])
def test_a_small_integer_out_of_range_is_named_whole(value: int) -> None:
    with pytest.raises(ValueError, match=rf"'float_accuracy': {value} is not in \[0, 1\]$"):
        check_metrics({"float_accuracy": value}, ["a", "b"])
