"""Round 51: benchmarks/cortex_m7.py records only the datasets a run read.

``--only text`` wrote ``keyword_data`` (a folder it never opened, here not even there)
and ``clinc_data`` (the missing file it skipped) as if they were inputs of the run.
Each path is recorded where the run reads it (mr2 review, F6: a ``data_inputs`` worked
out again when the run would read them), so these go through ``main``.
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


FIXTURE_CSV = FIXTURE_MODEL.parent / "fixture_commands.csv"


def _run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clinc: Path, kws: Path, *argv: str
) -> dict[str, Any]:
    """``main([*argv, --json ...])`` with QEMU replaced; the figures written."""
    bench = _load("cortex_m7")
    monkeypatch.setattr(bench, "DEFAULT_CLINC", clinc)
    monkeypatch.setattr(bench, "DEFAULT_KWS_DATA", kws)
    monkeypatch.setattr(bench.clinc150, "DEFAULT_DATA", clinc)
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    agree = {"parity_with_verify": {"agree": 1, "compared": 1}}
    monkeypatch.setattr(bench, "measure_model", lambda *_a: {"stock": agree, "tinyslm": agree})
    monkeypatch.setattr(bench, "print_model", lambda *_a: None)
    same = {"parity_with_stream_py": {"device": 1, "reference": 1, "identical": 1}}
    monkeypatch.setattr(bench, "measure_keyword_model", lambda *_a: dict(same))
    monkeypatch.setattr(bench, "print_keyword_model", lambda *_a: None)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "tinyslm-tflm.json").write_text("{}\n")
    out = tmp_path / "figures.json"
    assert bench.main([*argv, "--tflm-dir", str(tree), "--json", str(out)]) == 0
    return dict(json.loads(out.read_text()))


def _run_text_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clinc: Path, kws: Path
) -> dict[str, Any]:
    return _run(
        tmp_path, monkeypatch, clinc, kws, "--only", "text", "--demo-model", str(FIXTURE_MODEL)
    )


def test_text_only_records_no_keyword_data_and_no_skipped_clinc_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kws = tmp_path / "speech_commands_dev"
    kws.mkdir()  # there, but --only text never reads it
    figures = _run_text_only(tmp_path, monkeypatch, tmp_path / "absent" / "data_full.json", kws)
    assert (figures["clinc_data"], figures["keyword_data"]) == (None, None)
    assert "demo" in figures


def _text_models() -> tuple[str, ...]:
    return ("--demo-model", str(FIXTURE_MODEL), "--clinc-model", str(FIXTURE_MODEL))


def test_datasets_a_run_reads_are_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kws = tmp_path / "speech_commands_dev"
    kws.mkdir()
    figures = _run(tmp_path, monkeypatch, FIXTURE_CSV, kws, *_text_models())
    assert (figures["clinc_data"], figures["keyword_data"]) == (str(FIXTURE_CSV), str(kws))
    assert {"demo", "clinc150", "keywords"} <= set(figures)
    # The keys keep their place in the JSON (after argv), whatever filled them.
    keys = list(figures)
    assert keys[keys.index("argv") + 1 : keys.index("argv") + 3] == ["clinc_data", "keyword_data"]


def test_keywords_only_records_no_clinc_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kws = tmp_path / "speech_commands_dev"
    kws.mkdir()
    figures = _run(tmp_path, monkeypatch, FIXTURE_CSV, kws, "--only", "keywords")
    assert (figures["clinc_data"], figures["keyword_data"]) == (None, str(kws))


def test_a_keyword_dataset_not_there_is_not_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not there, it is not read: null, as the --json help says."""
    figures = _run(tmp_path, monkeypatch, FIXTURE_CSV, tmp_path / "absent", *_text_models())
    assert (figures["clinc_data"], figures["keyword_data"]) == (str(FIXTURE_CSV), None)
    assert "keywords" not in figures
