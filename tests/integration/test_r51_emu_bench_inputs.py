"""Round 51: benchmarks/cortex_m7.py records only the datasets a run read.

``--only text`` wrote ``keyword_data`` (a folder it never opened, here not even there)
and ``clinc_data`` (the missing file it skipped) as if they were inputs of the run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_benchmark_cli import _load  # one loader of a benchmark script

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"


def _run_text_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clinc: Path, kws: Path
) -> dict[str, Any]:
    """``--only text --json`` with QEMU replaced; the figures written."""
    bench = _load("cortex_m7")
    monkeypatch.setattr(bench, "DEFAULT_CLINC", clinc)
    monkeypatch.setattr(bench, "DEFAULT_KWS_DATA", kws)
    monkeypatch.setattr(bench.clinc150, "DEFAULT_DATA", clinc)
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    agree = {"parity_with_verify": {"agree": 1, "compared": 1}}
    monkeypatch.setattr(bench, "measure_model", lambda *_a: {"stock": agree, "tinyslm": agree})
    monkeypatch.setattr(bench, "print_model", lambda *_a: None)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "tinyslm-tflm.json").write_text("{}\n")
    out = tmp_path / "figures.json"
    argv = ["--only", "text", "--tflm-dir", str(tree), "--demo-model", str(FIXTURE_MODEL)]
    assert bench.main([*argv, "--json", str(out)]) == 0
    return dict(json.loads(out.read_text()))


def test_text_only_records_no_keyword_data_and_no_skipped_clinc_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kws = tmp_path / "speech_commands_dev"
    kws.mkdir()  # there, but --only text never reads it
    figures = _run_text_only(tmp_path, monkeypatch, tmp_path / "absent" / "data_full.json", kws)
    assert (figures["clinc_data"], figures["keyword_data"]) == (None, None)
    assert "demo" in figures


def test_datasets_a_run_reads_are_recorded(tmp_path: Path) -> None:
    from argparse import Namespace

    bench = _load("cortex_m7")
    clinc = tmp_path / "data_full.json"
    clinc.write_text("{}\n")
    kws = tmp_path / "speech_commands_dev"
    kws.mkdir()
    given = {"clinc_data": clinc, "keyword_data": kws, "keyword_model": []}
    assert bench.data_inputs(Namespace(only=None, **given)) == {
        "clinc_data": str(clinc),
        "keyword_data": str(kws),
    }
    assert bench.data_inputs(Namespace(only="keywords", **given)) == {
        "clinc_data": None,
        "keyword_data": str(kws),
    }
    # A keyword dataset that is not there is not read: null, as the --json help says.
    absent = {**given, "keyword_data": tmp_path / "absent"}
    assert bench.data_inputs(Namespace(only=None, **absent)) == {
        "clinc_data": str(clinc),
        "keyword_data": None,
    }
