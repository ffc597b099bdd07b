"""tinyslm train --board / --max-model-kb: the model is sized to fit, generate takes it."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import pytest
from cli_support import assert_one_error_line, run_cli

from tinyslm.boards import load_board
from tinyslm.emit.project import arena_size_for
from tinyslm.manifest import load_model_dir
from tinyslm.pipeline import run_generate
from tinyslm.sizing import data_budget_bytes
from tinyslm.text.dataset import demo_dataset_path, load_dataset
from tinyslm.train_options import default_options, distinct_ids

pytestmark = pytest.mark.slow

LABELS = ("lights_off", "lights_on", "timer_set", "weather_query", "oos")
FAST = ["--seq-len", "16", "--epochs", "2", "--no-report"]


@pytest.fixture(scope="module")
def subset_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keep: dict[str, list[str]] = defaultdict(list)
    with demo_dataset_path().open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["label"] in LABELS and len(keep[row["label"]]) < 15:
                keep[row["label"]].append(row["text"])
    path = tmp_path_factory.mktemp("data") / "subset.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for label, texts in sorted(keep.items()):
            w.writerows([t, label] for t in texts)
    return path


@pytest.mark.parametrize(
    ("board_id", "extra", "budget_kb", "source"),
    [
        ("esp32", ["--max-model-kb", "40"], 40, "of --max-model-kb 40"),
        # 4 intents of 15 phrases use a sliver of the board's 1.5 MB: what the data can
        # use caps it (round 55), as it caps plain train's default. None: that budget.
        ("stm32h7", [], None, "of what the data can use ("),
    ],
)
def test_sized_model_fits_and_generate_takes_it(
    subset_csv: Path,
    tmp_path: Path,
    board_id: str,
    extra: list[str],
    budget_kb: int | None,
    source: str,
) -> None:
    out = tmp_path / "model"
    proc = run_cli("train", str(subset_csv), "-o", str(out), "--board", board_id, *extra, *FAST)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    size_line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("size: "))
    assert source in size_line, size_line
    manifest, _ = load_model_dir(out)
    board = load_board(board_id)
    if budget_kb is not None:
        budget = budget_kb * 1024
    else:
        data = load_dataset(subset_csv)
        distinct = distinct_ids(data, {**default_options(), "seq_len": 16})
        budget = data_budget_bytes(distinct, len(data.labels))
        assert f"need {budget:,} bytes; board {board_id}'s cap " in size_line, size_line
        assert budget < board.model_budget_bytes // 16
    assert manifest.model_bytes <= budget
    # Most of the budget is used (the point of sizing to it).
    assert manifest.model_bytes > budget * 0.8
    assert arena_size_for(manifest.arena_bytes) <= board.arena_budget_bytes
    buckets = manifest.train_config["features"]["buckets"]
    assert f"buckets {buckets}, dim {manifest.train_config['dim']}" in size_line
    # generate never refuses what train sized for the board (BudgetError otherwise).
    project = run_generate(board_id, tmp_path / "fw", model_dir=out)
    assert project.model_bytes == manifest.model_bytes
    assert (tmp_path / "fw" / "platformio.ini").is_file()


def test_given_sizes_that_cannot_fit_are_refused_before_training(
    subset_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model"
    proc = run_cli(
        "train", str(subset_csv), "-o", str(out), "--board", "esp32",
        "--buckets", "65536", "--dim", "64", *FAST,
    )  # fmt: skip
    assert_one_error_line(proc, "buckets 65536, dim 64", "board esp32's 1024 KB")
    assert not out.exists()
    assert "epoch" not in proc.stdout
