"""Audio keywords: dataset -> log-mel front end -> DS-CNN -> INT8 -> TFLM, clip and stream.

The audio modality's side of ``tinyslm train`` (:func:`fit_audio`); the pipeline writes
what it returns. Clip figures (accuracy, per-keyword accuracy, confusion) come from
:func:`tinyslm.audio.train.train_audio` on the speaker-disjoint test split. The
detector's threshold is then chosen on the validation split's streams and the
streaming figures are measured on the test split's, with the device's own loop
(:mod:`tinyslm.audio.stream`, which ``firmware/audio/tinyslm_listen.c`` mirrors):

- threshold rule: the lowest int8 threshold at and above which the validation streams
  (background noise, unknown words, keywords) show no false accept; with no such
  threshold, 127 (the strictest) and a warning. Validation holds minutes of audio, so
  "no false accept" is what it can resolve of the 1-per-hour target.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tinyslm.audio.dataset import SILENCE, UNKNOWN, AudioDataset, AudioDatasetConfig
from tinyslm.audio.detector import detect
from tinyslm.audio.spec import KeywordSpec
from tinyslm.audio.stream import (
    StreamFigures,
    StreamProtocol,
    StreamResult,
    StreamSpec,
    compose,
    listen,
    score_keywords,
    stream_figures,
)
from tinyslm.manifest import MANIFEST_NAME, MODEL_NAME, Manifest, sha256_hex
from tinyslm.modality import AUDIO, Fitted, Log, quiet

THRESHOLD_MAX = 127


@dataclass(frozen=True)
class StreamMaterial:
    """One split's streams, already run through the model (scores are threshold-free)."""

    noise: tuple[StreamResult, ...]
    unknown: StreamResult | None
    keywords: StreamResult | None
    keyword_spans: tuple[tuple[int, int, int], ...]


def _material(dataset: AudioDataset, split: str, spec: StreamSpec, predict: Any) -> StreamMaterial:
    """Noise, unknown and keyword streams of ``split`` (compose's layout), run once."""
    labels = dataset.labels
    clips = dataset.split(split)
    noise = [n.part(split) for n in dataset.noise]
    unknown = [c.samples for c in clips if c.label == UNKNOWN]
    keywords = [
        (labels.index(c.label), c.samples) for c in clips if c.label not in (SILENCE, UNKNOWN)
    ]
    unknown_result = listen(compose([(-1, c) for c in unknown], noise).samples, spec, predict)
    stream = compose(keywords, noise)
    return StreamMaterial(
        noise=tuple(listen(n, spec, predict) for n in noise if len(n)),
        unknown=unknown_result if unknown else None,
        keywords=listen(stream.samples, spec, predict) if keywords else None,
        keyword_spans=stream.spans,
    )


def _false_accepts(material: StreamMaterial, spec: StreamSpec, q: int) -> int:
    """False accepts of every stream of ``material`` at threshold ``q``."""
    rule = replace(spec.detector, threshold_q=q)

    def found(result: StreamResult) -> int:
        return len(detect(rule, result.scores, [int(t) for t in result.times_ms]))

    count = sum(found(r) for r in material.noise)
    count += found(material.unknown) if material.unknown is not None else 0
    if material.keywords is not None:
        hits = detect(rule, material.keywords.scores, [int(t) for t in material.keywords.times_ms])
        count += score_keywords(hits, material.keyword_spans, StreamProtocol()).false_accepts
    return count


def choose_threshold(material: StreamMaterial, spec: StreamSpec) -> tuple[int, bool]:
    """The threshold rule of the module docstring: ``(threshold_q, found)``."""
    q = THRESHOLD_MAX
    if _false_accepts(material, spec, q):
        return q, False
    while q > -128 and _false_accepts(material, spec, q - 1) == 0:
        q -= 1
    return q, True


def _stream_metrics(figures: StreamFigures, labels: Sequence[str]) -> dict[str, Any]:
    return {
        "stream_split": "test",
        "noise_seconds": round(figures.noise_seconds, 1),
        "noise_false_accepts": figures.noise_false_accepts,
        "noise_fa_per_hour": round(figures.noise_fa_per_hour, 2),
        "unknown_seconds": round(figures.unknown_seconds, 1),
        "unknown_false_accepts": figures.unknown_false_accepts,
        "unknown_fa_per_hour": round(figures.unknown_fa_per_hour, 2),
        "keyword_clips": figures.keyword_clips,
        "keyword_hits": figures.keyword_hits,
        "keyword_false_accepts": figures.keyword_false_accepts,
        "false_rejection_rate": round(figures.false_rejection_rate, 5),
        "per_keyword_hits": {labels[i]: [n, h] for i, n, h in figures.per_label},
    }


def fit_audio(
    data: Path | None,
    config: Any,
    *,
    log: Log = quiet,
    warn: Log = quiet,
    report: bool = True,
) -> Fitted:
    """Train, quantize and verify a keyword model on the dataset at ``data``.

    ``report`` is accepted for the seam's sake; keyword models write no report yet.

    Raises:
        DatasetError: the dataset is missing or unusable.
        ModelError: conversion or TFLM verification failed.
    """
    from tinyslm import __version__
    from tinyslm.audio.dataset import load_audio_dataset
    from tinyslm.audio.train import AudioTrainConfig, tflm_predict, train_audio

    del report
    if data is None:
        raise ValueError("fit_audio needs a dataset path")
    cfg = config if config is not None else AudioTrainConfig()
    start = time.perf_counter()
    dataset = load_audio_dataset(data, AudioDatasetConfig(seed=cfg.seed))
    load_seconds = time.perf_counter() - start
    for warning in dataset.warnings:
        warn(warning)
    log(
        f"dataset {dataset.source}: {len(dataset.labels)} labels ({', '.join(dataset.labels)}), "
        + ", ".join(f"{s} {len(dataset.split(s))}" for s in ("train", "val", "test"))
    )
    result = train_audio(dataset, cfg, log)

    start = time.perf_counter()
    non_keywords = tuple(i for i, lb in enumerate(dataset.labels) if lb in (SILENCE, UNKNOWN))
    keyword = KeywordSpec(
        frontend=cfg.spec,
        window_samples=len(dataset.clips[0].samples),
        non_keywords=non_keywords,
    )
    model = result.model

    def predict(windows: np.ndarray) -> np.ndarray:
        return tflm_predict(model, windows)

    probe = StreamSpec(
        keyword.detector(len(dataset.labels), THRESHOLD_MAX), keyword.frames, keyword.frontend
    )
    log("choosing the detector threshold on the validation streams (TFLM) ...")
    threshold_q, found = choose_threshold(_material(dataset, "val", probe, predict), probe)
    if not found:
        warn(
            "the validation streams have false accepts at every threshold: threshold_q 127, "
            "the strictest; add background noise and _unknown_ recordings"
        )
    spec = replace(probe, detector=replace(probe.detector, threshold_q=threshold_q))
    log(f"threshold_q {threshold_q}; measuring the test streams (TFLM) ...")
    test = dataset.split("test")
    figures = stream_figures(
        spec,
        predict,
        noise=[n.part("test") for n in dataset.noise],
        unknown=[c.samples for c in test if c.label == UNKNOWN],
        keywords=[
            (dataset.labels.index(c.label), c.samples)
            for c in test
            if c.label not in (SILENCE, UNKNOWN)
        ],
    )
    verify_seconds = result.verify_seconds + time.perf_counter() - start
    metrics: dict[str, Any] = {
        "eval_split": "test",
        "int8_accuracy": round(result.int8_accuracy, 5),
        "float_accuracy": round(result.float_accuracy, 5),
        "val_accuracy": round(result.val_accuracy, 5),
        "per_class": {label: [round(acc, 5), n] for label, acc, n in result.per_class},
        "confusion": [list(row) for row in result.confusion],
        "macs": result.macs,
        "params": result.params,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "n_train": result.n_train,
        "n_val": result.n_val,
        "n_test": result.n_test,
        "threshold_rule": "lowest threshold without a false accept on the val streams"
        if found
        else "strictest threshold (val streams have false accepts at every threshold)",
        "dataset": dataset.source,
        **_stream_metrics(figures, dataset.labels),
    }
    manifest = Manifest(
        tinyslm_version=__version__,
        model_sha256=sha256_hex(model),
        model_bytes=len(model),
        features=keyword,
        labels=tuple(dataset.labels),
        threshold=(threshold_q + 128) / 256,
        threshold_q=threshold_q,
        output_quant=result.output_quant,
        input_quant=result.input_quant,
        arena_bytes=result.arena_bytes,
        ops=result.ops,
        seed=cfg.seed,
        train_config=asdict(cfg),
        metrics=metrics,
        modality=AUDIO,
    )
    with tempfile.TemporaryDirectory() as scratch:
        manifest_bytes = manifest.write(Path(scratch)).read_bytes()
    return Fitted(
        manifest=manifest,
        files={MODEL_NAME: model, MANIFEST_NAME: manifest_bytes},
        warnings=dataset.warnings,
        history=(),
        load_seconds=load_seconds,
        train_seconds=result.feature_seconds + result.train_seconds,
        convert_seconds=result.convert_seconds,
        verify_seconds=verify_seconds,
    )


def summary_rows(m: Manifest) -> list[tuple[str, str]]:
    """The keyword model's lines of ``tinyslm train``'s summary."""
    mt = m.metrics
    split = mt["eval_split"]
    weakest = min(mt["per_class"].items(), key=lambda kv: kv[1][0])
    return [
        ("keywords", ", ".join(m.labels)),
        (f"float accuracy ({split} clips)", f"{mt['float_accuracy'] * 100:.2f}%"),
        (f"int8 accuracy ({split} clips, TFLM)", f"{mt['int8_accuracy'] * 100:.2f}%"),
        ("weakest label", f"{weakest[0]} {weakest[1][0] * 100:.2f}% of {weakest[1][1]} clips"),
        ("detector threshold", f"{m.threshold:.3f} (q={m.threshold_q}), {mt['threshold_rule']}"),
        (
            f"false rejections ({split} stream)",
            f"{mt['false_rejection_rate'] * 100:.2f}% of {mt['keyword_clips']} keywords "
            f"({mt['keyword_false_accepts']} false accepts among them)",
        ),
        (
            f"false accepts per hour ({split})",
            f"noise {mt['noise_fa_per_hour']:.2f} ({mt['noise_false_accepts']} in "
            f"{mt['noise_seconds']:.0f} s), unknown words {mt['unknown_fa_per_hour']:.2f} "
            f"({mt['unknown_false_accepts']} in {mt['unknown_seconds']:.0f} s)",
        ),
        ("MACs per inference", f"{mt['macs']:,}"),
    ]
