"""One hand-fed ``tinyslm.monitor._Resync`` for the monitor tests that feed it board
lines themselves: a change to its constructor is made here once."""

from __future__ import annotations

from collections.abc import Callable

from tinyslm import monitor as monitor_mod


def hand_fed_resync(
    flight: monitor_mod._TypedFlight | None = None,
    *,
    written: list[bytes] | None = None,
    notes: Callable[[str], None] | None = None,
) -> monitor_mod._Resync:
    """A resync fed board lines by hand, with no host worker, no bytes heard and errors
    going nowhere: its typed lines are ``flight`` (a new one by default), its writes go
    to ``written`` and its notes to ``notes`` (nowhere by default)."""
    return monitor_mod._Resync(
        monitor_mod._Gate(),
        written.append if written is not None else lambda _data: None,
        flight if flight is not None else monitor_mod._TypedFlight(),
        None,
        notes if notes is not None else lambda _note: None,
        lambda: 0.0,
        lambda _exc: None,
        lambda _exc: None,
    )
