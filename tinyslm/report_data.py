"""The figures behind ``report.html``, measured on TFLM and kept in ``report.json``.

``tinyslm train`` computes them once, from the INT8 model and the held-out split,
and writes them next to the model, so that ``tinyslm report`` needs no dataset.
Everything integer runs on TFLM (:func:`tinyslm.tflm_runtime.tflm_scores`) and goes
through the device's own gate (:mod:`tinyslm.decision`), so the plots show what
the firmware does, not what Keras does.

What it holds:

- the confusion matrix of the INT8 top-1 on the held-out split (rows: truth);
- the most confused pairs with a few of their phrases;
- the threshold curve: for every int8 level, accuracy at the threshold, the
  share of in-scope phrases escalated and the out-of-scope recall;
- the size breakdown of the flatbuffer (bytes per constant tensor, per layer);
- the training history (loss and accuracy per epoch).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tinyslm.errors import DatasetError, ModelError, one_line, tell
from tinyslm.metrics import MAX_COUNT

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
# ReportData.eval_split of a --data file measured whole (its in-scope phrases have no
# test or val split), as 'tinyslm eval --split all' names it.
WHOLE_FILE = "all"
# 1: first version; a report.json of another version is recomputed, not trusted.
FORMAT_VERSION = 1
# The splits a report.json is measured on: training's held-out split (test, else val,
# else train) or a --data file measured whole.
SPLITS = ("test", "val", "train", WHOLE_FILE)
# Confused pairs listed in the report, and phrases shown per pair.
TOP_PAIRS = 8
EXAMPLES_PER_PAIR = 3
# A manifest stores its shares rounded to 5 decimals (round(x, 5)): 78 of 95 clips is
# 0.82105, which a percentage of 2 decimals reads 82.10% (0.82105 * 100 is 82.10499...)
# where eval, from the count itself, says 82.11%.
STORED_DECIMALS = 5


def as_whole(value: object) -> int | None:
    """``value`` as a count (a JSON integer, not a switch), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def counted_share(value: object, n: object, count: object = None) -> float | None:
    """A stored share as the count it was measured from: ``count / n``, where ``count``
    is given, or the whole count nearest ``value * n``. So one measurement shows as one
    number wherever it is printed (eval's, computed from the count, and the manifest's
    rounded figure both read 82.11% for 78 of 95).

    The stored ``value`` is kept (a non-number is None) when ``n`` is no count, or when
    the count does not round to it: a manifest edited by hand, or figures of other
    examples, are shown as they are rather than replaced by a guess.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    total, counted = as_whole(n), as_whole(count)
    if total is None or total <= 0 or not np.isfinite(value):
        return float(value)
    share = (counted if counted is not None else round(value * total)) / total
    # round(x, 5) is within half a unit of the 5th decimal of x (and a hair of float error).
    return share if abs(share - value) <= 0.5 * 10**-STORED_DECIMALS + 1e-12 else float(value)


# Each stored share (besides float and INT8 accuracy, whose count is the modality's) and
# the count it is a share of: verify.py measures agreement and the gate over the n_eval
# in-scope phrases and the out-of-scope recall over n_oos_eval; eval's escalation_rate is
# 1 - local_rate; a keyword model's false rejections are of its keyword_clips. (The
# teacher's accuracy, of the n_train training phrases, has one reader, the report's
# teacher row, which counts it itself: report.teacher_text.)
SHARE_OF = {
    "agreement": "n_eval",
    "int8_accuracy_at_threshold": "n_eval",
    "local_rate": "n_eval",
    "escalation_rate": "n_eval",
    "oos_recall": "n_oos_eval",
    "false_rejection_rate": "keyword_clips",
    # The val split's figures (a keyword model's float one; a text model's float and INT8).
    "val_accuracy": "n_val",
    "val_int8_accuracy": "n_val",
}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _past_double(value: object) -> bool:
    """A JSON integer a double cannot hold (10**400): float() raises OverflowError on it."""
    return _number(value) and isinstance(value, int) and abs(value) > sys.float_info.max


def _shown(value: object) -> str:
    """``value`` as a refusal names it: an integer past a double's range by its size
    (its hundreds of digits made the one-line message a paragraph)."""
    if _past_double(value):
        assert isinstance(value, int)
        # Counted exactly (a log10 rounds 10**400 - 1 up to 401 digits); text of more
        # digits than Python converts (json.loads refuses them too) raises ValueError.
        try:
            digits = str(len(str(abs(value))))
        except ValueError:
            digits = f"over {sys.get_int_max_str_digits()}"
        return f"an integer of {digits} digits, past a double's range"
    return repr(value)


def _correct_clips(metrics: Mapping[str, Any], n: object) -> int | None:
    """A keyword model's right INT8 clips: its confusion matrix's diagonal, where the
    matrix counts the ``n`` clips its accuracies are of (else None)."""
    confusion = metrics.get("confusion")
    if "n_test" not in metrics or not isinstance(confusion, list) or not confusion:
        return None
    try:
        m = np.asarray(confusion, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        return None
    if m.ndim != 2 or m.shape[0] != m.shape[1] or int(m.sum()) != n:
        return None
    return int(np.trace(m))


def _counted_pair(pair: object) -> object:
    """A keyword ``per_class`` entry ``[accuracy, clips]`` with its accuracy as the count
    of clips it was measured from; any other entry as it is."""
    if not (isinstance(pair, list) and len(pair) == 2 and _number(pair[0])):
        return pair
    return [counted_share(pair[0], pair[1]), pair[1]]


def counted_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """``metrics`` with every stored share that has a count replaced by that count's
    figure (:func:`counted_share`), so that one measurement shows as one number wherever
    it is printed: float and INT8 accuracy (a keyword model's INT8 one is its confusion
    matrix's diagonal over its ``n_test`` clips; a text model's are over ``n_eval``), the
    shares of :data:`SHARE_OF` and each keyword label's ``per_class`` accuracy.

    For printing only: what manifest.json and report.json store is never changed. A
    non-number (null) and a share its count does not round back to stay as they are.
    """
    out = dict(metrics)
    n: object = metrics.get("n_eval", metrics.get("n_test"))
    counts: dict[str, tuple[object, object]] = {
        "float_accuracy": (n, None),
        "int8_accuracy": (n, _correct_clips(metrics, n)),
        **{key: (metrics.get(of), None) for key, of in SHARE_OF.items()},
    }
    for key, (total, correct) in counts.items():
        if _number(metrics.get(key)):
            out[key] = counted_share(metrics[key], total, correct)
    per_class = metrics.get("per_class")
    if isinstance(per_class, dict):
        out["per_class"] = {label: _counted_pair(pair) for label, pair in per_class.items()}
    return out


def val_figures_text(metrics: Mapping[str, Any]) -> str | None:
    """A text model's val split figures as train's summary, ``info`` and the report show
    them: ``95.71% / 96.43% of 140 phrases`` (in-scope accuracy, float / INT8 on TFLM,
    from their count). ``None`` where training recorded none (no val split; a model from
    before round 56) or where the held-out split is val itself, whose rows already show
    them. No count where the manifest has none (hand-edited), rather than ``of ?``."""
    if metrics.get("eval_split", "test") == "val" or not _number(metrics.get("val_int8_accuracy")):
        return None
    counted = counted_metrics(metrics)

    def percent(value: object) -> str:
        # Non-finite (NaN: nothing measured) or absent is n/a, as everywhere else.
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return f"{value * 100:.2f}%"
        return "n/a"

    n = metrics.get("n_val")
    return f"{percent(counted.get('val_accuracy'))} / {percent(counted['val_int8_accuracy'])}" + (
        f" of {n} phrases" if isinstance(n, int) and not isinstance(n, bool) else ""
    )


@dataclass(frozen=True)
class ConfusedPair:
    """Held-out phrases of intent ``true`` that the model answered ``predicted``.

    Attributes:
        true, predicted: intent names.
        count: how many phrases.
        examples: up to :data:`EXAMPLES_PER_PAIR` of them, in dataset order.
    """

    true: str
    predicted: str
    count: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class ThresholdPoint:
    """The gate at one int8 level (see :func:`tinyslm.verify.gate_metrics`).

    Attributes:
        q: the int8 level (a phrase is local when its top score is >= q).
        threshold: its confidence (dequantized, as the device computes it).
        accuracy_at_threshold: in-scope phrases right AND local (``None`` without any:
            a split of out-of-scope phrases only read 0.00% and drew a line at 0).
        escalation_rate: in-scope phrases escalated (``None`` without any).
        oos_recall: out-of-scope phrases escalated (``None`` without any).
    """

    q: int
    threshold: float
    accuracy_at_threshold: float | None
    escalation_rate: float | None
    oos_recall: float | None


@dataclass(frozen=True)
class TensorSize:
    """One constant tensor of the flatbuffer (it lives in flash).

    Attributes:
        layer: the Keras layer it belongs to (``embed``, ``hidden``...), else the op.
        op: the TFLM op that reads it.
        role: ``table``, ``weights``, ``bias`` or ``axis``.
        shape: its shape.
        dtype: its element type (``INT8``, ``INT32``).
        bytes: bytes of data.
    """

    layer: str
    op: str
    role: str
    shape: tuple[int, ...]
    dtype: str
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        """Its ``report.json`` entry (text and keyword reports)."""
        return {
            "layer": self.layer,
            "op": self.op,
            "role": self.role,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "bytes": self.bytes,
        }

    @classmethod
    def from_dict(cls, t: Mapping[str, Any]) -> TensorSize:
        """Read back :meth:`to_dict` (KeyError, TypeError, ValueError when malformed:
        a size of 10**30 ended in numpy's OverflowError on the page)."""
        return cls(
            _text(t["layer"], "a tensor's layer"),
            _text(t["op"], "a tensor's op"),
            _text(t["role"], "a tensor's role"),
            tuple(_count(s, "a tensor's shape") for s in read_list(t["shape"], "a tensor's shape")),
            _text(t["dtype"], "a tensor's dtype"),
            _count(t["bytes"], "a tensor's bytes"),
        )


@dataclass(frozen=True)
class ReportData:
    """Everything ``report.html`` plots besides the manifest's own fields.

    Attributes:
        model_sha256: the model these figures belong to.
        eval_split: the held-out split measured (``test``, else ``val``).
        labels: intent names (confusion matrix order).
        confusion: ``confusion[t][p]``: phrases of intent t answered p (INT8 top-1).
        n_oos: out-of-scope phrases measured.
        pairs: the most confused pairs, most first.
        curve: one point per int8 level, -128 to 127.
        tensors: the flatbuffer's constant tensors in operator order.
        history: per-epoch Keras figures (``loss``, ``accuracy``, ``val_accuracy``...);
            empty when the model came without them.
        own_gate: the gate as the firmware runs it when labels have thresholds of
            their own (each phrase against its top label's level; ``q`` and
            ``threshold`` are the level every other label keeps); ``None`` without.
        oos_top1: per intent, the out-of-scope phrases whose top-1 it is (what they
            are answered when the gate is ignored); ``None`` in a ``report.json``
            written before tinyslm counted them.
    """

    model_sha256: str
    eval_split: str
    labels: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    n_oos: int
    pairs: tuple[ConfusedPair, ...]
    curve: tuple[ThresholdPoint, ...]
    tensors: tuple[TensorSize, ...]
    history: tuple[dict[str, float], ...] = ()
    own_gate: ThresholdPoint | None = None
    oos_top1: tuple[int, ...] | None = None

    def per_intent(self) -> list[tuple[str, float | None, float | None, int]]:
        """(intent, precision, recall, support) per intent; ``None`` where undefined.

        Precision counts every phrase whose top-1 is the intent, out-of-scope phrases
        included when known (:attr:`oos_top1`): with the gate ignored, an out-of-scope
        phrase answered ``lights_on`` turns the lights on, a false positive of it.
        """
        m = np.asarray(self.confusion, dtype=np.int64).reshape(len(self.labels), -1)
        oos = self.oos_top1 or (0,) * len(self.labels)
        rows = []
        for i, name in enumerate(self.labels):
            predicted, support = int(m[:, i].sum()) + int(oos[i]), int(m[i].sum())
            precision = float(m[i, i] / predicted) if predicted else None
            recall = float(m[i, i] / support) if support else None
            rows.append((name, precision, recall, support))
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "model_sha256": self.model_sha256,
            "eval_split": self.eval_split,
            "labels": list(self.labels),
            "confusion": [list(r) for r in self.confusion],
            "n_oos": self.n_oos,
            "pairs": [
                {
                    "true": p.true,
                    "predicted": p.predicted,
                    "count": p.count,
                    "examples": list(p.examples),
                }
                for p in self.pairs
            ],
            "curve": [_point_dict(c) for c in self.curve],
            "tensors": [t.to_dict() for t in self.tensors],
            "history": [{k: round(v, 6) for k, v in sorted(h.items())} for h in self.history],
            # Only a project's thresholds of its own give one: a model folder's report.json
            # keeps its bytes.
            **({"own_gate": _point_dict(self.own_gate)} if self.own_gate else {}),
            # Optional, as own_gate: a report.json without it stays readable.
            **({"oos_top1": list(self.oos_top1)} if self.oos_top1 is not None else {}),
        }

    def to_json_bytes(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_dict(
        cls,
        d: dict[str, Any],
        source: str = "report.json",
        model_labels: Sequence[str] | None = None,
    ) -> ReportData:
        """Parse :meth:`to_dict` output; where ``model_labels`` are given, the
        file's must be them, checked before its parts are checked against each other, so
        that a label renamed by hand is named as such.

        Raises:
            ModelError: another format version, a field is missing or malformed, its
                parts disagree, or its labels are not ``model_labels``.
        """
        version = d.get("format_version")
        if as_whole(version) != FORMAT_VERSION:
            raise ModelError(f"{source}: format_version {version!r} is not {FORMAT_VERSION}")
        # Each value as tinyslm writes it: str() and int() made a list of labels out of a
        # string's letters, a count out of 1.5 or "12", and NaN shares drawn into the
        # page ended in a traceback there (report.json is outside the content hash).
        try:
            labels = tuple(_text(x, "a label") for x in read_list(d["labels"], "labels"))
            data = cls(
                model_sha256=_text(d["model_sha256"], "model_sha256"),
                eval_split=_split(d["eval_split"]),
                labels=labels,
                confusion=tuple(
                    tuple(_count(v, "a confusion count") for v in read_list(row, "a confusion row"))
                    for row in read_list(d["confusion"], "confusion")
                ),
                n_oos=_count(d["n_oos"], "n_oos"),
                pairs=tuple(_pair(p) for p in read_list(d["pairs"], "pairs")),
                curve=tuple(_point(c) for c in read_list(d["curve"], "curve")),
                tensors=tuple(TensorSize.from_dict(t) for t in read_list(d["tensors"], "tensors")),
                history=tuple(read_epoch(h) for h in read_list(d.get("history", []), "history")),
                own_gate=_point(d["own_gate"]) if d.get("own_gate") is not None else None,
                oos_top1=(
                    tuple(
                        _count(v, "an oos_top1 count") for v in read_list(d["oos_top1"], "oos_top1")
                    )
                    if d.get("oos_top1") is not None
                    else None
                ),
            )
        except _Malformed as exc:
            raise ModelError(f"{source}: malformed ({exc})") from None
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise ModelError(f"{source}: malformed ({type(exc).__name__}: {exc})") from None
        if model_labels is not None and data.labels != tuple(model_labels):
            # The sha covers the model, not the names: an edited list put one intent's
            # figures under another's name.
            raise ModelError(f"{source}: {_labels_differ(data.labels, model_labels)}")
        why = _inconsistent(data)
        if why is not None:
            raise ModelError(f"{source}: malformed ({why})")
        return data

    @property
    def n_in_scope(self) -> int:
        """In-scope phrases measured."""
        return sum(map(sum, self.confusion))

    def point_at(self, q: int) -> ThresholdPoint | None:
        """The curve's point at level ``q`` (``None`` off the curve)."""
        return next((p for p in self.curve if p.q == q), None)


def _share_out(value: float | None) -> float | None:
    return None if value is None else round(value, 5)


def _point_dict(c: ThresholdPoint) -> dict[str, Any]:
    return {
        "q": c.q,
        "threshold": round(c.threshold, 6),
        "accuracy_at_threshold": _share_out(c.accuracy_at_threshold),
        "escalation_rate": _share_out(c.escalation_rate),
        "oos_recall": _share_out(c.oos_recall),
    }


def _point(c: object) -> ThresholdPoint:
    if not isinstance(c, dict):
        raise _Malformed(f"a curve point must be a JSON object, got {c!r}")
    q = read_level(c["q"], "a curve point's q")
    threshold = c["threshold"]
    # Compared as it is: float() of a 400-digit integer raised OverflowError.
    if not _number(threshold) or not 0 <= threshold <= 1:
        raise _Malformed(
            f"the threshold at q={q} must be a number in [0, 1], got {_shown(threshold)}"
        )
    return ThresholdPoint(
        q,
        float(threshold),
        *(
            read_share(c[key], f"{key} at q={q}")
            for key in ("accuracy_at_threshold", "escalation_rate", "oos_recall")
        ),
    )


class _Malformed(ValueError):
    """A report.json value that is not what tinyslm writes (text or keyword); its message
    names it."""


# The readers below check one value each as tinyslm writes it; the text reader
# (ReportData.from_dict) and the keyword one (audio.report) share them.


def read_level(value: object, what: str) -> int:
    """An int8 level: a JSON integer (not a switch) from -128 to 127."""
    if isinstance(value, bool) or not isinstance(value, int) or not -128 <= value <= 127:
        raise _Malformed(f"{what} must be an int8 level (-128 to 127), got {_shown(value)}")
    return value


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise _Malformed(
            f"{what} must be a whole number from 0 to {MAX_COUNT}, got {_shown(value)}"
        )
    return value


def read_share(value: object, what: str) -> float | None:
    """A share in [0, 1], or null (nothing measured); NaN is neither."""
    return None if value is None else read_fraction(value, what, " or null")


def read_fraction(value: object, what: str, or_else: str = "") -> float:
    """A share in [0, 1] (NaN is none); ``or_else`` names what else the caller takes."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise _Malformed(f"{what} must be a share in [0, 1]{or_else}, got {_shown(value)}")
    return float(value)


def read_rate(value: object, what: str) -> float:
    """A rate (false accepts per hour): a finite number, 0 or more."""
    # Up to a double's largest, not infinity: float() of a 400-digit integer (below
    # infinity) raised OverflowError.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= sys.float_info.max
    ):
        raise _Malformed(f"{what} must be a finite number of 0 or more, got {_shown(value)}")
    return float(value)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise _Malformed(f"{what} must be a string, got {value!r}")
    return value


def read_list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _Malformed(f"{what} must be a JSON list, got {type(value).__name__}")
    return value


def _split(value: object) -> str:
    if value not in SPLITS:
        raise _Malformed(f"eval_split must be one of {', '.join(SPLITS)}, got {value!r}")
    return str(value)


def _pair(p: object) -> ConfusedPair:
    if not isinstance(p, dict):
        raise _Malformed(f"a confused pair must be a JSON object, got {p!r}")
    return ConfusedPair(
        _text(p["true"], "a pair's true intent"),
        _text(p["predicted"], "a pair's predicted intent"),
        _count(p["count"], "a pair's count"),
        tuple(_text(e, "a pair's example") for e in read_list(p["examples"], "a pair's examples")),
    )


def read_epoch(h: object) -> dict[str, float]:
    """One epoch of the training history: names and numbers (NaN and infinity too: a
    diverged training logs them, and the curves leave such points out)."""
    if not isinstance(h, dict) or not h:
        # An epoch without a figure is none train logs (the plot warned on stderr).
        raise _Malformed(f"a history epoch must be a JSON object of figures, got {h!r}")
    for key, value in h.items():
        # A double (NaN and infinity too): float() of a 400-digit integer raised
        # OverflowError.
        if not _number(value) or _past_double(value):
            raise _Malformed(f"history {key!r} must be a number, got {_shown(value)}")
    return {str(k): float(v) for k, v in h.items()}


def _inconsistent(data: ReportData) -> str | None:
    """Why ``data``'s parts cannot be drawn together (an edit), else None.

    Every file tinyslm writes agrees with itself: its out-of-scope top-1 counts sum to
    ``n_oos`` (one per phrase), and each pair is an off-diagonal cell of the confusion
    matrix, named by its labels, with that cell's count. The labels themselves are checked
    against the model's first (:meth:`ReportData.from_dict`), naming the first that
    differs: a label renamed by hand is said as that, not as a pair of no label.
    """
    n = len(data.labels)
    # per_intent and the heatmap index the matrix by label: a hand-edited shape
    # failed there, in numpy, instead of here.
    if not n or len(data.confusion) != n or any(len(row) != n for row in data.confusion):
        return f"confusion must be {n} rows of {n} counts, one per label"
    if data.oos_top1 is not None and len(data.oos_top1) != n:
        return f"oos_top1 must be {n} counts, one per label"
    if data.oos_top1 is not None and sum(data.oos_top1) != data.n_oos:
        # The page says 'N of n_oos passed the gate' from the curve and n_oos: an edited
        # n_oos of 999999 read '50000 of 999999' where 1 of 20 had.
        return f"oos_top1 counts {sum(data.oos_top1)} out-of-scope phrases, n_oos {data.n_oos}"
    levels = [p.q for p in data.curve]
    if len(set(levels)) != len(levels):
        return "the curve has two points at one level"
    index = {label: i for i, label in enumerate(data.labels)}
    for p in data.pairs:
        t, q = index.get(p.true), index.get(p.predicted)
        if t is None or q is None or t == q or data.confusion[t][q] != p.count:
            # The table listed an intent that is no label, or a count its cell lacks.
            return (
                f"pair {p.true!r} -> {p.predicted!r} ({p.count}) is not an off-diagonal "
                "cell of the confusion matrix"
            )
        if len(p.examples) > p.count:
            return f"pair {p.true!r} -> {p.predicted!r} shows more examples than its count"
    return None


def load_report_data(path: Path, model_labels: Sequence[str] | None = None) -> ReportData:
    """Read ``report.json`` (of a model of ``model_labels``, where given).

    Raises:
        ModelError: unreadable, not JSON, malformed, or of other labels.
    """
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ModelError(f"{path}: unreadable: {exc}") from None
    if not isinstance(raw, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return ReportData.from_dict(raw, str(path), model_labels)


# Input positions of the constant tensors each op reads, and what they are.
_ROLES = {
    "GATHER": {0: "table"},
    "FULLY_CONNECTED": {1: "weights", 2: "bias"},
    "CONV_2D": {1: "weights", 2: "bias"},
    "DEPTHWISE_CONV_2D": {1: "weights", 2: "bias"},
    "MEAN": {1: "axis"},
}
# "tinyslm_b1_1/hidden_1/MatMul" -> "hidden": the Keras layer, without Keras' _1 suffix.
_LAYER = re.compile(r"^[^/;]+/([^/;]+?)(?:_\d+)?/")


def tensor_sizes(model_bytes: bytes) -> tuple[TensorSize, ...]:
    """The constant tensors of subgraph 0, in operator order, with their bytes.

    Raises:
        ModelError: not a TFLite flatbuffer.
    """
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    def names(enum_cls: Any) -> dict[int, str]:
        return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_")}

    ops, types = names(schema.BuiltinOperator), names(schema.TensorType)
    try:
        model = schema.Model.GetRootAsModel(bytearray(model_bytes), 0)
        sub = model.Subgraphs(0)
    except Exception as exc:  # flatbuffers raises assorted errors on garbage
        raise ModelError(f"not a TFLite flatbuffer: {exc}") from exc
    seen: set[int] = set()
    out: list[TensorSize] = []
    for o in range(sub.OperatorsLength()):
        op = sub.Operators(o)
        code = model.OperatorCodes(op.OpcodeIndex())
        op_name = ops.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
        for pos in range(op.InputsLength()):
            index = op.Inputs(pos)
            if index < 0 or index in seen:
                continue
            tensor = sub.Tensors(index)
            size = model.Buffers(tensor.Buffer()).DataLength()
            if not size:
                continue  # an activation: it lives in the arena, not in flash
            seen.add(index)
            name = (tensor.Name() or b"").decode("utf-8", "replace")
            m = _LAYER.match(name)
            out.append(
                TensorSize(
                    # A keyword model has no tensor names (flatbuffer.compact):
                    # the op and its place tell its layers apart.
                    layer=m.group(1) if m else f"{op_name.lower()} {o}",
                    op=op_name,
                    role=_ROLES.get(op_name, {}).get(pos, f"input {pos}"),
                    shape=tuple(int(tensor.Shape(i)) for i in range(tensor.ShapeLength())),
                    dtype=types.get(tensor.Type(), str(tensor.Type())),
                    bytes=int(size),
                )
            )
    return tuple(out)


def compute_report_data(
    model_bytes: bytes,
    manifest: Any,
    texts: Sequence[str],
    labels: Sequence[str],
    oos_texts: Sequence[str],
    *,
    eval_split: str,
    history: Sequence[dict[str, float]] = (),
) -> ReportData:
    """Score the held-out phrases on TFLM and derive everything the report plots.

    Args:
        model_bytes: the INT8 flatbuffer.
        manifest: its :class:`tinyslm.manifest.Manifest` (features, labels, quantization,
            arena).
        texts, labels: held-out in-scope phrases and their intents.
        oos_texts: held-out out-of-scope phrases (may be empty).
        eval_split: the split's name, for the record.
        history: per-epoch Keras figures, when known.

    Raises:
        DatasetError: a label is not one of the model's.
        ModelError: TFLM cannot run the model.
    """
    from tinyslm.decision import dequantize
    from tinyslm.manifest import sha256_hex
    from tinyslm.text.features import encode
    from tinyslm.text.train import label_indices
    from tinyslm.tflm_runtime import tflm_scores
    from tinyslm.verify import gate_metrics

    k = len(manifest.labels)
    truth = label_indices(manifest.labels, list(labels))

    def scores(rows: Sequence[str]) -> npt.NDArray[np.int8]:
        if not rows:
            return np.zeros((0, k), dtype=np.int8)
        return tflm_scores(model_bytes, encode(list(rows), manifest.features), manifest.arena_bytes)

    in_scores = scores(texts).reshape(-1, k)
    oos_scores = scores(oos_texts).reshape(-1, k)
    predicted = np.argmax(in_scores, axis=1) if len(in_scores) else np.zeros(0, np.int64)
    # Out-of-scope phrases have no column: their top-1 is counted apart, per intent.
    oos_top1 = np.bincount(np.argmax(oos_scores, axis=1), minlength=k) if len(oos_scores) else None
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)

    off = confusion.copy()
    np.fill_diagonal(off, 0)
    # Most phrases first; ties in label order, so the list is stable.
    order = sorted(
        ((int(off[t, p]), t, p) for t, p in zip(*np.nonzero(off), strict=True)),
        key=lambda c: (-c[0], c[1], c[2]),
    )[:TOP_PAIRS]
    pairs = []
    for count, t, p in order:
        hits = np.nonzero((truth == t) & (predicted == p))[0][:EXAMPLES_PER_PAIR]
        pairs.append(
            ConfusedPair(
                manifest.labels[t], manifest.labels[p], count, tuple(texts[i] for i in hits)
            )
        )

    quant = manifest.output_quant

    def point(q: int, levels: int | Sequence[int]) -> ThresholdPoint:
        gate = gate_metrics(in_scores, truth, oos_scores, levels)
        # Without in-scope phrases neither share exists: None (n/a, no curve), not 0.
        inscope = bool(len(truth))
        return ThresholdPoint(
            q=q,
            threshold=dequantize(q, quant.scale, quant.zero_point),
            accuracy_at_threshold=gate.accuracy_at_threshold if inscope else None,
            escalation_rate=1.0 - gate.local_rate if inscope else None,
            oos_recall=gate.oos_recall,
        )

    curve = [point(q, q) for q in range(-128, 128)]
    # The curve moves one level for every label; labels with levels of their own are
    # gated as the firmware gates them, at the project's point only.
    own = manifest.own_levels_q()
    own_gate = point(manifest.threshold_q, own) if own else None
    measured = ReportData(
        model_sha256=sha256_hex(model_bytes),
        eval_split=eval_split,
        labels=tuple(manifest.labels),
        confusion=tuple(tuple(int(v) for v in row) for row in confusion),
        n_oos=len(oos_texts),
        pairs=tuple(pairs),
        curve=tuple(curve),
        tensors=tensor_sizes(model_bytes),
        history=tuple(dict(h) for h in history),
        own_gate=own_gate,
        oos_top1=tuple(int(v) for v in oos_top1) if oos_top1 is not None else (0,) * k,
    )
    # Rounded as report.json stores them, so a page drawn from the file is the same page.
    return ReportData.from_dict(json.loads(measured.to_json_bytes()))


def report_data_from_dataset(
    model_bytes: bytes, manifest: Any, data: Path, history: Sequence[dict[str, float]] = ()
) -> ReportData:
    """:func:`compute_report_data` on a dataset file, split with the model's seed.

    The held-out split is chosen as ``tinyslm train`` chose it: test, else val, else
    train. A file whose in-scope phrases have no test or val split is measured whole
    (:data:`WHOLE_FILE`): its out-of-scope phrases carved into val and test were left
    out of a 'train split' that the page said was all the file had.
    The file is read with ``eval``'s rules, not training's (a file of one phrase per
    intent measures a model), and every message names ``--data``.

    Raises:
        DatasetError: the dataset is unusable or has intents the model lacks.
        ModelError: TFLM cannot run the model.
    """
    from tinyslm.text.dataset import load_dataset

    try:
        dataset = load_dataset(data, seed=manifest.seed, for_training=False)
    except DatasetError as exc:
        raise DatasetError(f"--data {exc}") from None
    split = "test" if dataset.test else ("val" if dataset.val else "train")
    rows = {"test": dataset.test, "val": dataset.val, "train": dataset.train}[split]
    oos = {"test": dataset.oos_test, "val": dataset.oos_val, "train": dataset.oos_train}[split]
    if split == "train" and (dataset.oos_val or dataset.oos_test):
        # The in-scope phrases are all in train (none held out): every phrase is measured.
        split = WHOLE_FILE
        oos = (*dataset.oos_train, *dataset.oos_val, *dataset.oos_test)
    # The confusion matrix has a row per model intent only: a phrase of another intent
    # has no place in it, so the file is refused rather than measured in part.
    unknown = sorted({e.label for e in rows} - set(manifest.labels))
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise DatasetError(
            f"--data {data}: intent(s) {shown} of "
            + ("it" if split == WHOLE_FILE else f"its {split} split")
            + " are not among the "
            f"model's {len(manifest.labels)} intents; give the dataset the model was trained on"
        )
    return compute_report_data(
        model_bytes,
        manifest,
        [e.text for e in rows],
        [e.label for e in rows],
        list(oos),
        eval_split=split,
        history=history,
    )


def text_report_page(
    path: Path, manifest: Any, model: bytes, stored: Path | None, data: Path | None
) -> tuple[str, str]:
    """``report.html`` of a text model and where its figures came from.

    The figures come from ``stored`` (a model folder's ``report.json``) or are measured
    on TFLM from ``data``'s held-out split; ``stored`` is ``None`` for a project.

    Raises:
        ModelError: no figures, or ``stored`` belongs to another model.
        DatasetError: ``data`` is unusable or has intents the model lacks.
    """
    from tinyslm.boards import load_boards
    from tinyslm.report import render_report

    recorded = None
    set_aside = None  # why a folder's report.json was not used (with --data)
    if stored is not None and stored.is_file():
        try:
            recorded = load_report_data(stored, manifest.labels)
            if recorded.model_sha256 != manifest.model_sha256:
                raise ModelError(f"{stored} belongs to another model (its model_sha256 differs)")
            if recorded.own_gate is not None and not manifest.own_levels_q():
                # Only a project's labels' own thresholds give one: drawn from a model
                # folder's file, the page showed a row 'at its own thresholds' the model
                # has none of.
                raise ModelError(
                    f"{stored}: it holds figures at labels' own thresholds (own_gate), and "
                    "the model has none"
                )
        except ModelError as exc:
            if data is None:
                # Said what to do, as the refusal of a folder without report.json says it.
                raise ModelError(
                    f"{exc}; give {_data_hint(manifest)} to measure the figures again"
                ) from None
            # --data measures everything again; only the training curves are lost, and
            # the page and stderr say why (the page said the model was trained without
            # them, of a report.json that holds them).
            recorded, set_aside = None, str(exc)
    if data is not None:
        # The training curves exist only in report.json; the rest is measured again.
        history = recorded.history if recorded is not None else ()
        figures = report_data_from_dataset(model, manifest, data, history)
        source = str(data)
        if set_aside is not None:
            tell(
                f"{set_aside}: set aside; every figure is measured on --data, and the page "
                f"has no training curves (only {REPORT_JSON} keeps them)",
                "note",
            )
    elif recorded is not None:
        figures, source = recorded, str(stored)
    else:
        why = (
            "a project holds no report figures"
            if stored is None
            # The manifest does not record --no-report; a model from before report.json
            # existed has none either, and nothing tells the two apart.
            else f"no {REPORT_JSON} (the model was trained with --no-report, or before "
            "tinyslm wrote one)"
        )
        raise ModelError(
            f"{path}: {why}: the confusion matrix and threshold curve need the held-out "
            f"phrases; give {_data_hint(manifest)} to measure them"
        )
    no_history = (
        "A project does not carry the training curves: 'tinyslm report' on the model "
        "folder it was generated from draws them."
        if stored is None
        else f"The training curves were not drawn: they are kept only in {REPORT_JSON}, "
        f"which was set aside: {set_aside}."
        if set_aside is not None
        else None
    )
    page = render_report(
        manifest,
        figures,
        load_boards(),
        no_history=no_history,
        measured_on=None if data is None else _shown_data(data),
    )
    return page, source


def _data_hint(manifest: Any) -> str:
    """The ``--data`` a refusal names: a model trained on the bundled demo set (generate
    without --model) has no file of the user's to name, and ``--data demo`` is that set."""
    from tinyslm.operating_point import DEMO_DATASET, trained_on_demo

    if trained_on_demo(manifest):
        return f"--data {DEMO_DATASET} (the bundled demo set the model was trained on)"
    return "--data DATASET (the file the model was trained on)"


def _shown_data(data: Path) -> str:
    """``--data`` as the page names it: the bundled set (``--data demo``) by the name the
    user gave, as the manifest and eval name it, not the install's absolute path. A byte
    of the path that is not UTF-8 is shown as the shell shows it (``\\xff``): the page is
    UTF-8, and a lone surrogate cannot be written in it."""
    from tinyslm.operating_point import DEMO_DATASET
    from tinyslm.text.dataset import demo_dataset_path

    return DEMO_DATASET if data == demo_dataset_path() else one_line(str(data))


def _labels_differ(theirs: Sequence[str], ours: Sequence[str]) -> str:
    """Why ``report.json``'s labels are not the manifest's, naming the first that differs."""
    for i, (a, b) in enumerate(zip(theirs, ours, strict=False)):
        if a != b:
            return (
                f"its labels are not the model's (label {i + 1} is {a!r}, the manifest's is {b!r})"
            )
    return (
        f"its labels are not the model's ({len(theirs)} labels against the manifest's {len(ours)})"
    )
