"""``report.html``: one self-contained page about a trained model, plots included.

The plots are drawn by matplotlib as SVG and put inline in the page, so it needs
no network, no script and no other file to be viewed. The page is deterministic:
same model and figures, same bytes (no dates, no paths; SVG ids are salted with
the plot's name rather than random).

Sections: summary, per-intent precision and recall, confusion heatmap with the
most confused pairs and their phrases, threshold curve, size breakdown (flash
per layer and tensor, arena, against every board's budget), training curves.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyslm.operating_point import trained_view
from tinyslm.report_data import ReportData, TensorSize

# Larger sets show only the intents that need attention, with the rest in a table.
MAX_BAR_INTENTS = 40
MAX_HEATMAP_INTENTS = 30
ANNOTATE_HEATMAP_MAX = 20

_BLUE, _ORANGE, _GREEN, _RED, _GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#222;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.2rem;
border-bottom:1px solid #ddd;padding-bottom:.2rem}
.banner{color:#666;font-size:.85rem;font-family:monospace}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}
figcaption{color:#555;font-size:.88rem;margin-top:.3rem}
.note{color:#555;font-size:.9rem}.bad{color:#b00}.ok{color:#070}
"""


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.2f}%"


def svg_element(fig: Any, name: str) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog), deterministic."""
    import matplotlib

    buf = io.StringIO()
    # Salted ids: stable across runs, and distinct between the page's figures.
    with matplotlib.rc_context({"svg.hashsalt": f"tinyslm-{name}", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    start = text.find("<svg")
    svg = text[start:]
    # Width and height in pt make the browser keep the figure's size; CSS scales it.
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", svg, count=1).strip()


def figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _precision_recall_svg(data: ReportData) -> tuple[str, str]:
    rows = data.per_intent()

    def key(r: tuple[str, float | None, float | None, int]) -> tuple[float, str]:
        p, rc = r[1] or 0.0, r[2] or 0.0
        f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
        return (f1, r[0])

    shown = sorted(rows, key=key)[:MAX_BAR_INTENTS]
    caption = (
        f"Precision and recall of every intent on the {data.eval_split} split (INT8 on TFLM, "
        "top-1, gate ignored), worst F1 at the top."
    )
    if len(rows) > len(shown):
        caption += f" The {len(shown)} lowest of {len(rows)} intents; all are in the table below."
    n = len(shown)
    fig = figure(9.5, max(2.4, 0.26 * n + 1.1))
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]
    prec = [r[1] if r[1] is not None else 0.0 for r in shown]
    rec = [r[2] if r[2] is not None else 0.0 for r in shown]
    ax.barh(y + 0.2, prec, height=0.4, color=_BLUE, label="precision")
    ax.barh(y - 0.2, rec, height=0.4, color=_ORANGE, label="recall")
    ax.set_yticks(y, [f"{r[0]} ({r[3]})" for r in shown], fontsize=8)
    ax.set_xlim(0, 1.0)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("share of phrases (support in brackets)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    return svg_element(fig, "precision-recall"), caption


def heatmap_svg(
    labels: Sequence[str],
    confusion: Sequence[Sequence[int]],
    eval_split: str,
    noun: str = "intent",
) -> tuple[str, str]:
    """The confusion heatmap (rows true ``noun``, columns answered) and its caption."""
    k = len(labels)
    m = np.asarray(confusion, dtype=np.int64).reshape(k, -1)
    idx = np.arange(k)
    caption = (
        f"Confusion matrix on the {eval_split} split: rows are the true {noun}, columns "
        "the INT8 model's answer; colour is the share of the row (a compressed scale, so "
        "that small confusions show)."
    )
    if k > MAX_HEATMAP_INTENTS:
        off = m.copy()
        np.fill_diagonal(off, 0)
        weight = off.sum(axis=0) + off.sum(axis=1)
        # The intents in most confusions, kept in label order.
        idx = np.sort(np.argsort(-weight, kind="stable")[:MAX_HEATMAP_INTENTS])
        caption += f" The {len(idx)} of {k} {noun}s involved in the most confusions."
    sub = m[np.ix_(idx, idx)]
    share = sub / np.maximum(m[idx].sum(axis=1, keepdims=True), 1)
    size = 2.2 + 0.27 * len(idx)
    fig = figure(size + 1.4, size)
    ax = fig.add_subplot()
    from matplotlib.colors import PowerNorm

    # A compressed scale: confusions of a few percent must stand out beside the diagonal.
    norm = PowerNorm(gamma=0.4, vmin=0.0, vmax=1.0)
    image = ax.imshow(share, cmap="Blues", norm=norm, interpolation="nearest")
    names = [labels[int(i)] for i in idx]
    ax.set_xticks(np.arange(len(idx)), names, rotation=90, fontsize=7)
    ax.set_yticks(np.arange(len(idx)), names, fontsize=7)
    ax.set_xlabel("answered")
    ax.set_ylabel(f"true {noun}")
    if len(idx) <= ANNOTATE_HEATMAP_MAX:
        for (r, c), count in np.ndenumerate(sub):
            if count:
                colour = "white" if share[r, c] > 0.3 else "black"
                ax.text(c, r, str(count), ha="center", va="center", fontsize=6, color=colour)
    fig.colorbar(image, ax=ax, shrink=0.7, label=f"share of the true {noun}'s examples")
    return svg_element(fig, "confusion"), caption


def _threshold_svg(
    data: ReportData, threshold: float, threshold_q: int, chosen_by: str
) -> tuple[str, str]:
    xs = [p.threshold for p in data.curve]
    fig = figure(9.5, 4.2)
    ax = fig.add_subplot()
    accuracy = [p.accuracy_at_threshold for p in data.curve]
    ax.plot(xs, accuracy, color=_BLUE, label="accuracy at threshold")
    ax.plot(xs, [p.escalation_rate for p in data.curve], color=_ORANGE, label="in-scope escalated")
    has_oos = any(p.oos_recall is not None for p in data.curve)
    if has_oos:
        ax.plot(
            xs,
            [p.oos_recall if p.oos_recall is not None else np.nan for p in data.curve],
            color=_GREEN,
            label="out-of-scope recall",
        )
    chosen_label = f"chosen {threshold:.3f}"
    ax.axvline(threshold, color=_RED, linestyle="--", linewidth=1.2, label=chosen_label)
    chosen = [p for p in data.curve if p.q == threshold_q]
    if chosen:
        point = chosen[0]
        marks = [point.accuracy_at_threshold, point.escalation_rate]
        if point.oos_recall is not None:
            marks.append(point.oos_recall)
        ax.plot([point.threshold] * len(marks), marks, "o", color=_RED, markersize=5)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("confidence threshold (top INT8 score, dequantized)")
    ax.set_ylabel("share")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    caption = (
        f"The confidence gate on the {data.eval_split} split at every INT8 level: accuracy at "
        "the threshold (right and answered locally), in-scope phrases escalated"
        + (", out-of-scope phrases escalated (recall)" if has_oos else "")
        + f". The threshold was {chosen_by}; the red line marks it."
    )
    if not has_oos:
        caption += " No out-of-scope phrases were held out, so there is no recall curve."
    return svg_element(fig, "threshold"), caption


def size_svg(
    tensors: Sequence[TensorSize], model_bytes: int, arena_bytes: int, boards: Sequence[Any]
) -> tuple[str, str]:
    """Flash per constant tensor, and model and arena against every board's budgets."""
    from tinyslm.emit.project import arena_size_for

    fig = figure(9.5, 3.0 + 0.32 * len(tensors) + 0.5 * len(boards))
    top, bottom = fig.subplots(2, 1, height_ratios=[len(tensors) + 1, 2 * len(boards) + 1])
    labels = [f"{t.layer} {t.role} {'x'.join(map(str, t.shape))} {t.dtype}" for t in tensors]
    sizes = [t.bytes for t in tensors]
    rest = model_bytes - sum(sizes)
    labels.append("graph, quantization, metadata")
    sizes.append(max(rest, 0))
    y = np.arange(len(sizes))[::-1]
    top.barh(y, sizes, color=[_BLUE] * (len(sizes) - 1) + [_GREY])
    top.set_yticks(y, labels, fontsize=8)
    for yy, s in zip(y, sizes, strict=True):
        top.text(s, yy, f" {s:,} B", va="center", fontsize=7)
    top.set_xlim(0, max(sizes) * 1.25 if sizes else 1)
    top.set_xlabel(f"bytes in flash (model {model_bytes:,} B)")
    top.grid(axis="x", alpha=0.3)

    arena = arena_size_for(arena_bytes)
    names, used = [], []
    for board in boards:
        names += [f"{board.id} model", f"{board.id} arena"]
        used += [model_bytes / board.model_budget_bytes, arena / board.arena_budget_bytes]
    yb = np.arange(len(names))[::-1]
    colours = [_RED if u > 1.0 else _GREEN for u in used]
    bottom.barh(yb, [u * 100 for u in used], color=colours)
    bottom.axvline(100, color="black", linewidth=1)
    bottom.set_yticks(yb, names, fontsize=8)
    for yy, u in zip(yb, used, strict=True):
        bottom.text(u * 100, yy, f" {u * 100:.1f}%", va="center", fontsize=7)
    bottom.set_xlim(0, max([*(u * 100 for u in used), 100.0]) * 1.2)
    bottom.set_xlabel("share of the board's budget (model: flash, arena: RAM)")
    bottom.grid(axis="x", alpha=0.3)
    caption = (
        "Top: what the model's bytes are, per layer and tensor (constant tensors are stored "
        "in flash; the rest is the flatbuffer's graph, quantization and metadata). Bottom: "
        f"the model and the firmware's arena ({arena:,} B: the {arena_bytes:,} B TFLM needs, "
        "plus the generator's margin) against each board's budgets (boards/*.yaml)."
    )
    return svg_element(fig, "size"), caption


def history_svg(history: Sequence[dict[str, float]]) -> tuple[str, str]:
    epochs = np.arange(1, len(history) + 1)
    fig = figure(9.5, 3.4)
    left, right = fig.subplots(1, 2)

    def series(key: str) -> list[float] | None:
        if not all(key in h for h in history):
            return None
        return [h[key] for h in history]

    for ax, metric, title in ((left, "loss", "loss"), (right, "accuracy", "accuracy")):
        train = series(metric)
        val = series(f"val_{metric}")
        if train is not None:
            ax.plot(epochs, train, color=_BLUE, marker=".", label="train")
        if val is not None:
            ax.plot(epochs, val, color=_ORANGE, marker=".", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    caption = (
        "Training curves (float model, Keras): loss and accuracy per epoch on the training "
        "split (with dropout and label smoothing active) and on the validation split."
    )
    return svg_element(fig, "history"), caption


def table_html(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    thead = f"<thead><tr>{head}</tr></thead>" if header else ""
    body = []
    for row in rows:
        cells = "".join(
            ('<td class="num">' if i in numeric else "<td>") + f"{html.escape(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table>{thead}<tbody>{''.join(body)}</tbody></table>"


def fig_html(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def render_report(
    manifest: Any, data: ReportData, boards: Sequence[Any], *, title: str | None = None
) -> str:
    """The HTML page for ``manifest`` (a :class:`tinyslm.manifest.Manifest`) and its figures.

    Args:
        manifest: the model's manifest.
        data: :class:`ReportData` for the same model.
        boards: :class:`tinyslm.boards.Board` objects to size the model against.
        title: page title (default: ``tinyslm model report``).
    """
    from tinyslm import __version__
    from tinyslm.emit.project import arena_size_for
    from tinyslm.verify import describe_rule

    mt = manifest.metrics
    name = title or "tinyslm model report"
    summary_rows = [
        ("intents", str(len(manifest.labels))),
        ("dataset", str(mt.get("dataset", "?"))),
        (
            f"float accuracy ({mt.get('eval_split', data.eval_split)})",
            pct(mt.get("float_accuracy")),
        ),
        ("INT8 accuracy (TFLM)", pct(mt.get("int8_accuracy"))),
        ("INT8 accuracy at threshold", pct(mt.get("int8_accuracy_at_threshold"))),
        ("out-of-scope recall", pct(mt.get("oos_recall"))),
        ("threshold", f"{manifest.threshold:.3f} (q={manifest.threshold_q})"),
        (
            "threshold rule",
            describe_rule(
                str(mt.get("threshold_rule", "")), str(mt.get("threshold_calibrated_on", "val"))
            ),
        ),
        (
            "model bytes (flash)",
            f"{manifest.model_bytes:,} ({manifest.model_bytes / 1024:.1f} KiB)",
        ),
        (
            "arena bytes (RAM)",
            f"{manifest.arena_bytes:,} measured on TFLM, "
            f"{arena_size_for(manifest.arena_bytes):,} in the firmware",
        ),
        ("ops", ", ".join(manifest.ops)),
        (
            "model",
            f"buckets {manifest.features.buckets}, seq_len {manifest.features.seq_len}, "
            + (
                f"{manifest.features.hashes} ids per n-gram, "
                if manifest.features.hashes != 1
                else ""
            )
            + f"dim {manifest.train_config.get('dim', '?')}, "
            f"hidden {manifest.train_config.get('hidden', '?')}, seed {manifest.seed}",
        ),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(name)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(name)}</h1>",
        f'<p class="banner">Generated by tinyslm {html.escape(__version__)}. Model sha256 '
        f"{html.escape(manifest.model_sha256)}. Figures: {data.eval_split} split, "
        f"{sum(map(sum, data.confusion))} in-scope and {data.n_oos} out-of-scope phrases, "
        "INT8 on TFLM.</p>",
        "<h2>Summary</h2>",
        table_html((), summary_rows, set()),
    ]

    parts.append("<h2>Per-intent precision and recall</h2>")
    parts.append(fig_html(*_precision_recall_svg(data)))
    rows = data.per_intent()
    table_rows = [
        (name_, pct(p), pct(r), str(n)) for name_, p, r, n in sorted(rows, key=lambda r: r[0])
    ]
    parts.append(
        f"<details><summary>All {len(rows)} intents</summary>"
        + table_html(("intent", "precision", "recall", "phrases"), table_rows, {1, 2, 3})
        + "</details>"
    )

    parts.append("<h2>Confusions</h2>")
    parts.append(fig_html(*heatmap_svg(data.labels, data.confusion, data.eval_split)))
    if data.pairs:
        parts.append("<p>The most confused pairs, with phrases the model got wrong:</p>")
        pair_rows = [
            (p.true, p.predicted, str(p.count), " | ".join(p.examples)) for p in data.pairs
        ]
        parts.append(table_html(("true intent", "answered", "phrases", "examples"), pair_rows, {2}))
    else:
        parts.append('<p class="note">No confusions: every held-out phrase was answered right.</p>')

    parts.append("<h2>Threshold</h2>")
    _, trained = trained_view(manifest)
    chosen_by = (
        f"set with generate --threshold{trained}"
        if trained
        else "calibrated on the validation split"
    )
    parts.append(
        fig_html(*_threshold_svg(data, manifest.threshold, manifest.threshold_q, chosen_by))
    )

    parts.append("<h2>Size</h2>")
    parts.append(
        fig_html(*size_svg(data.tensors, manifest.model_bytes, manifest.arena_bytes, boards))
    )

    parts.append("<h2>Training</h2>")
    if data.history:
        parts.append(fig_html(*history_svg(data.history)))
    else:
        parts.append(
            '<p class="note">No training history was recorded with this model (it was '
            "measured with 'tinyslm report --data' on a model trained without one).</p>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
