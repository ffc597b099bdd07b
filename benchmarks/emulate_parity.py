"""Emulator parity on CLINC150: the generated firmware core against the TFLM reference.

Takes a ``tinyslm train`` output folder (``--model``) or trains one on ``--data``
(by default ``datasets/clinc150/data_full.json`` in ``$TINYSLM_SHARED_DIR``, else in
``../shared``; same defaults as benchmarks/clinc150.py, sized for ``--data``),
generates a project for ``--board``, runs every phrase of the test split (in-scope
and out-of-scope) through ``tinyslm emulate``'s firmware path and compares each answer
with the Python reference (tinyslm.text.features + model.tflite on TFLM +
tinyslm.decision): same intent, route and printed score. Prints (and with ``--json
PATH`` writes; nothing is written without it) the agreement, accuracy, escalation rate,
out-of-scope recall and the per-phrase host time p50/p95/p99 (n/a where no phrase was
timed), with the data, the arguments, the model's seed and the config it trained (null
for ``--model``). Agreement counts every phrase: one the device refused (a line too
long) is a disagreement here, where ``tinyslm emulate``'s parity line leaves it out (it
is counted among the device's errors there). Without the dataset it says so and exits 0.

    .venv/bin/python benchmarks/emulate_parity.py [--model DIR] [--split test] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# Its sibling modules (_results, clinc150) also when loaded from a file by the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import clinc150  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from _results import (  # noqa: E402
    SHARED_ENV,
    Parser,
    given_argv,
    json_arg,
    json_target_problem,
    missing_data,
    path_arg,
    pct,
    shared_dir,
    table_text,
    write_json,
)

from tinyslm.boards import board_ids  # noqa: E402
from tinyslm.emulate.phrases import reference_parity  # noqa: E402
from tinyslm.errors import TinySlmError  # noqa: E402
from tinyslm.manifest import load_model_dir  # noqa: E402
from tinyslm.modality import TEXT  # noqa: E402
from tinyslm.pipeline import EmulateConfig, run_emulate, run_generate, run_train  # noqa: E402

# The "benchmark" mark of its figures: a --json file is replaced only if it is its own.
BENCHMARK = "emulate_parity"
DEFAULT_DATA = shared_dir() / "datasets" / "clinc150" / "data_full.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=path_arg, default=DEFAULT_DATA, help="the dataset file")
    p.add_argument("--model", type=path_arg, help="a 'tinyslm train' output folder (else train)")
    p.add_argument(
        "--board", choices=board_ids(), default="esp32", help="the board the project is for"
    )
    p.add_argument(
        "--split",
        choices=("test", "val", "train", "all"),
        default="test",
        help="the split whose phrases are scored",
    )
    p.add_argument("--json", type=json_arg, default=None, help="also write the figures here")
    p.add_argument(
        "--epochs", type=int, default=None, help="when training (default: clinc150.py's)"
    )
    p.add_argument("--seed", type=int, default=None, help="when training (default: 0)")
    args = p.parse_args(argv)
    for problem in (
        json_target_problem(args.json, [args.data, args.model], BENCHMARK),
        missing_data(args.data, DEFAULT_DATA, "dataset file", kind="file"),
        model_problem(args.model),
    ):
        if problem:
            p.error(problem)
    if args.model is not None:
        # Both only shape the model this script trains: with --model they were ignored
        # without a word, so the figures did not come from the seed the user asked for.
        given = [
            flag
            for flag, value in (("--seed", args.seed), ("--epochs", args.epochs))
            if value is not None
        ]
        if given:
            p.error(
                f"{' and '.join(given)} with --model: used only when training a model"
                " (without --model)"
            )
    if args.seed is None:
        args.seed = 0
    if args.model is None:
        # Checked here, in clinc150.py's words, before the data check: with the default
        # data absent, --epochs 0 passed as "nothing to benchmark" (exit 0).
        training = argparse.Namespace(epochs=args.epochs, seed=args.seed, constant_lr=False)
        problem = clinc150.out_of_range(training)
        if problem:
            p.error(problem)
    # Recorded in the figures: which data and settings made them.
    args.argv = given_argv(argv)
    return args


def model_problem(model_dir: Path | None) -> str | None:
    """Why ``--model`` is not a text model folder (one line), or None.

    Checked before the dataset: a mistyped folder passed with exit 0 where the dataset
    is absent, and failed only after the project was generated where it is present.
    """
    if model_dir is None:
        return None
    try:
        manifest, _ = load_model_dir(model_dir, probe_arena=False)
    except TinySlmError as exc:
        return f"--model: {exc}"
    if manifest.modality != TEXT:
        return f"--model {model_dir}: a keyword model, not a text intent model"
    return None


def table(f: dict[str, Any]) -> str:
    """The figures as the benchmarks print them: a title, then one row per figure (the
    JSON dump it printed before was no table; --json writes every figure)."""
    rows = [
        (
            "agreement (emulator vs TFLM)",
            f"{f['agreement_percent']}% ({f['agree']} of {f['compared']})",
        ),
        ("accuracy (top-1, in-scope)", pct(f["accuracy"])),
        ("accuracy at threshold", pct(f["accuracy_at_threshold"])),
        ("escalation rate", pct(f["escalation_rate"])),
        ("out-of-scope recall", pct(f["oos_recall"])),
        ("device errors", str(f["device_errors"])),
        (
            "host us p50 / p95 / p99",
            # n/a where nothing was timed (every phrase longer than the firmware's line).
            " / ".join(
                "n/a" if f[k] is None else str(f[k])
                for k in ("host_us_p50", "host_us_p95", "host_us_p99")
            ),
        ),
        ("emulate seconds", str(f["emulate_seconds"])),
        ("model", f"{f['model_bytes']} B, sha256 {f['model_sha256'][:12]}..."),
        ("mismatches", str(len(f["mismatches"]))),
    ]
    title = (
        f"{f['dataset']} on {f['board']} ({f['split']}: {f['phrases']} in-scope, "
        f"{f['oos_phrases']} out-of-scope)"
    )
    return table_text(title, rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data.is_file():
        print(
            f"CLINC150 not found at {args.data}; nothing to benchmark"
            f" (give --data, or set {SHARED_ENV})."
        )
        return 0
    try:
        return measure(args)
    except TinySlmError as exc:
        # As the tinyslm commands: a bad model folder or dataset is one line and exit 2.
        print(f"error: {exc}", file=sys.stderr)
        return 2


def measure(args: argparse.Namespace) -> int:
    """Train (or load), generate, emulate and compare; print and maybe write the figures."""
    trained: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="tinyslm-parity-") as scratch:
        model_dir = args.model
        if model_dir is None:
            model_dir = Path(scratch) / "model"
            # The same model as benchmarks/clinc150.py with its defaults, sized for --data
            # as 'tinyslm train DATA' sizes it (it was sized from the default CLINC150 path
            # whatever --data said, and refused when that path was absent).
            clinc_argv = ["--data", str(args.data), "--seed", str(args.seed)]
            if args.epochs is not None:
                clinc_argv += ["--epochs", str(args.epochs)]
            config = clinc150.make_config(clinc150.parse_args(clinc_argv))
            print(f"training on {args.data} ...", flush=True)
            run_train(args.data, model_dir, config)
            trained = config.to_dict()
        manifest, model = load_model_dir(model_dir)
        project = Path(scratch) / "project"
        run_generate(args.board, project, model_dir=model_dir)

        start = time.perf_counter()
        # What 'tinyslm emulate PROJECT --data DATA --split SPLIT' runs.
        report = run_emulate(EmulateConfig(project, args.data, args.split)).report
        seconds = time.perf_counter() - start
        parity = reference_parity(report.results, manifest, model)

    figures = {
        "dataset": str(args.data.name),
        # Which data, model and settings made the figures.
        "data": str(args.data),
        "argv": args.argv,
        "model": None if args.model is None else str(args.model),
        "seed": manifest.seed,
        "config": trained,
        "board": args.board,
        "split": args.split,
        "phrases": report.phrases,
        "oos_phrases": report.oos_phrases,
        "agreement_percent": round(100.0 * parity.agreement, 4),
        "agree": parity.agree,
        "compared": parity.phrases,
        # None where the split has no in-scope (or no out-of-scope) phrases.
        "accuracy": _rounded(report.accuracy),
        "accuracy_at_threshold": _rounded(report.accuracy_at_threshold),
        "escalation_rate": _rounded(report.escalation_rate),
        "oos_recall": _rounded(report.oos_recall),
        "device_errors": report.errors,
        # Percentiles interpolate between phrases (16.64999999999999); a hundredth of a
        # microsecond is finer than the host clock measures.
        "host_us_p50": None if report.us_p50 is None else round(report.us_p50, 2),
        "host_us_p95": None if report.us_p95 is None else round(report.us_p95, 2),
        "host_us_p99": None if report.us_p99 is None else round(report.us_p99, 2),
        "emulate_seconds": round(seconds, 2),
        "model_bytes": len(model),
        "model_sha256": manifest.model_sha256,
        "mismatches": [list(m) for m in parity.mismatches],
    }
    print(table(figures))
    if args.json is not None:
        write_json(args.json, json.dumps(figures, indent=2), BENCHMARK)
        print(f"figures written to {args.json}")
    return 0 if parity.agree == parity.phrases else 1


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 5)


if __name__ == "__main__":
    sys.exit(main())
