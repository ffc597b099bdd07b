"""Speech Commands benchmark: keyword models trained, quantized and verified on TFLM.

Trains on ``--data`` (by default ``datasets/speech_commands_dev/`` in
``$TINYSLM_SHARED_DIR``, else in ``../shared``; real recordings, 7
keywords + ``_unknown_`` + ``_silence_``, split by speaker with the dataset's own
``which_set``) and prints, for each model size asked for (``default``,
``small``): top-1 accuracy float and INT8 (on TFLM) on the speaker-disjoint
test split, per class, model bytes, the smallest arena, MACs per inference and
wall times. ``--synth-train V`` adds TTS clips of the keywords (``V`` voices per
engine) to the training split only, as ``tinyslm train --extra-train`` does.
``--tilt P`` and ``--reverb P`` give that share of the spoken training copies another
microphone and another room (``tinyslm.audio.channel``; off in the recipe).
``--noise-per-epoch`` mixes fresh background noise into the training copies every epoch
(``tinyslm.audio.train.mix_noise``; off in the recipe: once, into each copy's waveform).
``--freq-warp W`` scales every training example's spectrum in frequency by a factor in
``1 - W .. 1 + W``, afresh every epoch (``tinyslm.audio.train.warp_frequency``; off in the recipe).
``--synthetic`` adds a model trained only on ``tinyslm.audio.synth``
speech for the same 7 words (by default what ``tinyslm synth`` writes: every voice,
3 clips of each word per voice) and scored on the same real test split.
``--selection`` trains and scores on the selection harness that chooses settings
(:func:`selection_split`: the test split is left out, and the figures are on validation
clips) instead of the test split.
With ``--json PATH`` the figures are also written as JSON; nothing is written
without it, so a run never overwrites the committed
``benchmarks/results/speech_commands.json`` unless that path is given on purpose.
Without the dataset it says so and exits 0.

    .venv/bin/python benchmarks/speech_commands.py [--sizes default,small] [--synthetic]
        [--json PATH]

Streaming figures are the ones ``tinyslm train`` records
(:func:`tinyslm.audio.fit.evaluate_streams`): the detector threshold chosen on the
validation split's streams, then false accepts per hour on the test split's background
noise and unknown-word streams and the false-rejection rate on its keyword stream, with
the firmware's streaming rule (``--stride-ms``, ``--average``; defaults as ``train``).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# Its sibling modules (_results, clinc150) also when loaded from a file by the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _results import (  # noqa: E402
    SHARED_ENV,
    Parser,
    given_argv,
    json_arg,
    json_target_problem,
    missing_data,
    path_arg,
    shared_dir,
    write_json,
)

from tinyslm.audio.dataset import (  # noqa: E402
    UNKNOWN,
    AudioDataset,
    AudioDatasetConfig,
    load_audio_dataset,
    load_training_clips,
    refuse_too_many_labels,
)
from tinyslm.audio.fit import (  # noqa: E402
    evaluate_streams,
    keyword_spec,
    refuse_unfirable_rule,
    stream_metrics,
)
from tinyslm.audio.model import SIZES  # noqa: E402
from tinyslm.audio.options import FRAME_MS, stride_frames_of  # noqa: E402
from tinyslm.audio.stream import fa_text, figure_text, measured  # noqa: E402
from tinyslm.audio.synth import SynthConfig, find_voices, synthesize  # noqa: E402
from tinyslm.audio.train import (  # noqa: E402
    AudioTrainConfig,
    AudioTrainResult,
    confusion_matrix,
    feature_sets,
    tflm_predict,
    train_audio,
)
from tinyslm.errors import DatasetError, ModelError, TinySlmError  # noqa: E402

SYNTH_DEFAULTS = SynthConfig()

# The "benchmark" mark of its figures: a --json file is replaced only if it is its own.
BENCHMARK = "speech_commands"
DEFAULT_DATA = shared_dir() / "datasets" / "speech_commands_dev"
# Training `_unknown_` speakers the selection harness moves to validation (docs/audio.md,
# "How the settings were chosen"): the dataset's own validation split has one unknown clip.
SELECTION_UNKNOWN_SPEAKERS = 4
TARGETS = {"default": (0.94, 64 * 1024, 32 * 1024), "small": (0.90, 20 * 1024, None)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = AudioTrainConfig()
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=path_arg, default=DEFAULT_DATA, help="the keyword dataset")
    p.add_argument("--json", type=json_arg, help="write the figures here (default: print only)")
    p.add_argument("--sizes", default="default,small", help="comma-separated model sizes")
    p.add_argument(
        "--epochs", type=int, default=d.epochs, help="at most; early stopping usually ends sooner"
    )
    p.add_argument(
        "--patience",
        type=int,
        default=d.patience,
        help="epochs without a lower validation loss before stopping",
    )
    p.add_argument(
        "--augment-copies",
        type=int,
        default=d.augment_copies,
        help="augmented versions of each training clip, besides the clip itself",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=d.seed,
        help="seeds augmentation, initial weights, shuffling and masks",
    )
    p.add_argument(
        "--balance-classes",
        action=argparse.BooleanOptionalAction,
        default=d.balance_classes,
        help="extra augmented copies for labels with fewer clips (_unknown_, _silence_)",
    )
    p.add_argument(
        "--stride-ms",
        type=int,
        default=d.stride_frames * FRAME_MS,
        help="the streaming rule: an inference every this many ms (as train)",
    )
    p.add_argument(
        "--average",
        type=int,
        default=d.average,
        help="the streaming rule: inferences averaged per decision (as train)",
    )
    p.add_argument("--synthetic", action="store_true", help="also a synthetic-only model")
    # What 'tinyslm synth WORD...' writes by default, so the figure is what a user gets.
    # None unless typed: without --synthetic they were accepted and never used.
    p.add_argument(
        "--synth-voices",
        type=int,
        default=None,
        help="with --synthetic: voices per TTS engine (0: all; default: tinyslm synth's, "
        f"{SYNTH_DEFAULTS.max_voices_per_engine})",
    )
    p.add_argument(
        "--synth-clips",
        type=int,
        default=None,
        help="with --synthetic: clips per word per voice (default: tinyslm synth's, "
        f"{SYNTH_DEFAULTS.clips_per_voice})",
    )
    p.add_argument(
        "--synth-train",
        type=int,
        default=0,
        metavar="VOICES",
        help="add tinyslm synth's clips of the keywords (VOICES voices per engine, 2 clips "
        "each, no unknown words) to every model's training split (0: none)",
    )
    for flag, name, what in (
        ("--tilt", "tilt_probability", "with another microphone's spectral tilt"),
        ("--reverb", "reverb_probability", "played in a drawn room"),
    ):
        p.add_argument(
            flag,
            type=float,
            default=getattr(d, name),
            metavar="P",
            help=f"share of spoken training copies {what} (round 18; 0: off, the recipe)",
        )
    p.add_argument(
        "--noise-per-epoch",
        action="store_true",
        help="mix the background noise into the training copies afresh every epoch"
        " (round 30; off: once into each copy, the recipe)",
    )
    p.add_argument(
        "--freq-warp",
        type=float,
        default=d.freq_warp,
        metavar="W",
        help="warp every training example's spectrum in frequency by 1-W..1+W, afresh every"
        " epoch (round 31; 0: off, the recipe)",
    )
    p.add_argument(
        "--selection",
        action="store_true",
        help=f"score on the selection harness, not the test split ({SELECTION_UNKNOWN_SPEAKERS}"
        " training _unknown_ speakers moved to validation; the test split left out)",
    )
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = p.parse_args(argv)
    # A typed --data that does not exist is a mistake (it said "nothing to benchmark" and
    # exited 0); the default (../shared) may be absent.
    problem = json_target_problem(args.json, [args.data], BENCHMARK) or missing_data(
        args.data, DEFAULT_DATA, "dataset folder"
    )
    if problem:
        p.error(problem)
    args.size_list = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if not args.size_list and not args.synthetic:
        # Nothing to train: --sizes '' runs only the synthetic-only model (--synthetic).
        p.error(f"--sizes {args.sizes!r}: no model size (known: {', '.join(SIZES)})")
    problem = ignored_option(args)
    if problem:
        p.error(problem)
    args.synth_voices = _or(args.synth_voices, SYNTH_DEFAULTS.max_voices_per_engine)
    args.synth_clips = _or(args.synth_clips, SYNTH_DEFAULTS.clips_per_voice)
    # Every setting is checked here, in one line, before the dataset loads and training
    # starts: a bad --average or size would otherwise stop the run with a traceback. (A
    # streaming rule too long for the validation streams needs the dataset to be seen:
    # measure() refuses it after loading, before training, as tinyslm train does.)
    if args.selection and args.synthetic:
        p.error(
            "--selection with --synthetic: the synthetic-only model is scored on the test split"
        )
    if args.synth_train < 0:
        p.error(f"--synth-train {args.synth_train}: voices per engine must be >= 0")
    try:
        args.stride_frames = stride_frames_of(args.stride_ms)
        for size in {*args.size_list, *(["default"] if args.synthetic else [])}:
            train_config(args, size)
    except (ValueError, ModelError) as exc:
        p.error(flagged(str(exc)))
    if args.synthetic:
        # Checked now, not after the recorded models have trained for many minutes.
        try:
            synthetic_only_config(args)
        except DatasetError as exc:
            p.error(f"--synth-voices {args.synth_voices} --synth-clips {args.synth_clips}: {exc}")
    return args


# The option each AudioTrainConfig field is set with here: its refusals name the field
# ("tilt_probability must be in 0..1, got 2.0"), which the user never typed.
FLAGS = {
    "size": "--sizes",
    "epochs": "--epochs",
    "patience": "--patience",
    "augment_copies": "--augment-copies",
    "seed": "--seed",
    "stride_frames": "--stride-ms",
    "average": "--average",
    "tilt_probability": "--tilt",
    "reverb_probability": "--reverb",
    "freq_warp": "--freq-warp",
}


def flagged(message: str) -> str:
    """``message`` led by the option it is about, where it names a config field or a
    model size (a message naming its flag already is left as it is)."""
    first = message.split(" ", 1)[0]
    if first in FLAGS:
        return f"{FLAGS[first]}: {message}"
    if message.startswith("unknown model size"):
        return f"{FLAGS['size']}: {message}"
    return message


def ignored_option(args: argparse.Namespace) -> str | None:
    """Why an option given would not be used, or a size given twice (one line), or None.

    Each was accepted without a word: ``--synth-voices``/``--synth-clips`` without
    ``--synthetic``, ``--synth-train`` with ``--sizes ''`` (no recorded model to add the
    clips to), and ``--sizes small,small`` trained twice but kept one in the JSON.
    """
    repeated = sorted({size for size in args.size_list if args.size_list.count(size) > 1})
    if repeated:
        return f"--sizes {args.sizes!r}: {', '.join(repeated)} given twice; give each size once"
    if not args.synthetic:
        given = [
            flag
            for flag, value in (
                ("--synth-voices", args.synth_voices),
                ("--synth-clips", args.synth_clips),
            )
            if value is not None
        ]
        if given:
            return f"{' and '.join(given)} without --synthetic: used only with --synthetic"
    if args.synth_train and not args.size_list:
        return (
            f"--synth-train {args.synth_train} with --sizes {args.sizes!r}: used only for the"
            " recorded models --sizes names (the synthetic-only model has its own voices)"
        )
    return None


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def selection_split(dataset: AudioDataset, moved: int = SELECTION_UNKNOWN_SPEAKERS) -> AudioDataset:
    """The harness settings are chosen on, never the test split.

    The first ``moved`` training ``_unknown_`` speakers by SHA-1 of the name go to
    validation; the test split is left out; the validation clips are also the split that
    is scored (as ``test``), so the epoch kept and the figures come from the same clips.

    Raises:
        DatasetError: the training split has ``moved`` or fewer ``_unknown_`` speakers.
    """
    speakers = sorted(
        {c.speaker for c in dataset.clips if c.label == UNKNOWN and c.split == "train"}
    )
    if len(speakers) <= moved:
        raise DatasetError(
            f"--selection moves {moved} training {UNKNOWN} speakers to validation;"
            f" the training split has {len(speakers)}"
        )
    chosen = set(sorted(speakers, key=lambda n: hashlib.sha1(n.encode()).hexdigest())[:moved])
    clips = [
        dataclasses.replace(c, split="val")
        if c.split == "train" and c.label == UNKNOWN and c.speaker in chosen
        else c
        for c in dataset.clips
        if c.split != "test"
    ]
    scored = [dataclasses.replace(c, split="test") for c in clips if c.split == "val"]
    return dataclasses.replace(dataset, clips=(*clips, *scored))


def train_config(args: argparse.Namespace, size: str) -> AudioTrainConfig:
    """The recipe of one benchmarked model, from the command line."""
    return AudioTrainConfig(
        size=size,
        epochs=args.epochs,
        patience=args.patience,
        augment_copies=args.augment_copies,
        balance_classes=args.balance_classes,
        seed=args.seed,
        stride_frames=args.stride_frames,
        average=args.average,
        tilt_probability=args.tilt,
        reverb_probability=args.reverb,
        noise_per_epoch=args.noise_per_epoch,
        freq_warp=args.freq_warp,
    )


def figures_of(result: AudioTrainResult, wall: float) -> dict[str, Any]:
    return {
        "labels": list(result.labels),
        "accuracy_float": round(result.float_accuracy, 5),
        "accuracy_int8_tflm": round(result.int8_accuracy, 5),
        "val_accuracy_float": round(result.val_accuracy, 5),
        "per_class_int8": {
            k: {"accuracy": measured(a, 5), "clips": n} for k, a, n in result.per_class
        },
        "confusion_int8": [list(r) for r in result.confusion],
        "model_bytes": result.model_bytes,
        "arena_bytes": result.arena_bytes,
        "macs": result.macs,
        "params": result.params,
        "ops": list(result.ops),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "n_train_with_copies": result.n_train_examples,
        "n_val": result.n_val,
        "n_test": result.n_test,
        "feature_seconds": round(result.feature_seconds, 1),
        "train_seconds": round(result.train_seconds, 1),
        "convert_seconds": round(result.convert_seconds, 1),
        "verify_seconds": round(result.verify_seconds, 1),
        "total_seconds": round(wall, 1),
    }


def stream_figures_of(
    dataset: AudioDataset, result: AudioTrainResult, config: AudioTrainConfig
) -> dict[str, Any]:
    """The streaming figures ``tinyslm train`` would record for this model."""
    start = time.perf_counter()
    ev = evaluate_streams(dataset, result.model, keyword_spec(dataset, config))
    return {
        **stream_metrics(ev.figures, dataset.labels),
        "stride_ms": ev.figures.stride_ms,
        "average": ev.figures.window,
        "suppression_ms": ev.figures.suppression_ms,
        "threshold_q": ev.threshold_q,
        "threshold_found": ev.threshold_found,
        "seconds": round(time.perf_counter() - start, 1),
    }


def rows_of(name: str, f: dict[str, Any], scored: str = "test") -> list[tuple[str, str]]:
    """``name``'s table rows; ``scored``: the split its accuracy is on (``validation``
    with ``--selection``, whose figures were labelled "test clips")."""
    target = TARGETS.get(name)
    aim = ""
    if target:
        acc, flash, arena = target
        aim = f" (target >= {acc * 100:.0f}%, <= {flash // 1024} KB" + (
            f", arena <= {arena // 1024} KB)" if arena else ")"
        )
    per_class = ", ".join(
        f"{k} {figure_text(v['accuracy'], '.1f', percent=True)}"
        for k, v in f["per_class_int8"].items()
    )
    return [
        (
            f"[{name}] accuracy float / int8 (TFLM)",
            f"{f['accuracy_float'] * 100:.2f}% / "
            f"{f['accuracy_int8_tflm'] * 100:.2f}% on {f['n_test']} {scored} clips{aim}",
        ),
        (f"[{name}] per class (int8)", per_class),
        (
            f"[{name}] model / arena / MACs",
            f"{f['model_bytes']} B / {f['arena_bytes']} B / {f['macs']:,} ({f['params']:,} params)",
        ),
        (f"[{name}] epochs (best)", f"{f['epochs_run']} ({f['best_epoch']})"),
        *stream_rows(name, f.get("streams")),
        (
            f"[{name}] features / train / convert / verify",
            f"{f['feature_seconds']} s / "
            f"{f['train_seconds']} s / {f['convert_seconds']} s / {f['verify_seconds']} s",
        ),
    ]


def synth_train_config(args: argparse.Namespace) -> SynthConfig:
    """``--synth-train``'s clips: keywords only, 2 per voice, no background."""
    return SynthConfig(
        seed=args.seed,
        max_voices_per_engine=args.synth_train,
        clips_per_voice=2,
        unknown_clips_per_voice=0,
        background_seconds=0,
    )


def synthetic_only_config(args: argparse.Namespace) -> SynthConfig:
    """``--synthetic``'s dataset: ``tinyslm synth``'s defaults unless the flags say otherwise."""
    return SynthConfig(
        seed=args.seed, max_voices_per_engine=args.synth_voices, clips_per_voice=args.synth_clips
    )


def with_synthetic_keywords(
    real: AudioDataset, args: argparse.Namespace, tmp: Path
) -> tuple[AudioDataset, dict[str, Any]]:
    """``real`` with TTS clips of its keywords in the training split (``--synth-train``).

    What ``tinyslm synth WORD... --max-voices V --clips 2 --unknown-clips 0
    --background-seconds 0 -o DIR`` and ``tinyslm train DATA --extra-train DIR`` do.
    """
    start = time.perf_counter()
    made = synthesize(
        real.keywords,
        tmp / "synth-train",
        synth_train_config(args),
    )
    seconds = time.perf_counter() - start
    info = {
        "voices_per_engine": args.synth_train,
        "engines": list(made.engines),
        "speakers": len(made.speakers),
        "clips": sum(n for _, n in made.clips),
        "synth_seconds": round(seconds, 1),
    }
    return load_training_clips(made.out_dir, real), info


def synthetic_on_real(
    real: AudioDataset, args: argparse.Namespace, config: AudioTrainConfig, log: Any
) -> dict[str, Any]:
    """Train on synthetic speech only; score the INT8 model on the real test split."""
    words = [w for w in real.labels if not w.startswith("_")]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tinyslm-synth-") as tmp:
        made = synthesize(
            words,
            Path(tmp) / "synth",
            synthetic_only_config(args),
        )
        synth_seconds = time.perf_counter() - start
        synth = load_audio_dataset(made.out_dir)
        result = train_audio(synth, config, log)
    # The synthetic set has every word, _unknown_ and _silence_; a real set without
    # _unknown_ clips or _background_noise_ has fewer labels. Its test clips are still
    # scored: each real label is mapped to the synthetic model's output (this ended the
    # run after every model had trained, "synthetic labels ... differ from real ...").
    absent = [label for label in real.labels if label not in synth.labels]
    if absent:
        raise DatasetError(
            f"the real test split has {', '.join(absent)}, which the synthetic set lacks"
        )
    real_sets = feature_sets(real, config)
    # Map the real test labels to the synthetic model's output order.
    order = [synth.labels.index(label) for label in real.labels]
    y = np.asarray(order, dtype=np.int64)[real_sets.y_test]
    pred = tflm_predict(result.model, real_sets.x_test).astype(np.int64).argmax(axis=1)
    matrix = confusion_matrix(y, pred, len(synth.labels))
    per_class = {
        label: {
            # null for a label without real test clips (it read 0.0 %, as if all missed).
            "accuracy": measured(
                float(matrix[i, i] / matrix[i].sum()) if matrix[i].sum() else math.nan, 5
            ),
            "clips": int(matrix[i].sum()),
        }
        for i, label in enumerate(synth.labels)
        # Only the real split's labels: a synthetic-only label has no real clip to score.
        if label in real.labels
    }
    return {
        "engines": list(made.engines),
        "speakers": len(made.speakers),
        "clips": dict(made.clips),
        "synth_seconds": round(synth_seconds, 1),
        "synthetic_test_accuracy_int8": round(result.int8_accuracy, 5),
        "real_test_accuracy_int8_tflm": round(float(np.mean(pred == y)), 5),
        "real_per_class_int8": per_class,
        "real_confusion_int8": [[int(v) for v in r] for r in matrix],
        "labels": list(synth.labels),
        "model_bytes": result.model_bytes,
        "train_seconds": round(result.train_seconds, 1),
    }


def stream_rows(name: str, st: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The streaming figures' rows; a figure not measured (null: a split without noise,
    unknown words or keywords in its stream) reads ``n/a``. Formatting the null as a
    number ended the run with a TypeError after every model had trained."""
    if not st:
        return []
    keyword_fa = st["keyword_false_accepts"]
    return [
        (
            f"[{name}] streams: rule / threshold",
            f"every {st['stride_ms']} ms, {st['average']} averaged / q={st['threshold_q']}"
            + ("" if st["threshold_found"] else " (false accepts at every threshold)"),
        ),
        (
            f"[{name}] streams: false rejections",
            f"{figure_text(st['false_rejection_rate'], '.1f', percent=True)} of "
            f"{st['keyword_clips']} keywords "
            # No rate for the keyword stream's false accepts (fa_text's): null where the
            # rule could not fire on it, or there was none.
            f"({'n/a' if keyword_fa is None else keyword_fa} false accepts among them)"
            " (target <= 10%)",
        ),
        (
            f"[{name}] streams: false accepts per hour",
            f"noise {_fa_of(st, 'noise')} (target <= 1), unknown words {_fa_of(st, 'unknown')}",
        ),
    ]


def _fa_of(st: dict[str, Any], stream: str) -> str:
    """A stream's false accepts per hour in train's and eval's words (``fa_text``), to one
    decimal as the benchmark's tables have always given them."""
    return fa_text(
        st[f"{stream}_fa_per_hour"],
        st[f"{stream}_false_accepts"],
        st[f"{stream}_seconds"],
        spec=".1f",
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.data.exists():  # a list file is a keyword dataset too
        print(
            f"Speech Commands not found at {args.data}; nothing to benchmark"
            f" (give --data, or set {SHARED_ENV})."
        )
        return 0
    try:
        check_engines(args)
        return measure(args, argv)
    except TinySlmError as exc:
        # As tinyslm train: an unusable dataset is one line and exit 2.
        print(f"error: {exc}", file=sys.stderr)
        return 2


def check_engines(args: argparse.Namespace) -> None:
    """The TTS engines and voices ``--synthetic`` and ``--synth-train`` synthesize with, as
    :func:`synthesize` finds them, before anything trains: a missing engine was found only
    when the synthetic-only model's turn came, after the recorded models had trained.

    Raises:
        ToolchainError: no engine on PATH (one line naming the flag).
        DatasetError: a requested voice does not exist.
    """
    asked = [("--synthetic", synthetic_only_config(args))] if args.synthetic else []
    if args.synth_train and args.size_list:
        asked.append(("--synth-train", synth_train_config(args)))
    for flag, config in asked:
        try:
            find_voices(config)
        except TinySlmError as exc:
            raise type(exc)(f"{flag}: {exc}") from None


def refuse_unfirable_rules(dataset: AudioDataset, args: argparse.Namespace) -> None:
    """``tinyslm train``'s refusal of a streaming rule no validation stream of ``dataset``
    is long enough to fire on, for every size, before the first one trains: the benchmark
    trained and converted it, then ended in a TypeError on its unmeasured streams.

    Raises:
        DatasetError: the rule cannot fire (the one line ``tinyslm train`` gives).
    """
    for size in args.size_list:
        refuse_unfirable_rule(dataset, keyword_spec(dataset, train_config(args, size)))


def measure(args: argparse.Namespace, argv: list[str] | None) -> int:
    """Train and measure every model the arguments ask for; print and maybe write them."""
    log = None if args.quiet else print
    # No --keywords or --unknown-words here: a refusal names only what to change in the data.
    real = load_audio_dataset(args.data, AudioDatasetConfig(word_options=False))
    # train's one line, before the rule check reached the detector's internal field
    # ("num_labels 17 not in 2..16"); no --keywords here, so the advice is the dataset.
    refuse_too_many_labels(real, keywords_option=False)
    figures: dict[str, Any] = {
        "dataset": args.data.name,
        "labels": list(real.labels),
        "argv": given_argv(argv),
    }
    rows: list[tuple[str, str]] = []
    if args.selection:
        real = selection_split(real)
        figures["scored_on"] = "selection (validation clips; the test split left out)"
        rows.append(("scored on", f"{figures['scored_on']}: no streams"))
    else:
        refuse_unfirable_rules(real, args)
    with tempfile.TemporaryDirectory(prefix="tinyslm-synth-train-") as tmp:
        train_set = real
        if args.synth_train and args.size_list:
            train_set, figures["synth_train"] = with_synthetic_keywords(real, args, Path(tmp))
            s = figures["synth_train"]
            rows.append(
                (
                    "synthetic training clips",
                    f"{s['clips']} ({s['speakers']} voices, {s['synth_seconds']} s), "
                    "training split only",
                )
            )
        for size in args.size_list:
            config = train_config(args, size)
            start = time.perf_counter()
            result = train_audio(train_set, config, log)
            f = figures_of(result, time.perf_counter() - start)
            # Validation and test hold DATA's own speakers only, extra clips or not.
            # The selection harness has no streams: its threshold and its scores would
            # come from the same clips.
            if not args.selection:
                f["streams"] = stream_figures_of(train_set, result, config)
            f["config"] = {k: v for k, v in vars(config).items() if k != "spec"}
            figures[size] = f
            rows += rows_of(size, f, "validation" if args.selection else "test")
    if args.synthetic:
        config = train_config(args, "default")
        s = synthetic_on_real(real, args, config, log)
        figures["synthetic_only"] = s
        rows += [
            (
                "[synthetic-only] data",
                f"{s['speakers']} voices ({', '.join(s['engines'])}), "
                f"{sum(s['clips'].values())} clips, {s['synth_seconds']} s",
            ),
            (
                "[synthetic-only] int8 on real test / synth test",
                f"{s['real_test_accuracy_int8_tflm'] * 100:.2f}% / "
                f"{s['synthetic_test_accuracy_int8'] * 100:.2f}%",
            ),
            (
                "[synthetic-only] real per class",
                ", ".join(
                    f"{k} {figure_text(v['accuracy'], '.1f', percent=True)}"
                    for k, v in s["real_per_class_int8"].items()
                ),
            ),
        ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k.ljust(width)}  {v}" for k, v in rows))
    if args.json is not None:
        write_json(
            args.json,
            json.dumps(figures, indent=2, sort_keys=True, default=list),
            BENCHMARK,
        )
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
