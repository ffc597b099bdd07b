"""Round 44: a stream the rule cannot fire on (shorter than its first detection needs)
has no false-accept rate: NaN, written as null and printed as n/a, where it read 0.00 per
hour beside the warning that those 0 false accepts are no measurement."""

from __future__ import annotations

import numpy as np
from test_audio_stream import spec, tone, tone_model

from tinyslm.audio import stream as st
from tinyslm.audio.spec import KeywordSpec


def quiet_noise(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.normal(0, 20, int(16000 * seconds)).astype(np.int16)


def test_streams_too_short_for_the_rule_have_no_rate() -> None:
    s = spec(window=16, stride_frames=49)  # --average 16 x --stride-ms 980: 15.69 s
    need = KeywordSpec(stride_frames=49, average=16).shortest_detection_samples
    assert need == 251_040
    short = st.stream_figures(
        s, tone_model(), noise=[quiet_noise(6.0)], unknown=[tone(4000)], keywords=[]
    )
    assert short.noise_seconds == 6.0 and short.noise_false_accepts == 0
    assert not short.noise_fires and not short.unknown_fires
    assert np.isnan(short.noise_fa_per_hour) and np.isnan(short.unknown_fa_per_hour)
    assert st.measured(short.noise_fa_per_hour, 2) is None
    assert st.figure_text(short.unknown_fa_per_hour) == "n/a"
    keywords = st.stream_figures(s, tone_model(), noise=[], unknown=[], keywords=[(2, tone(300))])
    assert not keywords.keywords_fire and np.isnan(keywords.false_rejection_rate)
    # One recording long enough is enough: the noise rate is measured over them all.
    long = st.stream_figures(
        s, tone_model(), noise=[quiet_noise(6.0), quiet_noise(16.0)], unknown=[], keywords=[]
    )
    assert long.noise_fires and long.noise_fa_per_hour == 0.0


def test_the_same_figures_when_the_threshold_is_replayed() -> None:
    from tinyslm.audio.fit import StreamMaterial, figures_at

    s = spec(window=2)
    noise = st.listen(quiet_noise(0.9), s, tone_model())  # under the 1 s window: no inference
    unknown = st.listen(quiet_noise(3.0), s, tone_model())
    material = StreamMaterial((noise,), 0.9, unknown, 3.0, None, 0.0, ())
    figures = figures_at(material, s, 51)
    assert np.isnan(figures.noise_fa_per_hour) and figures.unknown_fa_per_hour == 0.0
