"""The only place where stages are chained; one plain function per CLI command.

``run_train``: dataset -> features -> train -> quantize -> verify -> manifest,
written atomically to the output folder.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyslm.errors import OutputError
from tinyslm.manifest import MANIFEST_NAME, MODEL_NAME, Manifest
from tinyslm.outdir import Ownership, WriteReport, check_target, write_tree
from tinyslm.project import PROJECT_FILE
from tinyslm.report_data import REPORT_HTML, REPORT_JSON
from tinyslm.text.train import TrainConfig

Log = Callable[[str], None]

# A model folder holds exactly these files (the report's two since they were
# added), so anything else in it is the user's and makes --force refuse the folder.
MODEL_OWNERSHIP = Ownership(
    kind="model folder",
    marker=MANIFEST_NAME,
    names=(MANIFEST_NAME, MODEL_NAME, REPORT_JSON, REPORT_HTML),
)
# A project also holds the user's own files and PlatformIO's .pio/: regenerating
# replaces only the files listed in the record (with their sha256) and lib/tflm.
PROJECT_OWNERSHIP = Ownership(
    kind="project",
    marker=PROJECT_FILE,
    record=".tinyslm-files.json",
    keep_foreign=True,
    trees=("lib/tflm",),
)


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class TrainRunResult:
    """What ``tinyslm train`` produced.

    Attributes:
        out: the output folder (``model.tflite`` + ``manifest.json``).
        manifest: the manifest written there.
        train_seconds, convert_seconds, verify_seconds, total_seconds: wall times
            (train: encoding, distillation and fitting; convert: calibration and
            conversion; verify: TFLM scoring and the arena probe).
        load_seconds: reading, checking and splitting the dataset.
        warnings: dataset warnings worth showing.
        report: ``report.html`` in ``out`` (``None`` when not written).
        history: per-epoch training figures (loss, accuracy, val_accuracy...).
    """

    out: Path
    manifest: Manifest
    train_seconds: float
    convert_seconds: float
    verify_seconds: float
    total_seconds: float
    warnings: tuple[str, ...] = ()
    load_seconds: float = 0.0
    report: Path | None = None
    history: tuple[dict[str, float], ...] = ()

    def summary(self) -> dict[str, Any]:
        """What ``tinyslm train --json`` prints: paths, sizes, figures and wall times."""
        m = self.manifest
        return {
            "out": str(self.out),
            "report": None if self.report is None else str(self.report),
            "model_sha256": m.model_sha256,
            "model_bytes": m.model_bytes,
            "arena_bytes": m.arena_bytes,
            "labels": list(m.labels),
            "threshold": m.threshold,
            "threshold_q": m.threshold_q,
            "ops": list(m.ops),
            "max_line": m.max_line,
            "train_config": m.train_config,
            "metrics": m.metrics,
            "seconds": {
                "total": round(self.total_seconds, 3),
                "load": round(self.load_seconds, 3),
                "train": round(self.train_seconds, 3),
                "convert": round(self.convert_seconds, 3),
                "verify": round(self.verify_seconds, 3),
            },
            "warnings": list(self.warnings),
        }


def run_train(
    data: Path | None,
    out: Path,
    config: TrainConfig | None = None,
    *,
    force: bool = False,
    log: Log | None = None,
    warn: Log | None = None,
    report: bool = True,
) -> TrainRunResult:
    """Train, quantize and verify a model on ``data`` and write it to ``out``.

    Args:
        data: dataset file (CSV, JSONL, CLINC JSON); ``None`` uses the demo set.
        out: output folder; gets ``model.tflite`` and ``manifest.json``.
        config: hyper-parameters (``None``: ``TrainConfig()`` defaults).
        force: replace the model in an existing tinyslm model folder ``out``.
        log: progress lines (one per epoch and per stage); ``None`` is silent.
        warn: dataset warnings, as soon as the data is loaded (before training).
        report: also measure the report's figures on the held-out split (TFLM) and
            write ``report.json`` and ``report.html`` (``generate``'s throw-away
            model does without).

    Raises:
        OutputExistsError: ``out`` exists and is not empty and ``force`` is off,
            or ``out`` is not a model folder tinyslm may replace (see ``tinyslm.outdir``).
        OutputError: ``out`` cannot be written.
        DatasetError: the dataset is missing or unusable.
        ModelError: conversion or TFLM verification failed.
        ToolchainError: ``config.distill_alpha > 0`` without the ``distill`` extra.
    """
    import numpy as np

    from tinyslm import __version__
    from tinyslm.manifest import sha256_hex
    from tinyslm.quantize import quantize, representative_indices
    from tinyslm.text.dataset import line_limit, load_dataset
    from tinyslm.text.features import encode
    from tinyslm.text.train import check_intent_count, label_indices, predict_scores, train
    from tinyslm.verify import RULE_OOS, verify

    say = log or _quiet
    cfg = config if config is not None else TrainConfig()
    start = time.perf_counter()
    protect = {"the input data": data} if data is not None else {}
    check_target(out, force, protect=protect, ownership=MODEL_OWNERSHIP)

    load_start = time.perf_counter()
    dataset = load_dataset(data, seed=cfg.seed, progress=say)
    load_seconds = time.perf_counter() - load_start
    for warning in dataset.warnings:
        (warn or _quiet)(warning)
    check_intent_count(len(dataset.labels))  # before minutes of training
    # The device's line buffer is sized so every phrase fits (up to a cap).
    lines = line_limit(dataset)
    for warning in lines.warnings:
        (warn or _quiet)(warning)
    spec = cfg.features
    say(
        f"dataset {dataset.source}: {len(dataset.labels)} intents, train {len(dataset.train)}, "
        f"val {len(dataset.val)}, test {len(dataset.test)}, out-of-scope "
        f"{len(dataset.oos_train)}/{len(dataset.oos_val)}/{len(dataset.oos_test)}"
    )
    train_start = time.perf_counter()
    fit_texts = [e.text for e in dataset.train]
    fit_labels = [e.label for e in dataset.train]
    soft = None
    teacher_accuracy = None
    if cfg.distill_alpha > 0:
        from tinyslm.text.distill import augment_texts, soft_targets

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
        )
        soft = np.concatenate([targets.probs, targets.extra_probs])
        teacher_accuracy = targets.teacher_train_accuracy
        # Noisy copies keep their source phrase's label for the hard term.
        fit_texts = fit_texts + extra
        fit_labels = fit_labels + [fit_labels[i] for i in source]
        say(f"teacher accuracy on train (cross-fitted): {teacher_accuracy * 100:.2f}%")
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
    train_seconds = time.perf_counter() - train_start

    say("converting to full-integer INT8 ...")
    convert_start = time.perf_counter()
    # Only the calibration subset is encoded, not every training phrase again.
    calib_rows = representative_indices(len(dataset.train))
    train_ids = encode([dataset.train[int(i)].text for i in calib_rows], spec)
    quantized = quantize(trained.model, train_ids)
    convert_seconds = time.perf_counter() - convert_start

    # Held-out figures come from test; a dataset too small to have one uses val,
    # and the threshold is tuned on val (train when val is empty).
    eval_split = "test" if dataset.test else ("val" if dataset.val else "train")
    evals = {"test": dataset.test, "val": dataset.val, "train": dataset.train}[eval_split]
    oos_eval = {"test": dataset.oos_test, "val": dataset.oos_val, "train": dataset.oos_train}
    calib_split = "val" if dataset.val else "train"
    calib = dataset.val if dataset.val else dataset.train
    oos_calib = dataset.oos_val if dataset.val else dataset.oos_train

    say("verifying on TFLM (arena probe, accuracy, threshold) ...")
    verify_start = time.perf_counter()
    eval_ids = encode([e.text for e in evals], spec)
    result = verify(
        quantized.model_bytes,
        float_scores=predict_scores(trained.model, eval_ids),
        eval_ids=eval_ids,
        eval_true=label_indices(dataset.labels, [e.label for e in evals]),
        oos_eval_ids=encode(oos_eval[eval_split], spec),
        calib_ids=encode([e.text for e in calib], spec),
        calib_true=label_indices(dataset.labels, [e.label for e in calib]),
        oos_calib_ids=encode(oos_calib, spec),
        labels=dataset.labels,
        eval_split=eval_split,
        log=say,
    )
    verify_seconds = time.perf_counter() - verify_start
    if result.threshold.rule != RULE_OOS:
        (warn or _quiet)(
            f"no out-of-scope phrases in {calib_split} to calibrate the threshold on (label "
            f"some 'oos'): threshold {result.threshold.threshold:.3f} "
            f"(q={result.threshold.threshold_q}) escalates at least the least confident 5% of "
            f"{calib_split} phrases"
        )

    metrics = result.to_metrics()
    metrics["threshold_calibrated_on"] = calib_split
    metrics["max_line_needed"] = lines.longest
    metrics["dataset"] = dataset.source
    metrics["n_train"] = len(dataset.train)
    if teacher_accuracy is not None:
        metrics["teacher_train_accuracy_crossfit"] = round(teacher_accuracy, 5)
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
    )
    with tempfile.TemporaryDirectory() as scratch:
        manifest_bytes = manifest.write(Path(scratch)).read_bytes()
    files = {MODEL_NAME: quantized.model_bytes, MANIFEST_NAME: manifest_bytes}
    if report:
        from tinyslm.boards import load_boards
        from tinyslm.report import render_report
        from tinyslm.report_data import compute_report_data

        say("measuring the report's figures on TFLM and drawing report.html ...")
        report_start = time.perf_counter()
        figures = compute_report_data(
            quantized.model_bytes,
            manifest,
            [e.text for e in evals],
            [e.label for e in evals],
            list(oos_eval[eval_split]),
            eval_split=eval_split,
            history=trained.history,
        )
        files[REPORT_JSON] = figures.to_json_bytes()
        files[REPORT_HTML] = render_report(manifest, figures, load_boards()).encode()
        # Counted with verification: it is the same kind of work on the same phrases.
        verify_seconds += time.perf_counter() - report_start
    try:
        # Checks the folder again: it may have appeared while we were training.
        write_tree(
            files,
            out,
            force=force,
            ownership=MODEL_OWNERSHIP,
            protect=protect,
        )
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    return TrainRunResult(
        out=out,
        manifest=manifest,
        train_seconds=train_seconds,
        convert_seconds=convert_seconds,
        verify_seconds=verify_seconds,
        total_seconds=time.perf_counter() - start,
        warnings=dataset.warnings,
        load_seconds=load_seconds,
        report=out / REPORT_HTML if report else None,
        history=trained.history,
    )


def format_train_table(result: TrainRunResult) -> str:
    """The short summary ``tinyslm train`` prints."""
    from tinyslm.verify import describe_rule

    m = result.manifest
    mt = m.metrics
    # Every second of the run is in the breakdown; "other" is checks and writing.
    other = max(
        0.0,
        result.total_seconds
        - result.load_seconds
        - result.train_seconds
        - result.convert_seconds
        - result.verify_seconds,
    )
    oos = mt.get("oos_recall")
    rows = [
        ("output", str(result.out)),
        ("intents", str(len(m.labels))),
        (f"float accuracy ({mt['eval_split']})", f"{mt['float_accuracy'] * 100:.2f}%"),
        (f"int8 accuracy ({mt['eval_split']}, TFLM)", f"{mt['int8_accuracy'] * 100:.2f}%"),
        ("float/int8 agreement", f"{mt['agreement'] * 100:.2f}%"),
        ("int8 accuracy at threshold", f"{mt['int8_accuracy_at_threshold'] * 100:.2f}%"),
        (
            "out-of-scope recall",
            "n/a (no out-of-scope phrases)" if oos is None else f"{oos * 100:.2f}%",
        ),
        ("threshold", f"{m.threshold:.3f} (q={m.threshold_q})"),
        (
            "threshold rule",
            describe_rule(
                str(mt.get("threshold_rule", "")), str(mt.get("threshold_calibrated_on", "val"))
            ),
        ),
        ("device line limit", f"{m.max_line} bytes"),
        ("model bytes", f"{m.model_bytes} ({m.model_bytes / 1024:.1f} KiB)"),
        ("arena bytes", f"{m.arena_bytes} ({m.arena_bytes / 1024:.1f} KiB)"),
        ("ops", ", ".join(m.ops)),
        ("report", "not written" if result.report is None else str(result.report)),
        (
            "wall time",
            f"{result.total_seconds:.1f} s (load {result.load_seconds:.1f} s, train "
            f"{result.train_seconds:.1f} s, convert {result.convert_seconds:.1f} s, verify "
            f"{result.verify_seconds:.1f} s, other {other:.1f} s)",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


# --- generate ----------------------------------------------------------------


@dataclass(frozen=True)
class GenerateRunResult:
    """What ``tinyslm generate`` wrote.

    Attributes:
        out: the project folder.
        board: board id.
        files: project-relative paths of the generated files (``lib/tflm`` not listed).
        model_sha256: the model built into the firmware.
        model_bytes: size of the model array (flash).
        arena_size: TINYSLM_ARENA_SIZE (RAM).
        tflm_tree: the TFLM tree copied into ``lib/tflm``, if any.
        notes: one-line remarks for the user (e.g. a TFLM tree still missing).
        report: files added, changed, unchanged, removed and kept in ``out``.
    """

    out: Path
    board: str
    files: tuple[str, ...]
    model_sha256: str
    model_bytes: int
    arena_size: int
    tflm_tree: Path | None = None
    notes: tuple[str, ...] = ()
    report: WriteReport | None = None


def default_generate_dir(board: str) -> Path:
    """``firmware/<board>/`` relative to the current directory."""
    return Path("firmware") / board


def run_generate(
    board: str,
    out: Path | None = None,
    *,
    model_dir: Path | None = None,
    force: bool = False,
    prune: bool = False,
    tflm_dir: Path | None = None,
    log: Log | None = None,
) -> GenerateRunResult:
    """Emit the PlatformIO project for ``board`` from a trained model.

    Args:
        board: board id (``tinyslm boards`` lists them).
        out: project folder; ``None`` is ``firmware/<board>/`` under the cwd.
        model_dir: a ``tinyslm train`` output folder; ``None`` trains on the demo
            set first (in a temporary folder).
        force: regenerate into an existing tinyslm project ``out``: its generated
            files are replaced, the user's files and ``.pio/`` kept.
        prune: with ``force``, remove generated files the new project no longer has.
        tflm_dir: a TFLM source tree for boards that build TFLM from ``lib/tflm``.
        log: progress lines; ``None`` is silent.

    Raises:
        BoardError: unknown board, or ``tflm_dir`` for a board that does not use it.
        OutputExistsError: ``out`` exists and is not empty and ``force`` is off,
            or it is not a tinyslm project, or holds the model or the TFLM tree used.
        OutputError: ``out`` cannot be written.
        ModelError: the model folder is missing, corrupt or uses an op TFLM lacks.
        BudgetError: the model or arena does not fit the board; nothing is written.
        ToolchainError: ``tflm_dir`` is not a usable TFLM tree.
    """
    from tinyslm.boards import load_board
    from tinyslm.emit import render_project
    from tinyslm.errors import BoardError
    from tinyslm.manifest import load_model_dir

    say = log or _quiet
    spec = load_board(board)
    target = out if out is not None else default_generate_dir(spec.id)
    protect = {"the model being used": model_dir} if model_dir is not None else {}
    if tflm_dir is not None:
        protect["the TFLM tree being copied"] = tflm_dir
    # Fail before a slow training run.
    check_target(target, force, protect=protect, ownership=PROJECT_OWNERSHIP)

    tree: Path | None = None
    notes: list[str] = []
    if spec.tflm.needs_tree:
        from tinyslm.toolchain import tflm

        tree = tflm.resolve_tree(tflm_dir)
        if tree is None:
            notes.append(f"lib/tflm not included: {tflm.missing_tree_hint()}")
    elif tflm_dir is not None:
        raise BoardError(
            f"--tflm-dir does not apply to board {spec.id}: its TFLM comes from the "
            f"ESP-IDF component {spec.tflm.component}"
        )

    if model_dir is None:
        say("no --model given: training on the demo set first ...")
        with tempfile.TemporaryDirectory(prefix="tinyslm-generate-") as scratch:
            # The same sizing as a plain ``tinyslm train`` (the README's demo says so).
            from tinyslm.text.dataset import load_dataset
            from tinyslm.train_options import default_options, train_to_budget

            options = default_options()

            def train_once(config: TrainConfig, again: bool) -> TrainRunResult:
                return run_train(
                    None, Path(scratch) / "model", config, force=again, log=say, report=False
                )

            train_to_budget(
                options, lambda: load_dataset(None, seed=options["seed"]), train_once, say
            )
            manifest, model = load_model_dir(Path(scratch) / "model")
    else:
        manifest, model = load_model_dir(model_dir)

    plan = render_project(spec, manifest, model)
    say(f"writing {len(plan.files)} files to {target} ...")

    def add_tree(tmp: Path) -> None:
        if tree is not None:
            from tinyslm.toolchain import tflm

            tflm.install_tree(tree, tmp / "lib" / "tflm")

    try:
        report = write_tree(
            plan.as_mapping(),
            target,
            force=force,
            extra=add_tree,
            ownership=PROJECT_OWNERSHIP,
            protect=protect,
            prune=prune,
        )
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return GenerateRunResult(
        out=report.target,
        board=spec.id,
        files=plan.paths,
        model_sha256=manifest.model_sha256,
        model_bytes=plan.model_bytes,
        arena_size=plan.arena_size,
        tflm_tree=tree,
        notes=tuple(notes),
        report=report,
    )


# --- report ------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRunResult:
    """What ``tinyslm report`` wrote.

    Attributes:
        out: the HTML file.
        source: where the figures came from (``report.json`` or the ``--data`` file).
        model_sha256: the model reported on.
    """

    out: Path
    source: str
    model_sha256: str


def run_report(path: Path, out: Path, *, data: Path | None = None) -> ReportRunResult:
    """Write ``report.html`` for a model folder or a generated project.

    The figures come from the model folder's ``report.json`` (written by ``train``),
    or are measured on TFLM from ``data``'s held-out split (split with the model's
    seed, as in training); a project, or a model trained before reports existed,
    needs ``data``.

    Raises:
        ModelError: ``path`` is neither a model folder nor a project, or no figures.
        ProjectError: the project is malformed or its model array was edited.
        DatasetError: ``data`` is unusable or has intents the model lacks.
        OutputError: ``out`` cannot be written, or names one of the inputs.
    """
    from tinyslm.boards import load_boards
    from tinyslm.errors import ModelError, ProjectError
    from tinyslm.manifest import load_model_dir
    from tinyslm.outdir import check_file_target, write_file
    from tinyslm.project import open_project, read_model_bytes
    from tinyslm.report import render_report
    from tinyslm.report_data import load_report_data, report_data_from_dataset

    inputs = [data] if data is not None else []
    check_file_target(out, "-o")
    if (path / MANIFEST_NAME).is_file():
        manifest, model = load_model_dir(path, probe_arena=False)
        stored = path / REPORT_JSON
        inputs += [path / MANIFEST_NAME, path / MODEL_NAME, stored]
    elif (path / PROJECT_FILE).is_file():
        project = open_project(path)
        if project.manifest is None:
            raise ProjectError(f"{path / PROJECT_FILE}: no manifest; regenerate the project")
        manifest, model = project.manifest, read_model_bytes(project)
        stored = None
        inputs += [path / PROJECT_FILE]
    else:
        raise ModelError(
            f"{path}: neither a model folder ({MANIFEST_NAME}, from 'tinyslm train') nor a "
            f"project ({PROJECT_FILE}, from 'tinyslm generate')"
        )
    if any(out.resolve() == p.resolve() for p in inputs):
        raise OutputError(f"-o {out} names one of the report's inputs; give another file name")

    recorded = None
    if stored is not None and stored.is_file():
        recorded = load_report_data(stored)
        if recorded.model_sha256 != manifest.model_sha256:
            raise ModelError(f"{stored} belongs to another model (its model_sha256 differs)")
    if data is not None:
        # The training curves exist only in report.json; the rest is measured again.
        history = recorded.history if recorded is not None else ()
        figures = report_data_from_dataset(model, manifest, data, history)
        source = str(data)
    elif recorded is not None:
        figures, source = recorded, str(stored)
    else:
        why = (
            "a project holds no report figures"
            if stored is None
            else f"no {REPORT_JSON} (the model was trained before tinyslm wrote one)"
        )
        raise ModelError(
            f"{path}: {why}: the confusion matrix and threshold curve need the held-out "
            "phrases; give --data DATASET (the file the model was trained on) to measure them"
        )
    page = render_report(manifest, figures, load_boards())
    write_file(out, page.encode())
    return ReportRunResult(out=out, source=source, model_sha256=manifest.model_sha256)
