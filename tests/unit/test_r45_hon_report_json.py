"""Round 45 (honesty hunt): ``train --force`` refuses a newer-format keyword report.json
without a ``model_sha256`` as not tinyslm's (one line, the file kept), where only an
untested branch stood between it and a KeyError traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tinyslm.errors import OutputExistsError
from tinyslm.outdir import check_target
from tinyslm.pipeline import MODEL_OWNERSHIP
from tinyslm.report_data import REPORT_JSON

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_r44_repro_report_json import _keyword_folder


def test_a_newer_keyword_report_json_without_a_sha_is_not_tinyslms(tmp_path: Path) -> None:
    folder = _keyword_folder(tmp_path)
    doc = json.loads((folder / REPORT_JSON).read_text())
    doc["format_version"] = 99
    del doc["model_sha256"]
    raw = (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()
    (folder / REPORT_JSON).write_bytes(raw)
    with pytest.raises(OutputExistsError, match=r"report\.json \(not a tinyslm report\.json"):
        check_target(folder, force=True, ownership=MODEL_OWNERSHIP)
    assert (folder / REPORT_JSON).read_bytes() == raw
