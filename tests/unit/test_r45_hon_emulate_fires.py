"""Round 45 (honesty hunt): ``emulate --data`` computes, per stream, whether the rule can
fire on it, and prints n/a (not 0.00 per hour) where none can.

Round 44's tests built ``StreamFigures`` by hand, so forcing any of
``run_keyword_data``'s three ``fires_on`` flags to True went unseen. Here
``run_keyword_data`` itself runs, with a fake device (no lines), a stand-in model and a
dataset whose every stream is shorter than the rule's first detection.
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tinyslm.audio.dataset import AudioDataset, Clip, NoiseRecording
from tinyslm.audio.spec import KeywordSpec
from tinyslm.emulate import keywords
from tinyslm.manifest import Manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from kws import keyword_manifest  # noqa: E402
from test_audio_stream import tone  # noqa: E402
from test_r44_json_figures import _figures  # noqa: E402

LABELS = tuple(json.loads((FIXTURES / "kws_model" / "labels.json").read_text()))
# --average 16 x --stride-ms 980: the first detection needs 15.69 s of audio.
SLOW_RULE = KeywordSpec(stride_frames=49, average=16)


@functools.cache
def _manifest() -> Manifest:
    """The fixture's manifest with the slow rule (its arena probe is a subprocess: once)."""
    return replace(keyword_manifest(), features=SLOW_RULE)


def _clip(label: str, samples: np.ndarray, i: int) -> Clip:
    window = np.zeros(16000, np.int16)
    window[4000 : 4000 + len(samples)] = samples
    return Clip(label, "test", f"s{i}", f"{label}/{i}.wav", window)


def _streams(noise_seconds: int) -> AudioDataset:
    """Noise, two unknown words, two keywords: the word streams well under 15.69 s."""
    noise = np.random.default_rng(1).normal(0, 20, noise_seconds * 16000).astype(np.int16)
    clips = (
        _clip("_unknown_", tone(280.0), 0),
        _clip("_unknown_", tone(290.0), 1),
        _clip("yes", tone(300.0), 2),
        _clip("no", tone(5000.0), 3),
    )
    recording = NoiseRecording("noise.wav", noise, (("test", 0, len(noise)),))
    return AudioDataset(LABELS, clips, (recording,), "short")


def _loud_yes(windows: np.ndarray) -> np.ndarray:
    """A stand-in model that hears "yes" in every window (it has no window to hear here)."""
    out = np.full((len(windows), len(LABELS)), -128, np.int8)
    out[:, 4] = 127
    return out


def _run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, noise_seconds: int
) -> keywords.KeywordDataResult:
    """``run_keyword_data`` on :func:`_streams` through a device that prints nothing."""
    dataset = _streams(noise_seconds)
    loaded = keywords.KeywordSplit(dataset, "test", ())
    monkeypatch.setattr(keywords, "load_keyword_data", lambda *_a: loaded)
    monkeypatch.setattr(keywords, "model_predict", lambda *_a: _loud_yes)
    fed: list[int] = []

    def silent_device(stream: bytes) -> list[str]:
        fed.append(len(stream))
        return []

    manifest = _manifest()
    assert manifest.labels == LABELS
    assert SLOW_RULE.shortest_detection_samples == 251_040
    config = keywords.KeywordDataConfig(tmp_path)
    result = keywords.run_keyword_data(silent_device, manifest, b"", config)
    assert len(fed) == 3 == result.streams  # noise, unknown words, keywords
    return result


def test_run_keyword_data_says_no_stream_is_long_enough_to_fire(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = _run(monkeypatch, tmp_path, 6)
    f = result.figures
    assert f.noise_seconds > 0 and f.unknown_seconds > 0 and f.keyword_seconds > 0
    assert f.keyword_clips == 2
    # Computed from the streams, one flag each: every one too short for the rule.
    assert f.noise_fires is False
    assert f.unknown_fires is False
    assert f.keywords_fire is False
    doc = result.summary()
    assert doc["fa_per_hour"] is None and doc["false_accepts"] is None
    assert doc["fa_seconds"] == 0.0
    assert doc["noise_false_accepts"] is None and doc["unknown_false_accepts"] is None
    assert doc["keyword_false_accepts"] is None and doc["detection_rate"] is None
    text = keywords.format_data_result(result, "emulator")
    assert "0.00 per hour" not in text
    assert "no stream is long enough for the rule to fire" in text


def test_run_keyword_data_measures_the_one_stream_long_enough(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """17 s of noise: the rule fires on it (0 per hour over its 17 s), not on the words."""
    result = _run(monkeypatch, tmp_path, 17)
    f = result.figures
    assert (f.noise_fires, f.unknown_fires, f.keywords_fire) == (True, False, False)
    doc = result.summary()
    assert doc["fa_seconds"] == 17.0 and doc["fa_per_hour"] == 0.0
    assert doc["noise_false_accepts"] == 0 and doc["unknown_false_accepts"] is None
    assert "false accepts 0 in 17 s: 0.00 per hour (noise 0, unknown words n/a," in (
        keywords.format_data_result(result, "emulator")
    )


def test_the_false_accepts_line_counts_nothing_where_no_stream_can_fire() -> None:
    """Not "false accepts 0 in 0 s": a count over no audio."""
    result = keywords.KeywordDataResult(
        source="room", split="test", figures=_figures(), streams=1, parity_streams=1,
        device_detections=0, reference_detections=0, parity_detections=0, errors=(),
        labels=LABELS,
    )  # fmt: skip
    text = keywords.format_data_result(result, "emulator")
    line = next(x for x in text.splitlines() if x.startswith("false accepts"))
    assert line == (
        "false accepts n/a per hour: no stream is long enough for the rule to fire"
        " (noise n/a, unknown words n/a, keyword stream n/a)"
    )
    assert "0 in 0 s" not in text
