"""One loop for the first compiled setting that is not the manifest's (mr2 review, F5).

The text emulator's ``check_text_settings`` and the keyword one's ``check_rule_settings``
each had a copy of the table walk; both now ask :func:`first_setting_difference` and keep
their own message (the integration tests pin those byte for byte).
"""

from __future__ import annotations

import numpy as np

from tinyslm.emulate.emulator import SettingDifference, first_setting_difference

TABLE = {
    "a": ("x.h", "X_A", "a"),
    "b": ("x.c", "b", "the b"),
    "c": ("x.c", "c", "c"),
}


def test_none_when_every_setting_is_the_manifests() -> None:
    values = {"a": 1, "b": np.float32(0.5), "c": 3}
    assert first_setting_difference(TABLE, values, dict(values)) is None


def test_the_first_in_the_tables_order_is_named() -> None:
    compiled = {"a": 1, "b": 2, "c": 9}
    want = {"c": 3, "b": 7, "a": 1}
    assert first_setting_difference(TABLE, compiled, want) == SettingDifference(
        "b", "x.c", "b", "the b", 2, 7
    )


def test_a_float32_is_compared_as_one() -> None:
    """The score scale is held as a float32: the manifest's float64 is made one first."""
    scale = 0.1
    assert (
        first_setting_difference(
            {"s": ("x.c", "s", "s")}, {"s": np.float32(scale)}, {"s": np.float32(scale)}
        )
        is None
    )
