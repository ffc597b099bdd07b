"""Manifest formats 1, 2 and 3 (issue 8): old model folders stay readable, as what they were.

Format 3 adds ``modality``; 1 and 2 were always text. An old manifest is written back
unchanged (``to_dict``), which keeps a project generated from an old folder, and the
golden projects made from the format-2 fixture, byte-identical.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from tinyslm.errors import ModelError
from tinyslm.manifest import FORMAT_VERSION, MANIFEST_NAME, Manifest, load_model_dir
from tinyslm.modality import AUDIO, TEXT

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "model"


def _copy(tmp_path: Path) -> Path:
    out = tmp_path / "model"
    shutil.copytree(FIXTURE, out)
    return out


def test_the_fixture_is_format_2_and_is_written_back_byte_for_byte(tmp_path: Path) -> None:
    raw = json.loads((FIXTURE / MANIFEST_NAME).read_text())
    assert raw["format_version"] == 2 and "modality" not in raw
    manifest, _ = load_model_dir(FIXTURE, probe_arena=False)
    assert manifest.modality == TEXT and manifest.format_version == 2
    written = manifest.write(tmp_path).read_text()
    assert written == (FIXTURE / MANIFEST_NAME).read_text()


def test_format_1_reads_as_text_without_a_content_hash(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    raw = json.loads((folder / MANIFEST_NAME).read_text())
    for key in ("content_sha256", "max_line"):
        raw.pop(key)
    raw["format_version"] = 1
    (folder / MANIFEST_NAME).write_text(json.dumps(raw))
    manifest, _ = load_model_dir(folder, probe_arena=False)
    assert (manifest.format_version, manifest.modality) == (1, TEXT)
    assert "content_sha256" not in manifest.to_dict() and "modality" not in manifest.to_dict()
    # The flatbuffer checks still hold for it: a wrong label count is refused.
    raw["labels"] = raw["labels"][:-1]
    (folder / MANIFEST_NAME).write_text(json.dumps(raw))
    with pytest.raises(ModelError, match="field 'labels'"):
        load_model_dir(folder, probe_arena=False)


def test_format_3_records_the_modality_and_hashes_it() -> None:
    old, _ = load_model_dir(FIXTURE, probe_arena=False)
    new = dataclasses.replace(old, format_version=FORMAT_VERSION)
    d = new.to_dict()
    assert d["modality"] == TEXT and d["format_version"] == 3
    assert d["content_sha256"] != old.to_dict()["content_sha256"]
    assert Manifest.from_dict(d) == new
    d["modality"] = AUDIO  # an edit: the hash covers it (and the text spec is no audio spec)
    with pytest.raises(ModelError):
        Manifest.from_dict(d)
    d["modality"] = "video"
    with pytest.raises(ModelError, match="unknown modality 'video'"):
        Manifest.from_dict(d)


def test_an_old_format_cannot_hold_an_audio_model() -> None:
    old, _ = load_model_dir(FIXTURE, probe_arena=False)
    with pytest.raises(ModelError, match="format 2 cannot hold an audio model"):
        dataclasses.replace(old, modality=AUDIO)
