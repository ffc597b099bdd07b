"""The manifest's figures (``metrics``): the types ``info``, ``report`` and ``eval`` rely on.

Metrics are informational, so the content hash leaves them out and a hand-edited one
still loads. Each figure the tools print or draw is checked here, once, as the manifest
is read: a wrong type is refused in one line naming the figure, instead of reaching a
format string (``f"{x * 100:.2f}%"``) or ``numpy`` in one of a dozen places later.
Figures not named here (a newer tinyslm's, or a user's notes) pass as they are.

The writers are :meth:`tinyslm.verify.VerifyResult.to_metrics` and
:func:`tinyslm.text.fit.train_text` (text), :func:`tinyslm.audio.fit._clip_metrics` and
:func:`tinyslm.audio.fit.stream_metrics` (keywords), and
:mod:`tinyslm.operating_point` (training's figures moved under ``at_trained_threshold``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

# Key under which generate --threshold keeps training's threshold-dependent figures
# (tinyslm.operating_point re-exports it).
TRAINED = "at_trained_threshold"

# A share in [0, 1] (None only where OPTIONAL says). NaN passes: a figure of an empty
# split is NaN.
FRACTIONS = (
    "agreement",
    "float_accuracy",
    "int8_accuracy",
    "int8_accuracy_at_threshold",
    "local_rate",
    "oos_recall",
    "val_accuracy",
    "val_int8_accuracy",
    "false_rejection_rate",
    "teacher_train_accuracy_crossfit",
)
COUNTS = (
    "best_epoch",
    "epochs_run",
    "keyword_clips",
    "keyword_false_accepts",
    "keyword_hits",
    "macs",
    "params",
    "n_train",
    "n_train_examples",
    "n_val",
    "n_test",
    "n_eval",
    "n_oos_eval",
    "noise_false_accepts",
    "unknown_false_accepts",
    "max_line_needed",
    # The folds the teacher's soft targets were fitted with (1: in-sample, not cross-fitted).
    "teacher_folds",
)
# Any real number (None only where OPTIONAL says).
NUMBERS = (
    "noise_seconds",
    "unknown_seconds",
    "keyword_seconds",
    "noise_fa_per_hour",
    "unknown_fa_per_hour",
    "final_train_loss",
    "threshold_objective_val",
)
# The figures that are None where nothing was measured (tinyslm.audio.stream.measured;
# oos_recall without out-of-scope phrases). Any other figure is always written.
OPTIONAL = frozenset(
    {
        "oos_recall",
        "false_rejection_rate",
        "noise_fa_per_hour",
        "unknown_fa_per_hour",
        "keyword_seconds",
        # A stream the rule could not fire on counts nothing (tinyslm.audio.fit
        # .stream_metrics, since round 47); older manifests have 0 there.
        "noise_false_accepts",
        "unknown_false_accepts",
        "keyword_false_accepts",
        "keyword_hits",
    }
)
TEXTS = ("dataset", "eval_split", "stream_split", "threshold_rule", "threshold_calibrated_on")


# The largest count a manifest or report.json may hold: counts are summed in numpy's
# int64 and turned into floats (an edited 10**30 ended in an OverflowError traceback);
# no split comes near it.
MAX_COUNT = 2**53


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fraction(value: Any) -> None:
    if value is None:
        return
    if not is_number(value):
        raise TypeError(f"expected a number in [0, 1], got {value!r}")
    if isinstance(value, int) and not 0 <= value <= 1:
        # Before math.isfinite, which cannot take an int past a double's range (an
        # edited 10**400 was an OverflowError traceback).
        raise ValueError(f"{_int_text(value)} is not in [0, 1]")
    if math.isfinite(value) and not 0 <= value <= 1:
        raise ValueError(f"{value!r} is not in [0, 1]")


def _count(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"expected a count (an integer >= 0), got {value!r}")
    if value > MAX_COUNT:
        raise ValueError(f"a count of {len(str(value))} digits is past {MAX_COUNT}")


def _null_or_count(value: Any) -> None:
    if value is not None:
        _count(value)


def _number(value: Any) -> None:
    if value is not None and not is_number(value):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, int) and abs(value) > MAX_COUNT:
        # A rate or a time the readers turn into a float (an edited 10**400 in a keyword
        # model's noise_fa_per_hour was an OverflowError traceback in info).
        raise ValueError(f"{_int_text(value)} is past {MAX_COUNT} either way")


def _int_text(value: int) -> str:
    """An integer as a message names it: whole, or by its digits past :data:`MAX_COUNT`
    (an edited 10**400 would fill the line)."""
    if abs(value) <= MAX_COUNT:
        return repr(value)
    sign = "a negative " if value < 0 else "an "
    return f"{sign}integer of {len(str(abs(value)))} digits"


def _text(value: Any) -> None:
    # A lone surrogate (an older tinyslm's raw file name) is not refused here: the
    # manifest's reader has written it as the shell shows it (manifest._utf8_mapping).
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")


def _pairs(
    first: Callable[[Any], None], second: Callable[[Any], None] = _count
) -> Callable[[Any], None]:
    """``{label: [first, second]}``: per_class (accuracy, clips), per_keyword_hits
    (clips, hits)."""

    def check(value: Any) -> None:
        if not isinstance(value, dict):
            raise TypeError("expected a JSON object of [figure, count] pairs")
        for label, pair in value.items():
            if not isinstance(pair, list) or len(pair) != 2:
                raise TypeError(f"{label!r}: expected a [figure, count] pair, got {pair!r}")
            try:
                first(pair[0])
                second(pair[1])
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{label!r}: {exc}") from None

    return check


def _object(value: Any) -> None:
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {value!r}")


CHECKS: dict[str, Callable[[Any], None]] = {
    **dict.fromkeys(FRACTIONS, _fraction),
    **dict.fromkeys(COUNTS, _count),
    **dict.fromkeys(NUMBERS, _number),
    **dict.fromkeys(TEXTS, _text),
    "per_class": _pairs(_fraction),
    # Hits are null where the keyword stream could not fire (as keyword_hits is, since
    # round 48 here too); older manifests have 0 there.
    "per_keyword_hits": _pairs(_count, _null_or_count),
    "empty_input": _object,
}


def _confusion(value: Any, n_labels: int) -> None:
    """A count per (true, predicted) label pair: ``n_labels`` rows of ``n_labels``."""
    if (
        not isinstance(value, list)
        or len(value) != n_labels
        or not all(isinstance(row, list) and len(row) == n_labels for row in value)
    ):
        raise TypeError(f"expected {n_labels} rows of {n_labels} counts (one per label)")
    for row in value:
        for cell in row:
            _count(cell)


def _check_figures(metrics: dict[str, Any], n_labels: int, where: str) -> None:
    for name, value in metrics.items():
        try:
            if value is None and name in OPTIONAL:
                continue  # an OPTIONAL figure not measured (a null count, too)
            if value is None and (name in CHECKS or name == "confusion"):
                raise TypeError("expected a figure, got None")
            if name == "confusion":
                _confusion(value, n_labels)
            elif name in CHECKS:
                CHECKS[name](value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}{name!r}: {exc}") from None


def check_metrics(metrics: dict[str, Any], labels: Sequence[str]) -> None:
    """Refuse a figure of the wrong type or shape (``ValueError`` naming it).

    ``at_trained_threshold`` holds training's figures and the threshold they were
    measured at (``threshold``, ``threshold_q``), checked the same way.
    """
    _check_figures(metrics, len(labels), "")
    if TRAINED not in metrics:
        return
    trained = metrics[TRAINED]
    if not isinstance(trained, dict):
        raise ValueError(f"{TRAINED!r}: expected a JSON object, got {trained!r}")
    _check_figures(trained, len(labels), f"{TRAINED}.")
    for name, check in (("threshold", _threshold), ("threshold_q", _level)):
        if name not in trained:
            raise ValueError(f"{TRAINED}.{name!r}: missing")
        try:
            check(trained[name])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{TRAINED}.{name!r}: {exc}") from None


def _threshold(value: Any) -> None:
    if not is_number(value) or not 0 <= value <= 1:
        raise ValueError(f"expected a number in [0, 1], got {value!r}")


def _level(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not -128 <= value <= 127:
        raise ValueError(f"expected an int8 level, got {value!r}")
