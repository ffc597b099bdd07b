"""Datasets through the firmware path: phrases in, device lines scored, a report.

A runner (the ctypes emulator's :func:`tinyslm.emulate.emulator.emulator_runner`,
:func:`tinyslm.emulate.native.run_native`, :func:`tinyslm.emulate.qemu.run_qemu`)
takes one line per phrase and returns the device's lines; :func:`run_phrases` scores
them into an :class:`EmulateReport` with the gate figures verify uses
(:func:`tinyslm.decision.gate_figures`). :func:`reference_parity` compares the
answers with the Python reference.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyslm.decision import ROUTE_ESCALATE, ROUTE_LOCAL, gate_figures
from tinyslm.errors import DatasetError, ToolchainError

# The text core's answer to a line it makes no id of (tinyslm_core.c, handle_text).
NO_TOKENS = "no_tokens"


@dataclass(frozen=True)
class PhraseResult:
    """One phrase through the device: what went in and what came out."""

    text: str
    label: str  # expected intent, or "oos" for an out-of-scope phrase
    oos: bool
    line: str  # the device's JSON line
    intent: str | None  # None when the device answered with an error
    route: str | None
    score: float | None
    us: int | None
    error: str | None = None  # the device's error code, when it answered with one


@dataclass(frozen=True)
class EmulateReport:
    """Figures of a dataset run through the firmware path.

    Attributes:
        split: which split ran (``test``, ``all``...).
        phrases: in-scope phrases run.
        oos_phrases: out-of-scope phrases run.
        accuracy: in-scope top-1 accuracy (route ignored); None without in-scope
            phrases (as ``eval``: a file of only out-of-scope phrases read as 0 %).
        escalation_rate: share of in-scope phrases routed ``escalate`` (None likewise).
        accuracy_at_threshold: in-scope phrases predicted right AND routed ``local``
            (:func:`tinyslm.decision.gate_figures`, as verify counts it; None likewise).
        oos_recall: share of out-of-scope phrases escalated (None without any).
        errors: phrases the device answered with an error line (counted as wrong).
        us_p50, us_p95, us_p99: per-phrase time the core measured (tokenize +
            infer + decide) with the host's monotonic clock, in microseconds; None
            when no answer carried a time (every phrase an error: nothing was timed).
        error_kinds: device error code -> phrases (e.g. ``line_too_long``).
        unknown_intents: expected intents the model does not have (they can
            never be right); empty when the model's labels were not given.
        warnings: what makes the figures misleading, one line each.
    """

    source: str
    split: str
    phrases: int
    oos_phrases: int
    accuracy: float | None
    escalation_rate: float | None
    accuracy_at_threshold: float | None
    oos_recall: float | None
    errors: int
    us_p50: float | None
    us_p95: float | None
    us_p99: float | None
    error_kinds: dict[str, int] = field(default_factory=dict)
    unknown_intents: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    results: tuple[PhraseResult, ...] = field(default=(), repr=False)

    def error_phrases(self, limit: int = 10) -> list[tuple[str, str]]:
        """(error code, phrase) of the first ``limit`` phrases the device refused."""
        out = [(r.error or "error", r.text) for r in self.results if r.intent is None]
        return out[:limit]

    def summary(self) -> dict[str, Any]:
        """What ``emulate --data --json`` prints: the shares to 5 places, as ``eval
        --json`` gives them, under their own names and under eval's too; the timing
        percentiles to 1 place."""
        d = asdict(self)
        del d["results"]
        for key in SHARES:
            d[key] = _round(d[key])
        for key in ("us_p50", "us_p95", "us_p99"):
            # A percentile interpolates: 744.9999999999999 for 745. None (nothing
            # timed) stays null, as every unmeasured figure of eval and emulate is.
            d[key] = None if d[key] is None else round(d[key], 1)
        # eval --json's names for the same figures, so that one script reads both; the
        # names above stay (scripts read them).
        d["int8_accuracy"] = d["accuracy"]
        d["int8_accuracy_at_threshold"] = d["accuracy_at_threshold"]
        d["error_phrases"] = [
            {"error": code, "text": text}
            for code, text in self.error_phrases(limit=len(self.results))
        ]
        return d


# The report's shares (0..1), rounded in its JSON as eval's are.
SHARES = ("accuracy", "escalation_rate", "accuracy_at_threshold", "oos_recall")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 5)


def parse_line(line: str) -> dict[str, Any]:
    """Parse one device line (JSON object).

    Raises:
        ToolchainError: the line is not a JSON object (firmware that prints
            something else, e.g. an edited core or a boot banner).
    """
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        obj = None
    if not isinstance(obj, dict):
        shown = line if len(line) <= 80 else line[:77] + "..."
        raise ToolchainError(f"the device answered a line that is not a JSON object: {shown!r}")
    return obj


def _one_line(text: str) -> bytes:
    # A phrase is one serial line: terminators inside it become spaces, which
    # the tokenizer treats the same way (both are separators). So the phrase is scored
    # whole, as eval scores it on TFLM; a board would get it in pieces, which the
    # dataset's warning says (both commands print it).
    return text.replace("\r", " ").replace("\n", " ").encode("utf-8")


def dataset_phrases(dataset: Any, split: str) -> list[tuple[str, str, bool]]:
    """(text, label, is_oos) for a split of a :class:`tinyslm.text.dataset.Dataset`."""
    splits = ("train", "val", "test") if split == "all" else (split,)
    rows: list[tuple[str, str, bool]] = []
    for s in splits:
        rows += [(ex.text, ex.label, False) for ex in getattr(dataset, s)]
    for s in splits:
        rows += [(text, "oos", True) for text in getattr(dataset, f"oos_{s}")]
    return rows


def respelled_intents(unknown: list[str], labels: tuple[str, ...]) -> list[str]:
    """For each intent of ``unknown`` that is one of the model's ``labels`` spelled in
    another case or Unicode form (``Lights_On`` for ``lights_on``; ``café`` in NFD for
    the model's NFC), a clause naming the model's spelling, as keyword eval names it.

    Warned, not refused as keyword eval refuses it: text training takes two such
    spellings as two intents (it only warns, where keyword training refuses them), so
    eval does not refuse data train would take; the phrases count as wrong, as those of
    any intent the model lacks.
    """
    from tinyslm.audio.dataset import how_labels_differ, label_key, unicode_form

    model: dict[str, list[str]] = {}
    for label in labels:
        model.setdefault(label_key(label), []).append(label)
    out = []
    for label in unknown:
        theirs = model.get(label_key(label), [])
        if theirs:
            how = ", ".join(f"{m!r} {how_labels_differ(label, m)}" for m in theirs)
            # NFC and NFD look the same: the form to write, beside the name; only where
            # the forms differ (not for fullwidth letters, both NFC).
            want = " or ".join(
                f"{m!r}"
                + ("" if unicode_form(label) == unicode_form(m) else f" in {unicode_form(m)}")
                for m in theirs
            )
            out.append(f"{label!r} differs from the model's intent {how}: spell it {want}")
    return out


def first_clauses(clauses: list[str]) -> str:
    """The first clauses of a list one line names (3), and how many more there are."""
    more = len(clauses) - 3
    return "; ".join(clauses[:3]) + (f"; {more} more" if more > 0 else "")


def unknown_intents_warning(expected: Sequence[str], labels: Sequence[str]) -> str | None:
    """The warning for in-scope phrases (``expected``: their intents) whose intent the
    model (``labels``) lacks, naming the model's spelling where one is only respelled
    (``None``: every intent is the model's). One wording for ``eval`` and ``emulate
    --data``."""
    unknown = sorted(set(expected) - set(labels))
    if not unknown:
        return None
    n = sum(label in unknown for label in expected)
    shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
    ask = "is this the model's dataset?"
    respelled = respelled_intents(unknown, tuple(labels))
    if respelled:
        # The model's spelling, as keyword eval names it: "Lights_On" read as a foreign
        # intent, and the user was asked whether the dataset was the model's.
        ask = first_clauses(respelled) + ("" if len(respelled) == len(unknown) else f"; {ask}")
    return (
        f"{n} of {len(expected)} in-scope phrases expect {len(unknown)} intent(s) the model "
        f"does not have ({shown}): they count as wrong; {ask}"
    )


def phrases_to_check(data: Path, split: str, seed: int) -> tuple[Any, list[tuple[str, str, bool]]]:
    """A dataset and its split's rows, read to check a trained model (``eval``,
    ``emulate --data``): split with the model's training ``seed``, so that a file
    without splits is split as training split it, and with none of training's rules
    (2+ intents, 2+ phrases each): a user checks a model on a few phrases of their own.

    Raises:
        DatasetError: the data is unusable, or the split has no phrases.
    """
    from tinyslm.text.dataset import load_dataset

    dataset = load_dataset(data, seed=seed, for_training=False)
    return dataset, split_phrases(data, dataset, split)


def split_phrases(data: Path | str, dataset: Any, split: str) -> list[tuple[str, str, bool]]:
    """``split``'s rows of a dataset read from ``data`` (:func:`dataset_phrases`).

    Raises:
        DatasetError: the split has no phrases (one line, naming ``data``).
    """
    rows = dataset_phrases(dataset, split)
    if not rows:
        raise DatasetError(f"{data}: split {split!r} has no phrases (try --split all)")
    return rows


def check_intents_known(
    data: Path | str, rows: Sequence[tuple[str, str, bool]], labels: Sequence[str]
) -> None:
    """Refuse a dataset none of whose in-scope intents is one of the model's: every
    phrase would count as wrong, an accuracy of 0 that measures only the mix-up
    (``eval`` and ``emulate --data`` say it alike; a partial overlap is warned about).

    Raises:
        DatasetError: no expected intent of ``rows`` is in ``labels``.
    """
    expected = {label for _, label, oos in rows if not oos}
    unknown = sorted(expected - set(labels))
    if expected and len(unknown) == len(expected):
        shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        respelled = respelled_intents(unknown, tuple(labels))
        spelling = f" ({first_clauses(respelled)})" if respelled else ""
        raise DatasetError(
            f"{data}: none of its intents ({shown}) is one of the model's "
            f"{len(labels)}; is this the dataset the model was trained for?{spelling}"
        )


def run_phrases(
    run: Callable[[Sequence[bytes]], list[str]],
    rows: Sequence[tuple[str, str, bool]],
    *,
    source: str,
    split: str,
    labels: Sequence[str] | None = None,
    dataset_warnings: Sequence[str] = (),
) -> EmulateReport:
    """Send each phrase as one line through ``run`` and score the device's answers.

    Args:
        run: lines in (no terminator), exactly one device line out per input line.
        rows: (text, expected label, is_oos).
        labels: the model's intents: expected intents it lacks are warned about, and a
            dataset with none of them is refused.
        dataset_warnings: what reading the dataset found (duplicates, conflicting
            labels, phrases with line breaks), warned first, as ``eval`` warns them.
    """
    if labels is not None:
        check_intents_known(source, rows, labels)
    lines = run([_one_line(text) for text, _, _ in rows])
    if len(lines) != len(rows):
        raise ToolchainError(f"the device answered {len(lines)} lines for {len(rows)} phrases")
    results: list[PhraseResult] = []
    for (text, label, oos), line in zip(rows, lines, strict=True):
        obj = parse_line(line)
        results.append(
            PhraseResult(
                text=text,
                label=label,
                oos=oos,
                line=line,
                intent=obj.get("intent"),
                route=obj.get("route"),
                score=obj.get("score"),
                us=obj.get("us"),
                error=str(obj["error"]) if "error" in obj else None,
            )
        )
    return score_results(
        results, source=source, split=split, labels=labels, dataset_warnings=dataset_warnings
    )


def score_results(
    results: Sequence[PhraseResult],
    *,
    source: str,
    split: str,
    labels: Sequence[str] | None = None,
    dataset_warnings: Sequence[str] = (),
) -> EmulateReport:
    """Accuracy, escalation, out-of-scope recall and timing of device answers
    (``dataset_warnings``: as :func:`run_phrases`)."""
    inscope = [r for r in results if not r.oos]
    error_kinds: dict[str, int] = {}
    for r in results:
        if r.intent is None:
            kind = r.error or "error"
            error_kinds[kind] = error_kinds.get(kind, 0) + 1
    known = set(labels) if labels is not None else None
    unknown = sorted({r.label for r in inscope if known is not None and r.label not in known})
    warnings: list[str] = list(dataset_warnings)
    said = None if labels is None else unknown_intents_warning([r.label for r in inscope], labels)
    if said is not None:
        warnings.append(said)
    commands = [r.text for r in results if r.text.startswith(":")]
    if commands:
        # The serial protocol reads such a line as a command (":do lights_on" answered
        # as the host's verdict, ":info" as an error): no phrase like it can be classified.
        warnings.append(
            f"{len(commands)} phrase(s) start with ':' ({_preview(commands[0])}), which the "
            "device reads as a command, not a phrase: they were scored as the command's answer"
        )
    if error_kinds:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(error_kinds.items()))
        rejected = sum(r.oos and r.error == NO_TOKENS for r in results)
        warnings.append(
            f"the device answered {sum(error_kinds.values())} phrase(s) with an error "
            f"({kinds}): they count as wrong"
            + (
                f", but for {rejected} out-of-scope no_tokens, kept from an action as an "
                "escalation keeps it"
                if rejected
                else ""
            )
        )
    oos = [r for r in results if r.oos]
    gate = gate_figures(
        [r.intent == r.label for r in inscope],
        [r.route == ROUTE_LOCAL for r in inscope],
        # A no_tokens answer is no action either: the out-of-scope phrase is kept from
        # one, as an escalation keeps it.
        [r.route == ROUTE_ESCALATE or r.error == NO_TOKENS for r in oos],
    )
    # Not 1 - local_rate: an error line has no route and counts as escalated here.
    escalated = sum(r.route != ROUTE_LOCAL for r in inscope)
    times = [r.us for r in results if r.us is not None]
    # Nothing timed (every answer an error line) is no figure, not 0 us.
    pct: list[float | None] = (
        [float(p) for p in np.percentile(times, [50, 95, 99])] if times else [None] * 3
    )
    return EmulateReport(
        source=source,
        split=split,
        phrases=len(inscope),
        oos_phrases=len(oos),
        accuracy=gate.accuracy if inscope else None,
        escalation_rate=escalated / len(inscope) if inscope else None,
        accuracy_at_threshold=gate.accuracy_at_threshold if inscope else None,
        oos_recall=gate.oos_recall,
        errors=sum(r.intent is None for r in results),
        us_p50=pct[0],
        us_p95=pct[1],
        us_p99=pct[2],
        error_kinds=dict(sorted(error_kinds.items())),
        unknown_intents=tuple(unknown),
        warnings=tuple(warnings),
        results=tuple(results),
    )


# What the answers' "us" measure, by engine: the host's clock, or under QEMU's -icount
# thousands of Cortex-M7 instructions (tinyslm.emulate.qemu), not a time at all.
TIME_LABELS = {
    "emulator": "host time (us)  ",
    "native": "host time (us)  ",
    "qemu": "instructions (k)",
}


# The unit of us_p50/us_p95/us_p99 in ``emulate --json``, by engine (named there as
# ``time_unit``: under QEMU the "us" keys hold thousands of instructions).
TIME_UNITS = {"emulator": "us", "native": "us", "qemu": "thousand_instructions"}


def format_report(report: EmulateReport, engine: str = "emulator") -> str:
    """Human-readable summary of an :class:`EmulateReport` run on ``engine``."""
    from tinyslm.terminal import printable

    lines = [
        # Escaped as eval's rows are: a file name cannot reorder or program the terminal.
        f"dataset {printable(report.source)}, split {report.split}: {report.phrases} in-scope"
        " phrases" + (f", {report.oos_phrases} out-of-scope" if report.oos_phrases else ""),
        f"accuracy         {_figure(report.accuracy)}",
        f"escalation rate  {_figure(report.escalation_rate)}",
    ]
    lines.append(f"accuracy @ gate  {_figure(report.accuracy_at_threshold)}")
    if report.oos_recall is not None:
        lines.append(f"oos recall       {report.oos_recall:.4f}")
    if report.errors:
        kinds = ", ".join(f"{k} {v}" for k, v in report.error_kinds.items())
        lines.append(f"device errors    {report.errors} ({kinds})")
        shown = report.error_phrases()
        for code, text in shown:
            lines.append(f"  {code}: {_preview(text)}")
        if report.errors > len(shown):
            lines.append(f"  ... and {report.errors - len(shown)} more (--json lists them all)")
    lines.append(
        f"{TIME_LABELS[engine]} p50 {_whole(report.us_p50)}  p95 {_whole(report.us_p95)}  "
        f"p99 {_whole(report.us_p99)}"
    )
    return "\n".join(lines)


def _whole(value: float | None) -> str:
    """A time to a whole unit, or ``n/a`` where no answer was timed."""
    return "n/a" if value is None else f"{value:.0f}"


def _figure(value: float | None) -> str:
    """A share to 4 places, or ``n/a`` where the data had nothing to measure it on."""
    return "n/a" if value is None else f"{value:.4f}"


def _preview(text: str, limit: int = 80) -> str:
    """A phrase on one line for the report: JSON-quoted, long ones cut in the middle."""
    size = len(text.encode("utf-8"))
    if len(text) > limit:
        text = text[: limit // 2] + " ... " + text[-limit // 4 :]
    return f"{json.dumps(text, ensure_ascii=False)} ({size} bytes)"


# --- parity with the TFLM reference ---------------------------------------------


@dataclass(frozen=True)
class ParityResult:
    """Device answers against ``tinyslm.tflm_runtime.tflm_scores`` + ``tinyslm.decision``.

    Attributes:
        phrases: phrases compared.
        agree: phrases with the same top-1 label, route and printed score.
        mismatches: (text, device line, reference ``intent/score/route``), the first few.
    """

    phrases: int
    agree: int
    mismatches: tuple[tuple[str, str, str], ...]

    @property
    def agreement(self) -> float:
        return self.agree / self.phrases if self.phrases else 1.0


def reference_parity(
    results: Sequence[PhraseResult], manifest: Any, model_bytes: bytes, *, keep: int = 10
) -> ParityResult:
    """Compare device answers with the Python reference for the same phrases.

    The reference tokenizes with :mod:`tinyslm.text.features`, runs ``model.tflite``
    on TFLM (:func:`tinyslm.tflm_runtime.tflm_scores`) and decides with
    :mod:`tinyslm.decision` from the manifest: so it checks the C tokenizer, the
    generated model array and the generated settings all at once.
    """
    from tinyslm.decision import decide, score_milli
    from tinyslm.text.features import encode
    from tinyslm.tflm_runtime import tflm_scores

    texts = [_one_line(r.text) for r in results]
    ids = encode(texts, manifest.features)
    scores = tflm_scores(model_bytes, ids, manifest.arena_bytes)
    scale, zp = manifest.output_quant.scale, manifest.output_quant.zero_point
    levels = manifest.thresholds_q()
    agree = 0
    mismatches: list[tuple[str, str, str]] = []
    for r, row, row_ids in zip(results, scores, ids, strict=True):
        if not row_ids.any():
            # No id at all (only punctuation, say): the core answers no_tokens without
            # an inference (tinyslm_core.c), so the reference's scores do not apply.
            if r.error == NO_TOKENS:
                agree += 1
            elif len(mismatches) < keep:
                mismatches.append((r.text, r.line, f"error {NO_TOKENS}"))
            continue
        d = decide(row, scale, zp, levels)
        label = manifest.labels[d.index]
        milli = score_milli(d.score_q, scale, zp)
        device_milli = round(r.score * 1000) if r.score is not None else None
        if (r.intent, r.route, device_milli) == (label, d.route, milli):
            agree += 1
        elif len(mismatches) < keep:
            mismatches.append((r.text, r.line, f"{label}/{milli / 1000:.3f}/{d.route}"))
    return ParityResult(len(results), agree, tuple(mismatches))


def parity_summary(parity: ParityResult) -> dict[str, Any]:
    """The parity figures as JSON-ready values (``emulate --data --json``)."""
    return {
        "parity_phrases": parity.phrases,
        "parity_identical": parity.agree,
        "parity_mismatches": [
            {"text": text, "device": line, "reference": ref}
            for text, line, ref in parity.mismatches
        ],
    }


def format_parity(parity: ParityResult) -> str:
    """One line: the device's answers against the Python TFLM reference."""
    verdict = "identical" if parity.agree == parity.phrases else "DIFFERENT"
    return (
        f"PARITY with the Python TFLM reference: {verdict} "
        f"({parity.agree}/{parity.phrases} phrases identical)"
    )


def parity_error(parity: ParityResult, engine: str) -> str | None:
    """The one error line for answers that differ from the reference, else None."""
    if parity.agree == parity.phrases:
        return None
    first = ""
    if parity.mismatches:
        text, line, ref = parity.mismatches[0]
        first = f"; first: {_preview(text)} answered {line} where the reference says {ref}"
    return (
        f"{engine}: {parity.phrases - parity.agree} of {parity.phrases} phrases differ from "
        f"the Python TFLM reference (intent/score/route){first}"
    )
