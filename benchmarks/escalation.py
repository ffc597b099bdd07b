"""Device + host: what answering escalated phrases on the host adds (``--host-model``).

Scores a dataset split (CLINC150's test split by default) with a device model and a
host model (two ``tinyslm train`` output folders), both on TFLM as ``tinyslm eval``
does (the firmware gives the same answers, proven by the emulator parity tests). The
device answers a phrase locally when its top score reaches its threshold and escalates
it otherwise; ``tinyslm monitor --host-model HOST`` then answers each escalated phrase
with the host model. Prints, and with ``--json PATH`` writes (nothing is written
without it):

- the device alone: in-scope accuracy at its threshold, escalation rate, out-of-scope
  recall (out-of-scope phrases escalated);
- the host on the device's escalations: its top-1 accuracy on the escalated in-scope
  phrases, and how many it is sure of (at or above its own threshold);
- the system: in-scope phrases answered right by the device or by a sure host, phrases
  answered wrong, phrases left unanswered (neither sure), and out-of-scope phrases
  that neither answers (the system's out-of-scope recall).

    .venv/bin/python benchmarks/escalation.py --device DIR --host DIR [--data FILE]
        [--split test] [--json OUT]

The phrases are the device's split (split with its seed). A host whose seed splits a
file without a split column otherwise, so that it trained on some of those phrases, is
refused; data none of whose intents a model knows is refused, and a partial overlap
warned about, as ``tinyslm eval`` does. The figures record the data, the arguments and
both models' seeds.
Without the dataset it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# Its sibling modules (_results, clinc150) also when loaded from a file by the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))

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

from tinyslm.errors import TinySlmError  # noqa: E402

if TYPE_CHECKING:
    from tinyslm.text.dataset import DatasetRows

# The "benchmark" mark of its figures: a --json file is replaced only if it is its own.
BENCHMARK = "escalation"
DEFAULT_DATA = shared_dir() / "datasets" / "clinc150" / "data_full.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--device", type=path_arg, required=True, help="the device's model folder")
    p.add_argument("--host", type=path_arg, required=True, help="the host's model folder")
    p.add_argument("--data", type=path_arg, default=DEFAULT_DATA, help="the dataset file")
    p.add_argument(
        "--split",
        choices=("test", "val", "train", "all"),
        default="test",
        help="the split whose phrases are scored",
    )
    p.add_argument("--json", type=json_arg, default=None, help="also write the figures here")
    args = p.parse_args(argv)
    for problem in (
        json_target_problem(args.json, [args.data, args.device, args.host], BENCHMARK),
        missing_data(args.data, DEFAULT_DATA, "dataset file", kind="file"),
    ):
        if problem:
            p.error(problem)
    # Both folders before the dataset: a mistyped --device passed with exit 0 where the
    # dataset is absent ("nothing to benchmark"), hiding the typo until ../shared exists.
    for flag, folder in (("--device", args.device), ("--host", args.host)):
        try:
            _load(folder, probe_arena=False)
        except TinySlmError as exc:
            p.error(f"{flag}: {exc}")
    # Recorded in the figures: which data and settings made them.
    args.argv = given_argv(argv)
    return args


def _load(model_dir: Path, probe_arena: bool = True) -> tuple[Any, bytes]:
    """A text model folder (manifest, flatbuffer); a keyword model is refused."""
    from tinyslm.manifest import load_model_dir
    from tinyslm.modality import AUDIO

    manifest, model = load_model_dir(model_dir, probe_arena=probe_arena)
    if manifest.modality == AUDIO:
        raise TinySlmError(f"{model_dir}: a keyword model, not a text intent model")
    return manifest, model


def _scores(manifest: Any, model: bytes, texts: list[str]) -> npt.NDArray[np.int8]:
    """Every phrase's int8 scores on TFLM, as ``tinyslm eval`` takes them."""
    from tinyslm.text.features import encode
    from tinyslm.tflm_runtime import tflm_scores

    k = len(manifest.labels)
    if not texts:
        return np.zeros((0, k), dtype=np.int8)
    scores = tflm_scores(model, encode(texts, manifest.features), manifest.arena_bytes)
    return np.asarray(scores, dtype=np.int8).reshape(-1, k)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """The figures (see the module docstring) as a JSON-ready dict."""
    from tinyslm.decision import gate_figures
    from tinyslm.emulate.phrases import split_phrases
    from tinyslm.text.dataset import read_dataset

    dev_m, dev_model = _load(args.device)
    host_m, host_model = _load(args.host)
    # Read once, split with each model's seed: the device's split is scored, the host's
    # is checked for the scored phrases (a host of another seed read the file twice).
    read = read_dataset(args.data, for_training=False)
    rows = split_phrases(args.data, read.split(seed=dev_m.seed), args.split)
    refuse_host_split(args, rows, dev_m.seed, host_m.seed, read)
    for flag, labels in (("--device", dev_m.labels), ("--host", host_m.labels)):
        check_known(flag, args.data, rows, labels)
    texts = [text for text, _, _ in rows]
    oos = np.array([o for _, _, o in rows], dtype=bool)
    truth = [label for _, label, _ in rows]
    dev = _scores(dev_m, dev_model, texts)
    host = _scores(host_m, host_model, texts)
    dev_top = [dev_m.labels[i] for i in dev.argmax(axis=1)]
    host_top = [host_m.labels[i] for i in host.argmax(axis=1)]
    dev_local = dev.max(axis=1) >= dev_m.threshold_q
    host_sure = host.max(axis=1) >= host_m.threshold_q
    dev_right = np.array([p == t for p, t in zip(dev_top, truth, strict=True)]) & ~oos
    host_right = np.array([p == t for p, t in zip(host_top, truth, strict=True)]) & ~oos
    inscope, n_oos = int((~oos).sum()), int(oos.sum())
    escalated = ~dev_local & ~oos
    # The pair is one gate: a phrase is answered when the device or a sure host answers
    # it, and right when whoever answered it is right.
    answered = dev_local | host_sure
    pair_right = np.where(dev_local, dev_right, host_right)
    device = gate_figures(dev_right[~oos], dev_local[~oos], ~dev_local[oos])
    pair = gate_figures(pair_right[~oos], answered[~oos], ~answered[oos])

    def r4(value: float | None) -> float | None:
        return None if value is None or not inscope else round(value, 4)

    def share(mask: npt.NDArray[np.bool_], of: int) -> float | None:
        return round(float(mask.sum()) / of, 4) if of else None

    return {
        "dataset": args.data.name,
        # Which data and settings made the figures (the split follows the device's seed).
        "data": str(args.data),
        "argv": args.argv,
        "split": args.split,
        "device": {
            "seed": dev_m.seed,
            "model_sha256": dev_m.model_sha256,
            "model_bytes": dev_m.model_bytes,
            "threshold": dev_m.threshold,
            "accuracy": r4(device.accuracy),
            "accuracy_at_threshold": r4(device.accuracy_at_threshold),
            "escalation_rate": r4(1.0 - device.local_rate),
            "oos_recall": share(~dev_local & oos, n_oos),
        },
        "host": {
            "seed": host_m.seed,
            "model_sha256": host_m.model_sha256,
            "model_bytes": host_m.model_bytes,
            "threshold": host_m.threshold,
            "accuracy": share(host_right, inscope),
            "escalated_phrases": int(escalated.sum()),
            "accuracy_on_escalated": share(escalated & host_right, int(escalated.sum())),
            "sure_on_escalated": share(escalated & host_sure, int(escalated.sum())),
        },
        "system": {
            "phrases": inscope,
            "oos_phrases": n_oos,
            "answered_right": r4(pair.accuracy_at_threshold),
            "answered_wrong": r4(pair.local_rate - pair.accuracy_at_threshold),
            "unanswered": r4(1.0 - pair.local_rate),
            "oos_recall": share(~answered & oos, n_oos),
        },
    }


def refuse_host_split(
    args: argparse.Namespace,
    rows: list[tuple[str, str, bool]],
    device_seed: int,
    host_seed: int,
    read: DatasetRows,
) -> None:
    """Refuse a host that trained on phrases scored here: its seed splits ``--data``
    otherwise than the device's, whose split is scored. ``read``: ``--data``'s rows
    (:class:`tinyslm.text.dataset.DatasetRows`), split here with the host's seed.

    On a file without a split column a host trained with another seed was scored on
    phrases it trained on (182 of the demo set's 260 test phrases at seeds 0 and 1), its
    figures inflated without a word.

    Raises:
        TinySlmError: some scored phrases are in the host's training split (one line).
    """
    from tinyslm.emulate.phrases import dataset_phrases

    if host_seed == device_seed:
        return
    host_data = read.split(seed=host_seed)
    if sorted(dataset_phrases(host_data, args.split)) == sorted(rows):
        return  # a split column fixes the split (or --split all): the seed moves nothing
    seen = {(e.text, e.label) for e in host_data.train}
    leaked = sum((text, label) in seen for text, label, oos in rows if not oos)
    if leaked:
        raise TinySlmError(
            f"--device was trained with seed {device_seed}, --host with seed {host_seed}: "
            f"{args.data} is split by the seed (rows without a split column), and {leaked} "
            f"of the {args.split} phrases scored are in the host's training split; "
            "train both with one seed"
        )


def check_known(
    flag: str, data: Path, rows: list[tuple[str, str, bool]], labels: Sequence[str]
) -> None:
    """As ``tinyslm eval``: refuse data none of whose intents the model knows, and warn
    (stderr) where some phrases expect an intent it lacks; both name the model's flag.

    Raises:
        TinySlmError: no in-scope intent of ``rows`` is one of ``labels``.
    """
    from tinyslm.emulate.phrases import check_intents_known, unknown_intents_warning

    try:
        check_intents_known(data, rows, labels)
    except TinySlmError as exc:
        raise TinySlmError(f"{flag}: {exc}") from None
    said = unknown_intents_warning([label for _, label, oos in rows if not oos], labels)
    if said is not None:
        print(f"warning: {flag}: {said}", file=sys.stderr)


def table(f: dict[str, Any]) -> str:
    d, h, s = f["device"], f["host"], f["system"]
    rows = [
        ("device model", f"{d['model_bytes']} B, threshold {d['threshold']}"),
        ("host model", f"{h['model_bytes']} B, threshold {h['threshold']}"),
        ("device top-1 (in-scope)", pct(d["accuracy"])),
        ("device right and local", pct(d["accuracy_at_threshold"])),
        ("device escalation rate", pct(d["escalation_rate"])),
        ("device out-of-scope recall", pct(d["oos_recall"])),
        ("host top-1 (in-scope)", pct(h["accuracy"])),
        (
            "host top-1 on escalated",
            f"{pct(h['accuracy_on_escalated'])} of {h['escalated_phrases']}",
        ),
        ("host sure on escalated", pct(h["sure_on_escalated"])),
        ("system answered right", pct(s["answered_right"])),
        ("system answered wrong", pct(s["answered_wrong"])),
        ("system unanswered", pct(s["unanswered"])),
        ("system out-of-scope recall", pct(s["oos_recall"])),
    ]
    title = (
        f"{f['dataset']} ({f['split']}: {s['phrases']} in-scope, {s['oos_phrases']} out-of-scope)"
    )
    return table_text(title, rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data.is_file():
        print(
            f"dataset not found at {args.data}; nothing to benchmark"
            f" (give --data, or set {SHARED_ENV})."
        )
        return 0
    try:
        figures = measure(args)
    except TinySlmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(figures))
    if args.json is not None:
        write_json(args.json, json.dumps(figures, indent=2), BENCHMARK)
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
