"""``tinyslm train``'s options come from TrainConfig / FeatureSpec: one set of defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from tinyslm.audio.train import AudioTrainConfig
from tinyslm.boards import load_board
from tinyslm.cli import cli
from tinyslm.emit.text import firmware_ram
from tinyslm.sizing import Shape
from tinyslm.text.dataset import MAX_LINE_LIMIT
from tinyslm.text.features import FeatureSpec
from tinyslm.text.train import TrainConfig
from tinyslm.train_options import (
    SIZE_FIELDS,
    attribute_docs,
    config_from_options,
    default_options,
    needs_budget,
    option_names,
    plan_size,
    resolve_seq_len,
)


def _train_command() -> click.Command:
    command = cli.get_command(click.Context(cli), "train")
    assert command is not None
    return command


def _parse(*args: str) -> dict[str, object]:
    ctx = _train_command().make_context("train", list(args))
    return dict(ctx.params)


def _knobs(params: dict[str, object]) -> dict[str, object]:
    return {k: params[k] for k in option_names()}


def test_every_config_field_is_an_option_with_its_default_in_help() -> None:
    text = CliRunner().invoke(cli, ["train", "--help"], terminal_width=200).output
    for cls in (FeatureSpec, TrainConfig):
        docs = attribute_docs(cls)
        for f in dataclasses.fields(cls):
            if f.name == "features":
                continue
            assert f.name in docs, f"{cls.__name__}.{f.name} has no Attributes entry"
            flag = "--" + f.name.replace("_", "-")
            line = next((ln for ln in text.splitlines() if ln.strip().startswith(flag)), "")
            assert line, f"{flag} missing from 'tinyslm train --help'"
    # click wraps the [default: ...] notes; every option that takes a value shows one.
    assert text.count("[default:") >= len(option_names()) - 3  # --board, --distill, flags
    # Round 36: a keyword dataset takes the keyword recipe's defaults, and --help said only
    # the text recipe's.
    kw = AudioTrainConfig()
    flat = " ".join(text.split())
    for needle in (
        f"[default: (text 25, keywords {kw.epochs});",
        f"[default: (text 0 (auto), keywords {kw.batch_size});",
        f"[default: (text 0.2, keywords {kw.label_smoothing});",
        f"[default: (text 0.01, keywords {kw.learning_rate});",
        "[default: 0;",  # --seed: the same for both
        "[default: 0.5;",
    ):
        assert needle in flat
    assert "auto: sized for the model budget" in text and "--max-model-kb" in text


def test_cli_defaults_are_the_library_defaults() -> None:
    params = _knobs(_parse())
    assert params == default_options()
    cfg = TrainConfig()
    shape = Shape(cfg.features.buckets, cfg.dim, cfg.hidden)
    assert config_from_options(params, shape) == cfg


def test_options_reach_the_config() -> None:
    params = _knobs(
        _parse(
            "--no-cosine-decay",
            "--token-dropout",
            "0.1",
            "--batch-size",
            "16",
            "--no-bigrams",
            "--seq-len",
            "40",
            "--dim",
            "12",
            "--distill",
            "--distill-folds",
            "3",
        )
    )
    cfg = config_from_options(params, Shape(1024, 99, 32))
    assert cfg.cosine_decay is False and cfg.token_dropout == 0.1 and cfg.batch_size == 16
    assert cfg.features == FeatureSpec(buckets=1024, seq_len=40, bigrams=False)
    assert cfg.dim == 12 and cfg.hidden == 32  # given beats chosen
    assert cfg.distill_alpha == 0.5 and cfg.distill_folds == 3
    assert config_from_options(_knobs(_parse())).distill_alpha == 0.0  # off without --distill


def test_token_dropout_on_auto_follows_the_training_set() -> None:
    from tinyslm.text.train import SMALL_SET, SMALL_SET_TOKEN_DROPOUT

    auto = _knobs(_parse())
    assert auto["token_dropout"] is None
    assert config_from_options(auto, n_train=920).token_dropout == SMALL_SET_TOKEN_DROPOUT
    assert config_from_options(auto, n_train=SMALL_SET).token_dropout == 0.5  # CLINC150's
    assert config_from_options(auto).token_dropout == TrainConfig().token_dropout  # not counted
    given = _knobs(_parse("--token-dropout", "0.5"))
    assert config_from_options(given, n_train=920).token_dropout == 0.5  # given beats auto
    text = CliRunner().invoke(cli, ["train", "--help"], terminal_width=200).output
    assert f"auto: {SMALL_SET_TOKEN_DROPOUT} below {SMALL_SET:,} training" in " ".join(text.split())


@pytest.mark.parametrize(
    "bad",
    [
        ["--token-dropout", "1"],
        ["--dropout", "-0.1"],
        ["--max-model-kb", "2"],
        ["--adversarial", "-1"],
        ["--gate-temperature", "0"],
    ],
)
def test_out_of_range_values_are_usage_errors(bad: list[str]) -> None:
    with pytest.raises(click.BadParameter):
        _parse(*bad)


def esp_seq_len() -> int:
    return int(resolve_seq_len({**default_options(), "board": "esp32"})["seq_len"])


def test_budget_sources() -> None:
    plain = plan_size(default_options(), 150)
    assert plain.budget_bytes == 500 * 1024 and plain.arena_budget_bytes is None
    esp = plan_size({**default_options(), "board": "esp32"}, 150)
    # The arena gets the board's 96 KiB less the firmware's other RAM, which generate
    # counts with it (the line buffer at its largest: the model's limit comes later).
    others = firmware_ram(load_board("esp32"), esp_seq_len(), 150, MAX_LINE_LIMIT)[0]
    assert esp.budget_bytes == 1024 * 1024 and esp.arena_budget_bytes == 96 * 1024 - others
    assert esp.model_bytes > plain.model_bytes
    capped = plan_size({**default_options(), "board": "esp32", "max_model_kb": 100}, 150)
    assert capped.budget_bytes == 100 * 1024 and capped.arena_budget_bytes == 96 * 1024 - others
    # A user budget above the board's is capped by the board.
    over = plan_size({**default_options(), "board": "esp32", "max_model_kb": 4096}, 150)
    assert over.budget_bytes == 1024 * 1024
    given = {**default_options(), **dict.fromkeys(SIZE_FIELDS, 64)}
    assert not needs_budget(given) and needs_budget({**given, "board": "stm32h7"})


@pytest.mark.parametrize(
    "bad",
    [
        ["--learning-rate", "inf"],
        ["--learning-rate", "1e308"],
        ["--adversarial", "inf"],
        ["--gate-temperature", "1e-300"],
        ["--gate-temperature", "inf"],
        ["--seed", "-1"],
        ["--seed", str(2**32)],
        ["--epochs", "99999999999999999999"],
        ["--batch-size", "99999999999999999999"],
        ["--max-model-kb", "99999999999999999999"],
        ["--dim", "100000"],
    ],
)
def test_values_past_any_useful_setting_are_usage_errors(bad: list[str]) -> None:
    # Round 33: each was taken and ended in a diverged model written as trained (exit 0),
    # or in a traceback from TensorFlow or NumPy.
    with pytest.raises(click.BadParameter):
        _parse(*bad)


@pytest.mark.parametrize(
    "changes",
    [
        {"learning_rate": float("inf")},
        {"gate_temperature": 1e-300},
        {"seed": -1},
        {"features": FeatureSpec(buckets=2**31 - 1), "dim": 96},
    ],
)
def test_the_config_refuses_them_too(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="invalid training setting"):
        TrainConfig(**changes)  # type: ignore[arg-type]


def test_a_model_over_its_budget_is_never_written(monkeypatch: pytest.MonkeyPatch) -> None:
    # Round 33: the budget was checked after run() had written the model, so a model
    # over --max-model-kb stayed in its folder, and with --force replaced the user's.
    import tinyslm.train_options as options_module
    from tinyslm.errors import BudgetError
    from tinyslm.manifest import load_model_dir
    from tinyslm.text.dataset import load_dataset
    from tinyslm.train_options import train_to_budget

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "model"
    manifest, _ = load_model_dir(fixture, probe_arena=False)
    monkeypatch.setattr(options_module, "overshoot", lambda *_: (10**6, 0))
    written: list[bool] = []
    calls: list[bool] = []

    def run(config: TrainConfig, again: bool, accept: Any) -> Any:
        calls.append(again)
        accept(manifest)  # raises: nothing below runs
        written.append(True)

    with pytest.raises(BudgetError, match="does not fit"):
        train_to_budget(default_options(), lambda: load_dataset(None), run, lambda _: None)
    assert calls == [False] and written == []  # overshot by more than the budget: no retry
    # A small overshoot retries one size smaller, still checked before writing.
    monkeypatch.setattr(options_module, "overshoot", lambda *_: (1000, 0))
    calls.clear()
    with pytest.raises(BudgetError, match="does not fit"):
        train_to_budget(default_options(), lambda: load_dataset(None), run, lambda _: None)
    assert calls == [False, True] and written == []


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"learning_rate": float("nan")}, "learning_rate must be in (0, 10]"),
        ({"label_smoothing": float("nan")}, "label_smoothing must be in [0, 1)"),
        ({"seed": 2**32}, "seed must be in 0.."),
    ],
)
def test_the_keyword_config_refuses_nan_and_seeds_out_of_range(
    changes: dict[str, object], words: str
) -> None:
    # nan trained to a nan loss, exit 0, and a manifest holding NaN; a seed past 2**32
    # failed in numpy with a traceback.
    from tinyslm.audio.train import AudioTrainConfig
    from tinyslm.errors import ModelError

    with pytest.raises(ModelError) as info:
        AudioTrainConfig(**changes)  # type: ignore[arg-type]
    assert words in str(info.value)


@pytest.mark.parametrize(
    "given", [["--distill-alpha", "0.3"], ["--distill-temperature", "2", "--distill-folds", "2"]]
)
def test_distill_settings_without_distill_are_refused_before_training(
    tmp_path: Path, given: list[str]
) -> None:
    # They were taken and ignored: a model trained without the teacher the user tuned.
    result = CliRunner().invoke(cli, ["train", "-o", str(tmp_path / "m"), *given])
    assert result.exit_code != 0
    line = result.output.strip()
    verb = "applies" if len(given) == 2 else "apply"  # one flag and its value, or two
    assert "\n" not in line and f"only {verb} with --distill" in line
    assert given[0] in line
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["train", "--learning-rate", "nan"], "--learning-rate"),
        (["train", "--dropout", "NaN"], "--dropout"),
        (["train", "--gate-temperature", "nan"], "--gate-temperature"),
        (["synth", "yes", "-o", "x", "--noise", "nan"], "--noise"),
        (["synth", "yes", "-o", "x", "--rate", "nan"], "--rate"),
        (["synth", "yes", "-o", "x", "--snr", "1,inf"], "--snr"),
    ],
)
def test_nan_is_refused_naming_its_option(args: list[str], option: str) -> None:
    # Round 36: nan passed click's ranges (every comparison with it is false) and was
    # refused later as "invalid training setting(s): learning_rate" or "rate_range ...".
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert len(result.output.splitlines()) == 1, result.output
    assert f"Invalid value for '{option}'" in result.output
    assert "not a number" in result.output or "finite numbers" in result.output
