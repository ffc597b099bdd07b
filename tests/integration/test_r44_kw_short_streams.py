"""``tinyslm train`` with a streaming rule the test streams are too short for, end to end:
the warning is printed and listed in ``--json``, and the figures of those streams are n/a
(null in the manifest), not 0.00 false accepts per hour and 100 % of keywords missed."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import run_cli
from test_r43_kwopts_train import yes_no_slice


def test_streams_too_short_for_the_rule_are_warned_about_and_not_measured(
    tmp_path: Path,
) -> None:
    data = yes_no_slice(tmp_path / "ds")
    out, summary = tmp_path / "m", tmp_path / "t.json"
    # --average 8 at 980 ms needs 7.85 s: the val keyword stream (11.5 s) can fire, the
    # test streams (noise 6.1 s, keywords 6.5 s) cannot.
    proc = run_cli(
        "train", str(data), "-o", str(out), "--keyword-model", "small", "--epochs", "1",
        "--stride-ms", "980", "--average", "8", "--json", str(summary),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = (
        "the test streams of noise (longest 6.1 s) and keywords (6.5 s) are shorter than the"
        " 7.85 s that the rule --stride-ms 980 x --average 8 needs before its first detection:"
        " no detection is possible on them"
    )
    assert f"warning: {said}" in proc.stderr
    assert any(w.startswith(said) for w in json.loads(summary.read_text())["warnings"])
    assert (
        "false rejections (test stream)    n/a of 2 keywords (no detection possible)" in proc.stdout
    )
    assert (
        "noise n/a (12 s, each stream too short for the rule to fire), unknown words n/a (no audio)"
        in proc.stdout
    )
    mt = json.loads((out / "manifest.json").read_text())["metrics"]
    assert (mt["false_rejection_rate"], mt["noise_fa_per_hour"]) == (None, None)
    # Round 47: a stream that cannot fire counts nothing: null, as eval --json says it.
    assert (mt["noise_false_accepts"], mt["noise_seconds"]) == (None, 12.1)
    for name in ("manifest.json", "report.json"):
        assert "NaN" not in (out / name).read_text(), name
