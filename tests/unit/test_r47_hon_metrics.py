"""Round 47 test-honesty audit (F9): a hand-edited ``teacher_folds`` is checked.

bacae64 made text training write ``teacher_folds`` (the folds the teacher's soft targets
were fitted with) and named it among :data:`tinyslm.metrics.COUNTS`, so a manifest whose
figure was edited to a non-count is refused in one line naming it as it is read, not
carried on to whatever reads it later. Nothing tested that it is checked at all.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_metrics import KEYWORD_METRICS, LABELS

from tinyslm.metrics import check_metrics


def test_a_count_of_folds_passes() -> None:
    for folds in (1, 5):
        check_metrics({**KEYWORD_METRICS, "teacher_folds": folds}, LABELS)


@pytest.mark.parametrize("value", ["two", 2.5, -1, True, [2]])
def test_a_teacher_folds_that_is_no_count_is_refused_naming_it(value: Any) -> None:
    with pytest.raises(ValueError) as info:
        check_metrics({**KEYWORD_METRICS, "teacher_folds": value}, LABELS)
    message = str(info.value)
    assert message.startswith("'teacher_folds': expected a count"), message
    assert "\n" not in message
