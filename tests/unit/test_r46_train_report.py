"""Round 46: the training curves say only what they draw, ticked in whole epochs.

The caption said "... and on the validation split" of a history with no ``val_*``
series (a training without val phrases), and one epoch was ticked 0.945 ... 1.050.
"""

from __future__ import annotations

import re

from tinyslm.report import history_svg


def _x_ticks(svg: str) -> list[str]:
    ticks = []
    for first, after in (("axis_1", "axis_2"), ("axis_3", "axis_4")):
        part = svg[svg.index(f'matplotlib.{first}"') : svg.index(f'matplotlib.{after}"')]
        ticks += [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", part)]
    return ticks


def test_one_epoch_gets_one_whole_tick() -> None:
    svg, _ = history_svg(({"loss": 0.69, "accuracy": 0.75},))
    assert _x_ticks(svg) == ["1", "epoch"] * 2


def test_the_caption_names_the_validation_split_only_when_drawn() -> None:
    train_only = ({"loss": 0.7, "accuracy": 0.5}, {"loss": 0.6, "accuracy": 0.75})
    _, caption = history_svg(train_only)
    assert "validation" not in caption, caption
    assert caption.endswith("on the training split (with the training's regularisation active).")
    with_val = tuple(dict(h, val_loss=0.8, val_accuracy=0.5) for h in train_only)
    _, caption = history_svg(with_val)
    assert caption.endswith("and on the validation split."), caption
