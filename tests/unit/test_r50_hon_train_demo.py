"""Round 50 honesty audit: run_train's own 'demo' (27ac20e #14), which no test held: the
CLI resolves 'demo' before calling it (27ac20e #02), so reverting the library's line
passed every test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyslm import modality, pipeline
from tinyslm.text.train import TrainConfig


class _Stop(Exception):
    """Raised where the data has been resolved: nothing is trained."""


def test_run_train_reads_demo_as_the_bundled_demo_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A library caller (a benchmark, a script) passing Path("demo") gets the demo set,
    # as `tinyslm train demo` does, where no file or folder of that name is here.
    monkeypatch.chdir(tmp_path)
    seen: list[Path | None] = []

    def modality_of_data(data: Path | None) -> object:
        seen.append(data)
        raise _Stop

    monkeypatch.setattr(modality, "modality_of_data", modality_of_data)
    with pytest.raises(_Stop):
        pipeline.run_train(Path("demo"), tmp_path / "m", TrainConfig())
    assert seen == [None]
