"""CLINC150 benchmark: the full tinyslm train pipeline on the 150-intent set.

Trains on ``../shared/datasets/clinc150/data_full.json`` (relative to the
repository root) with the given hyper-parameters, converts to INT8, verifies on
TFLM and prints in-scope accuracy (float and INT8), out-of-scope recall at the
threshold calibrated on validation, model bytes, minimum arena and wall times.
The figures are also written as JSON (``benchmarks/results/clinc150.json`` or
``--json PATH``). Without the dataset it says so and exits 0.

    .venv/bin/python benchmarks/clinc150.py [--buckets 8192 --dim 54 ...]
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

from tinyslm.features import FeatureSpec  # noqa: E402
from tinyslm.pipeline import run_train  # noqa: E402
from tinyslm.train import TrainConfig  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "clinc150" / "data_full.json"
DEFAULT_JSON = REPO / "benchmarks" / "results" / "clinc150.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the figures")
    p.add_argument("--buckets", type=int, default=8192)
    p.add_argument("--dim", type=int, default=54)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=0.01)
    p.add_argument("--label-smoothing", type=float, default=0.2)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--token-dropout", type=float, default=0.5)
    p.add_argument("--constant-lr", action="store_true", help="no cosine decay")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data.is_file():
        print(f"CLINC150 not found at {args.data}; nothing to benchmark.")
        return 0
    config = TrainConfig(
        features=FeatureSpec(buckets=args.buckets, seq_len=args.seq_len),
        dim=args.dim,
        hidden=args.hidden,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        label_smoothing=args.label_smoothing,
        dropout=args.dropout,
        token_dropout=args.token_dropout,
        cosine_decay=not args.constant_lr,
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tinyslm-clinc-") as tmp:
        result = run_train(
            args.data, Path(tmp) / "model", config, log=None if args.quiet else print
        )
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
        "threshold": m.threshold,
        "threshold_q": m.threshold_q,
        "threshold_rule": mt["threshold_rule"],
        "model_bytes": m.model_bytes,
        "arena_bytes": m.arena_bytes,
        "ops": list(m.ops),
        "train_seconds": round(result.train_seconds, 2),
        "convert_seconds": round(result.convert_seconds, 2),
        "verify_seconds": round(result.verify_seconds, 2),
        "total_seconds": round(time.perf_counter() - start, 2),
    }
    rows = [
        (
            "config",
            f"B={args.buckets} D={args.dim} H={args.hidden} L={args.seq_len} "
            f"epochs={args.epochs} bs={args.batch_size} lr={args.learning_rate} "
            f"ls={args.label_smoothing} dropout={args.dropout} token_dropout={args.token_dropout} "
            f"cosine_decay={not args.constant_lr} seed={args.seed}",
        ),
        ("in-scope accuracy float", f"{mt['float_accuracy'] * 100:.2f}%"),
        ("in-scope accuracy int8 (TFLM)", f"{mt['int8_accuracy'] * 100:.2f}%"),
        ("in-scope accuracy int8 at threshold", f"{mt['int8_accuracy_at_threshold'] * 100:.2f}%"),
        ("float/int8 agreement", f"{mt['agreement'] * 100:.2f}%"),
        ("oos recall at threshold", f"{(mt['oos_recall'] or 0) * 100:.2f}%"),
        ("threshold", f"{m.threshold:.3f} (q={m.threshold_q}, {mt['threshold_rule']}, on val)"),
        ("model bytes", f"{m.model_bytes} ({m.model_bytes / 1024:.1f} KiB)"),
        ("minimum arena bytes", str(m.arena_bytes)),
        (
            "train / convert / verify",
            f"{result.train_seconds:.1f} s / "
            f"{result.convert_seconds:.1f} s / {result.verify_seconds:.1f} s",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k.ljust(width)}  {v}" for k, v in rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
