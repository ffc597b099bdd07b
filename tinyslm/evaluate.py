"""``tinyslm eval``: score a trained model on another dataset of the same kind.

The model runs on TFLM exactly as verification ran it in training (int8 scores,
the manifest's arena, the device's confidence gate ``threshold_q``), so the
figures are comparable with the ones ``tinyslm train`` printed. Text models
only for now: an audio dataset is refused with one line.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tinyslm.audio.evaluate import KeywordEvalResult, run_keyword_eval, trained_split
from tinyslm.errors import DatasetError, ModelError
from tinyslm.manifest import (
    LabelThreshold,
    label_thresholds_json,
    label_thresholds_text,
    threshold_text,
)
from tinyslm.modality import AUDIO, check_data_modality

EVAL_SPLITS = ("test", "val", "train", "all")
# How many intents the text summary lists (the weakest first); --json has them all.
WEAKEST_SHOWN = 5


def _quiet(_: str) -> None:
    return None


def demo_or_path(data: Path) -> Path:
    """A text dataset as ``eval``, ``emulate --data`` and ``report --data`` name it:
    ``demo`` is the bundled demo set (the data of a model ``generate`` trained without
    --model, which no file of the user's holds), unless a file or folder of that name is
    in the current folder: the user's own, read as given."""
    from tinyslm.operating_point import DEMO_DATASET
    from tinyslm.text.dataset import demo_dataset_path

    if str(data) == DEMO_DATASET and not os.path.lexists(data):
        return demo_dataset_path()
    return data


@dataclass(frozen=True)
class EvalConfig:
    """What to score.

    Attributes:
        model_dir: a ``tinyslm train`` output folder.
        data: a dataset file of the model's kind (text: ``.csv``/``.tsv``/``.jsonl``/``.json``;
            ``demo``: the bundled demo set, see :func:`demo_or_path`).
        split: ``test``, ``val``, ``train`` or ``all``; a file without a split column
            is split with the model's seed, as training split it.
    """

    model_dir: Path
    data: Path
    split: str = "test"


@dataclass(frozen=True)
class IntentFigure:
    """One intent's phrases in the scored split: how many, how many right (top-1)."""

    label: str
    phrases: int
    correct: int

    @property
    def recall(self) -> float:
        return self.correct / self.phrases if self.phrases else 0.0


@dataclass(frozen=True)
class EvalResult:
    """Figures of a model on a dataset split, measured on TFLM.

    Attributes:
        source: the dataset's display name; split: the split scored.
        model_sha256, model_bytes, arena_bytes: the model scored and its arena.
        threshold, threshold_q: the manifest's confidence gate.
        phrases, oos_phrases: in-scope and out-of-scope phrases scored.
        int8_accuracy: in-scope top-1 accuracy (gate ignored).
        accuracy_at_threshold: in-scope phrases right AND kept local.
        escalation_rate: in-scope phrases the gate escalates.
        oos_recall: out-of-scope phrases escalated (``None`` without any; the
            three in-scope figures are ``None`` without in-scope phrases).
        per_intent: the model's intents present in the split, in label order.
        unknown_intents: expected intents the model lacks (counted as wrong).
        too_long: phrases longer than the device's line limit (TFLM scores them,
            the board answers ``line_too_long``).
        trained: the figures train recorded in the manifest, for comparison.
        trained_dataset_differs: why train's figures are of another dataset than the
            one scored (its name differs, or the split's phrase counts), or ``None``
            when they are of the same one (or the manifest does not say).
        warnings: what makes the figures misleading, one line each.
        seconds: wall time (loading, scoring).
        label_thresholds: the intents gated at levels of their own (a project's
            ``--label-threshold``), applied in the figures.
    """

    source: str
    split: str
    model_sha256: str
    model_bytes: int
    arena_bytes: int
    threshold: float
    threshold_q: int
    phrases: int
    oos_phrases: int
    int8_accuracy: float | None
    accuracy_at_threshold: float | None
    escalation_rate: float | None
    oos_recall: float | None
    per_intent: tuple[IntentFigure, ...]
    unknown_intents: tuple[str, ...] = ()
    too_long: int = 0
    trained: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    label_thresholds: tuple[LabelThreshold, ...] = ()
    trained_dataset_differs: str | None = None

    @property
    def trained_same_dataset(self) -> bool:
        """Whether train's figures are of the dataset scored here (as far as the
        manifest tells: the file name train read, and its split's phrase counts)."""
        return bool(self.trained) and self.trained_dataset_differs is None

    @property
    def trained_same_split(self) -> bool:
        """Whether train recorded its figures on the split scored here, of the same
        dataset: like for like. The same split of another file is not."""
        return self.trained_same_dataset and trained_split(self.trained, "eval_split") == self.split

    def summary(self) -> dict[str, Any]:
        """What ``tinyslm eval --json`` prints (a keyword model's names its modality too)."""
        return {
            "modality": "text",
            "source": self.source,
            "split": self.split,
            "model_sha256": self.model_sha256,
            "model_bytes": self.model_bytes,
            "arena_bytes": self.arena_bytes,
            "threshold": self.threshold,
            "threshold_q": self.threshold_q,
            "label_thresholds": label_thresholds_json(self.label_thresholds),
            "phrases": self.phrases,
            "oos_phrases": self.oos_phrases,
            "int8_accuracy": _round(self.int8_accuracy),
            "int8_accuracy_at_threshold": _round(self.accuracy_at_threshold),
            "escalation_rate": _round(self.escalation_rate),
            "oos_recall": _round(self.oos_recall),
            "per_intent": {
                f.label: {"phrases": f.phrases, "correct": f.correct, "recall": round(f.recall, 5)}
                for f in self.per_intent
            },
            "unknown_intents": list(self.unknown_intents),
            "too_long": self.too_long,
            "trained": self.trained,
            # As keyword eval --json: whether train's figures are of the split scored
            # here (like for like), or of its own split beside another split's figures.
            # Another dataset's test split is not like for like either.
            "trained_same_split": self.trained_same_split,
            "trained_same_dataset": self.trained_same_dataset,
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 5)


def _trained_figures(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "dataset",
        "eval_split",
        "n_eval",
        "n_oos_eval",
        "int8_accuracy",
        "int8_accuracy_at_threshold",
    )
    out = {k: metrics[k] for k in keys if k in metrics}
    if "local_rate" in metrics:
        out["escalation_rate"] = round(1.0 - float(metrics["local_rate"]), 5)
    if "oos_recall" in metrics:
        out["oos_recall"] = metrics["oos_recall"]
    return out


def _dataset_differs(
    metrics: dict[str, Any], source: str, data: Path, split: str, counts: tuple[int, int]
) -> str | None:
    """Why the dataset scored is not the one train measured its figures on, or ``None``.

    The manifest names train's file (``dataset``, its name alone; ``demo`` for the
    bundled set) and its split's phrase counts; no hash of it. A file of another name
    is another dataset; one of the same name whose split holds other counts than train
    scored was edited since (or is another file of that name). A manifest without the
    name says nothing: the figures are taken as of the same dataset, as before.
    """
    from tinyslm.text.dataset import demo_dataset_path

    trained = metrics.get("dataset")
    if not isinstance(trained, str):
        return None
    same = trained == source
    if trained == "demo":  # train names the bundled set so when it read it by default
        # A copy of it keeps its file name: the same dataset (the counts below still
        # tell an edited copy apart).
        same = source == demo_dataset_path().name
        with contextlib.suppress(OSError):
            same = same or data.resolve() == demo_dataset_path().resolve()
    if not same:
        return f"not {source}, the dataset scored here"
    theirs = (metrics.get("n_eval"), metrics.get("n_oos_eval"))
    if trained_split(metrics, "eval_split") != split or not all(isinstance(n, int) for n in theirs):
        return None
    if theirs != counts:
        return (
            f"{theirs[0]} in-scope and {theirs[1]} out-of-scope phrases, not the "
            f"{counts[0]} and {counts[1]} scored here: the file has changed since training, "
            "or is another of that name"
        )
    return None


def run_eval(
    config: EvalConfig, *, log: Callable[[str], None] | None = None
) -> EvalResult | KeywordEvalResult:
    """Score the model in ``config.model_dir`` on ``config.data`` (split ``config.split``).

    Raises:
        ModelError: the model folder is missing, corrupt or not a tinyslm model.
        DatasetError: the data is missing, unusable, of another kind (audio), the
            split is empty, or none of its intents is one of the model's.
    """
    from tinyslm.emulate.phrases import (
        check_intents_known,
        phrases_to_check,
        unknown_intents_warning,
    )
    from tinyslm.project import load_model_or_project
    from tinyslm.text.features import encode
    from tinyslm.tflm_runtime import tflm_scores
    from tinyslm.verify import gate_metrics

    say = log or _quiet
    start = time.perf_counter()
    config = replace(config, data=demo_or_path(config.data))  # as report --data takes it
    if config.split not in EVAL_SPLITS:
        raise DatasetError(f"unknown split {config.split!r}; expected {', '.join(EVAL_SPLITS)}")
    if not config.model_dir.is_dir():
        raise ModelError(f"{config.model_dir}: no such model folder (run 'tinyslm train' first)")
    # Before the model: a missing or foreign dataset is the cheaper mistake to report.
    if not config.data.exists():
        raise DatasetError(f"{config.data}: dataset not found")
    # A model folder, or a generated project as info and report read it: the model array
    # and tinyslm.json, a threshold set by 'generate --threshold' included.
    manifest, model, _ = load_model_or_project(config.model_dir, probe_arena=True)
    check_data_modality(config.data, manifest.modality)
    if manifest.modality == AUDIO:
        return run_keyword_eval(config.data, config.split, manifest, model, say)
    dataset, rows = phrases_to_check(config.data, config.split, manifest.seed)
    inscope = [(text, label) for text, label, oos in rows if not oos]
    oos_texts = [text for text, _, oos in rows if oos]
    known = {label: i for i, label in enumerate(manifest.labels)}
    unknown = sorted({label for _, label in inscope if label not in known})
    check_intents_known(config.data, rows, manifest.labels)

    say(f"scoring {len(inscope)} phrases and {len(oos_texts)} out-of-scope on TFLM ...")
    k = len(manifest.labels)

    def scores(texts: list[str]) -> npt.NDArray[np.int8]:
        if not texts:
            return np.zeros((0, k), dtype=np.int8)
        return tflm_scores(model, encode(texts, manifest.features), manifest.arena_bytes)

    in_scores = scores([text for text, _ in inscope]).reshape(-1, k)
    oos_scores = scores(oos_texts).reshape(-1, k)
    # An unknown intent gets index -1: never predicted, so always wrong (as emulate counts it).
    truth = np.asarray([known.get(label, -1) for _, label in inscope], dtype=np.int64)
    top = np.argmax(in_scores, axis=1) if len(in_scores) else np.zeros(0, np.int64)
    correct = top == truth
    # Each phrase is compared with its top label's level (labels may have their own).
    gate = gate_metrics(in_scores, truth, oos_scores, manifest.thresholds_q())

    per_intent = tuple(
        IntentFigure(label, int((truth == i).sum()), int((correct & (truth == i)).sum()))
        for i, label in enumerate(manifest.labels)
        if (truth == i).any()
    )
    warnings = list(dataset.warnings)
    said = unknown_intents_warning([label for _, label in inscope], manifest.labels)
    if said is not None:
        warnings.append(said)
    long_rows = [text for text, _, _ in rows if len(text.encode("utf-8")) > manifest.max_line]
    texts = [text for text, _, _ in rows]
    empty = int((~encode(texts, manifest.features).any(axis=1)).sum()) if texts else 0
    if empty:
        # The board answers such a line {"error":"no_tokens"} with no inference (and no
        # action); TFLM scores its all-padding input here.
        warnings.append(
            f"{empty} phrase(s) hold no n-gram the model reads (only punctuation, say): "
            "TFLM scores them here from padding, the board answers them with no_tokens"
        )
    if long_rows:
        warnings.append(
            f"{len(long_rows)} phrase(s) longer than the device's {manifest.max_line}-byte line "
            "limit: TFLM scores them here, the board answers them with line_too_long"
        )
    missing = [f for f in manifest.labels if f not in {p.label for p in per_intent}]
    if missing and inscope:
        warnings.append(
            f"{len(missing)} of the model's {k} intents have no phrase in this split "
            f"({', '.join(repr(m) for m in missing[:5])}{' ...' if len(missing) > 5 else ''})"
        )
    return EvalResult(
        source=dataset.source,
        split=config.split,
        model_sha256=manifest.model_sha256,
        model_bytes=manifest.model_bytes,
        arena_bytes=manifest.arena_bytes,
        threshold=manifest.threshold,
        threshold_q=manifest.threshold_q,
        phrases=len(inscope),
        oos_phrases=len(oos_texts),
        int8_accuracy=gate.accuracy if inscope else None,
        accuracy_at_threshold=gate.accuracy_at_threshold if inscope else None,
        escalation_rate=1.0 - gate.local_rate if inscope else None,
        oos_recall=gate.oos_recall,
        per_intent=per_intent,
        unknown_intents=tuple(unknown),
        too_long=len(long_rows),
        trained=_trained_figures(manifest.metrics),
        warnings=tuple(warnings),
        seconds=time.perf_counter() - start,
        label_thresholds=manifest.label_thresholds,
        trained_dataset_differs=_dataset_differs(
            manifest.metrics,
            dataset.source,
            config.data,
            config.split,
            (len(inscope), len(oos_texts)),
        ),
    )


def format_eval(result: EvalResult) -> str:
    """The summary ``tinyslm eval`` prints: train's figures, then the weakest intents."""
    from tinyslm.terminal import printable

    t = result.trained
    # Train's shares as the counts they were measured from, as this table's own
    # (report_data.counted_metrics: a stored 5-decimal share can round the other way).
    from tinyslm.report_data import counted_metrics

    t = counted_metrics(t)
    # Train's figures are of its own split (test): beside another split's a bare
    # '(train: ...)' read as that split's, so the tag names it (as keyword eval does);
    # beside another dataset's, the tag names train's dataset too.
    theirs = f"{trained_split(t, 'eval_split')} split"
    if result.trained_same_split:
        tag = "train"
    elif result.trained_same_dataset:
        tag = f"train, {theirs}"
    else:
        tag = f"train, {t.get('dataset', '?')} {theirs}"

    def pct(value: float | None) -> str:
        return "n/a" if value is None or not math.isfinite(value) else f"{value * 100:.2f}%"

    def was(key: str) -> str:
        # A manifest's NaN (null in --json) reads n/a, never nan%.
        value = t.get(key)
        return "" if not isinstance(value, int | float) else f"  ({tag}: {pct(value)})"

    oos = (
        "n/a (no out-of-scope phrases)"
        if result.oos_recall is None
        else f"{pct(result.oos_recall)} of {result.oos_phrases}"
    )
    rows = [
        ("dataset", f"{result.source}, split {result.split}"),
        ("phrases", f"{result.phrases} in-scope, {result.oos_phrases} out-of-scope"),
        ("int8 accuracy (TFLM)", pct(result.int8_accuracy) + was("int8_accuracy")),
        (
            "int8 accuracy at threshold",
            pct(result.accuracy_at_threshold) + was("int8_accuracy_at_threshold"),
        ),
        ("escalation rate", pct(result.escalation_rate) + was("escalation_rate")),
        ("out-of-scope recall", oos + (was("oos_recall") if result.oos_recall is not None else "")),
        (
            "threshold",
            f"{threshold_text(result.threshold)} (q={result.threshold_q}, from the manifest)",
        ),
        ("model bytes", f"{result.model_bytes} ({result.model_bytes / 1024:.1f} KiB)"),
        ("arena bytes", f"{result.arena_bytes} ({result.arena_bytes / 1024:.1f} KiB)"),
        ("wall time", f"{result.seconds:.1f} s"),
    ]
    own = label_thresholds_text(result.label_thresholds)
    if own is not None:
        # Applied in the figures above: a project's --label-threshold levels.
        rows.insert(6, ("label thresholds", own))
    if "dataset" in t:
        where = f"{t['dataset']}, split {t.get('eval_split', '?')}"
        if result.trained_dataset_differs is not None:
            where += f" ({result.trained_dataset_differs})"
        elif not result.trained_same_split:
            scored = (
                "every phrase, all splits,"
                if result.split == "all"
                else f"the {result.split} split"
            )
            where += f" (not {scored} scored here)"
        rows.append(("train figures from", where))
    weak = sorted((f for f in result.per_intent if f.correct < f.phrases), key=lambda f: f.recall)
    width = max(len(key) for key, _ in rows)
    # Label and file names go to the terminal escaped, as info shows them: a line break,
    # an ESC or C1 control or a bidi override in one would break or reprogram it.
    lines = [f"{key.ljust(width)}  {printable(value)}" for key, value in rows]
    if weak:
        lines.append(f"weakest intents ({len(weak)} below 100%; --json lists every intent):")
        shown = [(printable(f.label), f) for f in weak[:WEAKEST_SHOWN]]
        pad = max(len(name) for name, _ in shown)
        lines += [
            f"  {name.ljust(pad)}  {f.correct}/{f.phrases} ({f.recall * 100:.0f}%)"
            for name, f in shown
        ]
    return "\n".join(lines)
