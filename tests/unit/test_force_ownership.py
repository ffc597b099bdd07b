"""``train --force``: a model folder's files are tinyslm's by what they hold, not by name.

A folder with a ``manifest.json`` and files named like a model folder's was taken as
tinyslm's: a web app's manifest and a user's own ``report.html`` were replaced (or,
with ``--no-report``, deleted). Each name now has a content check
(``MODEL_OWNERSHIP.checks``), made up front (:func:`check_target`) and again just
before the swap (:func:`write_tree`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tinyslm import outdir
from tinyslm.errors import OutputExistsError
from tinyslm.manifest import MANIFEST_NAME, MODEL_NAME, Manifest
from tinyslm.outdir import check_target, write_tree
from tinyslm.pipeline import MODEL_OWNERSHIP
from tinyslm.report import BANNER
from tinyslm.report_data import REPORT_HTML, REPORT_JSON, ReportData

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "model"
PAGE = f"<!DOCTYPE html>\n<html><body>{BANNER}0.1.0</p></body></html>\n".encode()


def _report_json(sha: str) -> bytes:
    data = ReportData(
        model_sha256=sha,
        eval_split="test",
        labels=("a", "b"),
        confusion=((1, 0), (0, 1)),
        n_oos=0,
        pairs=(),
        curve=(),
        tensors=(),
    )
    return data.to_json_bytes()


def _model_folder(tmp_path: Path, name: str = "model") -> Path:
    """The fixture model (manifest format 2) with tinyslm's report.json and report.html."""
    out = tmp_path / name
    shutil.copytree(FIXTURE, out)
    sha = hashlib.sha256((out / MODEL_NAME).read_bytes()).hexdigest()
    (out / REPORT_JSON).write_bytes(_report_json(sha))
    (out / REPORT_HTML).write_bytes(PAGE)
    return out


def _new_model_files(tmp_path: Path) -> dict[str, bytes]:
    """Another model's files (what a second 'train' writes)."""
    raw = json.loads((FIXTURE / MANIFEST_NAME).read_text())
    model = (FIXTURE / MODEL_NAME).read_bytes() + b"\0" * 16
    sha = hashlib.sha256(model).hexdigest()
    manifest = dataclasses.replace(
        Manifest.from_dict(raw), model_sha256=sha, model_bytes=len(model)
    )
    folder = tmp_path / "new-model-src"
    folder.mkdir()
    return {
        MANIFEST_NAME: manifest.write(folder).read_bytes(),
        MODEL_NAME: model,
        REPORT_JSON: _report_json(sha),
        REPORT_HTML: PAGE.replace(b"0.1.0", b"0.2.0"),
    }


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_folder_with_a_web_apps_manifest_is_refused(tmp_path: Path) -> None:
    # The reported case: both of the user's files were replaced by 'train --force'.
    target = tmp_path / "userdir"
    target.mkdir()
    (target / MANIFEST_NAME).write_text('{"name":"my web app"}\n')
    (target / REPORT_HTML).write_text("<html>my own report</html>\n")
    before = _listing(target)
    with pytest.raises(OutputExistsError) as info:
        check_target(target, force=True, ownership=MODEL_OWNERSHIP)
    message = str(info.value)
    assert "\n" not in message
    assert "manifest.json (not a tinyslm manifest)" in message
    assert "report.html (not a tinyslm report page)" in message
    with pytest.raises(OutputExistsError, match=r"manifest\.json"):
        write_tree(_new_model_files(tmp_path), target, force=True, ownership=MODEL_OWNERSHIP)
    assert _listing(target) == before


def test_tinyslms_model_folder_is_replaced(tmp_path: Path) -> None:
    # Format 2 (the fixture's): a manifest an older tinyslm wrote is tinyslm's.
    target = _model_folder(tmp_path)
    check_target(target, force=True, ownership=MODEL_OWNERSHIP)
    files = _new_model_files(tmp_path)
    report = write_tree(files, target, force=True, ownership=MODEL_OWNERSHIP)
    assert sorted(report.changed) == sorted(files)
    assert _listing(target) == files
    # And again: the folder it wrote is its own.
    write_tree(files, target, force=True, ownership=MODEL_OWNERSHIP)


@pytest.mark.parametrize("version", [1, 3, 99])
def test_other_manifest_formats_tinyslm_wrote_are_its_own(tmp_path: Path, version: int) -> None:
    target = _model_folder(tmp_path)
    raw = json.loads((target / MANIFEST_NAME).read_text())
    if version == 1:  # no content hash, no max_line
        raw.pop("content_sha256")
        raw.pop("max_line")
        raw["format_version"] = 1
    elif version == 3:
        manifest = dataclasses.replace(Manifest.from_dict(raw), format_version=3)
        raw = json.loads(manifest.write(tmp_path).read_text())
        assert raw["format_version"] == 3
    else:  # a newer tinyslm's, which this one cannot read
        raw["format_version"] = version
    (target / MANIFEST_NAME).write_text(json.dumps(raw))
    check_target(target, force=True, ownership=MODEL_OWNERSHIP)


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        (MANIFEST_NAME, b"[1, 2]", "not a tinyslm manifest"),
        (MANIFEST_NAME, b"\xff\xfe not json", "not a tinyslm manifest"),
        (MODEL_NAME, b"TFL3 my own model", "not the model manifest.json describes"),
        (REPORT_JSON, b'{"report": "mine"}', "not a tinyslm report.json"),
        (REPORT_JSON, b'{"model_sha256": "x", "format_version": 1}', "not as tinyslm writes"),
        (REPORT_HTML, b"<html>my own report</html>", "not a tinyslm report page"),
    ],
)
def test_a_file_that_is_not_tinyslms_is_refused_and_kept(
    tmp_path: Path, name: str, content: bytes, why: str
) -> None:
    target = _model_folder(tmp_path)
    (target / name).write_bytes(content)
    before = _listing(target)
    with pytest.raises(OutputExistsError, match=rf"{name} \({why}"):
        check_target(target, force=True, ownership=MODEL_OWNERSHIP)
    files = _new_model_files(tmp_path)
    with pytest.raises(OutputExistsError, match=rf"{name} \({why}"):
        write_tree(files, target, force=True, ownership=MODEL_OWNERSHIP)
    # --no-report: tinyslm's report goes with the model it describes, a user's never.
    without_report = {k: v for k, v in files.items() if not k.startswith("report.")}
    with pytest.raises(OutputExistsError, match=rf"{name} \({why}"):
        write_tree(without_report, target, force=True, ownership=MODEL_OWNERSHIP)
    assert _listing(target) == before


def test_an_edited_manifest_is_refused(tmp_path: Path) -> None:
    target = _model_folder(tmp_path)
    raw = json.loads((target / MANIFEST_NAME).read_text())
    raw["labels"] = [*raw["labels"][:-1], "renamed"]
    (target / MANIFEST_NAME).write_text(json.dumps(raw))
    with pytest.raises(OutputExistsError, match=r"manifest\.json \(edited since tinyslm wrote"):
        check_target(target, force=True, ownership=MODEL_OWNERSHIP)


def test_no_report_removes_only_tinyslms_report(tmp_path: Path) -> None:
    target = _model_folder(tmp_path)
    files = {k: v for k, v in _new_model_files(tmp_path).items() if not k.startswith("report.")}
    report = write_tree(files, target, force=True, ownership=MODEL_OWNERSHIP)
    assert sorted(report.removed) == [REPORT_HTML, REPORT_JSON]
    assert _listing(target) == files


def test_a_users_file_put_there_during_training_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # check_target ran before the training and passed; the write checks again.
    target = _model_folder(tmp_path)
    check_target(target, force=True, ownership=MODEL_OWNERSHIP)
    (target / REPORT_HTML).write_text("<html>written while training ran</html>")
    before = _listing(target)
    monkeypatch.setattr(outdir, "check_target", lambda *a, **k: None)
    files = _new_model_files(tmp_path)
    for new in (files, {k: v for k, v in files.items() if k != REPORT_HTML}):
        with pytest.raises(OutputExistsError, match=r"report\.html \(not a tinyslm report page"):
            write_tree(new, target, force=True, ownership=MODEL_OWNERSHIP)
        assert _listing(target) == before


@pytest.mark.parametrize("with_sha", [True, False], ids=["today", "before-model-sha"])
def test_a_keyword_model_folder_is_tinyslms(tmp_path: Path, with_sha: bool) -> None:
    """A keyword model's report.json is a keyword report (its own format), written with
    the model's sha256 since round 38 and without it before: both are tinyslm's."""
    import sys
    from dataclasses import replace

    from tinyslm.audio.report import keyword_report_data

    sys.path.insert(0, str(FIXTURE.parent))
    from kws import keyword_model_dir

    out = keyword_model_dir(tmp_path / "kw")
    figures = keyword_report_data((out / MODEL_NAME).read_bytes(), [(40, 1.0, 0.1)])
    if not with_sha:
        figures = replace(figures, model_sha256=None)
    (out / REPORT_JSON).write_bytes(figures.to_json_bytes())
    (out / REPORT_HTML).write_bytes(PAGE)
    check_target(out, force=True, ownership=MODEL_OWNERSHIP)
