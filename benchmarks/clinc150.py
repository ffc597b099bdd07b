"""CLINC150 benchmark: the full tinyslm train pipeline on the 150-intent set.

Trains on ``--data`` (by default ``datasets/clinc150/data_full.json`` in the shared
folder: ``$TINYSLM_SHARED_DIR``, else ``../shared`` beside the repository) with the given
hyper-parameters, converts to INT8, verifies on
TFLM and prints in-scope accuracy (float and INT8), out-of-scope recall at the
threshold calibrated on validation, model bytes, minimum arena and wall times.
``--json PATH`` also writes the figures as JSON (nothing is written without it; the
committed ``benchmarks/results/clinc150*.json`` were written that way). Without the
dataset it says so and exits 0.

``--distill`` adds soft labels from all-MiniLM-L6-v2 (the ``distill`` extra)
and also reports the teacher's own test accuracy.

    .venv/bin/python benchmarks/clinc150.py [--max-model-kb 500 | --buckets 8192 ...] [--distill]
        [--json OUT]

Every default is ``tinyslm train``'s (``tinyslm.train_options.default_options``),
sizes and token dropout included, planned by train's own planner
(``tinyslm.train_options.plan_config``, what ``train_to_budget`` trains first): buckets,
dim and hidden are chosen for the smaller of 500 KiB (512,000 bytes) and what
``--data``'s distinct n-grams can use (CLINC150: 500 KiB) unless given, and token
dropout follows the training phrase count (CLINC150: 0.5). A converted model over its
budget is reported, not retrained one size smaller as ``tinyslm train`` retrains it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# Its sibling modules (_results, clinc150) also when loaded from a file by the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import click  # noqa: E402
from _results import (  # noqa: E402
    SHARED_ENV,
    Parser,
    json_arg,
    json_target_problem,
    missing_data,
    path_arg,
    pct,
    shared_dir,
    write_json,
)

from tinyslm.errors import TinySlmError  # noqa: E402
from tinyslm.pipeline import run_train  # noqa: E402
from tinyslm.text.features import FeatureSpec  # noqa: E402
from tinyslm.text.train import TrainConfig  # noqa: E402
from tinyslm.train_options import (  # noqa: E402
    attribute_docs,
    check_given_sizes,
    config_from_options,
    default_options,
    refuse_distill_options_without_distill,
    train_options,
)
from tinyslm.train_options import plan_config as train_plan  # noqa: E402

# The "benchmark" mark of its figures: a --json file is replaced only if it is its own.
BENCHMARK = "clinc150"
DEFAULT_DATA = shared_dir() / "datasets" / "clinc150" / "data_full.json"
# Help where the docstring's words fit tinyslm train, not this script: its seed entry
# runs for six lines, and it names cosine_decay, which is --constant-lr here.
_OWN_HELP = {
    "seed": "seeds the dataset split, Python, NumPy and TensorFlow",
    "learning_rate": "Adam learning rate (the peak one, unless --constant-lr)",
    "batch_size": "examples per optimizer step; 0 picks it from the training set's size",
}
# The teacher's settings: they apply only with --distill.
DISTILL_OPTIONS = ("distill_alpha", "distill_temperature", "distill_folds", "distill_augment")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    # The defaults are tinyslm train's (tinyslm.train_options.default_options), so
    # the benchmark measures what a user gets from a plain `tinyslm train DATA`.
    d = default_options()
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=path_arg, default=DEFAULT_DATA, help="the dataset file")
    p.add_argument("--json", type=json_arg, default=None, help="also write the figures here")
    p.add_argument("--buckets", type=int, default=None, help="default: auto (as train)")
    p.add_argument("--dim", type=int, default=None, help="default: auto (as train)")
    p.add_argument("--hidden", type=int, default=None, help="default: auto (as train)")
    p.add_argument("--max-model-kb", type=int, default=None, help="default: 500 KiB (as train)")
    p.add_argument("--seq-len", type=int, default=d["seq_len"], help="default: auto (as train)")
    p.add_argument("--hashes", type=int, default=d["hashes"], help="ids per n-gram (as train)")
    for name, kind in (
        ("epochs", int),
        ("batch_size", int),
        ("learning_rate", float),
        ("label_smoothing", float),
        ("dropout", float),
    ):
        p.add_argument(
            "--" + name.replace("_", "-"), type=kind, default=d[name], help=knob_help(name)
        )
    p.add_argument(
        "--token-dropout",
        type=float,
        default=d["token_dropout"],
        help=knob_help("token_dropout") + " (default: auto, as train)",
    )
    p.add_argument(
        "--adversarial", type=float, default=d["adversarial"], help="0: no adversarial step"
    )
    p.add_argument(
        "--constant-lr", action="store_true", default=not d["cosine_decay"], help="no cosine decay"
    )
    p.add_argument(
        "--gate-temperature",
        type=float,
        default=d["gate_temperature"],
        help="logits divided by this before the softmax (1: as trained)",
    )
    p.add_argument("--seed", type=int, default=d["seed"], help=knob_help("seed"))
    p.add_argument("--distill", action="store_true", help="learn from MiniLM soft labels")
    # Left None unless typed, so that one given without --distill is refused as train
    # refuses it (it trained a plain student under the user's distill settings).
    for name, kind, what in (
        ("distill_alpha", float, "weight of the teacher's soft targets"),
        ("distill_temperature", float, "softmax temperature of the soft targets"),
        ("distill_folds", int, "cross-fitting folds of the teacher"),
        ("distill_augment", int, "teacher-labelled copies"),
    ):
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=kind,
            default=None,
            help=f"{what}, with --distill (default: {d[name]}, as train)",
        )
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = p.parse_args(argv)
    typed = [name for name in DISTILL_OPTIONS if getattr(args, name) is not None]
    for name in DISTILL_OPTIONS:
        if getattr(args, name) is None:
            setattr(args, name, d[name])
    # Every setting is checked here, in one line, before the dataset loads: a bad
    # --epochs or --dim would otherwise stop the run with a traceback.
    for problem in (
        json_target_problem(args.json, [args.data], BENCHMARK),
        missing_data(args.data, DEFAULT_DATA, "dataset file", kind="file"),
    ):
        if problem:
            p.error(problem)
    if args.distill and args.distill_alpha <= 0:
        # tinyslm train refuses it (0 < alpha <= 1); here it silently turned the teacher off.
        p.error(f"--distill-alpha {args.distill_alpha}: with --distill it must be in (0, 1]")
    problem = out_of_range(args)
    if problem:
        p.error(problem)
    try:
        refuse_distill_options_without_distill(options_of(args), typed)
        # train's own check of the given sizes (a --buckets no width fits is named as
        # train names it, not as a buckets x dim the user never gave).
        check_given_sizes(options_of(args))
        config_from_options(options_of(args))
    except click.UsageError as exc:
        p.error(exc.format_message())
    return args


def out_of_range(args: argparse.Namespace) -> str | None:
    """The first setting outside ``tinyslm train``'s range for it, in train's words and
    naming the option (one line), or None. TrainConfig's own check said only
    "invalid training setting(s): epochs": no option, no value, no range."""
    known = options_of(args)
    for param in _train_params():
        value = getattr(args, str(param.name), None)
        # --max-model-kb too (4 up to 1 GiB): a line of its own checked only the lower
        # end, and 99999999999 planned a ~98 MB model.
        if value is None or param.name not in known:
            continue
        try:
            param.type.convert(value, param, None)
        except click.BadParameter as exc:
            return f"invalid value for {param.opts[0]}: {exc.message}"
    return None


def _train_params() -> list[click.Parameter]:
    """``tinyslm train``'s options, with their ranges (its click command's parameters)."""
    return list(click.command()(train_options(lambda **_: None)).params)


def knob_help(name: str) -> str:
    """A training option's help: the first clause of its entry in ``TrainConfig``'s (or
    ``FeatureSpec``'s) docstring, as ``tinyslm train --help`` takes it from there."""
    docs = {**attribute_docs(FeatureSpec), **attribute_docs(TrainConfig), **_OWN_HELP}
    first = docs[name] if name in _OWN_HELP else docs[name].split("; ")[0].split(". ")[0]
    first = first.rstrip(".")
    # argparse %-formats help text.
    return first.replace("``", "'").replace("%", "%%")


def options_of(args: argparse.Namespace) -> dict[str, object]:
    """``tinyslm train``'s options as these command-line arguments set them."""
    options = {
        **default_options(),
        **{k: v for k, v in vars(args).items() if k in default_options()},
    }
    options["cosine_decay"] = not args.constant_lr
    return options


def make_config(args: argparse.Namespace) -> TrainConfig:
    """The training configuration these command-line options describe, planned by
    ``tinyslm train``'s own planner (:func:`tinyslm.train_options.plan_config`).

    Its sizing and auto token dropout follow the data: the distinct n-gram ids cap the
    budget and the training phrase count picks the token dropout. Computed here by hand,
    both were left out, so ``--data`` other than CLINC150 got a 500 KB, 0.5 model that
    ``tinyslm train`` never trains. Only the first plan is taken: its one retry one size
    smaller (a converted model over budget) is not made here.
    """
    from tinyslm.text.dataset import load_dataset

    return train_plan(options_of(args), lambda: load_dataset(args.data, seed=args.seed), print)


def teacher_test_accuracy(data: Path, seed: int) -> float:
    """The teacher alone: MiniLM embeddings + logistic regression, on the test split."""
    import numpy as np

    from tinyslm.text.dataset import load_dataset
    from tinyslm.text.distill import embed_texts, fit_logistic_regression
    from tinyslm.text.train import label_indices

    ds = load_dataset(data, seed=seed)
    y_train = label_indices(ds.labels, [e.label for e in ds.train])
    y_test = label_indices(ds.labels, [e.label for e in ds.test])
    teacher = fit_logistic_regression(
        embed_texts([e.text for e in ds.train]), y_train, len(ds.labels)
    )
    logits = teacher.logits(embed_texts([e.text for e in ds.test]))
    return float(np.mean(logits.argmax(axis=1) == y_test))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data.is_file():
        print(
            f"CLINC150 not found at {args.data}; nothing to benchmark"
            f" (give --data, or set {SHARED_ENV})."
        )
        return 0
    start = time.perf_counter()
    try:
        config = make_config(args)
        with tempfile.TemporaryDirectory(prefix="tinyslm-clinc-") as tmp:
            result = run_train(
                args.data, Path(tmp) / "model", config, log=None if args.quiet else print
            )
    except TinySlmError as exc:
        # As tinyslm train: a bad dataset or budget is one line and exit 2.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    m = result.manifest
    mt = m.metrics
    figures = {
        "dataset": str(args.data.name),
        "config": config.to_dict(),
        "n_train": mt["n_train"],
        "n_test_in_scope": mt["n_eval"],
        "n_test_oos": mt["n_oos_eval"],
        "in_scope_accuracy_float": mt["float_accuracy"],
        "in_scope_accuracy_int8": mt["int8_accuracy"],
        "in_scope_accuracy_int8_at_threshold": mt["int8_accuracy_at_threshold"],
        "float_int8_agreement": mt["agreement"],
        "oos_recall_int8": mt["oos_recall"],
        # The val split's in-scope figures (null where the set has no val split): what a
        # recipe or size is chosen by, the test figures above being what is reported.
        "n_val_in_scope": mt.get("n_val"),
        "in_scope_val_accuracy_float": mt.get("val_accuracy"),
        "in_scope_val_accuracy_int8": mt.get("val_int8_accuracy"),
        "threshold": m.threshold,
        "threshold_q": m.threshold_q,
        "threshold_rule": mt["threshold_rule"],
        "model_bytes": m.model_bytes,
        "arena_bytes": m.arena_bytes,
        "ops": list(m.ops),
        "load_seconds": round(result.load_seconds, 2),
        "train_seconds": round(result.train_seconds, 2),
        "convert_seconds": round(result.convert_seconds, 2),
        "verify_seconds": round(result.verify_seconds, 2),
        "total_seconds": round(time.perf_counter() - start, 2),
    }
    if args.distill:
        teacher_start = time.perf_counter()
        figures["teacher_train_accuracy_crossfit"] = mt["teacher_train_accuracy_crossfit"]
        figures["teacher_test_accuracy"] = round(teacher_test_accuracy(args.data, args.seed), 5)
        figures["teacher_test_seconds"] = round(time.perf_counter() - teacher_start, 2)
    rows = [
        (
            "config",
            f"B={config.features.buckets} D={config.dim} H={config.hidden} "
            f"L={config.features.seq_len} hashes={config.features.hashes} "
            f"epochs={args.epochs} bs={args.batch_size} lr={args.learning_rate} "
            f"ls={args.label_smoothing} dropout={args.dropout} "
            f"token_dropout={config.token_dropout} adversarial={config.adversarial} "
            f"cosine_decay={not args.constant_lr} gate_temperature={config.gate_temperature} "
            f"seed={args.seed}"
            + (
                f" distill_alpha={args.distill_alpha} distill_T={args.distill_temperature}"
                f" folds={args.distill_folds} augment={args.distill_augment}"
                if args.distill
                else ""
            ),
        ),
        # n/a where not measured (null in the JSON): a set without out-of-scope phrases
        # printed "oos recall at threshold 0.00%", as if every one had been missed.
        ("in-scope accuracy float", pct(mt["float_accuracy"])),
        ("in-scope accuracy int8 (TFLM)", pct(mt["int8_accuracy"])),
        ("in-scope accuracy int8 at threshold", pct(mt["int8_accuracy_at_threshold"])),
        ("float/int8 agreement", pct(mt["agreement"])),
        ("oos recall at threshold", pct(mt["oos_recall"])),
        ("in-scope val accuracy float", pct(mt.get("val_accuracy"))),
        ("in-scope val accuracy int8 (TFLM)", pct(mt.get("val_int8_accuracy"))),
        ("threshold", f"{m.threshold:.3f} (q={m.threshold_q}, {mt['threshold_rule']}, on val)"),
        ("model bytes", f"{m.model_bytes} ({m.model_bytes / 1024:.1f} KiB)"),
        ("minimum arena bytes", str(m.arena_bytes)),
        *(
            [
                (
                    "teacher test accuracy (MiniLM + LR)",
                    pct(figures["teacher_test_accuracy"]),
                )
            ]
            if args.distill
            else []
        ),
        (
            "load / train / convert / verify",
            f"{result.load_seconds:.1f} s / {result.train_seconds:.1f} s / "
            f"{result.convert_seconds:.1f} s / {result.verify_seconds:.1f} s",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k.ljust(width)}  {v}" for k, v in rows))
    if args.json is not None:
        write_json(args.json, json.dumps(figures, indent=2, sort_keys=True), BENCHMARK)
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
