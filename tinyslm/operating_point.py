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

import re
import shlex
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tinyslm.audio.detector import DetectorSpec
from tinyslm.decision import dequantize, level_threshold, threshold_to_q
from tinyslm.errors import ModelError
from tinyslm.manifest import LABEL_THRESHOLDS_FORMAT, LabelThreshold, Manifest, threshold_text
from tinyslm.metrics import TRAINED
from tinyslm.modality import AUDIO, TEXT

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


def highest_score(manifest: Manifest) -> float:
    """The highest confidence the firmware can see: the top int8 output level."""
    if manifest.modality == AUDIO:
        # The detector averages int8 softmax scores; its top level is q=127.
        return DetectorSpec.probability_of(127)
    out = manifest.output_quant
    return dequantize(127, out.scale, out.zero_point)


# Every tinyslm model ends in an int8 SOFTMAX, whose output TFLite fixes at scale 1/256,
# zero point -128 (quantize.py; the keyword detector averages those levels): its top
# level, q=127, is the highest score any of them can give.
SOFTMAX_HIGHEST = DetectorSpec.probability_of(127)  # (127 + 128) / 256


def check_reachable(probability: float, given: str, highest: float = SOFTMAX_HIGHEST) -> None:
    """Refuse a threshold outside (0, 1) or above ``highest``, the top score of the
    model's int8 output (by default that of every tinyslm model, so that ``generate``
    without ``--model`` refuses before it trains the demo: a minute, then refused).

    Raises:
        ModelError: naming the option as ``given``.
    """
    if not 0.0 < probability < 1.0:
        raise ModelError(f"{given}: must be between 0 and 1, both excluded (0 < P < 1)")
    if probability > highest:
        # The limit in full (repr: the shortest text that reads back as it): rounded to
        # 4 places, 0.99609375 read 0.9961, and '--threshold 0.9961: above ... (0.9961)'
        # looked like a contradiction.
        raise ModelError(
            f"{given}: above the highest score the model's int8 output "
            f"can give ({highest!r}), so nothing would ever pass it"
        )


def check_label_reachable(label: str, probability: float) -> None:
    """:func:`check_reachable` for ``--label-threshold label=probability``, before the
    model is known: a P out of range after a label holding '=<number>' was two
    thresholds typed into one option ('door_unlock=0.9=1'), and is said so.

    Raises:
        ModelError: as :func:`check_reachable`, or :func:`_refuse_glued`'s line.
    """
    try:
        check_reachable(probability, f"--label-threshold {label}={probability:g}")
    except ModelError:
        _refuse_glued(f"{label}={probability:g}", label)
        raise


def _level(manifest: Manifest, probability: float, given: str) -> tuple[float, int]:
    """The threshold to record for ``probability`` and the int8 level the firmware compares.

    Raises:
        ModelError: ``probability`` is outside (0, 1) or above the highest score the
            model's int8 output can give (``given`` names the option as typed).
    """
    check_reachable(probability, given, highest_score(manifest))
    if manifest.modality == AUDIO:
        # Recorded as train records it: the probability of the level (tinyslm.audio.fit).
        q = DetectorSpec.threshold_for(probability)
        # A level's P is k/256; info and the report print it to 3 decimals, rounded, so
        # the printed 0.801 of q=77 (0.80078) would select q=78. Exactly the value a level
        # prints selects that level (levels are 1/256 apart: no two print alike); any
        # other P keeps "the lowest level at or above P".
        if q > -128 and float(threshold_text(DetectorSpec.probability_of(q - 1))) == probability:
            q -= 1
        return DetectorSpec.probability_of(q), q
    out = manifest.output_quant
    q = threshold_to_q(probability, out.scale, out.zero_point)
    return level_threshold(q, out.scale, out.zero_point), q


def _said(threshold: float) -> str:
    """A threshold as a rule names it: as printed (:func:`threshold_text`), unless that
    reads 0.000, which ``--threshold`` refuses (a text gate may sit under 0.0005)."""
    text = threshold_text(threshold)
    return text if float(text) > 0.0 else repr(threshold)


def _moved(manifest: Manifest, rule: str) -> Manifest:
    """``manifest`` with training's threshold-dependent figures kept under :data:`TRAINED`."""
    metrics = dict(manifest.metrics)
    trained = {key: metrics.pop(key) for key in THRESHOLD_METRICS if key in metrics}
    if TRAINED in metrics:  # set once already: keep what training measured
        trained = metrics.pop(TRAINED)
    else:
        trained |= {"threshold": manifest.threshold, "threshold_q": manifest.threshold_q}
    metrics[TRAINED] = trained
    metrics["threshold_rule"] = (
        f"{rule} (trained: {threshold_text(trained['threshold'])}, q={trained['threshold_q']})"
    )
    return replace(manifest, metrics=metrics)


def with_threshold(manifest: Manifest, probability: float) -> Manifest:
    """``manifest`` with its confidence threshold set to ``probability``.

    Raises:
        ModelError: ``probability`` is outside (0, 1) or above the highest score the
            model's int8 output can give.
    """
    threshold, q = _level(manifest, probability, f"--threshold {probability:g}")
    if q == manifest.threshold_q and TRAINED not in manifest.metrics:
        # The trained level itself: nothing moves. Recorded as moved, info and eval set
        # training's figures aside as of "another threshold" and the rule said
        # "set with generate --threshold" of the level training chose.
        return manifest
    # The rule names the threshold recorded (threshold_text), not the value typed: a
    # level is reached from many values (0.6 and 0.6015625 select the same one),
    # and the regenerate command a project's README gives (generate_options, the level
    # in full) must write the project again byte for byte.
    moved = _moved(manifest, f"set with generate --threshold {_said(threshold)}")
    return replace(moved, threshold=threshold, threshold_q=q)


def parse_label_thresholds(items: tuple[str, ...]) -> dict[str, float]:
    """``LABEL=P`` items (``generate --label-threshold``) as a mapping, in the order given.

    Raises:
        ModelError: an item is not ``LABEL=P`` with a number P, holds two thresholds
            (``a=0.5,b=0.3``: the option is repeated for each label), or names a label twice.
    """
    out: dict[str, float] = {}
    for item in items:
        # P is after the LAST '=': a label may hold '=' ("a=b=0.25"), never a control byte.
        label, sep, value = item.rpartition("=")
        if not sep or not label:
            raise ModelError(f"--label-threshold {item!r}: expected LABEL=P, e.g. door_unlock=0.9")
        try:
            probability = float(value)
        except ValueError:
            raise ModelError(
                f"--label-threshold {item!r}: {value!r} is not a number (expected LABEL=P)"
            ) from None
        if label in out:
            raise ModelError(f"--label-threshold: {label!r} is given twice")
        out[label] = probability
    return out


# "=<number>" inside what would be the label: a second LABEL=P (or a second P) typed
# into the same option, which no real label looks like.
_GLUED_VALUE = re.compile(
    r"=\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*(?:[,;\s]|$)"
)


def _refuse_glued(item: str, label: str) -> None:
    """Refuse two thresholds in one ``--label-threshold`` item whose label the model
    lacks. The label before the last '=' was 'door_unlock=0.5,lights_on' (then "no label
    ...") or 'door_unlock=0.9' for 'door_unlock=0.9=1' (then "must be between 0 and 1",
    about the wrong number). Only for a label the model lacks: a real one may hold
    '=20' ('temp=20=0.5' names the label 'temp=20').

    Raises:
        ModelError: naming the item and what to type instead.
    """
    if not _GLUED_VALUE.search(label):
        return
    parts = [p for p in re.split(r"[,;\s]+", item) if p]
    if len(parts) > 1 and all("=" in p for p in parts):
        repeat = " ".join(f"--label-threshold {shlex.quote(p)}" for p in parts)
        raise ModelError(
            f"--label-threshold {item!r}: one LABEL=P per option; repeat it for each "
            f"label: {repeat}"
        )
    raise ModelError(
        f"--label-threshold {item!r}: more than one threshold; give one LABEL=P, "
        f"e.g. {label.split('=', 1)[0] or 'door_unlock'}=0.9"
    )


def with_label_thresholds(manifest: Manifest, given: Mapping[str, float]) -> Manifest:
    """``manifest`` with labels of ``given`` compared at thresholds of their own.

    A text intent is answered locally only when its score reaches its own level (a lock
    that must be surer than a lamp); a keyword fires only when its averaged score reaches
    its own (a keyword that fires too often, or one that is missed). Every other label
    keeps the model's threshold. Earlier label thresholds of ``manifest`` are replaced.

    A given level equal to the model's threshold is not recorded (it is no level of its
    own; the firmware lists only the labels whose level differs).

    Raises:
        ModelError: a label the model lacks (or one that never fires: silence,
            unknown), or a threshold outside (0, 1) or above the model's highest score.
    """
    if not given:
        return manifest
    never: set[str] = set()
    if manifest.modality == AUDIO:
        never = {manifest.labels[i] for i in manifest.features.non_keywords}
    for label, probability in given.items():
        option = f"--label-threshold {label}={probability:g}"
        if label in never:
            raise ModelError(f"{option}: {label} is never detected, so it has no threshold")
        if label not in manifest.labels:
            _refuse_glued(f"{label}={probability:g}", label)
            known = [name for name in manifest.labels if name not in never]
            shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            # 'a=b,c=0.3' reads as the label 'a=b,c': say how two labels are given.
            repeat = "; repeat the option for each label" if "," in label else ""
            raise ModelError(f"{option}: the model has no label {label!r} (it has {shown}){repeat}")
    entries = []
    for label in (name for name in manifest.labels if name in given):
        given_as = f"--label-threshold {label}={given[label]:g}"
        threshold, q = _level(manifest, given[label], given_as)
        # A level equal to the model's is no level of its own: the firmware (':info') and
        # every figure treat it as every other label, so info and the report did not agree
        # with the board when it was recorded. (generate says which were left out.)
        if q != manifest.threshold_q:
            entries.append(LabelThreshold(label, threshold, q))
    if not entries:
        return replace(manifest, label_thresholds=()) if manifest.label_thresholds else manifest
    # In label order, as the entries: the same options in another order give the same bytes.
    # Each level as recorded, printed as the global threshold is (threshold_text), not as
    # typed: the README's regenerate command gives the level in full (yes=0.6015625 for a
    # project made with yes=0.6), and must reproduce the project byte for byte.
    # One option per label, shell-quoted, as generate takes them: joined with ',' they
    # read 'a=0.9,b=0.3', which generate refuses ("one LABEL=P per option").
    said = " ".join(
        f"--label-threshold {shlex.quote(f'{e.label}={_said(e.threshold)}')}" for e in entries
    )
    # With --threshold as well the rule names both (that one was applied first).
    if threshold_moved(manifest):
        moved = _moved(
            manifest,
            f"set with generate --threshold {_said(manifest.threshold)} {said}",
        )
    else:
        # The model's own threshold is still training's: its rule stays, the own levels
        # beside it ("set with generate --label-threshold no=0.902 (trained: 0.699)" on
        # the threshold's row credited the option with a threshold it did not set).
        # Training's rule is kept as recorded (an id such as RULE_OOS): the readers
        # describe it (verify.describe_rule reads the part before '; ').
        moved = _moved(manifest, "")
        rule = moved.metrics[TRAINED].get("threshold_rule")
        metrics = dict(moved.metrics)
        metrics["threshold_rule"] = (
            f"{rule if isinstance(rule, str) else 'as trained'}; own levels set with "
            f"generate {said}"
        )
        moved = replace(moved, metrics=metrics)
    return replace(
        moved,
        label_thresholds=tuple(entries),
        format_version=max(moved.format_version, LABEL_THRESHOLDS_FORMAT),
    )


def threshold_moved(manifest: Manifest) -> bool:
    """Whether ``generate --threshold`` moved the model's threshold (``--label-threshold``
    alone keeps it, though it moves training's figures aside too)."""
    trained = manifest.metrics.get(TRAINED)
    return isinstance(trained, dict) and trained.get("threshold_q") != manifest.threshold_q


def generate_options(manifest: Manifest) -> str:
    """The ``generate`` options that give ``manifest``'s operating point again, e.g.
    `` --threshold 0.8 --label-threshold up=0.9``; empty for the trained one.

    For a hint that regenerates a project (a missing ``lib/tflm``): each value is the
    recorded threshold written in full (``repr``), which selects its level again.
    """
    said = f" --threshold {manifest.threshold!r}" if threshold_moved(manifest) else ""
    for t in manifest.label_thresholds:
        said += f" --label-threshold {shlex.quote(f'{t.label}={t.threshold!r}')}"
    return said


# What a manifest records as the dataset of the bundled demo set.
DEMO_DATASET = "demo"


def trained_on_demo(manifest: Manifest) -> bool:
    """Whether ``manifest``'s model was trained on the bundled demo set (a text set).

    A keyword model records its dataset folder's name, which may be ``demo`` too; a text
    file's name always has its extension, so ``demo`` says the bundled set only there.
    """
    return manifest.modality == TEXT and manifest.metrics.get("dataset") == DEMO_DATASET


def demo_regenerate_note(manifest: Manifest) -> str:
    """For a model trained on the bundled demo set, how to regenerate without a model
    folder; else empty. ``generate`` without ``--model`` trains the demo in a temporary
    folder, so the hint's MODEL_DIR named a folder that never existed."""
    if not trained_on_demo(manifest):
        return ""
    return (
        "The model was trained on the bundled demo set: if generate trained it (no --model), "
        "leave --model MODEL_DIR out and generate trains it again with the same seed "
        "(check the model sha256)."
    )


def trained_view(manifest: Manifest) -> tuple[dict[str, Any], str]:
    """Metrics with training's threshold-dependent figures, and a label suffix saying so.

    For a manifest whose threshold was set with ``generate --threshold`` the figures
    are those measured at the trained threshold (the suffix names it); otherwise the
    metrics as they are and an empty suffix.
    """
    trained = manifest.metrics.get(TRAINED)
    if not isinstance(trained, dict):
        return dict(manifest.metrics), ""
    view = {**manifest.metrics, **trained}
    # The rule says how the threshold in force was set (generate's), not training's.
    view.pop("threshold_rule", None)
    if "threshold_rule" in manifest.metrics:
        view["threshold_rule"] = manifest.metrics["threshold_rule"]
    return view, f" (trained: {threshold_text(float(trained['threshold']))})"
