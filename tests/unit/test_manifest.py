"""manifest.json: content hash, field-by-field parse errors, checks against the flatbuffer.

Issue 9: ``generate`` trusted manifest fields the model's sha256 does not cover
(an edited ``features.buckets`` gave firmware that answered at 5% accuracy; an
``ops`` list without SOFTMAX gave an op resolver without it).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.errors import ModelError
from tinyslm.manifest import MANIFEST_NAME, Manifest, load_model_dir
from tinyslm.text.features import FeatureSpec

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "model"


@pytest.fixture()
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(FIXTURE, folder)
    return folder


def _edit_json(folder: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = folder / MANIFEST_NAME
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def _rewrite(folder: Path, **changes: Any) -> None:
    """Edit fields AND recompute the content hash (what a determined edit would do)."""
    manifest, _ = load_model_dir(folder, probe_arena=False)
    dataclasses.replace(manifest, **changes).write(folder)


def _error(folder: Path, **kwargs: Any) -> str:
    with pytest.raises(ModelError) as info:
        load_model_dir(folder, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_fixture_loads_and_round_trips(model_dir: Path) -> None:
    manifest, model = load_model_dir(model_dir)
    assert Manifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest
    assert manifest.max_line == 256
    assert len(model) == manifest.model_bytes


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["features"].__setitem__("buckets", 1024),
        lambda d: d["features"].__setitem__("char_trigrams", False),
        lambda d: d["labels"].__setitem__(0, "unlock_everything"),
        lambda d: d.__setitem__("ops", [op for op in d["ops"] if op != "SOFTMAX"]),
        lambda d: d.__setitem__("threshold_q", -128),
        lambda d: d.__setitem__("threshold", 0.0),
        lambda d: d.__setitem__("max_line", 16),
    ],
    ids=["buckets", "trigrams", "label", "ops", "threshold_q", "threshold", "max_line"],
)
def test_edited_fields_are_refused(
    model_dir: Path, change: Callable[[dict[str, Any]], None]
) -> None:
    _edit_json(model_dir, change)
    message = _error(model_dir)
    assert message.startswith(f"{model_dir / MANIFEST_NAME}: manifest content does not match")
    assert "content_sha256" in message and "retrain" in message


def test_metrics_and_a_larger_arena_may_change(model_dir: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["metrics"]["note"] = "mine"
        d["arena_bytes"] = 65536

    _edit_json(model_dir, change)
    manifest, _ = load_model_dir(model_dir)
    assert manifest.arena_bytes == 65536


@pytest.mark.parametrize(
    ("changes", "field", "actual"),
    [
        ({"features": FeatureSpec(buckets=1024, seq_len=32)}, "features.buckets", "512 rows"),
        ({"features": FeatureSpec(buckets=512, seq_len=16)}, "features", "int32 [1, 32], not"),
        ({"labels": ("a", "b")}, "labels", "has 20 outputs"),
        (
            {"ops": ("FULLY_CONNECTED", "GATHER", "L2_NORMALIZATION", "MEAN")},
            "ops",
            "'SOFTMAX'",
        ),
        ({"threshold_q": 300}, "threshold_q", "[-128, 128]"),
        ({"model_bytes": 1}, "model_bytes", "8480 bytes"),
        ({"arena_bytes": 1000}, "arena_bytes", "multiple of 16"),
        ({"arena_bytes": 2**100}, "arena_bytes", "more than any arena tinyslm sizes"),
        ({"max_line": 10**30}, "max_line", "[1, 4096]"),
        ({"max_line": -1}, "max_line", "[1, 4096]"),
    ],
    ids=[
        "buckets",
        "seq_len",
        "labels",
        "ops",
        "threshold_q",
        "model_bytes",
        "arena_align",
        "arena_huge",
        "max_line_huge",
        "max_line_negative",
    ],
)
def test_fields_are_checked_against_the_flatbuffer(
    model_dir: Path, changes: dict[str, Any], field: str, actual: str
) -> None:
    _rewrite(model_dir, **changes)
    message = _error(model_dir)
    assert f"field {field!r}" in message and actual in message, message
    assert str(model_dir / MANIFEST_NAME) in message


def test_output_quant_is_checked(model_dir: Path) -> None:
    manifest, _ = load_model_dir(model_dir, probe_arena=False)
    quant = dataclasses.replace(manifest.output_quant, zero_point=0)
    _rewrite(model_dir, output_quant=quant)
    assert "field 'output_quant'" in _error(model_dir)


def test_too_small_arena_is_probed(model_dir: Path) -> None:
    _edit_json(model_dir, lambda d: d.__setitem__("arena_bytes", 256))  # outside the hash
    message = _error(model_dir)
    assert "field 'arena_bytes' is 256" in message and "TFLM cannot allocate" in message
    load_model_dir(model_dir, probe_arena=False)  # the probe is what refuses it


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("labels"), "missing field 'labels'"),
        (lambda d: d.__setitem__("labels", "abc"), "field 'labels': expected a list of strings"),
        (lambda d: d.__setitem__("seed", "0"), "field 'seed': expected an integer, got '0'"),
        (lambda d: d.__setitem__("threshold_q", 1.5), "field 'threshold_q': expected an integer"),
        # Python's json reads NaN and Infinity; generate then failed making the firmware's level.
        (lambda d: d.__setitem__("threshold", float("nan")), "field 'threshold': nan is not in"),
        (lambda d: d.__setitem__("threshold", float("inf")), "field 'threshold': inf is not in"),
        (lambda d: d.__setitem__("threshold", 1.5), "field 'threshold': 1.5 is not in [0, 1]"),
        (lambda d: d.__setitem__("threshold", True), "field 'threshold': expected a number"),
        (lambda d: d["features"].__setitem__("bucket", 3), "field 'features': unknown feature"),
        (lambda d: d.__setitem__("output_quant", {}), "field 'output_quant': expected {scale"),
        (lambda d: d.pop("content_sha256"), "missing field 'content_sha256'"),
        (lambda d: d.__setitem__("format_version", 5), "format_version 5 is not one of 1, 2, 3, 4"),
        (lambda d: d.__setitem__("format_version", 3), "missing field 'modality'"),
    ],
)
def test_malformed_manifest_names_file_field_and_cause(
    model_dir: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    # Issue 9: "manifest is malformed: 'labels'" named neither the file nor the cause.
    _edit_json(model_dir, change)
    message = _error(model_dir)
    assert message.startswith(f"{model_dir / MANIFEST_NAME}: "), message
    assert expected in message, message


def test_generate_refuses_an_edited_manifest(model_dir: Path, tmp_path: Path) -> None:
    _edit_json(model_dir, lambda d: d["features"].__setitem__("buckets", 1024))
    out = tmp_path / "proj"
    result = CliRunner().invoke(
        cli, ["generate", "--board", "esp32", "--model", str(model_dir), "-o", str(out)]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "content_sha256" in lines[0]
    assert not out.exists()
