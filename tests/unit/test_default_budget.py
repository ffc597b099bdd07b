"""Plain ``train``'s budget is the smaller of 500 KiB and what the data can use (issue 12)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tinyslm import pipeline
from tinyslm.cli import cli
from tinyslm.sizing import (
    DEFAULT_MODEL_KB,
    MIN_DIM,
    Shape,
    choose_shape,
    data_buckets,
    data_budget_bytes,
)
from tinyslm.text.dataset import Dataset, Example, load_dataset
from tinyslm.text.features import SEQ_LEN_NGRAMS
from tinyslm.text.train import TrainConfig
from tinyslm.train_options import default_options, distinct_ids, plan_size

CLINC150_DISTINCT_IDS = 34_722  # measured on CLINC150's training split


def _demo_plan() -> tuple[int, Any]:
    options = default_options()
    demo = load_dataset(None, seed=options["seed"])
    distinct = distinct_ids(demo, options)
    return distinct, plan_size(options, len(demo.labels), distinct)


def test_the_demo_set_gets_a_small_model() -> None:
    distinct, choice = _demo_plan()
    assert 2048 < distinct < 4096  # the demo set's ~3,200 n-grams
    assert choice.shape == Shape(4096, MIN_DIM, 128)
    assert choice.model_bytes <= 160 * 1024 and choice.budget_bytes <= 160 * 1024
    assert "what the data can use" in choice.describe()
    assert f"{distinct:,} distinct n-gram ids -> 4096 buckets" in choice.describe()


def test_clinc_size_data_still_gets_the_default_budget() -> None:
    choice = plan_size(default_options(), 150, CLINC150_DISTINCT_IDS)
    assert choice.budget_bytes == DEFAULT_MODEL_KB * 1024
    assert choice.shape == Shape(8192, 54, 256) and choice.model_bytes == 508_976
    assert "the default 500 KB" in choice.describe()
    assert "34,722 distinct n-gram ids -> 65536 buckets" in choice.describe()


def test_explicit_budgets_and_sizes_ignore_the_data() -> None:
    plain = default_options()
    kb = plan_size({**plain, "max_model_kb": 400}, 20, 3200)
    assert kb.budget_bytes == 400 * 1024 and kb.budget_source == "--max-model-kb 400"
    # A board's budget is capped by the data too (round 55): tests/unit/test_r55_board_data_cap.py.
    pinned = plan_size({**plain, "buckets": 65536}, 20, 3200)
    assert pinned.shape.buckets == 65536 and pinned.budget_bytes == DEFAULT_MODEL_KB * 1024
    assert plan_size(plain, 20).budget_bytes == DEFAULT_MODEL_KB * 1024  # not counted


def test_data_buckets_leave_a_row_per_id_besides_padding() -> None:
    assert data_buckets(0) == 256
    assert data_buckets(4095) == 4096 and data_buckets(4096) == 8192
    assert data_buckets(10**9) == 2**20  # the ladder's top


@pytest.mark.parametrize("distinct", [10, 900, 3200, 5000, 20_000])
@pytest.mark.parametrize("labels", [2, 20, 150])
def test_the_data_budget_buys_its_own_shape(distinct: int, labels: int) -> None:
    # choose_shape at the data's budget lands on the rule's shape: its buckets,
    # dim MIN_DIM (not a wider, fewer-bucket one), and fits the budget.
    budget = data_budget_bytes(distinct, labels)
    choice = choose_shape(labels, 128, budget)
    assert choice.shape.buckets == data_buckets(distinct)
    assert MIN_DIM <= choice.shape.dim < MIN_DIM + 4
    assert choice.model_bytes <= budget
    # One id more than the buckets hold (besides padding) doubles the table.
    assert data_budget_bytes(data_buckets(distinct), labels) > budget


def test_distinct_ids_follow_the_feature_options() -> None:
    data = Dataset(
        labels=("a", "b"),
        train=(Example("on on", "a"), Example("off", "b")),
        val=(),
        test=(),
        oos_train=("never counted",),
        oos_val=(),
        oos_test=(),
        source="t",
    )
    words_only = {**default_options(), "bigrams": False, "char_trigrams": False}
    assert distinct_ids(data, words_only) == 2  # "on" twice is one id
    with_bigrams = {**words_only, "bigrams": True}
    assert distinct_ids(data, with_bigrams) == 3  # + "on on"
    # <on> gives <on, on>; <off> gives <of, off, ff>: 5 trigrams, all distinct.
    assert distinct_ids(data, {**with_bigrams, "char_trigrams": True}) == 8
    assert distinct_ids(data, {**with_bigrams, "seq_len": 1}) == 2  # "on", "off"
    # Two ids per n-gram: seq_len 2 holds one n-gram per phrase.
    assert distinct_ids(data, {**with_bigrams, "seq_len": 2, "hashes": 2}) == 2
    # An n-gram counts once, however many ids it has.
    for hashes in (1, 3):
        assert distinct_ids(data, {**with_bigrams, "char_trigrams": True, "hashes": hashes}) == 8


class _Stop(Exception):
    """Raised by the stand-in trainer: the config is all these tests need."""


def _capture(configs: list[TrainConfig]) -> Any:
    def fake_run_train(_data: Any, _out: Path, config: TrainConfig, **_: Any) -> Any:
        configs.append(config)
        raise _Stop

    return fake_run_train


def test_train_and_generate_size_the_demo_model_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs: list[TrainConfig] = []
    monkeypatch.setattr(pipeline, "run_train", _capture(configs))
    result = CliRunner().invoke(cli, ["train", "-o", str(tmp_path / "m")])
    assert isinstance(result.exception, _Stop)
    assert "what the data can use" in result.output.splitlines()[0]
    with pytest.raises(_Stop):
        pipeline.run_generate("esp32", tmp_path / "fw")
    train_cfg, generate_cfg = configs
    assert train_cfg == generate_cfg
    assert train_cfg.token_dropout == 0.25  # auto, below SMALL_SET phrases
    _, choice = _demo_plan()
    assert (train_cfg.features.buckets, train_cfg.dim, train_cfg.hidden) == (
        choice.shape.buckets,
        choice.shape.dim,
        choice.shape.hidden,
    )


def _configs_with_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, buckets: int, extras: list[list[str]]
) -> list[TrainConfig]:
    """The config ``train`` would fit for each of ``extras``, all sizes given (D8, H16)."""
    configs: list[TrainConfig] = []
    monkeypatch.setattr(pipeline, "run_train", _capture(configs))
    sizes = ["--buckets", str(buckets), "--dim", "8", "--hidden", "16"]
    for extra in extras:
        result = CliRunner().invoke(cli, ["train", "-o", str(tmp_path / "m"), *sizes, *extra])
        assert isinstance(result.exception, _Stop)
    return configs


def test_token_dropout_on_auto_counts_the_data_with_every_size_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No budget to size for, but --token-dropout on auto still needs the phrase count.
    configs = _configs_with_sizes(tmp_path, monkeypatch, 512, [[], ["--token-dropout", "0.4"]])
    assert [c.token_dropout for c in configs] == [0.25, 0.4]


def test_seq_len_on_auto_holds_128_n_grams_of_any_id_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extras = [
        [],
        ["--hashes", "2"],
        ["--hashes", "3", "--max-model-kb", "16"],
        ["--hashes", "2", "--seq-len", "40"],
    ]
    configs = _configs_with_sizes(tmp_path, monkeypatch, 256, extras)
    got = [(c.features.hashes, c.features.seq_len) for c in configs]
    assert got == [(1, SEQ_LEN_NGRAMS), (2, 2 * SEQ_LEN_NGRAMS), (3, 3 * SEQ_LEN_NGRAMS), (2, 40)]
    # Plain train keeps one id per n-gram (the demo set: as before the option existed).
    configs.clear()
    result = CliRunner().invoke(cli, ["train", "-o", str(tmp_path / "m2")])
    assert isinstance(result.exception, _Stop)
    assert (configs[0].features.hashes, configs[0].features.seq_len) == (1, 128)
    assert "hashes" not in configs[0].features.to_dict()
