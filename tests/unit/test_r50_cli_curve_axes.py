"""Round 50 (hgen): the keyword report's detection curve on possible axes only. A flat
curve (every keyword missed, or no false accept at any level) got matplotlib's margin
around the constant: false-rejection ticks up to 104 % and negative false accepts."""

from __future__ import annotations

from typing import Any

import pytest

from tinyslm.audio import report


def _drawn(monkeypatch: pytest.MonkeyPatch, curve: list[tuple[int, float, float]]) -> Any:
    figures: list[Any] = []

    def keep(fig: Any, name: str) -> str:
        figures.append(fig)
        return "<svg></svg>"

    monkeypatch.setattr(report, "svg_element", keep)
    report._curve_svg(curve, 0, 0.0, 1.0)
    (fig,) = figures
    return fig


def _shown_ticks(values: Any, limits: tuple[float, float]) -> list[float]:
    low, high = sorted(limits)
    return [float(v) for v in values if low - 1e-9 <= v <= high + 1e-9]


@pytest.mark.parametrize(
    "curve",
    [
        [(q, 0.0, 1.0) for q in range(-128, 128, 4)],  # every keyword missed, no false accept
        [(q, 0.0, (q + 128) / 255) for q in range(-128, 128, 4)],  # no false accept anywhere
    ],
)
def test_flat_curves_stay_within_what_can_happen(
    monkeypatch: pytest.MonkeyPatch, curve: list[tuple[int, float, float]]
) -> None:
    fig = _drawn(monkeypatch, curve)
    left, right, twin = fig.axes
    for axes in (left, right):  # false rejections, % of keywords
        assert axes.get_ylim() == (0.0, 100.0)
        assert all(0 <= t <= 100 for t in _shown_ticks(axes.get_yticks(), axes.get_ylim()))
    # False accepts per hour: the left plot's x axis and the right plot's twin axis.
    assert left.get_xlim()[0] == 0.0 and left.get_xlim()[1] >= 1.0
    assert twin.get_ylim()[0] == 0.0 and twin.get_ylim()[1] >= 1.0
    assert min(_shown_ticks(left.get_xticks(), left.get_xlim())) >= 0
    assert min(_shown_ticks(twin.get_yticks(), twin.get_ylim())) >= 0


def test_a_curve_with_false_accepts_keeps_its_range(monkeypatch: pytest.MonkeyPatch) -> None:
    curve = [(q, 40.0 * (127 - q) / 255, (q + 128) / 255) for q in range(-128, 128, 4)]
    fig = _drawn(monkeypatch, curve)
    left, _, twin = fig.axes
    assert left.get_xlim()[0] == 0.0 and left.get_xlim()[1] >= 39.0
    assert twin.get_ylim()[0] == 0.0 and twin.get_ylim()[1] >= 39.0
