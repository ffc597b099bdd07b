"""``manifest.json``: what ``tinyslm train`` hands to ``generate`` and ``emulate``.

It records everything the firmware needs besides the model bytes (tokenizer spec,
labels in index order, quantization of the scores, the calibrated threshold, the
measured arena) and the metrics the model was verified with.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tinyslm.errors import ModelError, utf8_text
from tinyslm.metrics import check_metrics
from tinyslm.modality import AUDIO, TEXT, modality
from tinyslm.text.dataset import DEFAULT_MAX_LINE, MAX_LINE_LIMIT

MANIFEST_NAME = "manifest.json"
MODEL_NAME = "model.tflite"
# 1: the first format. 2: content_sha256 and max_line added. 3: modality added (text
# or audio; 1 and 2 were always text). Older formats are read as what they were and
# written back unchanged, so a project generated from an old model folder records
# the manifest it was given. 4: label_thresholds added; only a project's manifest whose
# labels have thresholds of their own (generate --label-threshold) is format 4, so every
# other manifest, and every firmware byte generated from one, stays as it was.
FORMAT_VERSION = 3
LABEL_THRESHOLDS_FORMAT = 4
READABLE_FORMATS = (1, 2, 3, 4)
# arena_bytes is a multiple of this: the firmware's arena is alignas(16) and TFLM
# aligns its tail allocations to 16 bytes (verify measures, emit pads, both align).
ARENA_ALIGN = 16
# How deep metrics and train_config may nest: tinyslm writes a few levels; the commands
# that read a manifest recurse on them (generate and info --json failed near 450).
MAX_NESTING = 100


def threshold_milli(threshold: float) -> int:
    """A threshold in thousandths, rounded half up as the firmware's ``:info`` prints it.

    Every display of a threshold (``info``, the logs, the report, the project README
    and the firmware's settings) goes through this one rounding, so a level such as
    208/256 = 0.8125 reads 0.813 everywhere (format's ``.3f`` rounds it half to even).
    """
    return int(threshold * 1000.0 + 0.5)


def threshold_text(threshold: float) -> str:
    """``0.813``: :func:`threshold_milli` as printed."""
    return f"{threshold_milli(threshold) / 1000:.3f}"


def align_arena(n: int) -> int:
    """``n`` rounded up to a multiple of :data:`ARENA_ALIGN`."""
    return -(-n // ARENA_ALIGN) * ARENA_ALIGN


class ManifestEditedError(ModelError):
    """The manifest's fields no longer match its ``content_sha256``: edited after training."""


@dataclass(frozen=True)
class QuantParams:
    scale: float
    zero_point: int


@dataclass(frozen=True)
class LabelThreshold:
    """A label's own threshold, instead of the model's (``generate --label-threshold``).

    Attributes:
        label: the intent or keyword.
        threshold: the confidence given, in (0, 1) (a keyword's: its detector level's).
        threshold_q: the int8 level the firmware compares with.
    """

    label: str
    threshold: float
    threshold_q: int


def _non_finite(value: Any, where: str) -> Iterator[str]:
    """The dotted paths (``metrics.per_class._silence_[0]``) of NaN and infinities."""
    if isinstance(value, float) and not math.isfinite(value):
        yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _non_finite(item, f"{where}[{i}]")


@dataclass(frozen=True)
class Manifest:
    """The trained model's contract with the later stages.

    Attributes:
        tinyslm_version: version that wrote it.
        model_sha256: hex sha256 of ``model.tflite``.
        model_bytes: size of ``model.tflite``.
        features: the modality's front-end spec: the tokenizer's for text
            (:class:`tinyslm.text.features.FeatureSpec`), the log-mel front end's and the
            streaming rule's for audio (:class:`tinyslm.audio.spec.KeywordSpec`).
        labels: intent or keyword names in output index order.
        threshold: calibrated confidence threshold in [0, 1].
        threshold_q: smallest int8 top score routed ``local`` (see decision.py).
        input_quant: ids tensor quantization (int32 ids: scale 0, zero point 0).
        output_quant: int8 scores quantization.
        arena_bytes: smallest tensor arena that allocates on TFLM (x86, 64-bit).
        ops: TFLM builtin op names the model uses, sorted.
        seed: training seed.
        train_config: hyper-parameters used for training.
        metrics: verification figures (accuracy, agreement, oos recall...).
        max_line: the device's line limit in bytes (``TINYSLM_MAX_LINE``), sized so
            that every phrase of the dataset fits.
        modality: ``text`` or ``audio`` (:mod:`tinyslm.modality`); written from format 3.
        label_thresholds: labels answered (text) or detected (keywords) at a level of
            their own instead of ``threshold_q``, in label order; format 4 only.
    """

    tinyslm_version: str
    model_sha256: str
    model_bytes: int
    features: Any
    labels: tuple[str, ...]
    threshold: float
    threshold_q: int
    output_quant: QuantParams
    arena_bytes: int
    ops: tuple[str, ...]
    seed: int
    train_config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    input_quant: QuantParams = QuantParams(0.0, 0)
    format_version: int = FORMAT_VERSION
    max_line: int = DEFAULT_MAX_LINE
    modality: str = TEXT
    label_thresholds: tuple[LabelThreshold, ...] = ()

    def __post_init__(self) -> None:
        if self.format_version < 3 and self.modality != TEXT:
            raise ModelError(f"manifest format {self.format_version} cannot hold an audio model")
        if self.label_thresholds and self.format_version < LABEL_THRESHOLDS_FORMAT:
            raise ModelError(f"manifest format {self.format_version} cannot hold label thresholds")

    def thresholds_q(self) -> tuple[int, ...]:
        """The level each label is compared with, in label order."""
        own = {t.label: t.threshold_q for t in self.label_thresholds}
        return tuple(own.get(label, self.threshold_q) for label in self.labels)

    def own_levels_q(self) -> tuple[int, ...]:
        """:meth:`thresholds_q` when any label has its own level, else ``()``: the
        firmware's table (and the detector's), which is NULL without one."""
        return self.thresholds_q() if self.label_thresholds else ()

    def own_levels_milli(self) -> tuple[int, ...]:
        """Each label's threshold in thousandths as recorded (:func:`threshold_milli`),
        beside :meth:`own_levels_q`: what the text firmware's ``:info`` prints, so it
        says what ``info`` and the README say; ``()`` without thresholds of their own."""
        if not self.label_thresholds:
            return ()
        own = {t.label: t.threshold for t in self.label_thresholds}
        return tuple(threshold_milli(own.get(label, self.threshold)) for label in self.labels)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"] = self.features.to_dict()
        d["labels"] = list(self.labels)
        d["ops"] = list(self.ops)
        if self.format_version < 3:
            del d["modality"]  # an old manifest is written back as it was read
        d["label_thresholds"] = label_thresholds_json(self.label_thresholds)
        if self.format_version < LABEL_THRESHOLDS_FORMAT:
            del d["label_thresholds"]
        if self.format_version >= 2:
            d["content_sha256"] = self.content_sha256()
        return d

    def content_sha256(self) -> str:
        """sha256 of the fields the firmware is built from that ``model_sha256`` does not cover.

        ``generate`` trusts labels, thresholds and the tokenizer spec, which a
        flatbuffer cannot confirm (label names, feature families, the gate), so
        an edited manifest must not pass as a trained one. Metrics, the training
        config and the version are informational; ``arena_bytes`` is left out on
        purpose because a larger arena is a legitimate choice and a smaller one is
        caught by probing TFLM (see :func:`check_against_model`).
        """
        content = {
            "format_version": self.format_version,
            "model_sha256": self.model_sha256,
            "model_bytes": self.model_bytes,
            "features": self.features.to_dict(),
            "labels": list(self.labels),
            "threshold": self.threshold,
            "threshold_q": self.threshold_q,
            "output_quant": asdict(self.output_quant),
            "input_quant": asdict(self.input_quant),
            "ops": list(self.ops),
            "max_line": self.max_line,
        }
        if self.format_version >= 3:
            content["modality"] = self.modality
        if self.format_version >= LABEL_THRESHOLDS_FORMAT:
            content["label_thresholds"] = label_thresholds_json(self.label_thresholds)
        return sha256_hex(json.dumps(content, sort_keys=True, ensure_ascii=True).encode())

    def write(self, folder: Path) -> Path:
        """Write ``manifest.json`` into ``folder``.

        Raises:
            ModelError: a figure is NaN or infinite. JSON has neither (``jq`` and a
                browser's ``JSON.parse`` refuse the ``NaN`` Python would write), so a
                writer must record an unmeasured figure as null: one that did not is a
                bug, caught here rather than written (a label without test clips was
                ``[NaN, 0]``).
        """
        doc = self.to_dict()
        bad = list(_non_finite(doc, ""))
        if bad:
            raise ModelError(
                f"{MANIFEST_NAME}: cannot record {', '.join(bad)}: not a finite number"
                " (NaN or infinity), which JSON cannot hold"
            )
        path = folder / MANIFEST_NAME
        path.write_text(json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n")
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "") -> Manifest:
        """Parse a manifest dict and check its content hash.

        Args:
            d: the parsed JSON.
            source: the file it came from, to start every message with.

        Raises:
            ModelError: ``<source>: manifest is malformed: field 'x' ...`` naming
                the field and the cause, or the content hash does not match.
        """
        where = f"{source}: " if source else ""

        def get(name: str, conv: Any, default: Any = _REQUIRED) -> Any:
            if name not in d:
                if default is _REQUIRED:
                    raise ModelError(f"{where}manifest is malformed: missing field {name!r}")
                return default
            try:
                return conv(d[name])
            except (KeyError, TypeError, ValueError) as exc:
                raise ModelError(
                    f"{where}manifest is malformed: field {name!r}: {_cause(exc)}"
                ) from None

        def strings(value: Any) -> tuple[str, ...]:
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise TypeError("expected a list of strings")
            return tuple(value)

        def quant(value: Any) -> QuantParams:
            if not isinstance(value, dict) or set(value) != {"scale", "zero_point"}:
                raise TypeError("expected {scale, zero_point}")
            return QuantParams(float(value["scale"]), _int(value["zero_point"]))

        def mapping(value: Any) -> dict[str, Any]:
            if not isinstance(value, dict):
                raise TypeError("expected a JSON object")
            return dict(value)

        version = get("format_version", _int)
        if version not in READABLE_FORMATS:
            raise ModelError(
                f"{where}manifest format_version {version} is not one of "
                f"{', '.join(map(str, READABLE_FORMATS))} (written by a newer tinyslm; "
                "upgrade tinyslm or retrain with 'tinyslm train')"
            )
        name = get("modality", _str) if version >= 3 else TEXT
        try:
            kind = modality(name)
        except ModelError as exc:
            if not where:
                raise
            # modality() knows no file: an edited "modality" must name the manifest.
            raise ModelError(f"{where}{exc}") from None

        def features(value: Any) -> Any:
            return kind.features_from_dict(mapping(value))

        labels = get("labels", strings)

        def metrics(value: Any) -> dict[str, Any]:
            figures = _utf8_mapping(value)
            check_metrics(figures, labels)
            if kind.name == AUDIO and "n_train" in figures and "n_train_examples" not in figures:
                # A keyword manifest from before round 41 counted the augmented copies
                # in n_train: that count is its n_train_examples, and its clips are not
                # recorded, so info and train --json never show copies as clips.
                figures = {
                    ("n_train_examples" if k == "n_train" else k): v for k, v in figures.items()
                }
            return figures

        def label_thresholds(value: Any) -> tuple[LabelThreshold, ...]:
            entries = mapping(value)
            for name in entries:
                if name not in labels:
                    raise ValueError(f"{name!r} is not one of the labels")
            out = []
            for name in (label for label in labels if label in entries):
                entry = mapping(entries[name])
                if set(entry) != {"threshold", "threshold_q"}:
                    raise TypeError(f"{name!r}: expected {{threshold, threshold_q}}")
                level = _int(entry["threshold_q"])
                if not -128 <= level <= 127:
                    raise ValueError(f"{name!r}: threshold_q {level} is not an int8")
                out.append(LabelThreshold(name, _probability(entry["threshold"]), level))
            return tuple(out)

        manifest = cls(
            tinyslm_version=get("tinyslm_version", _utf8_str),
            model_sha256=get("model_sha256", _str),
            model_bytes=get("model_bytes", _int),
            features=get("features", features),
            labels=labels,
            threshold=get("threshold", _probability),
            threshold_q=get("threshold_q", _int),
            output_quant=get("output_quant", quant),
            arena_bytes=get("arena_bytes", _int),
            ops=get("ops", strings),
            seed=get("seed", _int),
            train_config=get("train_config", _utf8_mapping, {}),
            metrics=get("metrics", metrics, {}),
            input_quant=get("input_quant", quant, QuantParams(0.0, 0)),
            format_version=version,
            max_line=get("max_line", _int, DEFAULT_MAX_LINE),
            modality=kind.name,
            label_thresholds=(
                get("label_thresholds", label_thresholds)
                if version >= LABEL_THRESHOLDS_FORMAT
                else ()
            ),
        )
        if version == 1:
            # Format 1 had no content hash: its fields are still checked against the
            # flatbuffer (ops, shapes, quantisation) by load_model_dir.
            return manifest
        stored = get("content_sha256", _str)
        if stored != manifest.content_sha256():
            raise ManifestEditedError(
                f"{where}manifest content does not match its content_sha256 (labels, "
                "threshold, features or ops were edited after training); retrain with "
                "'tinyslm train' instead of editing it"
            )
        return manifest


def describe_label_thresholds(manifest: Manifest) -> str | None:
    """``unlock 0.900 (q=20), ...`` for ``info``, the report and the logs; ``None`` without."""
    return label_thresholds_text(manifest.label_thresholds)


def label_thresholds_text(entries: tuple[LabelThreshold, ...]) -> str | None:
    """``entries`` as :func:`describe_label_thresholds` prints them (``eval`` too)."""
    if not entries:
        return None
    return ", ".join(
        f"{t.label} {threshold_text(t.threshold)} (q={t.threshold_q})" for t in entries
    )


def label_thresholds_json(entries: tuple[LabelThreshold, ...]) -> dict[str, Any]:
    """``entries`` as the manifest and every ``--json`` give them: {label: {threshold,
    threshold_q}}, ``{}`` without."""
    return {t.label: {"threshold": t.threshold, "threshold_q": t.threshold_q} for t in entries}


_REQUIRED = object()


def _cause(exc: BaseException) -> str:
    return str(exc) if str(exc) else type(exc).__name__


def _probability(value: Any) -> float:
    """A threshold: a number in [0, 1]. NaN or infinity (JSON from Python accepts both)
    made generate fail converting it to the firmware's integer level."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("expected a number")
    number = float(value)
    if not 0.0 <= number <= 1.0:  # False for NaN as well
        raise ValueError(f"{value!r} is not in [0, 1]")
    return number


def _int(value: Any) -> int:
    # bool is an int in Python, and 3.7 would silently become 3: both are edits.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _utf8_mapping(value: Any) -> dict[str, Any]:
    """A JSON object with its every text (keys too, at any depth) made UTF-8 text
    (:func:`~tinyslm.errors.utf8_text`). JSON can escape a lone surrogate: a text model
    trained with --no-report before round 52 recorded ``"dataset": "cmds\\udcff.csv"``
    for a file ``cmds\\xff.csv``, a keyword model ``ex\\udcff`` in ``extra_train``
    for such an --extra-train folder, and generate's tinyslm.json and the report page
    (UTF-8) failed on it with a traceback. Only ``train_config`` and ``metrics`` hold
    such names; both are informational, outside the content hash, so the name is read
    as the shell shows it, as a tinyslm of now records it (``eval`` still knows the
    dataset), and the model is taken: refusing it asked for a retraining over a name."""
    if not isinstance(value, dict):
        raise TypeError("expected a JSON object")
    out: dict[str, Any] = _utf8_texts(value)
    return out


def _utf8_texts(value: Any) -> Any:
    """A copy of ``value`` with its texts made UTF-8 text, at any depth (JSON's str, list,
    dict). A loop, not a recursion: JSON reads objects nested near Python's recursion
    limit (about 1,000 deep), and a recursion of a frame or two a level ended such an
    edited train_config in a RecursionError traceback at 500. Deeper than
    :data:`MAX_NESTING` is refused: what reads the manifest after it (``asdict``,
    ``json.dumps`` with an indent) recurses, and ended one 500 deep in a RecursionError
    traceback in generate and ``info --json``."""
    root = [value]
    todo: list[tuple[Any, Any, int]] = [(root, 0, 0)]
    while todo:
        holder, key, depth = todo.pop()
        item = holder[key]
        if isinstance(item, str):
            holder[key] = utf8_text(item)
        elif isinstance(item, dict | list) and depth >= MAX_NESTING:
            raise ValueError(f"nested more than {MAX_NESTING} deep, which tinyslm never writes")
        elif isinstance(item, dict):
            copy = {utf8_text(str(k)): v for k, v in item.items()}
            holder[key] = copy
            todo.extend((copy, k, depth + 1) for k in copy)
        elif isinstance(item, list):
            items = list(item)
            holder[key] = items
            todo.extend((items, i, depth + 1) for i in range(len(items)))
    return root[0]


def _utf8_str(value: Any) -> str:
    """A text outside the content hash (``tinyslm_version``) made UTF-8 text, as
    :func:`_utf8_mapping` makes ``metrics``'s: an edited ``"0.1\\udcff"`` passed the
    hash, and generate's tinyslm.json ended in a UnicodeEncodeError traceback."""
    return utf8_text(_str(value))


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_model_files(folder: Path) -> None:
    """Refuse a ``folder`` without the files of a model folder, reading none of them (a
    cheap check, before any other check names the folder for what it is not).

    Raises:
        ModelError: ``folder`` is a generated project, or a model file is missing or not
            a file.
    """
    from tinyslm.project import PROJECT_FILE

    mpath, tpath = folder / MANIFEST_NAME, folder / MODEL_NAME
    if not mpath.is_file() and (folder / PROJECT_FILE).is_file():
        # A generated project holds tinyslm.json, not manifest.json: say what it is.
        raise ModelError(
            f"{folder}: a generated project ({PROJECT_FILE}), not a model folder; give the"
            " folder 'tinyslm train' wrote (its manifest.json and model.tflite)"
        )
    for p in (mpath, tpath):
        if p.exists() and not p.is_file():
            # "not found" sent the user looking for a file that is there (a folder).
            raise ModelError(f"{p} is not a file (run 'tinyslm train' to write the model again)")
        if not p.is_file():
            raise ModelError(f"{p} not found (run 'tinyslm train' first)")


def load_model_dir(folder: Path, *, probe_arena: bool = True) -> tuple[Manifest, bytes]:
    """Read ``manifest.json`` and ``model.tflite`` from a train output folder.

    The manifest's content hash and every field the flatbuffer can confirm are
    checked (:func:`check_against_model`): ``generate`` builds firmware from them.

    Raises:
        ModelError: a file is missing, the manifest is malformed or edited, the
            model's sha256 does not match the manifest (a corrupt or swapped model),
            or a field disagrees with the model.
    """
    check_model_files(folder)
    mpath, tpath = folder / MANIFEST_NAME, folder / MODEL_NAME
    try:
        raw = json.loads(mpath.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, or nested too deeply
        raise ModelError(f"{mpath} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ModelError(f"{mpath} is not a JSON object")
    manifest = Manifest.from_dict(raw, str(mpath))
    model = tpath.read_bytes()
    digest = sha256_hex(model)
    if digest != manifest.model_sha256:
        raise ModelError(
            f"{tpath} sha256 {digest[:12]}... does not match the manifest's "
            f"{manifest.model_sha256[:12]}..."
        )
    from tinyslm.flatbuffer import NotFlatbufferError  # it imports this module

    try:
        check_against_model(manifest, model, str(mpath), probe_arena=probe_arena)
    except NotFlatbufferError as exc:
        # The flatbuffer's own line says what is wrong, not with which file.
        raise ModelError(f"{tpath}: {exc}") from None
    return manifest, model


def check_against_model(
    manifest: Manifest, model: bytes, source: str = "manifest", *, probe_arena: bool = True
) -> None:
    """Check every manifest field the flatbuffer can confirm; one line naming the field.

    Tensor shapes give the label count, ``seq_len`` and ``features.buckets`` (rows
    of the embedding table the ids index); the operator table gives ``ops``; the
    output tensor gives ``output_quant``. ``arena_bytes`` is probed on TFLM (a
    child process, about a second) unless ``probe_arena`` is off.

    Raises:
        ModelError: a field disagrees with the model.
    """
    from tinyslm import flatbuffer, tflm_runtime  # they import this module

    details = flatbuffer.io_details(model)

    def bad(field_name: str, value: object, actual: str) -> ModelError:
        return ModelError(
            f"{source}: field {field_name!r} is {value!r} but {actual}; the manifest does not "
            "belong to this model (retrain with 'tinyslm train')"
        )

    if len(manifest.labels) != details.output_shape[-1]:
        raise bad(
            "labels", len(manifest.labels), f"the model has {details.output_shape[-1]} outputs"
        )
    if len(set(manifest.labels)) != len(manifest.labels) or not all(manifest.labels):
        raise ModelError(f"{source}: field 'labels' has empty or repeated names")
    kind = modality(manifest.modality)
    want = kind.input_shape(manifest.features)
    if tuple(details.input_shape) != want or details.input_type.lower() != kind.input_dtype:
        raise bad(
            "features",
            manifest.features.to_dict(),
            f"the model's input is {details.input_type.lower()} {list(details.input_shape)}, "
            f"not {kind.input_dtype} {list(want)}",
        )
    rows = flatbuffer.embedding_rows(model)  # None without an embedding table (audio)
    if rows is not None and manifest.features.buckets != rows:
        raise bad(
            "features.buckets", manifest.features.buckets, f"the embedding table has {rows} rows"
        )
    ops = flatbuffer.model_ops(model)
    if tuple(manifest.ops) != ops:
        raise bad("ops", list(manifest.ops), f"the model uses {list(ops)}")
    if manifest.output_quant != details.output_quant:
        raise bad("output_quant", manifest.output_quant, f"the model's is {details.output_quant}")
    if manifest.input_quant != details.input_quant:
        raise bad("input_quant", manifest.input_quant, f"the model's is {details.input_quant}")
    if manifest.model_bytes != len(model):
        raise bad("model_bytes", manifest.model_bytes, f"model.tflite has {len(model)} bytes")
    if not -128 <= manifest.threshold_q <= 128:
        raise bad("threshold_q", manifest.threshold_q, "it must be in [-128, 128]")
    if manifest.arena_bytes <= 0 or manifest.arena_bytes % ARENA_ALIGN:
        raise bad("arena_bytes", manifest.arena_bytes, f"it must be a multiple of {ARENA_ALIGN}")
    if manifest.arena_bytes > tflm_runtime.ARENA_SEARCH_MAX:
        raise bad(
            "arena_bytes",
            manifest.arena_bytes,
            f"it is above {tflm_runtime.ARENA_SEARCH_MAX} bytes, more than any arena tinyslm sizes",
        )
    if not 1 <= manifest.max_line <= MAX_LINE_LIMIT:
        raise bad("max_line", manifest.max_line, f"it must be in [1, {MAX_LINE_LIMIT}]")
    if probe_arena and not tflm_runtime.arena_fits(model, manifest.arena_bytes):
        raise bad(
            "arena_bytes",
            manifest.arena_bytes,
            "TFLM cannot allocate and run the model in an arena that small",
        )
