"""The manifest's per-keyword hits are null where the keyword stream could not fire, as
its keyword_hits (and emulate --data --json's per_keyword hits) are: a 0 there measured
nothing."""

from __future__ import annotations

import pytest
from test_r48_fxhost import LABELS, _figures

from tinyslm.audio.fit import stream_metrics
from tinyslm.metrics import check_metrics


def test_per_keyword_hits_are_null_where_the_keyword_stream_could_not_fire() -> None:
    unfired = stream_metrics(_figures(), LABELS)
    assert unfired["keyword_hits"] is None
    assert unfired["per_keyword_hits"] == {"no": [1, None], "yes": [1, None]}
    fired = stream_metrics(_figures(keywords_fire=True), LABELS)
    assert fired["per_keyword_hits"] == {"no": [1, 0], "yes": [1, 0]}


def test_a_manifest_with_null_hits_loads_and_bad_pairs_are_refused() -> None:
    check_metrics({"per_keyword_hits": {"no": [1, None], "yes": [1, 0]}}, LABELS)
    for pair, said in (([None, 0], "expected a count"), ([1, -1], "expected a count")):
        with pytest.raises(ValueError, match=said):
            check_metrics({"per_keyword_hits": {"no": pair}}, LABELS)
