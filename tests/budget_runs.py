"""``train_to_budget`` with a fake training: each model it "trains" is the fixture
model's manifest with the sizes a test gives, so a test says what the converter measured
and reads what train said and retrained (tests/unit/test_r52_h4_*, test_r52_rvh4_*)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinyslm.errors import BudgetError
from tinyslm.manifest import load_model_dir
from tinyslm.text.dataset import Dataset, load_dataset
from tinyslm.text.train import TrainConfig
from tinyslm.train_options import distinct_ids, plan_size, train_to_budget

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "model"


@dataclasses.dataclass(frozen=True)
class BudgetRun:
    """What a :func:`run_to_budget` did: the configs trained, in order, the lines train
    said, and what it returned or the :class:`BudgetError` it raised."""

    configs: list[TrainConfig]
    said: list[str]
    result: Any
    error: BudgetError | None


def plan(options: dict[str, Any]) -> Any:
    """The size train plans for ``options`` on the bundled demo set."""
    data = load_dataset(None)
    return plan_size(options, len(data.labels), distinct_ids(data, options))


def run_to_budget(
    options: dict[str, Any],
    measured: Callable[[int, TrainConfig], dict[str, Any]],
    data: Dataset | None = None,
) -> BudgetRun:
    """``train_to_budget`` on ``data`` (the demo set by default), the n-th model trained
    (from 0) measuring the manifest fields ``measured(n, config)`` gives (``arena_bytes``,
    ``model_bytes``)."""
    manifest, _ = load_model_dir(FIXTURE, probe_arena=False)
    dataset = load_dataset(None) if data is None else data
    configs: list[TrainConfig] = []
    said: list[str] = []

    def run(config: TrainConfig, again: bool, accept: Any) -> Any:
        configs.append(config)
        accept(dataclasses.replace(manifest, **measured(len(configs) - 1, config)))
        return "written"

    try:
        result = train_to_budget(options, lambda: dataset, run, said.append)
    except BudgetError as err:
        return BudgetRun(configs, said, None, err)
    return BudgetRun(configs, said, result, None)
