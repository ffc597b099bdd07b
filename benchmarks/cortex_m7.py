"""Cortex-M7 instruction counts of the firmware, under QEMU with ``-icount shift=0``.

For the demo model (``tinyslm train`` defaults on the bundled demo set, sized as
``tinyslm train`` sizes it: B=4096 D=32 H=128, token dropout 0.25) and the
CLINC150 benchmark model (the recipe of benchmarks/clinc150.py, sized for
``--clinc-data`` as ``tinyslm train`` sizes it: B=8192 D=54 H=256 on CLINC150), on
every phrase of a split (``test`` by default: in scope and out of scope), this builds
the generated stm32h7 project's firmware for ``mps2-an500``
(:mod:`tinyslm.toolchain.cortex_m`: CMSIS-NN kernels, -Os, as the board builds it) twice:

- ``stock``: the op resolver registers TFLM's default kernels (the firmware
  before tinyslm's MEAN kernel and int8-only registrations);
- ``tinyslm``: the op resolver as ``tinyslm generate`` writes it.

and reports, per variant, instructions per utterance p50/p95/p99 (numpy's
linear percentiles) split into tokenize / inference / decision, instructions per
TFLM op (mean over phrases, TFLM's MicroProfiler hook, a separate run), the
QEMU image's sections, and parity: every answer against the Python reference
(``verify``'s TFLM runtime + tinyslm.decision: intent, route, printed score),
and stock against tinyslm line by line. With ``tinyslm.toolchain.stm32_image`` and the
STM32H7 SDK, also the linked STM32H7 image's flash and RAM per component from
its map file.

Keyword models (issue 11): the generated stm32h7 keyword project's image with the
keyword glue (``glue/qemu/mps2_an500_kws_main.c``) hears a recording through the
microphone path (``tinyslm_kws_app_feed_samples`` in 10 ms blocks: front end +
inference + detector, as a board with a microphone runs it): test-split keyword clips
of ``speech_commands_dev`` in a row with test-side noise between
(:func:`tinyslm.audio.stream.compose`). Reported: instructions per second of audio
(total, inference, front end + feature window + detector), per inference, the duty
cycle of the STM32H7 at the clock the generated firmware sets (boards/stm32h7.yaml's
``cpu_mhz``, 400 MHz) and at its top 480 MHz, assuming one instruction per cycle (QEMU counts
instructions, not cycles: no caches, wait states, dual issue or multi-cycle
divides), parity of the detections with ``stream.py``'s Python loop, and the linked
STM32H7 keyword image's flash and RAM. Models: the committed keyword fixture (always)
and any ``--keyword-model DIR`` (e.g. a ``tinyslm train`` of speech_commands_dev).

Figures are printed; ``--json PATH`` also writes them (nothing is written by
default), with ``clinc_data`` and ``keyword_data``: the dataset each measurement read,
null for one not read (left out by ``--only``, or not found). The trees and datasets
default to the shared folder (``$TINYSLM_SHARED_DIR``, else ``../shared`` beside the
repository). Without the TFLM Cortex-M7 tree, QEMU or the Arm compiler it says so and
exits 0; without CLINC150 it measures the demo model only.

    .venv/bin/python benchmarks/cortex_m7.py [--demo-model DIR] [--clinc-model DIR] [--json OUT]
        [--only text|keywords] [--keyword-model DIR ...] [--keyword-clips N]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# Its sibling modules (_results, clinc150) also when loaded from a file by the tests.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import clinc150  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from _results import (  # noqa: E402
    Parser,
    given_argv,
    json_arg,
    json_target_problem,
    missing_data,
    path_arg,
    shared_dir,
    write_json,
)

from tinyslm.audio.dataset import SILENCE, UNKNOWN  # noqa: E402
from tinyslm.audio.stream import compose, listen  # noqa: E402
from tinyslm.boards import load_board  # noqa: E402
from tinyslm.emulate import keywords, qemu  # noqa: E402
from tinyslm.emulate.phrases import dataset_phrases, reference_parity, run_phrases  # noqa: E402
from tinyslm.errors import TinySlmError  # noqa: E402
from tinyslm.manifest import Manifest, load_model_dir  # noqa: E402
from tinyslm.modality import AUDIO, TEXT  # noqa: E402
from tinyslm.outdir import real_path  # noqa: E402
from tinyslm.pipeline import run_generate, run_train  # noqa: E402
from tinyslm.resources import data_dir  # noqa: E402
from tinyslm.text.dataset import load_dataset  # noqa: E402
from tinyslm.text.train import TrainConfig  # noqa: E402
from tinyslm.toolchain import cortex_m  # noqa: E402

# The "benchmark" mark of its figures: a --json file is replaced only if it is its own.
BENCHMARK = "cortex_m7"
SHARED = shared_dir()
DEFAULT_CLINC = SHARED / "datasets" / "clinc150" / "data_full.json"
DEFAULT_TREE = SHARED / "sdk" / "tflm" / "cortex-m7"
# What makes a folder a Cortex-M7 TFLM tree this benchmark builds with.
TREE_MARKER = "tinyslm-tflm.json"
DEFAULT_STM32_SDK = SHARED / "sdk" / "stm32cubeh7"
DEMO_DATA = data_dir() / "demo_commands.csv"
DEFAULT_KWS_DATA = SHARED / "datasets" / "speech_commands_dev"
STM32H7_HZ = 480e6  # the H743's top clock, the figure earlier rounds quoted
# The clock the generated firmware runs the STM32H7 at (boards/stm32h7.yaml's cpu_mhz,
# which its clock_init() sets): the load a user's board sees.
BOARD_HZ = load_board("stm32h7").cpu_mhz * 1e6
# r.AddMean(tinyslm_Register_MEAN()) -> r.AddMean(): TFLM's default kernel.
_REGISTRATION = re.compile(r"r\.(Add\w+)\((?:[\w:]+\(\))?\)")
_US = re.compile(r',"us":\d+')
# The committed keyword fixture's key in the figures (always measured).
FIXTURE = "fixture"
KEYWORD_CLIPS = 20
# What missing_data checks a typed path is.
PathKind = Literal["file", "folder", "any"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--demo-model", type=path_arg, help="a 'tinyslm train' folder (else train one)")
    p.add_argument(
        "--clinc-model", type=path_arg, help="the CLINC150 model folder (else train one)"
    )
    p.add_argument(
        "--clinc-data", type=path_arg, default=DEFAULT_CLINC, help="the CLINC150 dataset file"
    )
    p.add_argument("--tflm-dir", type=path_arg, default=DEFAULT_TREE, help="Cortex-M7 TFLM tree")
    p.add_argument(
        "--stm32-sdk",
        type=path_arg,
        default=DEFAULT_STM32_SDK,
        help="STM32CubeH7 folder, for the linked STM32H7 images' flash and RAM",
    )
    # None unless typed: --only keywords reads the test split whatever it says.
    p.add_argument(
        "--split",
        choices=("test", "val", "train", "all"),
        default=None,
        help="the text models' phrases (default: test)",
    )
    p.add_argument(
        "--json",
        type=json_arg,
        default=None,
        help="also write the figures here (clinc_data, keyword_data: null where not read)",
    )
    p.add_argument("--only", choices=("text", "keywords"), help="measure one modality only")
    p.add_argument(
        "--keyword-model",
        type=path_arg,
        action="append",
        default=[],
        help="a keyword model folder to measure besides the fixture (repeatable)",
    )
    p.add_argument(
        "--keyword-data",
        type=path_arg,
        default=DEFAULT_KWS_DATA,
        help="the keyword dataset whose test split the recording is made of",
    )
    p.add_argument(
        "--keyword-clips",
        type=int,
        default=None,
        help=f"keyword clips in the recording (default: {KEYWORD_CLIPS})",
    )
    args = p.parse_args(argv)
    # A bad model folder is one line before minutes of training and emulation.
    folders = [("--demo-model", args.demo_model, TEXT), ("--clinc-model", args.clinc_model, TEXT)]
    folders += [("--keyword-model", folder, AUDIO) for folder in args.keyword_model]
    for flag, folder, modality in folders:
        if folder is not None:
            try:
                manifest, _ = load_model_dir(folder, probe_arena=False)
            except TinySlmError as exc:
                p.error(f"{flag}: {exc}")
            if manifest.modality != modality:
                kinds = {TEXT: "a text intent model", AUDIO: "a keyword model"}
                p.error(f"{flag} {folder}: {kinds[manifest.modality]}, not {kinds[modality]}")
    seen: dict[Path, Path] = {}
    for folder in args.keyword_model:
        if real_path(folder) in seen:
            # The same model twice: measured twice, under one key.
            p.error(
                f"--keyword-model {folder}: given twice (as {seen[real_path(folder)]});"
                " give each model once"
            )
        seen[real_path(folder)] = folder
    if args.keyword_model and args.only == "text":
        # It would not be measured, without a word.
        p.error("--keyword-model with --only text: keyword models are measured with keywords")
    problem = ignored_option(args)
    if problem:
        p.error(problem)
    args.split = args.split or "test"
    args.keyword_clips = KEYWORD_CLIPS if args.keyword_clips is None else args.keyword_clips
    if args.keyword_clips < 1:
        p.error(f"--keyword-clips {args.keyword_clips}: at least 1")
    # A typed path that does not exist, or is not what is read there (a folder for the
    # dataset file, a folder without the tree's tinyslm-tflm.json), is a mistake, not
    # "nothing to measure" (each default under ../shared may be absent: that part is then
    # skipped with a line).
    paths: tuple[tuple[Path, Path, str, str, PathKind, str | None], ...] = (
        (args.clinc_data, DEFAULT_CLINC, "dataset file", "--clinc-data", "file", None),
        # A .csv/.jsonl list of WAV files is a keyword dataset too.
        (args.keyword_data, DEFAULT_KWS_DATA, "dataset folder", "--keyword-data", "any", None),
        (args.tflm_dir, DEFAULT_TREE, "TFLM tree", "--tflm-dir", "folder", TREE_MARKER),
        (args.stm32_sdk, DEFAULT_STM32_SDK, "STM32CubeH7 folder", "--stm32-sdk", "folder", None),
    )
    for given, default, name, flag, kind, marker in paths:
        problem = missing_data(given, default, name, flag, kind, marker)
        if problem:
            p.error(problem)
    inputs = [args.demo_model, args.clinc_model, args.clinc_data, args.keyword_data]
    inputs += [args.tflm_dir, args.stm32_sdk, *args.keyword_model]
    problem = json_target_problem(args.json, inputs, BENCHMARK)
    if problem:
        p.error(problem)
    # Recorded in the figures: which data and settings made them.
    args.argv = given_argv(argv)
    return args


def ignored_option(args: argparse.Namespace) -> str | None:
    """An option of the modality ``--only`` leaves out (one line), or None: it was
    accepted and not used (``--only keywords --split val`` was even recorded as the
    split, while the recording came from the test split)."""
    if args.only == "keywords":
        unused = ["--demo-model", "--clinc-model"]
        given = [f for f in unused if getattr(args, f[2:].replace("-", "_")) is not None]
        given += ["--clinc-data"] if args.clinc_data != DEFAULT_CLINC else []
        given += ["--split"] if args.split is not None else []
        if given:
            return (
                f"{' and '.join(given)} with --only keywords: used only for the text models"
                " (the keyword recording comes from --keyword-data's test split)"
            )
    if args.only == "text":
        given = ["--keyword-data"] if args.keyword_data != DEFAULT_KWS_DATA else []
        given += ["--keyword-clips"] if args.keyword_clips is not None else []
        if given:
            return f"{' and '.join(given)} with --only text: used only for the keyword models"
    return None


def stock_resolver(project: Path) -> None:
    """Rewrite the project's op resolver to TFLM's default kernels (the 'before')."""
    ops_h = project / "src" / "tinyslm_ops.h"
    text, n = _REGISTRATION.subn(r"r.\1()", ops_h.read_text(encoding="utf-8"))
    if n == 0:
        raise SystemExit(f"no registrations found in {ops_h}")
    ops_h.write_text(text, encoding="utf-8")


def percentiles(values: list[int]) -> dict[str, int]:
    p50, p95, p99 = np.percentile(np.array(values, dtype=np.float64), [50, 95, 99])
    return {"p50": round(p50), "p95": round(p95), "p99": round(p99)}


def measure_variant(
    project: Path, tree: Path, lines: list[bytes], image: Path
) -> tuple[dict[str, Any], list[str]]:
    """Build ``project`` for QEMU and measure it on ``lines``; figures and answer lines."""
    cortex_m.build_image(project, tree, image)
    size = cortex_m.image_size(image)
    phases = qemu.run_measured(image, lines, "phases")
    ops = qemu.run_measured(image, lines, "ops")
    if len(phases.phrases) != len(lines) or len(ops.phrases) != len(lines):
        raise SystemExit(f"{len(phases.phrases)} measurements for {len(lines)} phrases")
    per_op: dict[str, list[int]] = {}
    for m in ops.phrases:
        for name, n in m.ops:
            per_op.setdefault(name, []).append(n)
    invoke = float(np.mean([m.inference for m in ops.phrases]))
    figures = {
        "instructions": {
            "total": percentiles([m.total for m in phases.phrases]),
            "tokenize": percentiles([m.tokenize for m in phases.phrases]),
            "inference": percentiles([m.inference for m in phases.phrases]),
            "decision": percentiles([m.decision for m in phases.phrases]),
        },
        "ops_mean_instructions": {k: round(float(np.mean(v))) for k, v in per_op.items()},
        "ops_percent_of_invoke": {
            k: round(100.0 * float(np.mean(v)) / invoke, 1) for k, v in per_op.items()
        },
        "qemu_image": {"text": size.text, "data": size.data, "bss": size.bss},
    }
    return figures, list(phases.lines)


def stm32_breakdown(project: Path, sdk: Path, work: Path) -> dict[str, Any] | str:
    """The linked STM32H7 image's flash/RAM per component, or why there is none."""
    try:
        from tinyslm.toolchain import stm32_image
    except ImportError:
        return "tinyslm.toolchain.stm32_image is not available"
    if not sdk.is_dir():
        return f"no STM32Cube SDK at {sdk}"
    try:
        image = stm32_image.build_stm32h7_image(project, sdk, work)
        breakdown = stm32_image.map_breakdown(image.map_file)
    except TinySlmError as exc:
        return f"STM32H7 image not built: {exc}"
    return {
        "sections": {"text": image.text, "data": image.data, "bss": image.bss},
        "components": breakdown.as_dict(),
        "flash": breakdown.flash,
        "ram": breakdown.ram,
        "arena_region": breakdown.arena_region,
    }


def measure_model(
    name: str, model_dir: Path, rows: list[tuple[str, str, bool]], args: argparse.Namespace
) -> dict[str, Any]:
    manifest, model = load_model_dir(model_dir)
    lines = [text.encode("utf-8") for text, _, _ in rows]
    result: dict[str, Any] = {
        "model_sha256": manifest.model_sha256,
        "model_bytes": len(model),
        "phrases": len(lines),
        "ops": list(manifest.ops),
    }
    with tempfile.TemporaryDirectory(prefix=f"tinyslm-m7-{name}-") as tmp:
        work = Path(tmp)
        generated = work / "tinyslm"
        run_generate("stm32h7", generated, model_dir=model_dir, tflm_dir=args.tflm_dir)
        stock = work / "stock"
        shutil.copytree(generated, stock)
        stock_resolver(stock)
        answers: dict[str, list[str]] = {}
        for variant, project in (("stock", stock), ("tinyslm", generated)):
            print(f"[{name}] {variant}: building and running {len(lines)} phrases ...", flush=True)
            start = time.perf_counter()
            figures, answers[variant] = measure_variant(
                project, args.tflm_dir, lines, work / f"{variant}.elf"
            )
            got = answers[variant]

            def answered(_lines: Sequence[bytes], got: list[str] = got) -> list[str]:
                return got

            report = run_phrases(answered, rows, source=name, split=args.split)
            parity = reference_parity(report.results, manifest, model)
            figures["parity_with_verify"] = {"agree": parity.agree, "compared": parity.phrases}
            figures["mismatches"] = [list(m) for m in parity.mismatches]
            figures["seconds"] = round(time.perf_counter() - start, 1)
            figures["stm32h7_image"] = stm32_breakdown(
                project, args.stm32_sdk, work / f"{variant}-stm32"
            )
            result[variant] = figures
        same = sum(
            _US.sub("", a) == _US.sub("", b)
            for a, b in zip(answers["stock"], answers["tinyslm"], strict=True)
        )
        result["stock_vs_tinyslm_identical_lines"] = {"same": same, "lines": len(lines)}
    return result


def print_model(name: str, r: dict[str, Any]) -> None:
    print(f"\n== {name}: {r['phrases']} phrases, model {r['model_bytes']} bytes")
    print(f"{'instructions':14} {'variant':8} {'p50':>10} {'p95':>10} {'p99':>10}")
    for variant in ("stock", "tinyslm"):
        ins = r[variant]["instructions"]
        for phase in ("total", "tokenize", "inference", "decision"):
            p = ins[phase]
            print(f"{phase:14} {variant:8} {p['p50']:>10,} {p['p95']:>10,} {p['p99']:>10,}")
    ops = list(r["tinyslm"]["ops_mean_instructions"])
    print(f"\n{'op (mean)':18} {'stock':>10} {'%':>6} {'tinyslm':>10} {'%':>6}")
    for op in ops:
        s, t = r["stock"], r["tinyslm"]
        print(
            f"{op:18} {s['ops_mean_instructions'].get(op, 0):>10,} "
            f"{s['ops_percent_of_invoke'].get(op, 0):>6} "
            f"{t['ops_mean_instructions'][op]:>10,} {t['ops_percent_of_invoke'][op]:>6}"
        )
    for variant in ("stock", "tinyslm"):
        par = r[variant]["parity_with_verify"]
        img = r[variant]["qemu_image"]
        print(
            f"{variant}: parity with verify {par['agree']}/{par['compared']}; QEMU image "
            f"text {img['text']:,} data {img['data']:,} bss {img['bss']:,}"
        )
    same = r["stock_vs_tinyslm_identical_lines"]
    print(f"stock vs tinyslm answers identical: {same['same']}/{same['lines']}")
    for variant in ("stock", "tinyslm"):
        stm = r[variant]["stm32h7_image"]
        if isinstance(stm, str):
            print(f"{variant} STM32H7 image: {stm}")
            continue
        print(f"{variant} STM32H7 image (arena in {stm['arena_region']}):")
        for comp, v in stm["components"].items():
            print(f"  {comp:24} flash {v['flash']:>9,}  ram {v['ram']:>9,}")
        print(f"  {'total':24} flash {stm['flash']:>9,}  ram {stm['ram']:>9,}")


def keyword_recording(model_dir: Path, args: argparse.Namespace) -> Any:
    """The first ``--keyword-clips`` test-split keyword clips in a row with test noise."""
    manifest, _ = load_model_dir(model_dir, probe_arena=False)
    ds, split = keywords.load_keyword_split(args.keyword_data, manifest, "test")
    clips = [c for c in ds.split(split) if c.label not in (SILENCE, UNKNOWN)]
    picked = [(manifest.labels.index(c.label), c.samples) for c in clips[: args.keyword_clips]]
    return compose(picked, [n.part(split) for n in ds.noise])


def measure_keyword_model(name: str, model_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    manifest, model = load_model_dir(model_dir, probe_arena=False)
    stream = keyword_recording(model_dir, args)
    # Not named after ``name``: a label may be a path (see keyword_labels).
    with tempfile.TemporaryDirectory(prefix="tinyslm-m7-kws-") as tmp:
        work = Path(tmp)
        project = work / "project"
        run_generate("stm32h7", project, model_dir=model_dir, tflm_dir=args.tflm_dir)
        print(f"[{name}] building the keyword image, {stream.seconds:.1f} s of audio ...")
        image = cortex_m.build_image(project, args.tflm_dir, work / "kws.elf")
        size = cortex_m.image_size(image)
        m = keywords.measure_listen(image, stream.samples)
        spec = keywords.stream_spec(manifest)
        ref = listen(stream.samples, spec, keywords.model_predict(manifest, model))
        parity = keywords.compare(
            keywords.parse_lines(m.lines), keywords.reference_keys(ref.detections, manifest.labels)
        )
        stm = stm32_breakdown(project, args.stm32_sdk, work / "stm32")
    return {
        "model_sha256": manifest.model_sha256,
        "model_bytes": len(model),
        "ops": list(manifest.ops),
        "macs": manifest.metrics.get("macs"),
        "audio_seconds": round(m.seconds, 3),
        "clips": len(stream.spans),
        "inferences": m.inferences,
        "stride_ms": spec.detector.stride_ms,
        "instructions_per_second_of_audio": {
            "total": round(m.per_second),
            "inference": round(m.inference_per_second),
            "frontend_window_detector": round(m.other_per_second),
        },
        "instructions_per_inference": round(m.inference / max(1, m.inferences)),
        "duty_cycle_480mhz_percent": round(100 * m.duty_cycle(STM32H7_HZ), 2),
        "duty_cycle_assumption": "one instruction per cycle (at 480 MHz, and at board_clock_mhz)",
        "board_clock_mhz": BOARD_HZ / 1e6,
        "duty_cycle_board_clock_percent": round(100 * m.duty_cycle(BOARD_HZ), 2),
        "parity_with_stream_py": {
            "device": parity.device,
            "reference": parity.reference,
            "identical": parity.matching,
        },
        "qemu_image": {"text": size.text, "data": size.data, "bss": size.bss},
        "stm32h7_image": stm,
    }


def print_keyword_model(name: str, r: dict[str, Any]) -> None:
    ips = r["instructions_per_second_of_audio"]
    par = r["parity_with_stream_py"]
    print(
        f"\n== keywords {name}: model {r['model_bytes']} bytes, {r['clips']} clips, "
        f"{r['audio_seconds']} s of audio, {r['inferences']} inferences every {r['stride_ms']} ms"
    )
    print(
        f"instructions per second of audio: {ips['total']:,} (inference {ips['inference']:,}, "
        f"front end + window + detector {ips['frontend_window_detector']:,}); "
        f"{r['instructions_per_inference']:,} per inference"
    )
    print(
        f"duty cycle of the STM32H7 at the generated firmware's {r['board_clock_mhz']:g} MHz "
        f"(1 instruction per cycle): {r['duty_cycle_board_clock_percent']}% "
        f"({r['duty_cycle_480mhz_percent']}% at 480 MHz)"
    )
    print(
        f"detections identical to stream.py's loop: {par['identical']}/{par['reference']} "
        f"(device made {par['device']})"
    )
    stm = r["stm32h7_image"]
    if isinstance(stm, str):
        print(f"STM32H7 image: {stm}")
    else:
        print(f"STM32H7 keyword image: flash {stm['flash']:,} ram {stm['ram']:,}")


def keyword_models_skipped(args: argparse.Namespace) -> str | None:
    """Why no keyword model can be measured (one line naming them), or None."""
    if args.keyword_data.exists():
        return None
    names = ", ".join(["the fixture", *(str(path) for path in args.keyword_model)])
    return f"no keyword dataset at {args.keyword_data}; keyword models not measured ({names})"


def keyword_labels(paths: Sequence[Path]) -> list[str]:
    """Each ``--keyword-model``'s key in the figures and its printed header: its folder's
    name, or where that is taken (``fixture``, or two folders of one name) its path.

    Keyed by the folder's name alone, ``a/model`` and ``b/model`` (or a model in a
    folder named ``fixture``) replaced each other's figures in the JSON, while the
    table printed both.
    """
    names = [path.name for path in paths]
    labels = [
        name if name != FIXTURE and names.count(name) == 1 else str(path)
        for name, path in zip(names, paths, strict=True)
    ]
    # A path as given may still read 'fixture' (or equal another's label): the whole path.
    return [
        str(real_path(path)) if label == FIXTURE or labels.count(label) > 1 else label
        for label, path in zip(labels, paths, strict=True)
    ]


def measure_keywords(args: argparse.Namespace, results: dict[str, Any]) -> bool:
    """Keyword models on the microphone path; False when a parity check failed."""
    sys.path.insert(0, str(REPO / "tests" / "fixtures"))
    from kws import keyword_model_dir

    skipped = keyword_models_skipped(args)
    if skipped:
        print(f"{skipped}.")
        return True
    results["keyword_data"] = str(args.keyword_data)
    ok = True
    with tempfile.TemporaryDirectory(prefix="tinyslm-m7-kws-") as scratch:
        models = [(FIXTURE, keyword_model_dir(Path(scratch) / FIXTURE))]
        models += list(zip(keyword_labels(args.keyword_model), args.keyword_model, strict=True))
        out = results.setdefault("keywords", {})
        for name, model_dir in models:
            out[name] = measure_keyword_model(name, model_dir, args)
            print_keyword_model(name, out[name])
            par = out[name]["parity_with_stream_py"]
            ok &= par["device"] == par["reference"] == par["identical"]
    return ok


def tools_missing(args: argparse.Namespace) -> str | None:
    """What the benchmark lacks to build and run an image (one line naming only what is
    missing), or None."""
    missing: list[str] = []
    if not (args.tflm_dir / TREE_MARKER).is_file():
        missing.append(f"no Cortex-M7 TFLM tree at {args.tflm_dir}")
    absent = [p for p in (qemu.QEMU, cortex_m.ARM_CC, cortex_m.ARM_CXX) if shutil.which(p) is None]
    if absent:
        missing.append(f"{', '.join(absent)} not on PATH")
    return "; ".join(missing) if missing else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return measure(args)
    except TinySlmError as exc:
        # As the other benchmarks and tinyslm's commands: a bad dataset, build or
        # toolchain is one line and exit 2, not a traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 2


def clinc_config(args: argparse.Namespace) -> TrainConfig | None:
    """The CLINC150 model's recipe (benchmarks/clinc150.py's defaults, sized for
    ``--clinc-data`` as ``tinyslm train`` sizes it), or None when none is trained.

    Made before anything is measured: it was sized from the default CLINC150 path
    whatever ``--clinc-data`` said, and its error came after the demo model's minutes
    of QEMU.
    """
    if args.only == "keywords" or args.clinc_model is not None or not args.clinc_data.is_file():
        return None
    return clinc150.make_config(clinc150.parse_args(["--quiet", "--data", str(args.clinc_data)]))


def demo_config() -> TrainConfig:
    """The demo model's recipe: what a plain ``tinyslm train`` (and ``tinyslm generate``
    without ``--model``) trains on the demo set. ``TrainConfig()`` was a 500 KB,
    token-dropout-0.5 model that no user's train or generate makes."""
    return clinc150.make_config(clinc150.parse_args(["--quiet", "--data", str(DEMO_DATA)]))


def measure(args: argparse.Namespace) -> int:
    """Measure what the arguments ask for; print and maybe write the figures."""
    missing = tools_missing(args)
    if missing:
        print(f"nothing to benchmark: {missing}.")
        return 0
    if args.only == "keywords":
        skipped = keyword_models_skipped(args)
        if skipped:
            # Nothing is measured: an empty figures file would replace an earlier one.
            written = f"; {args.json} not written" if args.json is not None else ""
            print(f"nothing to benchmark: {skipped}{written}.")
            return 0
    results: dict[str, Any] = {
        "method": (
            "QEMU mps2-an500 -icount shift=0: 1 ns of virtual time per instruction; SysTick at "
            f"25 MHz, so each figure is ticks x {qemu.INSTRUCTIONS_PER_TICK} instructions"
        ),
        "split": args.split,
        "argv": args.argv,
        # The dataset each measurement read, set where it reads it; null for one the run
        # did not read (left out by --only, or skipped for want of the file). Recorded as
        # given, a --only text run named a keyword folder it never opened.
        "clinc_data": None,
        "keyword_data": None,
    }
    config = clinc_config(args)
    keywords_ok = measure_keywords(args, results) if args.only != "text" else True
    if args.only == "keywords":
        _write(args, results)
        return 0 if keywords_ok else 1
    with tempfile.TemporaryDirectory(prefix="tinyslm-m7-models-") as scratch:
        demo_model = args.demo_model
        if demo_model is None:
            demo_model = Path(scratch) / "demo"
            print("training the demo model ...", flush=True)
            run_train(DEMO_DATA, demo_model, demo_config())
        manifest, _ = load_model_dir(demo_model)
        demo = load_dataset(DEMO_DATA, seed=manifest.seed)
        results["demo"] = measure_model("demo", demo_model, dataset_phrases(demo, args.split), args)
        results["demo"]["model"] = model_record(args.demo_model, manifest)
        print_model("demo", results["demo"])
        if args.clinc_data.is_file():
            results["clinc_data"] = str(args.clinc_data)
            clinc_model = args.clinc_model
            if clinc_model is None:
                assert config is not None  # made above for this case
                clinc_model = Path(scratch) / "clinc"
                print("training the CLINC150 model (minutes) ...", flush=True)
                run_train(args.clinc_data, clinc_model, config)
            manifest, _ = load_model_dir(clinc_model)
            clinc = load_dataset(args.clinc_data, seed=manifest.seed)
            results["clinc150"] = measure_model(
                "clinc150", clinc_model, dataset_phrases(clinc, args.split), args
            )
            results["clinc150"]["model"] = model_record(args.clinc_model, manifest)
            print_model("clinc150", results["clinc150"])
        else:
            print(f"CLINC150 not found at {args.clinc_data}; demo model only.")
    _write(args, results)
    agree = all(
        results[m][v]["parity_with_verify"]["agree"]
        == results[m][v]["parity_with_verify"]["compared"]
        for m in ("demo", "clinc150")
        if m in results
        for v in ("stock", "tinyslm")
    )
    return 0 if agree and keywords_ok else 1


def model_record(given: Path | None, manifest: Manifest) -> dict[str, Any]:
    """Which model a block measured: the folder given, or the recipe trained here."""
    return {
        "folder": None if given is None else str(given),
        "seed": manifest.seed,
        "config": None if given is not None else manifest.train_config,
    }


def _write(args: argparse.Namespace, results: dict[str, Any]) -> None:
    if args.json is not None:
        write_json(args.json, json.dumps(results, indent=2), BENCHMARK)
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    sys.exit(main())
