"""The keyword report's detection curve reads in the unit ``generate --threshold`` takes.

A keyword model's threshold is an int8 level ``q`` inside the firmware, but users set it
as a mean score ``P`` (``tinyslm generate --threshold P``); the report's plot against the
threshold, its marker and its caption must speak ``P`` so that another operating point can
be read straight off it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tinyslm.audio.detector import DetectorSpec
from tinyslm.audio.report import _curve_svg
from tinyslm.operating_point import with_threshold

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_manifest

# A made-up curve on the report's grid (every 4th level): misses rise, false accepts fall.
CURVE = [
    (q, max(0.0, (40 - q) * 2.0), min(1.0, 0.15 + (q + 128) / 300)) for q in range(-128, 128, 4)
]


def test_probability_and_level_round_trip() -> None:
    for q in range(-128, 128):
        assert DetectorSpec.threshold_for(DetectorSpec.probability_of(q)) == q
    assert DetectorSpec.probability_of(71) == 199 / 256


def test_curve_is_drawn_against_p_with_the_chosen_point_named() -> None:
    svg, caption = _curve_svg(CURVE, 71, 3.0, 0.289)
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "chosen P=0.777 (q=71)" in texts
    assert any(t.startswith("detector threshold P") for t in texts)
    # The int8 axis (-128..127) had negative ticks; P runs from 0 to 1.
    assert not [t for t in texts if t.startswith(("\u2212", "-"))]
    assert {"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"} <= set(texts)
    assert "generate --threshold P" in caption


def test_a_printed_level_given_back_to_generate_selects_that_level() -> None:
    # What the caption promises: P read off the plot (as the legend and info print it,
    # 3 decimals) builds the firmware at that level, also where the print rounded up.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
    from kws import keyword_manifest

    manifest = keyword_manifest()
    for q in range(-127, 128):
        printed = float(f"{DetectorSpec.probability_of(q):.3f}")
        assert with_threshold(manifest, printed).threshold_q == q, (q, printed)
    # Any other P still means "at least P", also one that rounds to a printed level.
    assert with_threshold(manifest, 0.8).threshold_q == 77  # 0.797 < 0.8 <= 0.80078
    assert with_threshold(manifest, 0.8009).threshold_q == 78  # 0.80078 < 0.8009


def test_the_size_plot_counts_ram_as_generate_does() -> None:
    """The RAM bars are the arena plus the microphone buffers and feature window, as
    ``generate``'s budget check counts them: the arena alone showed 89 % of an ESP32's
    RAM for a keyword model that ``generate`` and ``info`` refused."""
    from dataclasses import replace

    from tinyslm.boards import load_board
    from tinyslm.emit.project import arena_size_for, check_budget
    from tinyslm.errors import BudgetError
    from tinyslm.modality import modality
    from tinyslm.report import size_svg

    esp32 = load_board("esp32")
    for arena in (keyword_manifest().arena_bytes, 70_000):
        m = replace(keyword_manifest(), arena_bytes=arena)
        extra, what = modality(m.modality).ram_bytes(esp32, m)
        assert extra > 0 and what
        svg, caption = size_svg([], m, [esp32])
        share = (arena_size_for(arena) + extra) / esp32.arena_budget_bytes * 100
        assert f" {share:.1f}%" in svg
        assert f"{what} = {extra:,} B" in caption
        try:
            check_budget(esp32, m.model_bytes, arena_size_for(arena), (extra, what))
        except BudgetError:
            assert share > 100  # the bar says what generate says
        else:
            assert share <= 100
    assert share > 100 and arena_size_for(70_000) / esp32.arena_budget_bytes <= 1
