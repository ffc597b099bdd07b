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

import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tinyslm.audio.dataset import (
    NOISE,
    SILENCE,
    UNKNOWN,
    AudioDataset,
    AudioDatasetConfig,
    dataset_name,
)
from tinyslm.audio.detector import Detection, DetectorSpec, detect
from tinyslm.audio.spec import KeywordSpec
from tinyslm.audio.stream import (
    Int8Array,
    StreamFigures,
    StreamProtocol,
    StreamResult,
    StreamSpec,
    compose,
    fa_text,
    figure_text,
    figures_of,
    fires_on,
    listen,
    measured,
    score_keywords,
)
from tinyslm.errors import DatasetError, quoted
from tinyslm.manifest import (
    MANIFEST_NAME,
    MODEL_NAME,
    Manifest,
    describe_label_thresholds,
    sha256_hex,
    threshold_text,
)
from tinyslm.modality import AUDIO, Fitted, Log, check_extra_train, quiet
from tinyslm.report_data import REPORT_HTML, REPORT_JSON

THRESHOLD_MAX = 127
# AudioTrainConfig's dataset choices, in the manifest only when given.
_DATASET_FIELDS = ("extra_train", "keywords", "unknown_words")


def _recorded_config(cfg: Any) -> dict[str, Any]:
    """An ``AudioTrainConfig`` as the manifest records it: dataset choices only when given
    (without them the manifest is as before), extra datasets by name (no paths in a
    manifest; :func:`~tinyslm.audio.dataset.dataset_name`)."""
    out = {k: v for k, v in asdict(cfg).items() if k not in _DATASET_FIELDS or v}
    if cfg.extra_train:
        out["extra_train"] = [dataset_name(p) for p in cfg.extra_train]
    return out


@dataclass(frozen=True)
class StreamMaterial:
    """One split's streams (:func:`tinyslm.audio.stream.stream_figures`' layout), run once.

    Score vectors do not depend on the threshold, so the detector can be replayed on
    them at any threshold: the same detections as streaming again at that threshold.
    """

    noise: tuple[StreamResult, ...]
    noise_seconds: float
    unknown: StreamResult | None
    unknown_seconds: float
    keywords: StreamResult | None
    keyword_seconds: float
    keyword_spans: tuple[tuple[int, int, int], ...]


def stream_material(
    dataset: AudioDataset, split: str, spec: StreamSpec, predict: Any
) -> StreamMaterial:
    """Noise, unknown and keyword streams of ``split``, as ``stream_figures`` builds them."""
    labels = dataset.labels
    clips = dataset.split(split)
    rate = spec.frontend.sample_rate
    noise = [n.part(split) for n in dataset.noise]
    unknown = [c.samples for c in clips if c.label == UNKNOWN]
    keywords = [
        (labels.index(c.label), c.samples) for c in clips if c.label not in (SILENCE, UNKNOWN)
    ]
    unknown_stream = compose([(-1, c) for c in unknown], noise, sample_rate=rate)
    keyword_stream = compose(keywords, noise, sample_rate=rate)
    return StreamMaterial(
        noise=tuple(listen(n, spec, predict) for n in noise if len(n)),
        noise_seconds=sum(len(n) for n in noise) / rate,
        unknown=listen(unknown_stream.samples, spec, predict) if unknown else None,
        unknown_seconds=unknown_stream.seconds if unknown else 0.0,
        keywords=listen(keyword_stream.samples, spec, predict) if keywords else None,
        keyword_seconds=keyword_stream.seconds if keywords else 0.0,
        keyword_spans=keyword_stream.spans,
    )


@dataclass(frozen=True)
class StreamLengths:
    """Samples in each stream of a split (:func:`stream_material`'s layout), known before
    any is run: each background recording's part, the unknown-word and the keyword stream
    (0: the split has no such clip)."""

    noise: tuple[int, ...]
    unknown: int
    keywords: int

    @property
    def longest(self) -> int:
        return max((*self.noise, self.unknown, self.keywords), default=0)


def stream_lengths(dataset: AudioDataset, split: str, rate: int) -> StreamLengths:
    """:class:`StreamLengths` of ``split``, as :func:`tinyslm.audio.stream.compose` lays
    the clip streams out (a gap before, between and after the clips)."""
    gap = StreamProtocol().gap_ms * rate // 1000
    clips = dataset.split(split)

    def composed(kind: list[Any]) -> int:
        return gap + sum(len(c.samples) + gap for c in kind) if kind else 0

    return StreamLengths(
        noise=tuple(n for n in (len(r.part(split)) for r in dataset.noise) if n),
        unknown=composed([c for c in clips if c.label == UNKNOWN]),
        keywords=composed([c for c in clips if c.label not in (SILENCE, UNKNOWN)]),
    )


def rule_flags(keyword: KeywordSpec) -> str:
    """``--stride-ms 980 x --average 16``: the streaming rule as train's options."""
    return f"--stride-ms {keyword.stride_ms} x --average {keyword.average}"


def unfired_streams(lengths: StreamLengths, keyword: KeywordSpec) -> tuple[str, ...]:
    """The kinds of stream on which ``keyword``'s rule cannot fire (every one of them is
    shorter than :attr:`KeywordSpec.shortest_detection_samples`), with their seconds: their
    false accepts are 0 whatever the model does (``noise (longest 6.1 s)``)."""
    need = keyword.shortest_detection_samples
    rate = keyword.frontend.sample_rate
    out = []
    if lengths.noise and max(lengths.noise) < need:
        longest = "longest " if len(lengths.noise) > 1 else ""
        out.append(f"noise ({longest}{max(lengths.noise) / rate:.1f} s)")
    for what, samples in (("unknown words", lengths.unknown), ("keywords", lengths.keywords)):
        if 0 < samples < need:
            out.append(f"{what} ({samples / rate:.1f} s)")
    return tuple(out)


def unfired_text(
    unfired: Sequence[str], keyword: KeywordSpec, shown: str, *, verb: str = "are"
) -> str:
    """``the val streams of noise (longest 6.1 s) and unknown words (14.0 s) are shorter
    than the 15.69 s that the rule ... needs before its first detection`` (``shown``: ``the
    val streams``; ``verb``: ``is`` after a ``shown`` of one stream, ``the test stream``)."""
    need = keyword.shortest_detection_samples / keyword.frontend.sample_rate
    kinds = unfired[0] if len(unfired) == 1 else ", ".join(unfired[:-1]) + f" and {unfired[-1]}"
    return (
        f"{shown} of {kinds} {verb}"
        f" shorter than the {need:.2f} s that the rule {rule_flags(keyword)} needs before its"
        " first detection"
    )


def unfired_remedy(
    unfired: Sequence[str], lengths: StreamLengths, keyword: KeywordSpec, retrain: bool = False
) -> str:
    """What lengthens the ``unfired`` kinds of stream, each its own (more clips do not
    lengthen a noise recording), and a shorter rule only where one could fire on them (a
    stream shorter than the 1 s window fires under none). ``retrain``: said outside
    ``train`` (eval, emulate --data), where the rule is the model's and --average and
    --stride-ms are no options of the command: the model is trained again with them."""
    kinds = {k.split(" (")[0] for k in unfired}
    ways = []
    if "noise" in kinds:
        ways.append(f"longer background recordings ({NOISE}/)")
    if "unknown words" in kinds:
        ways.append(f"more {UNKNOWN} clips")
    if "keywords" in kinds:
        ways.append("more keyword clips")
    longest = max(
        (*(lengths.noise if "noise" in kinds else ()),
         *((lengths.unknown,) if "unknown words" in kinds else ()),
         *((lengths.keywords,) if "keywords" in kinds else ())),
        default=0,
    )  # fmt: skip
    # _most finds no rule for a stream shorter than the 1 s window.
    average, stride_ms = _most(longest, keyword)
    if average or stride_ms >= keyword.frame_ms:
        retrained = "train the model with a " if retrain else ""
        ways.append(f"{retrained}lower --average or --stride-ms")
    return "give " + " or ".join(ways) if ways else ""


def unfired_warning(
    dataset: AudioDataset,
    split: str,
    keyword: KeywordSpec,
    lead: str = "",
    shown: str = "",
    retrain: bool = False,
) -> str | None:
    """The warning for a split with kinds of stream the rule cannot fire on (None: it can
    fire on every kind): their 0 false accepts are no measurement. ``lead``: a remedy
    before the kinds' own (``--split all streams all of it``); ``shown``: how the split
    is named (``the test streams``); ``retrain``: as :func:`unfired_remedy`."""
    lengths = stream_lengths(dataset, split, keyword.frontend.sample_rate)
    unfired = unfired_streams(lengths, keyword)
    if not unfired:
        return None
    missed = any(kind.startswith("keywords") for kind in unfired)
    remedy = unfired_remedy(unfired, lengths, keyword, retrain)
    remedies = [r for r in (lead, remedy) if r]
    return (
        unfired_text(unfired, keyword, shown or f"the {split} streams")
        + ": no detection is possible on them, so their 0 false accepts are no measurement"
        + (" and no keyword there can be hit" if missed else "")
        + (f"; {', or '.join(remedies)}" if remedies else "")
    )


def _most(available: int, keyword: KeywordSpec) -> tuple[int, int]:
    """The largest ``--average`` at ``keyword``'s stride, and the longest ``--stride-ms`` at its
    average, whose first detection fits in ``available`` samples (0: none does)."""
    fe = keyword.frontend
    # Frames after the first inference's window that the stream still holds.
    spare = (available - fe.window_samples) // fe.stride_samples - (keyword.frames - 1)
    if spare < 0:
        return 0, 0
    average = spare // keyword.stride_frames + 1
    if keyword.average == 1:
        return average, 0
    stride_frames = spare // (keyword.average - 1)
    return average, stride_frames * keyword.frame_ms


def refuse_unfirable_rule(dataset: AudioDataset, keyword: KeywordSpec) -> None:
    """Refuse a rule whose first detection needs more audio than the longest validation
    stream holds: no threshold could be calibrated (every level "has no false accept").

    Raises:
        DatasetError: the rule cannot fire on any validation stream.
    """
    rate = keyword.frontend.sample_rate
    longest = stream_lengths(dataset, "val", rate).longest
    need = keyword.shortest_detection_samples
    if not longest or longest >= need:
        return  # no val stream at all: threshold_advice says what to add
    average, stride_ms = _most(longest, keyword)
    lower = [
        f"--average to {average} or less (at --stride-ms {keyword.stride_ms})" if average else "",
        "",
    ]
    if stride_ms >= keyword.frame_ms:
        lower[1] = f"--stride-ms to {stride_ms} or less (at --average {keyword.average})"
    ways = " or ".join(w for w in lower if w)
    raise DatasetError(
        f"{rule_flags(keyword)}: the first detection needs {need / rate:.2f} s of audio, but the"
        f" longest validation stream of {Path(dataset.source).name} is {longest / rate:.2f} s, so"
        " no detection threshold could be calibrated on them; "
        + (f"lower {ways}, or add longer" if ways else "add longer")
        + f" background recordings ({NOISE}/)"
    )


def figures_at(material: StreamMaterial, spec: StreamSpec, q: int) -> StreamFigures:
    """:class:`StreamFigures` of ``material`` with the detector's threshold at ``q``."""
    rule = replace(spec.detector, threshold_q=q)

    def found(result: StreamResult) -> list[Detection]:
        return detect(rule, result.scores, [int(t) for t in result.times_ms])

    hits = found(material.keywords) if material.keywords is not None else []
    return figures_of(
        rule,
        score_keywords(hits, material.keyword_spans, StreamProtocol()),
        noise=(material.noise_seconds, sum(len(found(r)) for r in material.noise)),
        unknown=(
            material.unknown_seconds,
            len(found(material.unknown)) if material.unknown else 0,
        ),
        keyword_seconds=material.keyword_seconds,
        fires=(
            fires_on(rule, material.noise),
            fires_on(rule, [material.unknown]),
            fires_on(rule, [material.keywords]),
        ),
    )


def false_accepts(figures: StreamFigures) -> int:
    """Every false accept of the three streams."""
    return (
        figures.noise_false_accepts + figures.unknown_false_accepts + figures.keyword_false_accepts
    )


def choose_threshold(material: StreamMaterial, spec: StreamSpec) -> tuple[int, bool]:
    """The threshold rule of the module docstring: ``(threshold_q, found)``."""
    q = THRESHOLD_MAX
    if false_accepts(figures_at(material, spec, q)):
        return q, False
    while q > -128 and false_accepts(figures_at(material, spec, q - 1)) == 0:
        q -= 1
    return q, True


def has_detection_curve(material: StreamMaterial, spec: StreamSpec) -> bool:
    """Whether :func:`detection_curve` has a curve to draw: keyword clips in a stream the
    rule can fire on."""
    return bool(material.keyword_spans) and fires_on(spec.detector, [material.keywords])


def report_progress(material: StreamMaterial, spec: StreamSpec) -> str:
    """train's line before it draws the report: the curve named only where there is one
    (a test keyword stream too short for the rule has none, and the page says why)."""
    if has_detection_curve(material, spec):
        return "drawing report.html (detection curve on the test streams) ..."
    why = (
        "the rule cannot fire on the test keyword stream"
        if material.keyword_spans
        else "no keyword clip in the test split"
    )
    return f"drawing report.html (no detection curve: {why}) ..."


def detection_curve(
    material: StreamMaterial, spec: StreamSpec, step: int = 4, also: Sequence[int] = ()
) -> tuple[tuple[int, float, float], ...]:
    """``(threshold_q, false accepts per hour, false-rejection rate)`` every ``step``
    and at the levels ``also`` (the chosen threshold: the page marks it on the curve, in
    the curve's own time base), ascending; empty when the split has no keyword clip, or
    none the rule can fire on (no false-rejection rate to draw)."""
    if not has_detection_curve(material, spec):
        return ()
    out = []
    levels = set(range(-128, THRESHOLD_MAX + 1, step))
    levels |= {q for q in also if -128 <= q <= THRESHOLD_MAX}
    for q in sorted(levels):
        f = figures_at(material, spec, q)
        # Over the streams the rule can fire on, as emulate --data's rate: a noise
        # recording too short for the first detection adds seconds but no chance to fire.
        firing = f.firing()
        seconds = sum((s for s, _ in firing), 0.0)
        fa = sum(n for _, n in firing)
        out.append((q, round(fa * 3600 / seconds, 3) if seconds else 0.0,
                    round(f.false_rejection_rate, 5)))  # fmt: skip
    return tuple(out)


def _fa_of(mt: Mapping[str, Any], stream: str) -> str:
    """:func:`fa_text` of the manifest's figures for ``stream``."""
    rate = mt[f"{stream}_fa_per_hour"]
    return fa_text(rate, mt[f"{stream}_false_accepts"], mt[f"{stream}_seconds"])


def stream_metrics(figures: StreamFigures, labels: Sequence[str]) -> dict[str, Any]:
    """The streaming figures as the manifest records them (the benchmark writes the same).

    A stream the rule could not fire on (too short, or none) counts nothing: its false
    accepts (and the keyword stream's hits) are null, not 0, as ``eval --json`` and
    ``emulate --data --json`` give them (:meth:`StreamFigures.counts`)."""
    counts = figures.counts()
    return {
        "stream_split": "test",
        "noise_seconds": round(figures.noise_seconds, 1),
        "noise_false_accepts": counts.noise_false_accepts,
        "noise_fa_per_hour": measured(figures.noise_fa_per_hour, 2),
        "unknown_seconds": round(figures.unknown_seconds, 1),
        "unknown_false_accepts": counts.unknown_false_accepts,
        "unknown_fa_per_hour": measured(figures.unknown_fa_per_hour, 2),
        "keyword_clips": figures.keyword_clips,
        "keyword_hits": counts.keyword_hits,
        "keyword_false_accepts": counts.keyword_false_accepts,
        # The keyword stream's length: the detection curve counts false accepts over the
        # streams the rule can fire on, the keyword stream among them, and the report's
        # chosen point needs the same time base.
        "keyword_seconds": round(figures.keyword_seconds, 1),
        "false_rejection_rate": measured(figures.false_rejection_rate, 5),
        "per_keyword_hits": {labels[i]: [n, h] for i, n, h in counts.per_label},
    }


def _clip_metrics(result: Any, threshold_found: bool) -> dict[str, Any]:
    """The manifest's figures of single clips (test split) and of training."""
    return {
        "eval_split": "test",
        "int8_accuracy": round(result.int8_accuracy, 5),
        "float_accuracy": round(result.float_accuracy, 5),
        "val_accuracy": round(result.val_accuracy, 5),
        # null, not NaN, for a label without test clips (a split with no background long
        # enough gives no _silence_ clip): JSON has no NaN and strict parsers refuse it.
        "per_class": {label: [measured(acc, 5), n] for label, acc, n in result.per_class},
        "confusion": [list(row) for row in result.confusion],
        "macs": result.macs,
        "params": result.params,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "n_train": result.n_train,
        "n_train_examples": result.n_train_examples,
        "n_val": result.n_val,
        "n_test": result.n_test,
        "threshold_rule": "lowest threshold without a false accept on the val streams"
        if threshold_found
        else "strictest threshold (val streams have false accepts at every threshold)",
    }


def _report_files(
    manifest: Manifest, model: bytes, spec: StreamSpec, test: StreamMaterial, result: Any
) -> dict[str, bytes]:
    """``report.json`` and ``report.html`` (the detection curve on the test streams)."""
    from tinyslm.audio.report import keyword_report_data, render_keyword_report
    from tinyslm.boards import load_boards

    history = result.history
    curve = detection_curve(test, spec, also=(manifest.threshold_q,))
    data = keyword_report_data(model, curve, history)
    return {
        REPORT_JSON: data.to_json_bytes(),
        REPORT_HTML: render_keyword_report(manifest, data, load_boards()).encode(),
    }


@dataclass(frozen=True)
class StreamEvaluation:
    """The detector threshold chosen on the validation streams and the test streams' figures."""

    spec: StreamSpec  # the streaming rule at the chosen threshold
    threshold_q: int
    threshold_found: bool  # False: false accepts at every threshold, 127 kept
    test_material: StreamMaterial
    figures: StreamFigures
    # What the threshold was chosen on: the val streams' noise and unknown-word seconds
    # (advice to "add background noise" was given to data that had both).
    val_noise_seconds: float
    val_unknown_seconds: float


def untested_streams(dataset: AudioDataset, keyword: KeywordSpec) -> str:
    """The val noise and unknown-word streams ``keyword``'s rule cannot fire on, in words
    (:func:`unfired_text`; ``''``: it can fire on both): no false accept can be looked
    for there, which is no fault of the model."""
    lengths = stream_lengths(dataset, "val", keyword.frontend.sample_rate)
    kinds = [k for k in unfired_streams(lengths, keyword) if not k.startswith("keywords")]
    if not kinds:
        return ""
    remedy = unfired_remedy(kinds, lengths, keyword)
    return (
        unfired_text(kinds, keyword, "the val streams")
        + ": no detection was possible there"
        + (f" ({remedy})" if remedy else "")
    )


def threshold_advice(streams: StreamEvaluation, untested: str = "", source: str = "") -> str | None:
    """The warning for a threshold the val streams did not settle (``None``: they did).

    What to add is named only where the val streams lacked it, and to ``source`` (the
    dataset whose validation split it is, where given): an --extra-train set's noise
    never reaches the validation streams. With noise and unknown words there, the model
    is what fired on everything or on nothing, unless the rule cannot fire on them
    (``untested``: :func:`untested_streams`).
    """
    to = f" to {source}" if source else ""
    missing = [
        what
        for what, seconds in (
            (f"background noise ({NOISE})", streams.val_noise_seconds),
            (f"{UNKNOWN} recordings", streams.val_unknown_seconds),
        )
        if not seconds
    ]
    had = (
        f"{streams.val_noise_seconds:.1f} s of noise and {streams.val_unknown_seconds:.1f} s"
        " of unknown words"
    )
    if not streams.threshold_found:
        head = (
            "the validation streams have false accepts at every threshold: threshold_q 127, "
            "the strictest; "
        )
        if missing:
            return head + f"add {' and '.join(missing)}{to}"
        return head + (
            f"the model still fires falsely on them ({had}): train longer or on more data"
        )
    # A rule that cannot fire on the noise or unknown words leaves the threshold untested
    # there, whatever the model: those streams are named as such, and the model is judged
    # only on what could fire ("train longer" blamed it for streams nothing could fire on).
    if streams.threshold_q == -128:
        # "Lowest threshold without a false accept" met at the very bottom: nothing in the
        # validation streams was rejected at any level (a model that fires on nothing, or
        # streams with no noise and no unknown words), so the level rests on no evidence.
        head = (
            "the validation streams have no false accept even at the loosest threshold: "
            "threshold_q -128 (0.000), which nothing on them tested; "
        )
        if missing:
            return (
                head
                + f"add {' and '.join(missing)}{to}, and check the false rejections"
                + (f"; {untested}" if untested else "")
            )
        if untested:
            return head + (
                f"{untested}; on the streams that could fire the model fired on nothing:"
                " check the false rejections"
            )
        return head + (
            f"the model fired on nothing in their {had}: check the false rejections"
            " (train longer or on more data)"
        )
    if missing:
        # Chosen where only the keyword stream's wrong keywords (or the one stream there
        # was) could reject a level: what a device hears most was never tried.
        lacking = " and ".join(missing)
        them = "it" if len(missing) == 1 else "them"
        return (
            f"the validation streams have no {lacking}, so threshold_q {streams.threshold_q}"
            f" was chosen without {them}: add {lacking}{to} to check it there"
            + (f"; {untested}" if untested else "")
        )
    if untested:
        return f"{untested}, so threshold_q {streams.threshold_q} was chosen on the other streams"
    return None


def keyword_spec(dataset: AudioDataset, config: Any) -> KeywordSpec:
    """The manifest's keyword spec of a model trained on ``dataset`` with ``config``
    (an :class:`tinyslm.audio.train.AudioTrainConfig`): its front end and streaming rule."""
    return KeywordSpec(
        frontend=config.spec,
        window_samples=len(dataset.clips[0].samples),
        stride_frames=config.stride_frames,
        average=config.average,
        non_keywords=tuple(i for i, lb in enumerate(dataset.labels) if lb in (SILENCE, UNKNOWN)),
    )


def evaluate_streams(
    dataset: AudioDataset, model: bytes, keyword: KeywordSpec, log: Log = quiet
) -> StreamEvaluation:
    """Choose the threshold on ``dataset``'s val streams, measure its test streams (TFLM).

    What ``tinyslm train`` records in the manifest; ``benchmarks/speech_commands.py``
    calls it too, so the benchmark's streaming figures are the ones a user gets.
    """
    from tinyslm.audio.train import tflm_predict

    def predict(windows: Int8Array) -> Int8Array:
        return tflm_predict(model, windows)

    probe = StreamSpec(
        keyword.detector(len(dataset.labels), THRESHOLD_MAX), keyword.frames, keyword.frontend
    )
    log("choosing the detector threshold on the validation streams (TFLM) ...")
    val_material = stream_material(dataset, "val", probe, predict)
    threshold_q, found = choose_threshold(val_material, probe)
    spec = replace(probe, detector=replace(probe.detector, threshold_q=threshold_q))
    log(f"threshold_q {threshold_q}; measuring the test streams (TFLM) ...")
    test_material = stream_material(dataset, "test", spec, predict)
    return StreamEvaluation(
        spec,
        threshold_q,
        found,
        test_material,
        figures_at(test_material, spec, threshold_q),
        val_material.noise_seconds,
        val_material.unknown_seconds,
    )


def unique_extra_train(paths: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``--extra-train`` folders each once, by resolved path (``syn`` and ``./syn`` counted
    its clips twice, so its voices weighed double), and a note per repeat dropped."""
    kept: dict[Path, str] = {}
    notes = []
    for path in paths:
        key = Path(path).resolve()
        if key in kept:
            again = "given twice" if str(path) == kept[key] else f"is {kept[key]} again"
            notes.append(f"--extra-train {path} {again}: the same folder, read once")
        else:
            kept[key] = str(path)
    return tuple(kept.values()), tuple(notes)


def _extra_words(extras: Sequence[str], word: str) -> str | None:
    """The first ``--extra-train`` set holding clips of ``word`` (None: none does), from
    each set's listing: no recording is read, so nothing there that training never
    reads (a short background recording) can refuse a set before the word is named."""
    from tinyslm.audio.dataset import extra_train_words

    return next((extra for extra in extras if word in extra_train_words(extra)), None)


def _load_data(data: Path, words: AudioDatasetConfig, extras: Sequence[str]) -> AudioDataset:
    """DATA read with the word choices; a word named that only an ``--extra-train`` set
    has is refused as such ("has no clips" was false beside a set holding 12 of them).

    Raises:
        DatasetError: as :func:`tinyslm.audio.dataset.load_audio_dataset`.
    """
    from tinyslm.audio.dataset import MissingWordError, load_audio_dataset

    try:
        return load_audio_dataset(data, words)
    except MissingWordError as exc:
        flag, word = exc.flag, exc.word
        held = _extra_words(extras, word)
        if held is None:
            raise
        # --keywords trains the extra set's other words as _unknown_ only where DATA has
        # that class (a folder without _unknown_/ sent the user round in a circle).
        no_unknown = Path(data).is_dir() and not (Path(data) / UNKNOWN).is_dir()
        way = (
            "a keyword needs DATA's clips to be validated and tested: drop it from --keywords"
            if flag == "--keywords"
            else f"DATA has no {UNKNOWN}/ folder to train it with: add {UNKNOWN}/ clips to"
            " DATA, or drop that --extra-train folder"
            if no_unknown
            else "leave it out of --unknown-words and list DATA's keywords with --keywords:"
            f" every other word of {Path(held).name} is then trained as {UNKNOWN}"
        )
        raise DatasetError(
            f"{data}: {flag} names {quoted(word)}, which is only in --extra-train {held};"
            f" DATA has no clips of it ({way})"
        ) from None


def fit_audio(
    data: Path | None,
    config: Any,
    *,
    log: Log = quiet,
    warn: Log = quiet,
    report: bool = True,
) -> Fitted:
    """Train, quantize and verify a keyword model on the dataset at ``data``.

    ``report``: also write ``report.json`` and ``report.html`` (:mod:`tinyslm.audio.report`).

    Raises:
        DatasetError: the dataset is missing or unusable.
        ModelError: conversion or TFLM verification failed.
    """
    from tinyslm import __version__
    from tinyslm.audio.dataset import load_training_clips, refuse_too_many_labels
    from tinyslm.audio.train import AudioTrainConfig, train_audio

    if data is None:
        raise ValueError("fit_audio needs a dataset path")
    cfg = config if config is not None else AudioTrainConfig()
    start = time.perf_counter()
    words = AudioDatasetConfig(
        seed=cfg.seed, keywords=cfg.keywords, unknown_words=cfg.unknown_words
    )
    extra_train, repeats = unique_extra_train(cfg.extra_train)
    for note in repeats:
        warn(note)
    cfg = replace(cfg, extra_train=extra_train)  # the manifest records each folder once
    for extra in cfg.extra_train:
        # Before minutes of loading DATA, and with a message that names the mix-up.
        check_extra_train(Path(extra), AUDIO)
    dataset = _load_data(data, words, cfg.extra_train)
    refuse_too_many_labels(dataset)  # --extra-train adds no label: the count is final
    # Before the first epoch: a rule no validation stream is long enough to fire on
    # calibrates nothing (its threshold "has no false accept" at every level).
    refuse_unfirable_rule(dataset, keyword_spec(dataset, cfg))
    for extra in cfg.extra_train:
        before = len(dataset.clips)
        dataset = load_training_clips(
            extra, dataset, words.keywords, words.unknown_words, seed=cfg.seed
        )
        log(f"extra training clips: {len(dataset.clips) - before} from {extra}")
    load_seconds = time.perf_counter() - start
    # Every warning printed is also returned, so ``train --json`` lists them all.
    warned = [*repeats, *dataset.warnings]
    for warning in dataset.warnings:
        warn(warning)
    log(
        f"dataset {dataset.source}: {len(dataset.labels)} labels ({', '.join(dataset.labels)}), "
        + ", ".join(f"{s} {len(dataset.split(s))}" for s in ("train", "val", "test"))
    )
    result = train_audio(dataset, cfg, log)

    start = time.perf_counter()
    keyword = keyword_spec(dataset, cfg)
    model = result.model
    streams = evaluate_streams(dataset, model, keyword, log)
    # Positional: tests stand in for it with ``lambda *a``.
    advice = threshold_advice(streams, untested_streams(dataset, keyword), dataset.source)
    tested = unfired_warning(dataset, "test", keyword)
    for said in (advice, tested):
        if said is not None:
            warned.append(said)
            warn(said)
    spec, threshold_q, found = streams.spec, streams.threshold_q, streams.threshold_found
    test_material, figures = streams.test_material, streams.figures
    verify_seconds = result.verify_seconds + time.perf_counter() - start
    metrics = {
        **_clip_metrics(result, found),
        # The folder's or list's name, as text records its file's: no path in the manifest.
        "dataset": dataset_name(dataset.source),
        **stream_metrics(figures, dataset.labels),
    }
    manifest = Manifest(
        tinyslm_version=__version__,
        model_sha256=sha256_hex(model),
        model_bytes=len(model),
        features=keyword,
        labels=tuple(dataset.labels),
        threshold=DetectorSpec.probability_of(threshold_q),
        threshold_q=threshold_q,
        output_quant=result.output_quant,
        input_quant=result.input_quant,
        arena_bytes=result.arena_bytes,
        ops=result.ops,
        seed=cfg.seed,
        # Without extra datasets or word choices the manifest is as before (no empty
        # field added).
        train_config=_recorded_config(cfg),
        metrics=metrics,
        modality=AUDIO,
    )
    with tempfile.TemporaryDirectory() as scratch:
        manifest_bytes = manifest.write(Path(scratch)).read_bytes()
    files = {MODEL_NAME: model, MANIFEST_NAME: manifest_bytes}
    if report:
        log(report_progress(test_material, spec))
        files |= _report_files(manifest, model, spec, test_material, result)
    return Fitted(
        manifest=manifest,
        files=files,
        warnings=tuple(warned),
        history=result.history,
        load_seconds=load_seconds,
        train_seconds=result.feature_seconds + result.train_seconds,
        convert_seconds=result.convert_seconds,
        verify_seconds=verify_seconds,
    )


def rule_text(spec: KeywordSpec) -> str:
    """The device's streaming rule in words, with the longest keyword it sees whole in
    every averaged window (a two-word phrase is often longer than the default's 0.59 s:
    docs/audio.md, "Long phrases")."""
    rate = spec.frontend.sample_rate
    stride_ms = spec.stride_ms
    whole = spec.seen_whole_samples / rate
    which = "it" if spec.average == 1 else ("both" if spec.average == 2 else "all")
    # "a keyword up to 0.00 s lies whole in all" hid that the windows share no audio.
    seen = (
        f"a keyword up to {whole:.2f} s lies whole in {which}"
        if spec.seen_whole_samples
        else f"they share no audio: no keyword lies whole in all {spec.average}"
    )
    return (
        f"an inference every {stride_ms} ms ({1000 / stride_ms:.3g} a second) on a"
        f" {spec.window_samples / rate:.2f} s window, {spec.average} averaged ({seen}),"
        f" {spec.suppression_ms} ms quiet after a detection"
    )


def weakest_label(per_class: Any) -> tuple[str, float, int] | None:
    """The label of lowest accuracy among those measured, as ``(label, accuracy, clips)``;
    None when no label was. A label without test clips (null, or NaN in a manifest of
    before round 42) has no accuracy: it was shown as the weakest, ``nan% of 0 clips``.
    """
    if not isinstance(per_class, dict):
        return None
    known = [
        (label, float(pair[0]), int(pair[1]))
        for label, pair in per_class.items()
        if isinstance(pair[0], int | float) and math.isfinite(pair[0]) and pair[1]
    ]
    return min(known, key=lambda row: row[1]) if known else None


def summary_rows(m: Manifest, line_limit: str | None = None) -> list[tuple[str, str]]:
    """The keyword model's lines of ``tinyslm train``'s summary (``line_limit``: the
    device line limit row's value, where the caller knows it; else the firmware's).

    Metrics are informational (the manifest's content hash leaves them out), so a
    figure a manifest lacks is left out of the table rather than failing ``info``.
    """
    from tinyslm.operating_point import trained_view

    mt, at = trained_view(m)
    split = mt.get("eval_split", "test")

    def have(*keys: str) -> bool:
        return all(key in mt for key in keys)

    from tinyslm.info import device_max_line, labels_text
    from tinyslm.report_data import counted_metrics

    # A keyword holding a comma would read as two: info's labels rule (a JSON list then).
    rows = [("keywords", labels_text([lb for lb in m.labels if lb not in (SILENCE, UNKNOWN)]))]
    # As the counts they were measured from: eval, from the count, says 82.11% for 78 of
    # 95 clips where the stored 0.82105 read 82.10% (report_data.counted_metrics).
    counted = counted_metrics(mt)
    if have("float_accuracy"):
        rows.append(
            (
                f"float accuracy ({split} clips)",
                figure_text(counted["float_accuracy"], percent=True),
            )
        )
    if have("int8_accuracy"):
        rows.append(
            (
                f"int8 accuracy ({split} clips, TFLM)",
                figure_text(counted["int8_accuracy"], percent=True),
            )
        )
    weakest = weakest_label(counted.get("per_class"))
    if weakest is not None:
        label, accuracy, clips = weakest
        rows.append(
            (
                "weakest label",
                f"{label} {figure_text(accuracy, percent=True)} of {clips} clip"
                + ("" if clips == 1 else "s"),
            )
        )
    rule = f", {mt['threshold_rule']}" if have("threshold_rule") else ""
    shown = f"{threshold_text(m.threshold)} (q={m.threshold_q}){rule}"
    rows.append(("detector threshold", shown))
    own = describe_label_thresholds(m)
    if own is not None:
        rows.append(("own thresholds", own))
    rows.append(("streaming rule", rule_text(m.features)))
    # As the text model's row: the longest line the firmware takes (its ':' commands).
    rows.append(("device line limit", line_limit or f"{device_max_line(m)} bytes (':' commands)"))
    if have("false_rejection_rate", "keyword_clips", "keyword_false_accepts"):
        rows.append(
            (
                f"false rejections ({split} stream){at}",
                f"{figure_text(counted['false_rejection_rate'], percent=True)} of"
                f" {mt['keyword_clips']} keywords ("
                # No rate where the rule could not fire: nor are its 0 false accepts one.
                + (
                    "no detection possible"
                    if mt["false_rejection_rate"] is None and mt["keyword_clips"]
                    # No keyword stream: its count is null (0 in a manifest of before
                    # round 47), a measurement of nothing either way.
                    else "no keyword stream"
                    if not mt["keyword_clips"]
                    else f"{mt['keyword_false_accepts']} false accepts among them"
                )
                + ")",
            )
        )
    noise = ("noise_fa_per_hour", "noise_false_accepts", "noise_seconds")
    unknown = ("unknown_fa_per_hour", "unknown_false_accepts", "unknown_seconds")
    if have(*noise, *unknown):
        rows.append(
            (
                f"false accepts per hour ({split}){at}",
                f"noise {_fa_of(mt, 'noise')}, unknown words {_fa_of(mt, 'unknown')}",
            )
        )
    # Clips and training examples named apart: n_train once counted the augmented copies.
    examples = (
        f"{mt['n_train_examples']:,} training examples with the augmented copies"
        if have("n_train_examples")
        else ""
    )
    if have("n_train"):
        rows.append(
            ("training clips", f"{mt['n_train']:,}" + (f" ({examples})" if examples else ""))
        )
    elif examples:
        rows.append(("training clips", f"not recorded ({examples})"))
    if have("macs"):
        rows.append(("MACs per inference", f"{mt['macs']:,}"))
    return rows
