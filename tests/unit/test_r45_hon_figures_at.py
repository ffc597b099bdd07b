"""Round 45 (honesty hunt): train's replayed figures (``fit.figures_at``) say, for each
stream, whether the rule could fire on it. Round 44's unit test had a noise stream too
short to fire but an unknown-word stream long enough, so forcing the unknown-word (or the
keyword) flag to True went unseen: a 0.9 s stream then read as 0 false accepts per hour.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from tinyslm.audio import stream as st
from tinyslm.audio.fit import StreamMaterial, figures_at

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_audio_stream import spec, tone_model
from test_r44_unfired_figures import quiet_noise


def test_an_unknown_word_stream_too_short_to_fire_has_no_rate() -> None:
    s = spec(window=2)
    noise = st.listen(quiet_noise(3.0), s, tone_model())
    unknown = st.listen(quiet_noise(0.9), s, tone_model())  # under the 1 s window
    material = StreamMaterial((noise,), 3.0, unknown, 0.9, None, 0.0, ())
    figures = figures_at(material, s, 51)
    assert figures.noise_fires and figures.noise_fa_per_hour == 0.0
    assert figures.unknown_fires is False
    assert np.isnan(figures.unknown_fa_per_hour)


def test_a_keyword_stream_too_short_to_fire_has_no_rates() -> None:
    s = spec(window=2)
    noise = st.listen(quiet_noise(3.0), s, tone_model())
    keywords = st.listen(quiet_noise(0.9), s, tone_model())
    material = StreamMaterial((noise,), 3.0, None, 0.0, keywords, 0.9, ((2, 0, 900),))
    figures = figures_at(material, s, 51)
    assert figures.keyword_clips == 1
    assert figures.keywords_fire is False
    assert np.isnan(figures.false_rejection_rate)
