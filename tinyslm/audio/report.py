"""A keyword model's ``report.json`` and ``report.html``.

The page has the text report's style and helpers (:mod:`tinyslm.report`) and a keyword
user's figures: per-keyword clip accuracy, the confusion heatmap, the detection curve
(false accepts per hour against false rejections over every detector threshold, on
the test split's streams, the chosen threshold marked), the size breakdown and the
training curves. Clip figures come from the manifest's metrics; the curve, the tensor
sizes and the history from ``report.json``, measured once by ``train``.
"""

from __future__ import annotations

import html
import itertools
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyslm.audio.detector import DetectorSpec
from tinyslm.audio.stream import no_fire_text
from tinyslm.errors import ModelError
from tinyslm.info import labels_text
from tinyslm.manifest import describe_label_thresholds, sha256_hex, threshold_text
from tinyslm.report import (
    BANNER,
    CSS,
    fig_html,
    figure,
    heatmap_svg,
    history_svg,
    pct,
    seal_page,
    short_labels,
    size_svg,
    svg_element,
    table_html,
)
from tinyslm.report_data import (
    TensorSize,
    as_whole,
    counted_metrics,
    read_epoch,
    read_fraction,
    read_level,
    read_list,
    read_rate,
    tensor_sizes,
)

FORMAT_VERSION = 1
_BLUE, _ORANGE, _RED = "#1f77b4", "#ff7f0e", "#d62728"


@dataclass(frozen=True)
class KeywordReportData:
    """What the keyword page draws besides the manifest's metrics.

    Attributes:
        curve: ``(threshold_q, false accepts per hour, false-rejection rate)`` on the
            test streams, ascending thresholds.
        tensors: the flatbuffer's constant tensors.
        history: per-epoch training figures (may be empty).
        model_sha256: the model these figures belong to; ``None`` in a ``report.json``
            written before tinyslm recorded it (only its tensor sizes tie it to a model).
    """

    curve: tuple[tuple[int, float, float], ...]
    tensors: tuple[TensorSize, ...]
    history: tuple[dict[str, float], ...] = ()
    model_sha256: str | None = None

    def to_json_bytes(self) -> bytes:
        doc: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "modality": "audio",
            "curve": [list(c) for c in self.curve],
            "tensors": [t.to_dict() for t in self.tensors],
            "history": list(self.history),
        }
        if self.model_sha256 is not None:
            # An optional key: format 1 stays readable both ways.
            doc["model_sha256"] = self.model_sha256
        return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, path: Path) -> KeywordReportData:
        """Read ``report.json``.

        Raises:
            ModelError: unreadable, or not a keyword report.
        """
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict):
                raise ValueError("expected a JSON object")
            # format_version true passed '== 1'.
            if (
                doc.get("modality") != "audio"
                or as_whole(doc.get("format_version")) != FORMAT_VERSION
            ):
                raise ValueError("not a keyword report of format 1")
            sha = doc.get("model_sha256")
            if sha is not None and not isinstance(sha, str):
                raise ValueError("model_sha256 is not a string")
            # Each value as train writes it, read by the text report's readers: int() and
            # float() drew a level of 10**30 (the axis in units of 1e27), "12", 1.7 as 1,
            # NaN or negative false-accept rates and a 700% false-rejection rate.
            return cls(
                curve=_curve(doc["curve"]),
                tensors=tuple(
                    TensorSize.from_dict(t) for t in read_list(doc["tensors"], "tensors")
                ),
                history=tuple(read_epoch(h) for h in read_list(doc.get("history", []), "history")),
                model_sha256=sha,
            )
        except (
            OSError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            RecursionError,
            OverflowError,
        ) as exc:
            raise ModelError(f"{path}: cannot read the keyword report figures: {exc}") from None


def _curve(value: object) -> tuple[tuple[int, float, float], ...]:
    """report.json's curve as :func:`tinyslm.audio.fit.detection_curve` writes it: int8
    levels, ascending and each once (the plot joins the points in file order), a finite
    rate of 0 or more and a share (raises ValueError naming the first that is not)."""
    points: list[tuple[int, float, float]] = []
    for entry in read_list(value, "curve"):
        if not isinstance(entry, list) or len(entry) != 3:
            raise ValueError(
                "a curve point must be [level, false accepts per hour, false-rejection rate], "
                f"got {entry!r}"
            )
        q = read_level(entry[0], "a curve point's level")
        if points and q <= points[-1][0]:
            raise ValueError(
                f"the curve's levels must ascend, each once: q={q} after q={points[-1][0]}"
            )
        fa = read_rate(entry[1], f"false accepts per hour at q={q}")
        frr = read_fraction(entry[2], f"the false-rejection rate at q={q}")
        points.append((q, fa, frr))
    return tuple(points)


def keyword_report_data(
    model: bytes,
    curve: Sequence[tuple[int, float, float]],
    history: Sequence[dict[str, float]] = (),
) -> KeywordReportData:
    # Rounded as report.json keeps them, so that the page train draws is the page
    # 'tinyslm report' draws again from report.json.
    rounded = tuple({k: round(v, 6) for k, v in sorted(h.items())} for h in history)
    # The model's sha, as text's report.json records it: another model's report.json
    # copied into a folder of the same architecture passed the tensor-size check.
    return KeywordReportData(tuple(curve), tensor_sizes(model), rounded, sha256_hex(model))


def _accuracy_svg(per_class: dict[str, list[float | None]], split: str) -> tuple[str, str]:
    names = list(per_class)
    # A label without clips in the split has no accuracy (null; NaN in a manifest of
    # before round 42): no bar, and n/a beside it rather than "nan%".
    acc = [_or_nan(per_class[n][0]) for n in names]
    counts = [int(per_class[n][1] or 0) for n in names]
    fig = figure(9.5, 1.2 + 0.32 * len(names))
    ax = fig.add_subplot()
    y = np.arange(len(names))[::-1]
    ax.barh(y, [a * 100 if math.isfinite(a) else 0.0 for a in acc], color=_BLUE)
    ax.set_yticks(
        y,
        [f"{t} ({c})" for t, c in zip(short_labels(names), counts, strict=True)],
        fontsize=8,
        parse_math=False,
    )
    for yy, a in zip(y, acc, strict=True):
        shown = f" {a * 100:.1f}%" if math.isfinite(a) else " n/a"
        ax.text(a * 100 if math.isfinite(a) else 0.0, yy, shown, va="center", fontsize=7)
    ax.set_xlim(0, 112)
    ax.set_xlabel(f"INT8 clip accuracy on TFLM ({split} split; clips in brackets)")
    ax.grid(axis="x", alpha=0.3)
    # Not 'speakers not seen in training': a list's own splits may share speakers (the
    # dataset warns of it), and the manifest does not say whether they did.
    caption = (
        f"Per-label accuracy of single 1 s clips of the {split} split (clips held out from "
        "training), the model's top score on TFLM."
    )
    return svg_element(fig, "keyword-accuracy"), caption


def _count(value: Any) -> str:
    """A whole number from the manifest with thousands separators; n/a when missing."""
    return f"{int(value):,}" if isinstance(value, int | float) and math.isfinite(value) else "n/a"


def _or_nan(value: float | None) -> float:
    """A figure from the manifest, NaN (not drawn) where nothing was measured (None)."""
    return float("nan") if value is None else float(value)


def _clamp_rate_axes(left: Any, right: Any, twin: Any) -> None:
    """Keep the curve's axes to values that can happen: a flat curve (every level
    missing every keyword, or no false accept anywhere) got matplotlib's margin around
    the constant, ticks of 104 % false rejections and of -0.04 false accepts per hour.
    False rejections span 0..100 %; false accepts start at 0 and reach at least 1 (the
    lines are drawn unclipped, so a point on the frame shows whole)."""
    left.set_ylim(0, 100)
    right.set_ylim(0, 100)
    left.set_xlim(0, max(left.get_xlim()[1], 1.0))
    twin.set_ylim(0, max(twin.get_ylim()[1], 1.0))


def _curve_svg(
    curve: Sequence[tuple[int, float, float]],
    threshold_q: int,
    fa_h: float | None,
    frr: float,
    stream_split: str = "test",
    no_point: str = "",
    heard: tuple[bool, bool] = (True, True),
) -> tuple[str, str]:
    """The detection curve; the chosen point is drawn where ``fa_h`` (false accepts per
    hour in the curve's own time base) is known, else the caption says why (``no_point``,
    default: the keyword stream's length is not recorded). ``heard``: whether the split
    had background noise and unknown words (:func:`_kinds_heard`), which the axis and the
    caption name."""
    noise, unknown = heard
    fig = figure(9.5, 4.2)
    left, right = fig.subplots(1, 2)
    # The right-hand axis is in the unit `generate --threshold P` takes (the mean score),
    # so a user reads the P of another operating point straight off the plot.
    ps = [DetectorSpec.probability_of(c[0]) for c in curve]
    fas = [c[1] for c in curve]
    frrs = [c[2] * 100 for c in curve]
    chosen = DetectorSpec.probability_of(threshold_q)
    left.plot(fas, frrs, color=_BLUE, marker=".", markersize=3, clip_on=False)
    chosen_label = f"chosen P={threshold_text(chosen)} (q={threshold_q})"
    if fa_h is not None:
        left.plot([fa_h], [frr * 100], "o", color=_RED, label=chosen_label, clip_on=False)
        left.legend(fontsize=8)
    sources = [*(["noise"] if noise else []), *(["unknown words"] if unknown else [])]
    left.set_xlabel(f"false accepts per hour ({', '.join([*sources, 'other keywords'])})")
    left.set_ylabel("false rejections (% of keywords)")
    left.set_xscale("symlog", linthresh=1.0)
    left.grid(alpha=0.3)
    right.plot(ps, frrs, color=_BLUE, label="false rejections (%)", clip_on=False)
    twin = right.twinx()
    twin.plot(ps, fas, color=_ORANGE, label="false accepts per hour", clip_on=False)
    right.axvline(chosen, color=_RED, linestyle="--", linewidth=1.2)
    right.set_xlabel("detector threshold P (mean score of the averaged windows)")
    right.set_ylabel("false rejections (%)", color=_BLUE)
    twin.set_ylabel("false accepts per hour", color=_ORANGE)
    right.grid(alpha=0.3)
    _clamp_rate_axes(left, right, twin)
    levels = sorted({c[0] for c in curve})
    # What was replayed, as report.json holds it: every 4th level (the chosen one added
    # since round 42), not 'every threshold'. The commonest gap is the grid's step.
    gaps = Counter(b - a for a, b in itertools.pairwise(levels)).most_common(1)
    step = gaps[0][0] if gaps else 1
    # 'Every threshold' of one level (or of none) was untrue: a lone level is what it is.
    if len(levels) == 1:
        sampled = f"at the one INT8 level q={levels[0]}"
    elif step == 1:
        sampled = "at every threshold"
    else:
        sampled = f"at one INT8 level in {step}"
    if threshold_q in levels and len(levels) > 1:
        sampled += " and at the chosen one"
    # Only the streams the split had: a split of keywords alone was said to have
    # "background noise; unknown words and keywords in a row with noise under them".
    streams = (
        ("background noise; " if noise else "")
        + ("unknown words and " if unknown else "")
        + "keywords in a row"
        + (" with noise under them" if noise else "")
    )
    caption = (
        f"The detector on the {stream_split} split's streams ({streams}), replayed {sampled}:"
        " false accepts per hour (over the streams long enough for the rule to fire) against the "
        "share of keywords missed. The threshold was chosen on the validation streams "
        "(red); 'tinyslm generate --threshold P' builds the firmware at another point of "
        "this curve, P read off the right-hand plot."
    )
    if fa_h is None:
        caption += no_point or (
            " The chosen level is not among the levels this report.json sampled, and the "
            "manifest does not record the keyword stream's length, so its point is marked on "
            "the right-hand plot only."
        )
    return svg_element(fig, "detection-curve"), caption


def _no_curve_note(mt: Mapping[str, Any], spec: Any, stream_split: str) -> str:
    """Why ``report.json`` holds no detection curve (train records none where the split
    has no keyword clip, or its keyword stream is too short for the rule's first
    detection), in the words of train's warning; an empty plot said the detector was
    replayed 'at every threshold'."""
    from tinyslm.audio.fit import unfired_text

    clips = mt.get("keyword_clips")
    seconds = mt.get("keyword_seconds")
    if clips == 0:
        return (
            f"No detection curve: the {stream_split} split has no keyword clip, so there was"
            " no keyword stream to replay the detector on."
        )
    need = spec.shortest_detection_samples / spec.frontend.sample_rate
    if (
        mt.get("false_rejection_rate") is None
        and isinstance(seconds, int | float)
        and 0 < seconds < need
    ):
        # Train's warning names its split's streams (``the test streams of keywords ...
        # are``); the page names the one keyword stream it has no curve of.
        unfired = unfired_text(
            [f"keywords ({seconds:.1f} s)"], spec, f"the {stream_split} stream", verb="is"
        )
        return (
            f"No detection curve: {unfired}, so no keyword there could be detected at any"
            " threshold (train warned of it); more keyword clips in that split, or a lower"
            " --average or --stride-ms when training, give one."
        )
    # A report.json written without a curve for another reason: nothing more is known.
    return "No detection curve was recorded with this model."


def _noise_unknown_text(mt: Mapping[str, Any]) -> str:
    """The summary's false accepts on noise and unknown words: one count over both where
    the rule could fire on both; where it could on one only, that one's count over its own
    seconds and the other's ``n/a`` as train and eval say it (:func:`no_fire_text`: '1 in
    9 s of noise and unknown words' counted the unknown words' 9 s alone); where neither
    has a rate, why: no audio of the kind, or streams too short."""
    heard = _firing_streams(mt)
    if len(heard) == len(_KINDS):
        seconds = sum(sec for sec, _ in heard)
        return f"{sum(n for _, n in heard)} in {seconds:.0f} s of noise and unknown words"
    if heard:
        (seconds, count), *_ = heard
        fired, other = _KINDS if _fires(mt, "noise") else _KINDS[::-1]
        unfired_s = float(mt.get(f"{other[0]}_seconds") or 0)
        return f"{count} in {seconds:.0f} s of {fired[1]}, {other[1]} {no_fire_text(unfired_s)}"
    # Neither has a rate: one n/a for the row, each kind's reason beside its name (no
    # seconds: without a rate they measure nothing).
    none = [kind for kind, _ in _KINDS if not mt.get(f"{kind}_seconds")]
    if len(none) == 2:
        return "n/a on noise and unknown words (no audio)"
    if not none:
        return "n/a on noise and unknown words (no stream long enough for the rule to fire)"
    if none == ["noise"]:
        return "n/a on noise (no audio) and unknown words (too short for the rule to fire)"
    return "n/a on noise (too short for the rule to fire) and unknown words (no audio)"


# The manifest's name of each kind of stream counted apart from keywords, and its words.
_KINDS = (("noise", "noise"), ("unknown", "unknown words"))


def _kinds_heard(mt: Mapping[str, Any]) -> tuple[bool, bool]:
    """Whether the split had background noise, and unknown words, to stream: seconds of
    them recorded (a manifest without the figure is taken to have had them)."""
    noise, unknown = (mt.get(f"{kind}_seconds", 1.0) for kind, _ in _KINDS)
    return noise != 0, unknown != 0


def _fires(mt: Mapping[str, Any], kind: str) -> bool:
    """Whether the manifest records a rate for ``kind``'s stream: a null rate is a stream
    the rule could not fire on (or none)."""
    return mt.get(f"{kind}_fa_per_hour") is not None


def _firing_streams(mt: Mapping[str, Any]) -> list[tuple[float, int]]:
    """``(seconds, false accepts)`` of the noise and unknown-word streams the rule could
    fire on (:func:`_fires`), in :data:`_KINDS` order."""
    return [
        (float(mt.get(f"{kind}_seconds", 0)), int(mt.get(f"{kind}_false_accepts") or 0))
        for kind, _ in _KINDS
        if _fires(mt, kind)
    ]


def render_keyword_report(manifest: Any, data: KeywordReportData, boards: Sequence[Any]) -> str:
    """The HTML page for a keyword model's manifest and figures."""
    from tinyslm import __version__
    from tinyslm.emit.project import arena_size_for

    mt = manifest.metrics
    split = str(mt.get("eval_split", "test"))
    stream_split = str(mt.get("stream_split", split))
    # Only the streams the rule could fire on count (a null rate: it could not, or there
    # was none), as the curve, emulate --data and eval count them.
    heard = _firing_streams(mt)
    noise_unknown = _noise_unknown_text(mt)
    # A null count (the manifest's since round 47 where the rule could not fire) is n/a too.
    keyword_fa = (
        "n/a in the keyword stream"
        if mt.get("false_rejection_rate") is None or mt.get("keyword_false_accepts") is None
        else f"{mt['keyword_false_accepts']} in the keyword stream"
    )
    # Every share from the count behind it (the confusion matrix, the clips), as eval
    # and info show them (report_data.counted_metrics).
    shown = counted_metrics(mt)
    summary = [
        # A label holding a comma would read as two: the list as JSON then, as info says it.
        ("labels", labels_text(manifest.labels)),
        ("dataset", str(mt.get("dataset", "?"))),
        (f"float accuracy ({split} clips)", pct(shown.get("float_accuracy"))),
        ("INT8 accuracy (TFLM)", pct(shown.get("int8_accuracy"))),
        ("detector threshold", f"{threshold_text(manifest.threshold)} (q={manifest.threshold_q})"),
        ("own thresholds", describe_label_thresholds(manifest) or "none"),
        # As the text page says it: a manifest without the rule printed '?'.
        ("threshold rule", str(mt.get("threshold_rule") or "not recorded")),
        (f"false rejections ({stream_split} stream)", pct(shown.get("false_rejection_rate"))),
        (
            f"false accepts ({stream_split} streams)",
            f"{noise_unknown}, {keyword_fa}",
        ),
        # Not measured is n/a, not 0 MACs.
        ("MACs per inference", _count(mt.get("macs"))),
        ("model bytes (flash)", f"{manifest.model_bytes:,}"),
        (
            "arena bytes (RAM)",
            f"{manifest.arena_bytes:,} measured on TFLM, "
            f"{arena_size_for(manifest.arena_bytes):,} in the firmware",
        ),
        ("ops", ", ".join(manifest.ops)),
    ]
    # The chosen point in the curve's time base (false accepts over the seconds of the
    # streams the rule can fire on): the curve's own sample, else computed as it counts;
    # without the keyword stream's length (a manifest of before round 42) it has none.
    chosen = [c for c in data.curve if c[0] == manifest.threshold_q]
    keyword_s = mt.get("keyword_seconds")
    fa_h: float | None
    if chosen:
        fa_h = chosen[0][1]
    elif isinstance(keyword_s, int | float):
        # As the curve counts (StreamFigures.firing): a stream whose rate is null could
        # not fire, so its seconds and its 0 false accepts are left out.
        firing = list(heard)
        if mt.get("false_rejection_rate") is not None:
            firing.append((float(keyword_s), int(mt.get("keyword_false_accepts") or 0)))
        total_s = sum(s for s, _ in firing)
        # No stream seconds measured: no rate (it drew a chosen point at 0 per hour).
        fa_h = round(sum(n for _, n in firing) * 3600 / total_s, 3) if total_s else None
    else:
        fa_h = None
    no_point = (
        ""
        if fa_h is not None
        else " The chosen level is not among the levels this report.json sampled, and "
        + (
            "the manifest records no stream seconds to count its false accepts per hour over"
            if isinstance(keyword_s, int | float)
            else "the manifest does not record the keyword stream's length"
        )
        + ", so its point is marked on the right-hand plot only."
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>tinyslm keyword model report</title><style>{CSS}</style></head><body>",
        "<h1>tinyslm keyword model report</h1>",
        f"{BANNER}{html.escape(__version__)}. Model sha256 "
        f"{html.escape(manifest.model_sha256)}. Figures: {split} split, INT8 on TFLM.</p>",
        "<h2>Summary</h2>",
        table_html((), summary, set()),
        "<h2>Per-keyword accuracy</h2>",
        fig_html(*_accuracy_svg(dict(shown.get("per_class", {})), split)),
        "<h2>Confusions</h2>",
        # Metrics are informational: a manifest without the matrix (checked for shape
        # when present, tinyslm.metrics) gets a note, as a model without history does.
        fig_html(*heatmap_svg(manifest.labels, mt["confusion"], split, "label"))
        if mt.get("confusion")
        else '<p class="note">No confusion matrix was recorded with this model.</p>',
        "<h2>False accepts and false rejections</h2>",
        # No curve, no plot: empty axes read as a curve of nothing measured.
        fig_html(
            *_curve_svg(
                data.curve,
                manifest.threshold_q,
                fa_h,
                _or_nan(shown.get("false_rejection_rate", 0.0)),
                stream_split,
                no_point,
                _kinds_heard(mt),
            )
        )
        if data.curve
        else f'<p class="note">{html.escape(_no_curve_note(mt, manifest.features, stream_split))}'
        "</p>",
        "<h2>Size</h2>",
        fig_html(*size_svg(data.tensors, manifest, boards)),
        "<h2>Training</h2>",
    ]
    if data.history:
        best = mt.get("best_epoch")
        parts.append(
            fig_html(
                *history_svg(
                    data.history,
                    train_note=_keyword_train_note(manifest.train_config),
                    best_epoch=best if isinstance(best, int) else None,
                )
            )
        )
    else:
        parts.append('<p class="note">No per-epoch history was recorded with this model.</p>')
    parts.append("</body></html>")
    return seal_page("\n".join(parts) + "\n")


def _keyword_train_note(train_config: dict[str, Any]) -> str:
    """What the training split's curves were measured with (a keyword model has no
    dropout: its clips are augmented)."""
    smoothing = train_config.get("label_smoothing")
    if isinstance(smoothing, int | float) and smoothing:
        return f"augmented clips, label smoothing {smoothing:g}"
    return "augmented clips"


def keyword_report_page(
    path: Path, manifest: Any, model: bytes, stored: Path | None, data: Path | None
) -> tuple[str, str]:
    """``report.html`` of a keyword model from its folder's ``report.json``.

    Raises:
        ModelError: a project or a folder without ``report.json``, ``data`` given (the
            streaming figures are measured by ``train`` only), or a ``report.json`` of
            another model.
    """
    from tinyslm.boards import load_boards

    # Each case its own advice: "give that folder" told a user who had given the model
    # folder (with --data) to give it.
    if data is not None:
        if stored is not None:
            raise ModelError(
                f"{path}: --data measures text models only; leave it out for a keyword model "
                "(its report is drawn from the report.json 'tinyslm train' wrote into its folder)"
            )
        raise ModelError(
            f"{path}: --data measures text models only, and a keyword model's report is drawn "
            "from the report.json 'tinyslm train' writes into its model folder: give that "
            "folder, without --data"
        )
    if stored is None:
        raise ModelError(
            f"{path}: a keyword model's report is drawn from the report.json 'tinyslm train' "
            "writes into its model folder (--data measures text models only); give that folder"
        )
    if not stored.exists():
        # Nothing tells --no-report from a model trained before report.json existed.
        raise ModelError(
            f"{path}: no report.json (the model was trained with --no-report, or before "
            "tinyslm wrote one): a keyword model's figures are measured by 'tinyslm train' "
            "only; train it again without --no-report"
        )
    if not stored.is_file():
        raise ModelError(
            f"{stored}: not a file; a keyword model's report is drawn from the report.json "
            "'tinyslm train' writes there"
        )
    figures = KeywordReportData.from_json(stored)
    if figures.model_sha256 is not None and figures.model_sha256 != manifest.model_sha256:
        raise ModelError(f"{stored} belongs to another model (its model_sha256 differs)")
    # A report.json from before model_sha256 was recorded is still read (its figures
    # cannot be measured again): the tensor sizes are what tie it to the model then.
    if figures.tensors != tensor_sizes(model):
        raise ModelError(f"{stored} belongs to another model (its tensor sizes differ)")
    return render_keyword_report(manifest, figures, load_boards()), str(stored)
