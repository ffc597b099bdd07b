"""tinyslm.audio.fit's stream figures: replaying the detector on one run of the streams.

``train`` streams each split once and replays the detector at every threshold it
considers; that must equal streaming again at that threshold
(:func:`tinyslm.audio.stream.stream_figures`), and the threshold rule must pick the
lowest threshold above which no stream has a false accept. A stand-in "model" that
recognises tones keeps this fast and TensorFlow-free.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tinyslm.audio import fit
from tinyslm.audio.dataset import AudioDataset, Clip, NoiseRecording
from tinyslm.audio.detector import DetectorSpec
from tinyslm.audio.stream import StreamSpec, stream_figures

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_audio_stream import tone

LABELS = ("_silence_", "_unknown_", "low", "high")


def graded_model(windows: np.ndarray) -> np.ndarray:
    """Scores that grow with a tone's loudness: low bins -> "low", high bins -> "high"."""
    recent = windows[:, -10:, :].astype(np.int64)
    lo = recent[:, :, :12].max(axis=(1, 2))
    hi = recent[:, :, 12:].max(axis=(1, 2))
    level = np.clip((np.maximum(lo, hi) - 40) * 4 - 128, -128, 127)
    out = np.full((len(windows), 4), -128, np.int64)
    out[:, 0] = 127 - (level + 128)
    out[:, 2] = np.where(lo >= hi, level, -128)
    out[:, 3] = np.where(hi > lo, level, -128)
    return out.astype(np.int8)


def _clip(label: str, samples: np.ndarray, i: int) -> Clip:
    window = np.zeros(16000, np.int16)
    window[4000 : 4000 + len(samples)] = samples
    return Clip(label, "test", f"s{i}", f"{label}/{i}.wav", window)


@pytest.fixture(scope="module")
def dataset() -> AudioDataset:
    rng = np.random.default_rng(0)
    clips = [
        _clip("low", tone(300.0), 0),
        _clip("high", tone(5000.0), 1),
        _clip("low", tone(320.0, amplitude=3000.0), 2),
        # "unknown": a low tone too, which the stand-in model hears as "low" (false accepts)
        _clip("_unknown_", tone(280.0, amplitude=2500.0), 3),
        _clip("high", tone(4800.0, amplitude=1500.0), 4),
    ]
    noise = (rng.normal(0, 300, 48000)).astype(np.int16)
    recording = NoiseRecording("noise.wav", noise, (("test", 0, 48000),))
    return AudioDataset(LABELS, tuple(clips), (recording,), "synthetic")


def test_replayed_figures_equal_streaming_again(dataset: AudioDataset) -> None:
    spec = StreamSpec(DetectorSpec(num_labels=4, threshold_q=127))
    predict = graded_model
    material = fit.stream_material(dataset, "test", spec, predict)
    test = dataset.split("test")
    seen = set()
    for q in (-128, -60, 0, 51, 100, 127):
        at = replace(spec, detector=replace(spec.detector, threshold_q=q))
        want = stream_figures(
            at,
            predict,
            noise=[n.part("test") for n in dataset.noise],
            unknown=[c.samples for c in test if c.label == "_unknown_"],
            keywords=[(LABELS.index(c.label), c.samples) for c in test if c.label in LABELS[2:]],
        )
        got = fit.figures_at(material, spec, q)
        assert got == want, q
        seen.add((got.keyword_hits, fit.false_accepts(got)))
    assert len(seen) > 1  # the thresholds tried do change the outcome


def test_threshold_is_the_lowest_without_false_accepts(dataset: AudioDataset) -> None:
    spec = StreamSpec(DetectorSpec(num_labels=4, threshold_q=127))
    material = fit.stream_material(dataset, "test", spec, graded_model)
    q, found = fit.choose_threshold(material, spec)
    counts = {t: fit.false_accepts(fit.figures_at(material, spec, t)) for t in range(-128, 128)}
    if found:
        assert all(counts[t] == 0 for t in range(q, 128))
        assert q == -128 or counts[q - 1] > 0
    else:
        assert q == 127 and counts[127] > 0
    curve = fit.detection_curve(material, spec, step=16)
    assert [c[0] for c in curve] == list(range(-128, 128, 16))
    assert all(0.0 <= frr <= 1.0 for _, _, frr in curve)


def test_a_split_without_noise_or_unknown_words_reads_not_measured(dataset: AudioDataset) -> None:
    """No background recording (it is optional) and no unknown words: their false accepts
    per hour were not measured, which JSON says as null, not as the NaN Python writes by
    default (``jq`` and a browser's ``JSON.parse`` refuse ``NaN``), and text as n/a."""
    import json

    from tinyslm.audio.stream import figure_text

    bare = replace(
        dataset, clips=tuple(c for c in dataset.clips if c.label != "_unknown_"), noise=()
    )
    spec = StreamSpec(DetectorSpec(num_labels=4, threshold_q=0))
    material = fit.stream_material(bare, "test", spec, graded_model)
    metrics = fit.stream_metrics(fit.figures_at(material, spec, 0), LABELS)
    text = json.dumps(metrics, allow_nan=False)  # raises on NaN
    assert metrics["noise_fa_per_hour"] is None and metrics["unknown_fa_per_hour"] is None
    assert metrics["noise_seconds"] == 0 and metrics["unknown_seconds"] == 0
    assert isinstance(metrics["false_rejection_rate"], float)
    assert json.loads(text) == metrics
    assert figure_text(metrics["noise_fa_per_hour"]) == "n/a"
    assert figure_text(float("nan"), percent=True) == "n/a"
    assert figure_text(0.1234, percent=True) == "12.34%" and figure_text(2.5) == "2.50"
    assert len(fit.detection_curve(material, spec)) == 64
    no_keywords = replace(bare, clips=())
    empty = fit.stream_material(no_keywords, "test", spec, graded_model)
    assert fit.detection_curve(empty, spec) == ()
