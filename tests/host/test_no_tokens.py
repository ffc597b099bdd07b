"""A phrase the tokenizer makes no id of (only punctuation, say) through the whole text
firmware path: the C core answers ``{"error":"no_tokens"}`` without an inference, the
emulator (the same core under ctypes) reports it as a device error, and the Python
reference (:func:`tinyslm.emulate.phrases.reference_parity`) expects that answer rather
than the intent TFLM would pick for an all-padding input.

The core's line handling itself is ``case_no_tokens`` of ``test_core_protocol.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_paths import require_tool

from tinyslm.emulate.emulator import Emulator, emulator_runner
from tinyslm.emulate.phrases import reference_parity, run_phrases
from tinyslm.manifest import load_model_dir
from tinyslm.pipeline import run_generate
from tinyslm.text.features import tokenize

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"
PUNCTUATION_ONLY = ("?!.", "... !!! ???", '-- "*" --')


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("cc")
    out = tmp_path_factory.mktemp("no_tokens") / "proj"
    run_generate("esp32", out, model_dir=FIXTURE_MODEL)
    return out


def test_punctuation_only_phrases_are_refused_and_match_the_reference(project: Path) -> None:
    manifest, model = load_model_dir(FIXTURE_MODEL)
    label = manifest.labels[0]
    assert all(not any(tokenize(t, manifest.features)) for t in PUNCTUATION_ONLY)
    rows = [(t, label, False) for t in PUNCTUATION_ONLY] + [("turn on the lights", label, False)]
    report = run_phrases(emulator_runner(Emulator(project)), rows, source="t", split="all")
    assert [r.error for r in report.results] == ["no_tokens"] * 3 + [None]
    assert all(r.line == '{"error":"no_tokens"}' for r in report.results[:3])
    assert report.error_kinds == {"no_tokens": 3}
    parity = reference_parity(report.results, manifest, model)
    assert (parity.agree, parity.mismatches) == (4, ())
