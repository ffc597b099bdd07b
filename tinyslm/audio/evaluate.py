"""``tinyslm eval`` for a keyword model: clips and streams of another dataset, on TFLM.

The figures ``train`` records, measured the same way on the split of another dataset:
top-1 accuracy of single clips, and the detector at the model's own threshold on the
split's streams (:func:`tinyslm.audio.fit.stream_material`: background noise alone;
unknown words and keywords in a row with noise under them). Words of the dataset
the model does not know count as ``_unknown_`` (right when the model answers
``_unknown_``; in streams, any detection of them is a false accept).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tinyslm.audio.dataset import (
    SILENCE,
    UNKNOWN,
    AudioDatasetConfig,
    dataset_name,
    how_labels_differ,
    label_key,
    load_audio_dataset,
    refuse_keyword_named_unknown,
    unicode_form,
)
from tinyslm.audio.detector import DetectorSpec
from tinyslm.audio.spec import KeywordSpec
from tinyslm.audio.stream import (
    Int8Array,
    StreamFigures,
    StreamSpec,
    fa_text,
    figure_text,
    measured,
)
from tinyslm.errors import DatasetError, one_line
from tinyslm.manifest import (
    LabelThreshold,
    Manifest,
    label_thresholds_json,
    label_thresholds_text,
)

SPLITS = ("test", "val", "train", "all")
# What train recorded (manifest metrics) that eval prints beside its own figures.
TRAINED_KEYS = (
    "dataset",
    "eval_split",
    "stream_split",
    "n_test",
    "int8_accuracy",
    "per_class",
    "false_rejection_rate",
    "keyword_clips",
    "keyword_false_accepts",
    "noise_seconds",
    "noise_false_accepts",
    "noise_fa_per_hour",
    "unknown_seconds",
    "unknown_false_accepts",
    "unknown_fa_per_hour",
)


@dataclass(frozen=True)
class KeywordEvalResult:
    """A keyword model's figures on a dataset split (clips and streams), on TFLM.

    Attributes:
        source, split: the dataset and split scored.
        model_sha256, model_bytes, arena_bytes, threshold_q: the model.
        clips, correct: clips scored and answered right (top-1).
        per_label: ``(label, clips, correct)`` for the model's labels present.
        unknown_words: dataset words the model lacks with clips in the split, scored as
            ``_unknown_``.
        stream: the detector's figures at ``threshold_q`` on the split's streams.
        trained: what train recorded on its test split, for comparison, under the
            manifest's names (:data:`TRAINED_KEYS`; ``n_test`` is its clips,
            ``per_class`` its ``[accuracy, clips]`` per label; ``eval_split`` and
            ``stream_split`` the splits its clip and stream figures are of, which
            :func:`format_keyword_eval` names beside them when ``split`` is another).
        warnings, seconds, label_thresholds: as the text result's (keywords detected
            at levels of their own).
    """

    source: str
    split: str
    model_sha256: str
    model_bytes: int
    arena_bytes: int
    threshold_q: int
    clips: int
    correct: int
    per_label: tuple[tuple[str, int, int], ...]
    unknown_words: tuple[str, ...]
    stream: StreamFigures
    trained: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    label_thresholds: tuple[LabelThreshold, ...] = ()

    @property
    def dataset_differs(self) -> str | None:
        """Why train's figures are not of the dataset scored here, or None (as text
        eval's ``_dataset_differs``). The manifest names the folder or list train read (no
        hash) and its split's counts (``n_test`` clips, ``keyword_clips``): another name is
        another dataset; the same name whose split holds other counts than train scored
        was edited since, or is another of that name. Resolved: a folder given as '.'
        has no name of its own ('' was "another dataset")."""
        theirs = self.trained.get("dataset")
        if not isinstance(theirs, str):
            return None
        scored = dataset_name(self.source)
        if theirs != scored:
            return f"not {scored}, the dataset scored here"
        counts = []
        if trained_split(self.trained, "eval_split") == self.split:
            counts.append(("clips", self.trained.get("n_test"), self.clips))
        if trained_split(self.trained, "stream_split") == self.split:
            counts.append(
                ("keyword clips", self.trained.get("keyword_clips"), self.stream.keyword_clips)
            )
        for what, recorded, here in counts:
            if isinstance(recorded, int) and recorded != here:
                return (
                    f"{recorded} {what}, not the {here} scored here: the data has changed"
                    " since training, or is another of that name"
                )
        return None

    @property
    def other_dataset(self) -> str | None:
        """The name of the dataset train measured its figures on where it is not the one
        scored here (:attr:`dataset_differs`), else None: beside another dataset's
        figures a bare ``(train: ...)`` read as like for like."""
        if self.dataset_differs is None:
            return None
        return str(self.trained["dataset"])

    @property
    def trained_same_dataset(self) -> bool:
        return bool(self.trained) and self.dataset_differs is None

    @property
    def int8_accuracy(self) -> float:
        """Top-1 of the clips; NaN (printed ``n/a``, ``null`` in JSON) without clips: a
        split of background audio alone is measured by its false accepts only."""
        return self.correct / self.clips if self.clips else float("nan")

    def summary(self) -> dict[str, Any]:
        """What ``tinyslm eval --json`` prints for a keyword model."""
        s = self.stream
        counts = s.counts()
        return {
            "modality": "audio",
            # As text eval's: an undecodable byte as the shell shows it ('\xff').
            "source": one_line(self.source),
            "split": self.split,
            "model_sha256": self.model_sha256,
            "model_bytes": self.model_bytes,
            "arena_bytes": self.arena_bytes,
            # The detector's P as the firmware applies it (the level's mean score), beside
            # its int8 level, as text eval --json gives both.
            "threshold": DetectorSpec.probability_of(self.threshold_q),
            "threshold_q": self.threshold_q,
            "label_thresholds": label_thresholds_json(self.label_thresholds),
            "clips": self.clips,
            "int8_accuracy": measured(self.int8_accuracy, 5),
            "per_label": {lb: {"clips": n, "correct": c} for lb, n, c in self.per_label},
            "unknown_words": list(self.unknown_words),
            "false_rejection_rate": measured(s.false_rejection_rate, 5),
            "keyword_clips": s.keyword_clips,
            # No keyword clips (no keyword stream), or a stream too short for the rule to
            # fire: its count measures nothing, so null (not 0), as emulate --data --json.
            "keyword_false_accepts": counts.keyword_false_accepts,
            "noise_seconds": round(s.noise_seconds, 1),
            "noise_false_accepts": counts.noise_false_accepts,
            "noise_fa_per_hour": measured(s.noise_fa_per_hour, 2),
            "unknown_seconds": round(s.unknown_seconds, 1),
            "unknown_false_accepts": counts.unknown_false_accepts,
            "unknown_fa_per_hour": measured(s.unknown_fa_per_hour, 2),
            "trained": self.trained,
            # The table's tag in one word: train's figures are of the split scored here
            # (like for like), or of its own test split beside another split's figures.
            "trained_same_split": self.trained_same_dataset
            and trained_split(self.trained, "eval_split") == self.split
            and trained_split(self.trained, "stream_split") == self.split,
            "trained_same_dataset": self.trained_same_dataset,
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
        }


def run_keyword_eval(
    data: Any,
    split: str,
    manifest: Manifest,
    model: bytes,
    log: Callable[[str], None],
) -> KeywordEvalResult:
    """Score a keyword model on ``data``'s ``split`` (see the module docstring).

    Raises:
        DatasetError: as :func:`load_for_model`.
    """
    from tinyslm.audio.fit import figures_at, stream_material
    from tinyslm.audio.frontend import many_clips_features
    from tinyslm.audio.train import tflm_predict

    start = time.perf_counter()
    spec: KeywordSpec = manifest.features
    dataset, split_name, extra = load_for_model(data, split, manifest, log)
    clips = dataset.split(split_name)

    def predict(windows: Int8Array) -> Int8Array:
        return tflm_predict(model, windows)

    if clips:
        log(f"scoring {len(clips)} clips of the {split} split on TFLM ...")
        features = many_clips_features(np.stack([c.samples for c in clips]), spec.frontend)
        answers = predict(features).astype(np.int64).argmax(axis=1)
    else:  # background audio only: the streams are the whole measurement
        answers = np.zeros(0, dtype=np.int64)
    # Top-1 exactly as train scores it (a silence clip answered _unknown_ is wrong).
    index = {lb: i for i, lb in enumerate(manifest.labels)}
    right = [int(a) == index.get(c.label, -1) for c, a in zip(clips, answers, strict=True)]
    per_label = tuple(
        (
            lb,
            sum(1 for c in clips if c.label == lb),
            sum(1 for c, r in zip(clips, right, strict=True) if c.label == lb and r),
        )
        for lb in manifest.labels
        if any(c.label == lb for c in clips)
    )
    log("streaming the split at the model's threshold ...")
    stream_spec = StreamSpec(
        spec.detector(len(manifest.labels), manifest.threshold_q, manifest.own_levels_q()),
        spec.frames,
        spec.frontend,
    )
    # Stream labels are the model's indices: remap the dataset's own label order.
    remapped = with_model_labels(dataset, manifest.labels)
    figures = figures_at(
        stream_material(remapped, split_name, stream_spec, predict),
        stream_spec,
        manifest.threshold_q,
    )
    return KeywordEvalResult(
        source=dataset.source,
        split=split,
        model_sha256=manifest.model_sha256,
        model_bytes=manifest.model_bytes,
        arena_bytes=manifest.arena_bytes,
        threshold_q=manifest.threshold_q,
        clips=len(clips),
        correct=int(sum(right)),
        per_label=per_label,
        unknown_words=extra,
        stream=figures,
        trained={k: manifest.metrics[k] for k in TRAINED_KEYS if k in manifest.metrics},
        warnings=keyword_warnings(dataset, split, split_name, manifest),
        seconds=time.perf_counter() - start,
        label_thresholds=manifest.label_thresholds,
    )


def keyword_warnings(
    dataset: Any, split: str, split_name: str, manifest: Manifest, *, clips_scored: bool = True
) -> tuple[str, ...]:
    """The warnings about ``split`` of ``dataset`` (as :func:`load_for_model` returns them)
    that ``eval`` prints, and ``emulate --data`` too (``clips_scored`` False: it streams
    the split and scores no clip on its own), so that the same data warns alike in both.

    Only what concerns the clips scored: train's split losing unknown clips does not.
    """
    clips = dataset.split(split_name)
    spec: KeywordSpec = manifest.features
    return (
        *(dataset.warnings if split == "all" else dataset.warnings_for(split_name)),
        *_unanswerable(clips, manifest.labels, clips_scored=clips_scored),
        *_noise_share(dataset, split, split_name, spec.frontend.sample_rate),
        *_unfired(dataset, split, split_name, manifest),
    )


def _unfired(dataset: Any, split: str, split_name: str, manifest: Manifest) -> tuple[str, ...]:
    """A warning when streams of the split are too short for the model's rule to fire
    (``--stride-ms 980 --average 16`` needs 15.69 s): their 0 false accepts were shown as
    a measurement."""
    from tinyslm.audio.fit import unfired_warning

    lead = "" if split == "all" else "--split all streams all of it"
    # The streams hold the model's labels only (as eval and emulate --data stream them).
    kept = with_model_labels(dataset, tuple(manifest.labels))
    shown = "the streams" if split == "all" else f"the {split} streams"
    # The rule is the model's: eval and emulate have no --average or --stride-ms.
    warning = unfired_warning(kept, split_name, manifest.features, lead, shown, retrain=True)
    return () if warning is None else (warning,)


def _unanswerable(
    clips: Sequence[Any], labels: Sequence[str], *, clips_scored: bool = True
) -> tuple[str, ...]:
    """A warning for clips of a class the model lacks (a model trained without
    ``_unknown_`` or ``_silence_`` cannot give them): wrong here, as text ``eval``
    counts intents the model lacks. The streams take ``_unknown_`` clips all the same (as
    unknown words, :func:`with_model_labels`) and leave the others out; ``emulate
    --data`` (``clips_scored`` False) scores streams only, so it warns of those alone."""
    lacking = lacking_classes(clips, labels)
    if not clips_scored:
        lacking.pop(UNKNOWN, None)  # streamed as unknown words, as with any model
    if not lacking:
        return ()
    shown = _by_class(lacking)
    left_out = sorted(lb for lb in lacking if lb != UNKNOWN)
    return (
        f"{sum(lacking.values())} of {len(clips)} clips are of a class the model does not"
        f" have ({shown}): {_lacking_fate(UNKNOWN in lacking, left_out, clips_scored)}",
    )


def _lacking_fate(streamed: bool, left_out: Sequence[str], clips_scored: bool) -> str:
    """What becomes of clips of a class the model lacks: ``streamed`` (``_unknown_`` ones
    among them, streamed as unknown words), ``left_out`` (the classes the streams leave
    out: ``_silence_``)."""
    if not clips_scored:
        return "the streams leave them out"
    if not streamed:
        return "they count as wrong, and the streams leave them out"
    if not left_out:
        return "they count as wrong as clips; they are streamed as unknown words"
    return (
        f"they count as wrong as clips; the streams take the {UNKNOWN} clips as unknown"
        f" words and leave the {', '.join(left_out)} clips out"
    )


def lacking_classes(clips: Sequence[Any], labels: Sequence[str]) -> Counter[str]:
    """The clips of classes the model lacks, counted by class."""
    return Counter(c.label for c in clips if c.label not in labels)


def _by_class(lacking: Counter[str]) -> str:
    """``_silence_ 2, _unknown_ 5``: ``lacking``'s counts, classes in order."""
    return ", ".join(f"{lb} {n}" for lb, n in sorted(lacking.items()))


def unanswerable_clips(clips: Sequence[Any], labels: Sequence[str]) -> str:
    """``_unknown_ 5``: the clips of classes the model lacks, by class (``''`` if none),
    as :func:`keyword_warnings` names them."""
    return _by_class(lacking_classes(clips, labels))


def load_for_model(
    data: Any, split: str, manifest: Manifest, log: Callable[[str], None]
) -> tuple[Any, str, tuple[str, ...]]:
    """``data`` read to check ``manifest``'s model on ``split`` (``eval``, ``emulate --data``).

    Training's label rules (2 keywords, 2 speakers, a speaker in train) do not apply:
    a user checking a model records a few clips, often all of one speaker. Words the
    model lacks are read as ``_unknown_`` (and logged); ``all`` puts every clip and all
    of each background recording in one split. Keywords are not required: data of only
    ``_background_noise_`` recordings (an hour of the kitchen the device will sit in)
    and ``_unknown_`` clips measures false accepts, the field's first question; but
    data whose words are all foreign to the model is refused, as the wrong dataset.

    Returns:
        The dataset, the name of the split to read from it (``test`` for ``all``), and
        the words read as ``_unknown_`` that have clips in that split.

    Raises:
        DatasetError: the data is unusable, ``split`` is unknown or has neither clips nor
            a window of background audio, or the dataset has words but none of the
            model's keywords, or ``_unknown_/`` clips named as one of the model's keywords.
    """
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; expected {', '.join(SPLITS)}")
    spec: KeywordSpec = manifest.features
    # ``all`` scores every clip: the seeded cap on _unknown_ (as train draws its splits)
    # left 37 of 80 unknown clips out of an --split all run.
    base = AudioDatasetConfig(
        window_samples=spec.window_samples,
        seed=manifest.seed,
        training_rules=False,
        cap_unknown=split != "all",
    )
    # The model's keywords, not the data's folders: speech_commands_dev's _unknown_/go_*
    # clips were scored as _unknown_ for a model with the keyword go.
    keywords = [lb for lb in manifest.labels if lb not in (SILENCE, UNKNOWN)]
    refuse_keyword_named_unknown(data, keywords, base, split)
    dataset = load_audio_dataset(data, base)
    special = (SILENCE, UNKNOWN)
    words = set(dataset.labels) - set(special)
    # Before the check below: 'Yes/' alone was "none of the model's keywords".
    _refuse_respelled_keywords(data, words, manifest.labels)
    if words and not words & set(manifest.labels):
        raise DatasetError(
            f"{data}: none of the model's keywords is in this dataset (its words:"
            f" {', '.join(sorted(words)[:5])}{' ...' if len(words) > 5 else ''}); to measure"
            f" false accepts on other words, put their clips in {UNKNOWN}/"
        )
    extra = tuple(sorted(words - set(manifest.labels)))
    word_of = {c.source: c.label for c in dataset.clips}
    if extra:
        dataset = load_audio_dataset(data, replace(base, unknown_words=extra))
    if split == "all":
        dataset, split_name = as_one_split(dataset), "test"
    else:
        split_name = split
    # Only the words the scored split has (a word whose clips all fall in train is not
    # scored as anything), after the seeded cap on _unknown_ drew from them.
    scored = {word_of.get(c.source) for c in dataset.split(split_name) if c.label == UNKNOWN}
    extra = tuple(w for w in extra if w in scored)
    if extra:
        log(f"words the model lacks, scored as {UNKNOWN}: {', '.join(extra)}")
    # Background audio alone is enough to score (false accepts), a window of it at least.
    streamable = any(len(n.part(split_name)) >= spec.window_samples for n in dataset.noise)
    if not dataset.split(split_name) and not streamable:
        if dataset.noise and not dataset.clips:
            rate = spec.frontend.sample_rate
            # Background audio only: no speaker is split, so the speaker hint misled.
            raise DatasetError(
                f"{data}: split {split!r} has under a window of background audio: each"
                f" recording is split in time and the {split} split is"
                f" {_noise_percent(base, split):g}% of it"
                f" ({max(len(n.part(split_name)) for n in dataset.noise) / rate:.2f} s"
                f" of the longest, under the {spec.window_samples / rate:.2f} s window);"
                " --split all streams all of it"
            )
        short = " and under a window of background audio" if dataset.noise else ""
        raise DatasetError(
            f"{data}: split {split!r} has no clips{short} (without a split column, clips are"
            " split as training splits them: by speaker, or one by one with the model's seed"
            " where names carry no <speaker>_nohash_; --split all scores every clip)"
        )
    return dataset, split_name, extra


def _refuse_respelled_keywords(data: Any, words: set[str], labels: Sequence[str]) -> None:
    """Refuse a data word that is one of the model's keywords spelled otherwise (``Yes/``
    for ``yes``, ``café`` in NFD for the model's NFC): it was scored as an unknown word,
    each right answer wrong and each detection a false accept. Refused, not matched, by the
    rule training refuses two such labels with (:func:`label_key`): a folder from a
    case-insensitive disk is renamed once, and eval does not take data train refuses."""
    model = {label_key(lb): lb for lb in labels}
    for word in sorted(words - set(labels)):
        keyword = model.get(label_key(word))
        if keyword is None:
            continue
        how = f"the model's keyword {keyword!r} {how_labels_differ(word, keyword)}"
        # NFC and NFD look the same: the form to write, beside the name; only where the
        # forms differ ('yes' in fullwidth letters was told "rename it 'yes' in NFC", both NFC).
        form = unicode_form(keyword)
        want = f"{keyword!r}" + ("" if unicode_form(word) == form else f" in {form}")
        folder = Path(data) / word
        if folder.is_dir():
            raise DatasetError(f"{folder}: differs from {how}; rename it {want}")
        raise DatasetError(f"{data}: label {word!r} differs from {how}; spell it {want}")


def _noise_percent(config: AudioDatasetConfig, split: str) -> float:
    """The share of each background recording that ``split`` streams, in percent."""
    shares = {"val": config.val_percent, "test": config.test_percent}
    return shares.get(split, 100 - config.val_percent - config.test_percent)


def _noise_share(dataset: Any, split: str, split_name: str, rate: int) -> tuple[str, ...]:
    """A warning when background audio alone is scored from a split's share of it: a
    user who recorded an hour of their room for false accepts is told that ``test``
    streams the last tenth of each recording, and how to stream all of it."""
    if split == "all" or dataset.split(split_name):
        return ()
    part = sum(len(n.part(split_name)) for n in dataset.noise) / rate
    total = sum(len(n.samples) for n in dataset.noise) / rate
    return (
        f"no clips in the {split} split: streamed its {part:.0f} s of the {total:.0f} s of"
        " background audio (each recording is split in time); --split all streams all of it",
    )


def as_one_split(dataset: Any) -> Any:
    """``dataset`` with every clip in ``test`` and each background recording whole:
    ``--split all`` scores everything, streams included, as one split."""
    clips = tuple(replace(c, split="test") for c in dataset.clips)
    noise = tuple(replace(n, spans=(("test", 0, len(n.samples)),)) for n in dataset.noise)
    return replace(dataset, clips=clips, noise=noise)


def with_model_labels(dataset: Any, labels: tuple[str, ...]) -> Any:
    """``dataset`` with ``labels`` (the model's order) and the clips the streams take: those
    of ``labels``, and the ``_unknown_`` clips even where the model has no such output (the
    unknown-word stream needs none: any detection in it is a false accept; they were left
    out, and a keyword-only model's false accepts on other words never measured)."""
    kept = tuple(c for c in dataset.clips if c.label in labels or c.label == UNKNOWN)
    return replace(dataset, labels=labels, clips=kept)


def _split_text(split: str) -> str:
    return "every clip, all splits" if split == "all" else f"{split} split"


def trained_split(trained: dict[str, Any], key: str) -> str:
    """The split train measured its figures on (``eval_split`` for clips,
    ``stream_split`` for streams): ``test`` in a manifest from before it was recorded."""
    value = trained.get(key, "test")
    return value if isinstance(value, str) else "test"


def _tag(trained: dict[str, Any], key: str, split: str, other: str | None = None) -> str:
    """``train`` when train's figure is of the split scored, else ``train, test split``:
    beside ``--split val`` (or ``train``, ``all``) a bare ``train:`` read as that split's;
    ``train, yes_no test split`` beside another dataset's (``other``: train's)."""
    theirs = trained_split(trained, key)
    if other is not None:
        return f"train, {other} {theirs} split"
    return "train" if theirs == split else f"train, {theirs} split"


def _was(trained: dict[str, Any], key: str, text: Callable[[Any], str], tag: str = "train") -> str:
    """``  (train: ...)`` for a figure train recorded under ``key``, else nothing (a
    manifest from before it was recorded). ``null`` (not measured) reads ``n/a``."""
    if key not in trained:
        return ""
    value = trained[key]
    if value is not None and not isinstance(value, int | float):
        return ""
    return f"  ({tag}: {text(value)})"


def format_keyword_eval(result: KeywordEvalResult) -> str:
    """The table ``tinyslm eval`` prints for a keyword model: each figure with train's
    beside it (``(train: ...)``, as text ``eval`` prints), where the manifest has it;
    ``(train, test split: ...)`` when the split scored is not the one train measured."""
    s, t = result.stream, result.trained
    # Train's shares as the counts they were measured from, as this table's own
    # (report_data.counted_metrics): 78 of 95 read 82.10% beside eval's 82.11%.
    from tinyslm.report_data import counted_metrics

    t = counted_metrics(t)
    clip_tag = _tag(t, "eval_split", result.split, result.other_dataset)
    stream_tag = _tag(t, "stream_split", result.split, result.other_dataset)
    recorded = t.get("per_class")
    per_class: dict[str, Any] = recorded if isinstance(recorded, dict) else {}

    def label_was(label: str) -> str:
        entry = per_class.get(label)
        if not (isinstance(entry, list) and len(entry) == 2):
            return ""
        return f"  ({clip_tag}: {figure_text(entry[0], percent=True)} of {entry[1]})"

    def fa_row(title: str, stream: str) -> str:
        """False accepts on the noise or unknown-word stream, train's beside them."""
        return (
            f"{title} "
            # A stream the rule could not fire on has a NaN rate: n/a, and no count
            # (--json: null); train's null rate reads the same.
            + fa_text(
                measured(getattr(s, f"{stream}_fa_per_hour"), 2),
                getattr(s, f"{stream}_false_accepts"),
                getattr(s, f"{stream}_seconds"),
            )
            + _was(
                t,
                f"{stream}_fa_per_hour",
                lambda v: fa_text(
                    v,
                    t.get(f"{stream}_false_accepts", "?"),
                    t.get(f"{stream}_seconds"),
                    train=True,
                ),
                stream_tag,
            )
        )

    rows = [
        ("dataset", f"{one_line(result.source)} ({_split_text(result.split)})"),
        (
            "clips",
            (
                f"{result.clips} ({result.int8_accuracy * 100:.2f}% right, INT8 on TFLM)"
                if result.clips
                else "none (background audio only: false accepts are the measurement)"
            )
            + _was(
                t,
                "int8_accuracy",
                lambda v: f"{figure_text(v, percent=True)} of {t.get('n_test', '?')}",
                clip_tag,
            ),
        ),
        (
            "false rejections",
            (
                f"{figure_text(s.false_rejection_rate, percent=True)} of {s.keyword_clips}"
                " keywords in a stream"
                if s.keyword_clips
                else "n/a, no keyword clips"
            )
            + f" (threshold q={result.threshold_q})"
            + _was(
                t,
                "false_rejection_rate",
                lambda v: f"{figure_text(v, percent=True)} of {t.get('keyword_clips', '?')}",
                stream_tag,
            ),
        ),
        *(
            [("keyword thresholds", label_thresholds_text(result.label_thresholds))]
            if result.label_thresholds
            else []
        ),
        ("false accepts per hour", fa_row("noise", "noise")),
        ("", fa_row("unknown words", "unknown")),
        (
            "",
            # Without keyword clips there is no keyword stream: a bare 0 read as measured.
            (
                "n/a in the keyword stream (no keyword clips)"
                if not s.keyword_clips
                else "n/a in the keyword stream (too short for the rule to fire)"
                if not s.keywords_fire
                else f"{s.keyword_false_accepts} in the keyword stream"
            )
            + _was(
                t,
                "keyword_false_accepts",
                # No false-rejection rate beside keyword clips: train's keyword stream
                # could not fire, and its count of 0 measures nothing.
                lambda v: (
                    "n/a"
                    if t.get("false_rejection_rate") is None and t.get("keyword_clips")
                    else figure_text(v, ".0f")
                ),
                stream_tag,
            ),
        ),
        *((f"  {lb}", f"{c}/{n} clips right{label_was(lb)}") for lb, n, c in result.per_label),
    ]
    if result.unknown_words:
        rows.append(("scored as _unknown_", ", ".join(result.unknown_words)))
    if "dataset" in t:
        where = f"{t['dataset']}, split {t.get('eval_split', '?')}"
        if result.dataset_differs is not None:
            where += f" ({result.dataset_differs})"
        elif clip_tag != "train" or stream_tag != "train":
            scored = (
                "every clip, all splits," if result.split == "all" else f"the {result.split} split"
            )
            where += f" (not {scored} scored here)"
        rows.append(("train figures from", where))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
