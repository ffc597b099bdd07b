"""``manifest.json``: what ``tinyslm train`` hands to ``generate`` and ``emulate``.

It records everything the firmware needs besides the model bytes (tokenizer spec,
labels in index order, quantization of the scores, the calibrated threshold, the
measured arena) and the metrics the model was verified with.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tinyslm.errors import ModelError
from tinyslm.features import FeatureSpec

MANIFEST_NAME = "manifest.json"
MODEL_NAME = "model.tflite"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class QuantParams:
    scale: float
    zero_point: int


@dataclass(frozen=True)
class Manifest:
    """The trained model's contract with the later stages.

    Attributes:
        tinyslm_version: version that wrote it.
        model_sha256: hex sha256 of ``model.tflite``.
        model_bytes: size of ``model.tflite``.
        features: the tokenizer spec (C mirrors it).
        labels: intent names in output index order.
        threshold: calibrated confidence threshold in [0, 1].
        threshold_q: smallest int8 top score routed ``local`` (see decision.py).
        input_quant: ids tensor quantization (int32 ids: scale 0, zero point 0).
        output_quant: int8 scores quantization.
        arena_bytes: smallest tensor arena that allocates on TFLM (x86, 64-bit).
        ops: TFLM builtin op names the model uses, sorted.
        seed: training seed.
        train_config: hyper-parameters used for training.
        metrics: verification figures (accuracy, agreement, oos recall...).
    """

    tinyslm_version: str
    model_sha256: str
    model_bytes: int
    features: FeatureSpec
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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"] = self.features.to_dict()
        d["labels"] = list(self.labels)
        d["ops"] = list(self.ops)
        return d

    def write(self, folder: Path) -> Path:
        path = folder / MANIFEST_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        try:
            return cls(
                tinyslm_version=str(d["tinyslm_version"]),
                model_sha256=str(d["model_sha256"]),
                model_bytes=int(d["model_bytes"]),
                features=FeatureSpec.from_dict(d["features"]),
                labels=tuple(str(x) for x in d["labels"]),
                threshold=float(d["threshold"]),
                threshold_q=int(d["threshold_q"]),
                output_quant=QuantParams(**d["output_quant"]),
                arena_bytes=int(d["arena_bytes"]),
                ops=tuple(str(x) for x in d["ops"]),
                seed=int(d["seed"]),
                train_config=dict(d.get("train_config", {})),
                metrics=dict(d.get("metrics", {})),
                input_quant=QuantParams(**d.get("input_quant", {"scale": 0.0, "zero_point": 0})),
                format_version=int(d.get("format_version", FORMAT_VERSION)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"manifest is malformed: {exc}") from exc


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_model_dir(folder: Path) -> tuple[Manifest, bytes]:
    """Read ``manifest.json`` and ``model.tflite`` from a train output folder.

    Raises:
        ModelError: a file is missing, the manifest is malformed, or the model's
            sha256 does not match the manifest (a corrupt or swapped model).
    """
    mpath, tpath = folder / MANIFEST_NAME, folder / MODEL_NAME
    for p in (mpath, tpath):
        if not p.is_file():
            raise ModelError(f"{p} not found (run 'tinyslm train' first)")
    try:
        raw = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{mpath} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelError(f"{mpath} is not a JSON object")
    manifest = Manifest.from_dict(raw)
    model = tpath.read_bytes()
    digest = sha256_hex(model)
    if digest != manifest.model_sha256:
        raise ModelError(
            f"{tpath} sha256 {digest[:12]}... does not match the manifest's "
            f"{manifest.model_sha256[:12]}..."
        )
    return manifest, model
