"""Move a trained model's operating point at generate time (``generate --threshold P``).

``train`` calibrates one threshold (the text gate on val, the keyword detector on the
val streams) and the report draws the whole curve; a firmware engineer who wants
fewer escalations, or fewer missed keywords at the cost of more false accepts, picks
another point on it without retraining. The project's manifest (``tinyslm.json``)
then carries the new threshold, so the firmware, ``info`` and ``emulate``'s reference
agree, and the figures measured at the trained threshold are kept apart under
``metrics["at_trained_threshold"]`` instead of being shown for a threshold they do
not describe.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tinyslm.audio.detector import DetectorSpec
from tinyslm.decision import dequantize, threshold_to_q
from tinyslm.errors import ModelError
from tinyslm.manifest import Manifest
from tinyslm.modality import AUDIO

# Figures that depend on the threshold: text (tinyslm.verify) and keyword streams
# (tinyslm.audio.fit.stream_metrics and its rule).
THRESHOLD_METRICS = (
    "int8_accuracy_at_threshold",
    "local_rate",
    "oos_recall",
    "threshold_objective_val",
    "threshold_rule",
    "threshold_calibrated_on",
    "empty_input",
    "false_rejection_rate",
    "keyword_hits",
    "keyword_false_accepts",
    "per_keyword_hits",
    "noise_false_accepts",
    "noise_fa_per_hour",
    "unknown_false_accepts",
    "unknown_fa_per_hour",
)
TRAINED = "at_trained_threshold"


def highest_score(manifest: Manifest) -> float:
    """The highest confidence the firmware can see: the top int8 output level."""
    if manifest.modality == AUDIO:
        # The detector averages int8 softmax scores; its top level is q=127.
        return DetectorSpec.probability_of(127)
    out = manifest.output_quant
    return dequantize(127, out.scale, out.zero_point)


def with_threshold(manifest: Manifest, probability: float) -> Manifest:
    """``manifest`` with its confidence threshold set to ``probability``.

    Raises:
        ModelError: ``probability`` is outside (0, 1) or above the highest score the
            model's int8 output can give.
    """
    if not 0.0 < probability < 1.0:
        raise ModelError(f"--threshold {probability:g}: must be between 0 and 1")
    highest = highest_score(manifest)
    if probability > highest:
        raise ModelError(
            f"--threshold {probability:g}: above the highest score the model's int8 output "
            f"can give ({highest:.4f}), so nothing would ever pass it"
        )
    if manifest.modality == AUDIO:
        # Recorded as train records it: the probability of the level (tinyslm.audio.fit).
        q = DetectorSpec.threshold_for(probability)
        # A level's P is k/256; info and the report print it to 3 decimals, rounded, so
        # the printed 0.801 of q=77 (0.80078) would select q=78. Exactly the value a level
        # prints selects that level (levels are 1/256 apart: no two print alike); any
        # other P keeps "the lowest level at or above P".
        if q > -128 and float(f"{DetectorSpec.probability_of(q - 1):.3f}") == probability:
            q -= 1
        threshold = DetectorSpec.probability_of(q)
    else:
        out = manifest.output_quant
        q, threshold = threshold_to_q(probability, out.scale, out.zero_point), probability
    metrics = dict(manifest.metrics)
    trained = {key: metrics.pop(key) for key in THRESHOLD_METRICS if key in metrics}
    if TRAINED in metrics:  # set once already: keep what training measured
        trained = metrics.pop(TRAINED)
    else:
        trained |= {"threshold": manifest.threshold, "threshold_q": manifest.threshold_q}
    metrics[TRAINED] = trained
    metrics["threshold_rule"] = (
        f"set with generate --threshold {probability:g} (trained: {trained['threshold']:.3f}, "
        f"q={trained['threshold_q']})"
    )
    return replace(manifest, threshold=threshold, threshold_q=q, metrics=metrics)


def trained_view(manifest: Manifest) -> tuple[dict[str, Any], str]:
    """Metrics with training's threshold-dependent figures, and a label suffix saying so.

    For a manifest whose threshold was set with ``generate --threshold`` the figures
    are those measured at the trained threshold (the suffix names it); otherwise the
    metrics as they are and an empty suffix.
    """
    trained = manifest.metrics.get(TRAINED)
    if not isinstance(trained, dict):
        return dict(manifest.metrics), ""
    view = {**manifest.metrics, **trained, "threshold_rule": manifest.metrics["threshold_rule"]}
    return view, f" (trained: {float(trained['threshold']):.3f})"
