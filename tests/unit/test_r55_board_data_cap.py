"""Round 55 (issue 12, "Sized to the board"): ``train --board`` caps the board's model
budget by what the data can use, as plain ``train`` caps its 500 KiB default.

Before, a board's whole budget went to the model whatever the data: the demo set (20
intents, ~3,200 distinct n-grams) got B16384 D61 H256 for the ESP32 (~1 MB, a table of
rows no training phrase reaches) and B32768 D47 H256 for the STM32H7, at the demo
model's (B4096 D32 H128, ~141 KiB) test accuracy within seed noise. An explicit
``--max-model-kb`` or a pinned size keeps its meaning.

Where a long ``--seq-len``'s arena narrows the embedding (the ESP32), the buckets stay at
what the data reaches: the data's bytes once bought B32768 D4 at ``--seq-len 4096`` (94.23 %
INT8 test on the demo set, seed 0), where B4096 D7 fits the arena (98.46 %; B131072 D7,
before round 55, 98.85 %).
"""

from __future__ import annotations

import dataclasses
import random
import string

import pytest
from budget_runs import plan, run_to_budget
from click.testing import CliRunner

from tinyslm.boards import load_board
from tinyslm.cli import cli
from tinyslm.emit.project import arena_size_for
from tinyslm.emit.text import firmware_ram
from tinyslm.sizing import MIN_DIM, Shape, data_buckets, data_budget_bytes, estimate_arena_bytes
from tinyslm.text.dataset import MAX_LINE_LIMIT, Example, load_dataset
from tinyslm.train_options import default_options, distinct_ids, plan_size, resolve_seq_len

CLINC150_DISTINCT_IDS = 34_722  # CLINC150's training split (tests/unit/test_default_budget.py)
BOARDS = ("esp32", "stm32h7")


@pytest.mark.parametrize("board_id", BOARDS)
def test_a_board_on_a_small_set_takes_what_the_data_can_use(board_id: str) -> None:
    options = {**default_options(), "board": board_id}
    data = load_dataset(None)
    distinct = distinct_ids(data, options)
    board = load_board(board_id)
    choice = plan(options)
    wanted = data_budget_bytes(distinct, len(data.labels))
    assert wanted < board.model_budget_bytes
    assert choice.budget_bytes == wanted
    # The plain demo model's shape: the board adds its arena budget, not table rows.
    assert choice.shape == plan(default_options()).shape == Shape(4096, MIN_DIM, 128)
    seq_len = int(resolve_seq_len(options)["seq_len"])
    others = firmware_ram(board, seq_len, len(data.labels), MAX_LINE_LIMIT)[0]
    assert choice.arena_budget_bytes == board.arena_budget_bytes - others
    assert choice.budget_source == (
        f"what the data can use ({distinct:,} distinct n-gram ids -> 4096 buckets at dim "
        f"{MIN_DIM} need {wanted:,} bytes; board {board_id}'s cap {board.model_flash_kb} KB)"
    )


def test_train_says_the_data_capped_board_budget() -> None:
    # The size line train prints (train_to_budget says choice.describe() first).
    done = run_to_budget({**default_options(), "board": "esp32"}, lambda n, _: {})
    assert done.result == "written" and len(done.configs) == 1, done.said
    line = done.said[0]
    assert line.startswith("size: buckets 4096, dim 32, hidden 128 (model ~141 KB of what "), line
    assert "the data can use (" in line and "; board esp32's cap 1024 KB), arena ~" in line


@pytest.mark.parametrize("seq_len", [1536, 2048, 3072, 4096])
def test_a_long_seq_len_narrows_the_embedding_at_the_data_buckets(seq_len: int) -> None:
    # The ESP32's arena takes less than dim 32 at these lengths: the embedding narrows to
    # the widest the arena takes, at the buckets the data reaches, not at more buckets.
    options = {**default_options(), "board": "esp32", "seq_len": seq_len}
    data = load_dataset(None)
    distinct = distinct_ids(data, options)
    choice = plan(options)
    shape, labels = choice.shape, len(data.labels)
    assert choice.budget_bytes == data_budget_bytes(distinct, labels)
    assert shape.buckets == data_buckets(distinct) == 4096, choice.describe()
    assert shape.dim < MIN_DIM

    def firmware_arena(dim: int) -> int:
        return arena_size_for(
            estimate_arena_bytes(Shape(shape.buckets, dim, shape.hidden), labels, seq_len)
        )

    assert firmware_arena(shape.dim) <= choice.arena_budget_bytes < firmware_arena(shape.dim + 1)
    assert "the most hash buckets up to the 4096 the data reaches that still leave" in (
        choice.describe()
    )


def test_a_long_seq_len_on_the_esp32_plans_the_data_buckets_at_dim_7() -> None:
    # Measured (seeds 0 / 1, docs/architecture.md): B4096 D7 H128 98.46 / 98.08 % INT8
    # test, the B32768 D4 H128 that the data's bytes bought without the cap 94.23 / 94.23 %.
    choice = plan({**default_options(), "board": "esp32", "seq_len": 4096})
    assert choice.shape == Shape(4096, 7, 128), choice.describe()


def test_an_arena_miss_retry_keeps_the_data_buckets() -> None:
    # The retry one size smaller after an arena miss narrows the embedding again; the
    # bytes it frees buy no buckets past the data's either.
    options = {**default_options(), "board": "esp32", "seq_len": 4096}
    choice = plan(options)
    budget = choice.arena_budget_bytes
    measured = next(m for m in range(choice.arena_bytes, budget) if arena_size_for(m) > budget)
    done = run_to_budget(
        options, lambda n, _: {"arena_bytes": measured if n == 0 else choice.arena_bytes // 2}
    )
    assert done.result == "written" and len(done.configs) == 2, done.said
    first, retry = done.configs
    assert retry.features.buckets == first.features.buckets == 4096, done.said
    assert retry.dim < first.dim
    assert done.said[-1].startswith(
        "the converted model does not fit board esp32's 1024 KB: arena "
    ), done.said


def test_a_miss_names_the_data_for_the_model_and_the_board_for_the_arena() -> None:
    # The arena budget is the board's whatever capped the model's: an arena miss alone
    # names the board (tests/unit/test_r52_h4_budget_miss.py), one of both names each.
    options = {**default_options(), "board": "esp32"}
    choice = plan(options)
    done = run_to_budget(
        options,
        lambda n, _: {
            "arena_bytes": choice.arena_budget_bytes,
            "model_bytes": choice.budget_bytes + 10,
        },
    )
    assert str(done.error).startswith(
        f"the converted model does not fit {choice.budget_source} or board esp32's 1024 KB: "
        f"model {choice.budget_bytes + 10} bytes > {choice.budget_bytes} bytes; arena "
    ), done.error


def test_an_arena_miss_beside_max_model_kb_names_the_board() -> None:
    # --max-model-kb sets the model's budget, never the arena's: an arena miss there once
    # read "does not fit --max-model-kb 40: arena ...".
    options = {**default_options(), "board": "esp32", "max_model_kb": 40}
    measured = plan(options).arena_budget_bytes
    done = run_to_budget(options, lambda n, _: {"arena_bytes": measured})
    assert str(done.error).startswith(
        "the converted model does not fit board esp32's 1024 KB: arena "
    ), done.error


def test_a_miss_of_data_that_wants_more_than_the_board_names_the_board_once() -> None:
    # The model budget is then the board's, its source with the data's rule: a miss of
    # both read "does not fit board esp32's 1024 KB (...) or board esp32's 1024 KB".
    demo = load_dataset(None)
    rng = random.Random(0)
    words = ["".join(rng.choices(string.ascii_lowercase, k=6)) for _ in range(6000)]
    # 1,500 phrases of made-up words: over 16,384 distinct n-gram ids, whose 32768
    # buckets at dim 32 want more than the ESP32's 1 MiB.
    extra = tuple(
        Example(" ".join(words[4 * i : 4 * i + 4]), demo.labels[i % len(demo.labels)])
        for i in range(1500)
    )
    data = dataclasses.replace(demo, train=demo.train + extra)
    options = {**default_options(), "board": "esp32"}
    choice = plan_size(options, len(data.labels), distinct_ids(data, options))
    assert choice.budget_source.startswith("board esp32's 1024 KB (1,048,576 bytes; ")
    budgets = {"arena_bytes": choice.arena_budget_bytes}
    both = run_to_budget(
        options, lambda n, _: {**budgets, "model_bytes": choice.budget_bytes + 10}, data
    )
    assert str(both.error).startswith(
        f"the converted model does not fit {choice.budget_source}: model "
        f"{choice.budget_bytes + 10} bytes > {choice.budget_bytes} bytes; arena "
    ), both.error
    arena = run_to_budget(options, lambda n, _: budgets, data)
    assert str(arena.error).startswith(
        "the converted model does not fit board esp32's 1024 KB: arena "
    ), arena.error


@pytest.mark.parametrize("board_id", BOARDS)
def test_data_that_wants_more_than_the_board_keeps_the_board_budget(board_id: str) -> None:
    board = load_board(board_id)
    options = {**default_options(), "board": board_id}
    choice = plan_size(options, 150, CLINC150_DISTINCT_IDS)
    assert choice.budget_bytes == board.model_budget_bytes
    assert choice.shape == plan_size(options, 150).shape  # as when the data is not counted
    wanted = data_budget_bytes(CLINC150_DISTINCT_IDS, 150)
    assert wanted > board.model_budget_bytes
    assert choice.budget_source == (
        f"board {board_id}'s {board.model_flash_kb} KB ({board.model_budget_bytes:,} bytes; "
        f"{CLINC150_DISTINCT_IDS:,} distinct n-gram ids -> "
        f"{data_buckets(CLINC150_DISTINCT_IDS)} buckets at dim {MIN_DIM} need {wanted:,} bytes)"
    )


def test_max_model_kb_and_pinned_sizes_beside_a_board_ignore_the_data() -> None:
    # An explicit budget or size keeps its meaning: the data caps neither.
    esp = {**default_options(), "board": "esp32"}
    below = plan_size({**esp, "max_model_kb": 400}, 20, 3200)
    assert below.budget_bytes == 400 * 1024 and below.budget_source == "--max-model-kb 400"
    assert below.shape.buckets > data_buckets(3200)
    above = plan_size({**esp, "max_model_kb": 4096}, 20, 3200)  # capped by the board alone
    assert above.budget_bytes == 1024 * 1024 and above.budget_source == "board esp32's 1024 KB"
    pinned = plan_size({**esp, "buckets": 65536}, 20, 3200)
    assert pinned.shape.buckets == 65536 and pinned.budget_bytes == 1024 * 1024
    assert pinned.budget_source == "board esp32's 1024 KB"


def test_train_help_says_the_data_caps_the_board_budget() -> None:
    result = CliRunner().invoke(cli, ["train", "--help"], terminal_width=400)
    assert result.exit_code == 0
    flat = " ".join(result.output.split())
    assert (
        "arena (RAM) budgets, the model's budget capped by what the training data can use" in flat
    )
    assert "with --board, the board's model budget in place of 500" in flat, flat
