"""``train --force``: a model folder's ``report.json`` is tinyslm's only as tinyslm wrote it.

Any file that parsed as a report.json was taken as tinyslm's: one with a note of the
user's, re-indented, or another model's copied in was replaced by ``train --force``, and
with ``--no-report`` removed. It is now tinyslm's only when it is byte for byte what
tinyslm writes for the figures it holds and its ``model_sha256`` is the folder's model;
otherwise it is refused as an edited ``report.html`` is (text and keyword folders).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from tinyslm.errors import OutputExistsError
from tinyslm.manifest import MANIFEST_NAME, MODEL_NAME, sha256_hex
from tinyslm.outdir import check_target, write_tree
from tinyslm.pipeline import MODEL_OWNERSHIP
from tinyslm.report import BANNER
from tinyslm.report_data import (
    REPORT_HTML,
    REPORT_JSON,
    ConfusedPair,
    ReportData,
    ThresholdPoint,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAGE = f"<!DOCTYPE html>\n<html><body>{BANNER}0.1.0</p></body></html>\n".encode()
OTHER_SHA = "0" * 64


def _text_figures(sha: str) -> ReportData:
    return ReportData(
        model_sha256=sha,
        eval_split="test",
        labels=("a", "b"),
        confusion=((3, 1), (0, 2)),
        n_oos=1,
        pairs=(ConfusedPair("a", "b", 1, ("turn it up",)),),
        curve=(
            ThresholdPoint(-128, 0.0, 0.83333, 0.0, 0.0),
            ThresholdPoint(40, 0.613281, 1.0, 0.33333, None),
        ),
        tensors=(),
        history=({"accuracy": 0.5, "loss": 0.693147},),
        oos_top1=(1, 0),
    )


def _text_folder(tmp_path: Path) -> Path:
    out = tmp_path / "model"
    shutil.copytree(FIXTURES / "model", out)
    sha = sha256_hex((out / MODEL_NAME).read_bytes())
    (out / REPORT_JSON).write_bytes(_text_figures(sha).to_json_bytes())
    (out / REPORT_HTML).write_bytes(PAGE)
    return out


def _keyword_folder(tmp_path: Path) -> Path:
    from tinyslm.audio.report import keyword_report_data

    sys.path.insert(0, str(FIXTURES))
    from kws import keyword_model_dir

    out = keyword_model_dir(tmp_path / "kw")
    figures = keyword_report_data(
        (out / MODEL_NAME).read_bytes(), [(36, 2.5, 0.1), (40, 0.0, 0.25)], [{"loss": 1.25}]
    )
    (out / REPORT_JSON).write_bytes(figures.to_json_bytes())
    (out / REPORT_HTML).write_bytes(PAGE)
    return out


def _with_note(doc: dict) -> bytes:
    # The report's repro: a key of the user's, written back as json.dump writes it.
    return json.dumps({**doc, "notes_by_me": "keep me"}, indent=1).encode()


def _reindented(doc: dict) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


def _other_models(doc: dict) -> bytes:
    # Another model's figures as tinyslm wrote them, copied into this folder.
    return (
        json.dumps({**doc, "model_sha256": OTHER_SHA}, indent=1, sort_keys=True) + "\n"
    ).encode()


EDITS: dict[str, tuple[Callable[[dict], bytes], str]] = {
    "note": (_with_note, "edited since tinyslm wrote it"),
    "reindented": (_reindented, "edited since tinyslm wrote it"),
    "other-model": (_other_models, "another model's figures"),
}


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _new_files(folder: Path) -> dict[str, bytes]:
    """What a second 'train' writes there (the same model: enough for the checks)."""
    return {name: (folder / name).read_bytes() for name in (MANIFEST_NAME, MODEL_NAME)}


@pytest.mark.parametrize("kind", ["text", "keyword"])
@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_report_json_is_refused_and_kept(tmp_path: Path, kind: str, edit: str) -> None:
    folder = _text_folder(tmp_path) if kind == "text" else _keyword_folder(tmp_path)
    change, why = EDITS[edit]
    doc = json.loads((folder / REPORT_JSON).read_text())
    (folder / REPORT_JSON).write_bytes(change(doc))
    before = _listing(folder)
    with pytest.raises(OutputExistsError, match=rf"report\.json \({why}") as info:
        check_target(folder, force=True, ownership=MODEL_OWNERSHIP)
    assert "\n" not in str(info.value)
    model_only = _new_files(folder)
    with_report = {**model_only, REPORT_JSON: (folder / REPORT_JSON).read_bytes() + b" "}
    # With and without --no-report: replaced before, removed with --no-report.
    for files in (with_report, model_only):
        with pytest.raises(OutputExistsError, match=rf"report\.json \({why}"):
            write_tree(files, folder, force=True, ownership=MODEL_OWNERSHIP)
        assert _listing(folder) == before


@pytest.mark.parametrize("kind", ["text", "keyword"])
def test_tinyslms_own_report_json_is_still_replaced(tmp_path: Path, kind: str) -> None:
    folder = _text_folder(tmp_path) if kind == "text" else _keyword_folder(tmp_path)
    check_target(folder, force=True, ownership=MODEL_OWNERSHIP)
    files = _new_files(folder)
    report = write_tree(files, folder, force=True, ownership=MODEL_OWNERSHIP)
    assert sorted(report.removed) == [REPORT_HTML, REPORT_JSON]


def test_a_keyword_report_json_from_before_model_sha256_is_tied_by_its_tensors(
    tmp_path: Path,
) -> None:
    from tinyslm.audio.report import KeywordReportData

    folder = _keyword_folder(tmp_path)
    figures = KeywordReportData.from_json(folder / REPORT_JSON)
    (folder / REPORT_JSON).write_bytes(replace(figures, model_sha256=None).to_json_bytes())
    check_target(folder, force=True, ownership=MODEL_OWNERSHIP)
    # Another model's tensors (one byte count off): not this folder's figures.
    other = replace(figures.tensors[0], bytes=figures.tensors[0].bytes + 1)
    older = replace(figures, model_sha256=None, tensors=(other, *figures.tensors[1:]))
    (folder / REPORT_JSON).write_bytes(older.to_json_bytes())
    with pytest.raises(OutputExistsError, match=r"report\.json \(another model's figures"):
        check_target(folder, force=True, ownership=MODEL_OWNERSHIP)


@pytest.mark.parametrize("kind", ["text", "keyword"])
def test_a_newer_formats_report_json_is_tinyslms_only_as_written(tmp_path: Path, kind: str) -> None:
    folder = _text_folder(tmp_path) if kind == "text" else _keyword_folder(tmp_path)
    doc = json.loads((folder / REPORT_JSON).read_text())
    doc["format_version"] = 99
    (folder / REPORT_JSON).write_bytes((json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
    check_target(folder, force=True, ownership=MODEL_OWNERSHIP)
    (folder / REPORT_JSON).write_bytes(_with_note(doc))
    with pytest.raises(OutputExistsError, match=r"report\.json \(edited since tinyslm wrote"):
        check_target(folder, force=True, ownership=MODEL_OWNERSHIP)
