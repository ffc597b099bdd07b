"""Words that were corrected to say what the code does, held to it.

- The keyword report's curve caption: since 465f7c4 the false accepts per hour are
  counted over the streams long enough for the rule to fire, not "all three streams".
- ``emulate --help``: --data takes every text dataset format the loader reads (.tsv
  was missing), and a --host-cmd program's first non-blank output line is its answer
  (a program printing a blank line first is answered by its next line).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from click.testing import CliRunner

from tinyslm.cli import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import KWS_FIXTURE, keyword_manifest


def test_the_keyword_curve_caption_counts_the_streams_that_can_fire() -> None:
    from tinyslm.audio.report import KeywordReportData, render_keyword_report
    from tinyslm.boards import load_boards
    from tinyslm.report_data import tensor_sizes

    blob = (KWS_FIXTURE / "model.tflite").read_bytes()
    curve = tuple((q, 1.0, 0.5) for q in range(-128, 128, 16))
    page = render_keyword_report(
        keyword_manifest(), KeywordReportData(curve, tensor_sizes(blob)), load_boards()
    )
    said = re.findall(r"accepts per hour \(over ([^)]*)\)", page)
    assert said == ["the streams long enough for the rule to fire"]
    assert "all three streams" not in page


def _help(*command: str) -> str:
    # Wide enough that click breaks no option's help (it breaks at a hyphen too).
    wide = {"terminal_width": 10_000, "max_content_width": 10_000}
    result = CliRunner().invoke(cli, [*command, "--help"], **wide)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_emulate_data_help_names_every_text_format_the_loader_reads() -> None:
    from tinyslm.text.dataset import SUPPORTED_SUFFIXES

    assert ".tsv" in SUPPORTED_SUFFIXES
    assert f"Run a dataset ({'/'.join(SUPPORTED_SUFFIXES)};" in _help("emulate")


def test_host_cmd_help_says_the_first_non_blank_line_is_the_answer() -> None:
    from tinyslm.escalate import Escalated, HostCommand

    for command in ("emulate", "monitor"):
        assert "its first non-blank output line is the answer" in _help(command)
    # What the help states: a blank first line is not the answer.
    program = HostCommand([sys.executable, "-c", "print(); print('  '); print('lights_on')"])
    assert program.answer(Escalated("hi", "x", 0.1)) == {"text": "hi", "answer": "lights_on"}
