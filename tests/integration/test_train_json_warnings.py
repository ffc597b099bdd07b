"""``train --json`` lists every warning ``train`` printed, and the threshold
warning says how many phrases the threshold escalates (none of a few, not "at least 5%")."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tinyslm.cli import cli

TINY = ["--epochs", "1", "--buckets", "256", "--dim", "8", "--hidden", "8", "--seed", "0"]


def _data(tmp_path: Path) -> Path:
    """Three intents, no 'oos' rows, one phrase over 256 bytes and one with a newline."""
    rows = ["text,label"]
    for label in ("lights_on", "lights_off", "music"):
        rows += [f"{label.replace('_', ' ')} please {i},{label}" for i in range(5)]
    rows.append("turn the lights on " + "now " * 70 + ",lights_on")  # 299 bytes
    rows.append('"play\nsome music",music')
    path = tmp_path / "few.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_train_json_lists_every_printed_warning(tmp_path: Path) -> None:
    # A file, not '-': TensorFlow's conversion prints to this process's stdout.
    doc_path = tmp_path / "train.json"
    result = CliRunner().invoke(
        cli,
        ["train", str(_data(tmp_path)), "-o", str(tmp_path / "m"), "--json", str(doc_path), *TINY],
    )
    assert result.exit_code == 0, result.output
    printed = [
        line.removeprefix("warning: ")
        for line in result.stderr.splitlines()
        if line.startswith("warning: ")
    ]
    doc = json.loads(doc_path.read_text())
    assert doc["warnings"] == printed, (doc["warnings"], printed)
    assert any("longer than 256 bytes" in w for w in printed), printed
    assert any("hold a newline" in w for w in printed), printed
    threshold = [w for w in printed if w.startswith("no out-of-scope phrases")]
    assert len(threshold) == 1, printed
    # 3 val phrases: 5% of them rounds down to none, and none escalates.
    n_val = 3
    assert threshold[0].endswith(f"escalates the 0 least confident of {n_val} val phrases"), (
        threshold[0]
    )
    assert "at least" not in threshold[0]
