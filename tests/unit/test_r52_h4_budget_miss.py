"""Round 52 (H4): a trained text model that misses its board's budgets is said as it was
checked, and a retry never trains the shape that missed again.

The check compares the arena as the firmware sizes it (``arena_size_for``, with its
margin) with the arena budget less the firmware's other RAM; the refusal printed the
measured arena and that budget, e.g. 'the converted model (8480 bytes, arena 77188
bytes) does not fit board esp32's 1024 KB (arena budget 78188 bytes); give smaller
--buckets/--dim/--hidden or leave them on auto', an arena that reads as fitting, a model
budget named for an arena miss, and advice to leave on auto sizes that were. Its retry
took the overshoot off the arena budget, which the planned shape did not fill, so it
said 'retraining at' the very shape that missed and trained it again.
"""

from __future__ import annotations

from typing import Any

from budget_runs import plan, run_to_budget

from tinyslm.emit.project import arena_size_for
from tinyslm.text.train import TrainConfig
from tinyslm.train_options import default_options


def _train(options: dict[str, Any], arenas: list[int]) -> tuple[list[TrainConfig], list[str]]:
    """train_to_budget with a fake training whose n-th model measures ``arenas[n]``."""
    done = run_to_budget(options, lambda n, _: {"arena_bytes": arenas[n]})
    error = [] if done.error is None else [f"error: {done.error}"]
    return done.configs, done.said + error


def test_an_arena_miss_is_said_as_compared_with_a_way_on() -> None:
    options = dict(default_options(), board="esp32")
    budget = plan(options).arena_budget_bytes
    measured = budget - 1000  # under the budget; with the firmware's margin, over it
    assert arena_size_for(measured) > budget
    _, said = _train(options, [measured, measured])
    error = said[-1]
    assert error == (
        f"error: the converted model does not fit board esp32's 1024 KB: arena "
        f"{arena_size_for(measured)} bytes in the firmware (measured {measured}) > {budget} "
        "bytes (the arena budget less the firmware's other RAM); give a smaller --seq-len "
        "or --dim"
    ), said


def test_a_retry_never_trains_the_shape_that_missed_again() -> None:
    options = dict(default_options(), board="esp32")
    measured = plan(options).arena_budget_bytes - 1000
    configs, said = _train(options, [measured, measured])
    # The planned shape's estimate was far under the arena budget: taking the overshoot
    # off that budget planned the same shape; it is not trained again.
    shapes = [(c.features.buckets, c.dim, c.hidden) for c in configs]
    assert len(shapes) == len(set(shapes)), (shapes, said)


def test_a_small_arena_miss_retries_narrower_and_writes_it() -> None:
    options = dict(default_options(), board="esp32", seq_len=4096)
    choice = plan(options)
    # A real arena a little over the estimate of a shape that fills the arena budget: the
    # least whose firmware size misses it. (The arena budget itself, 28 % over the plan's
    # estimate since round 55's B4096 D7 H128, leaves no narrower shape that would fit.)
    budget = choice.arena_budget_bytes
    measured = next(m for m in range(choice.arena_bytes, budget) if arena_size_for(m) > budget)
    configs, said = _train(options, [measured, choice.arena_bytes // 2])
    assert len(configs) == 2 and configs[1].dim < configs[0].dim, (configs, said)
    assert said[-1].startswith("the converted model does not fit board esp32's 1024 KB: arena ")
    assert said[-1].endswith(f"; retraining at {_shape(configs[1])}"), said


def test_a_model_miss_names_the_model_budget_and_the_sizes_given() -> None:
    options = dict(default_options(), board="esp32", buckets=16384, dim=61, hidden=256)
    choice = plan(options)
    done = run_to_budget(options, lambda n, _: {"model_bytes": choice.budget_bytes + 10})
    assert str(done.error) == (
        f"the converted model does not fit board esp32's 1024 KB: model "
        f"{choice.budget_bytes + 10} bytes > {choice.budget_bytes} bytes; give a smaller "
        "--buckets/--dim/--hidden or leave them on auto"
    )


def _shape(config: TrainConfig) -> str:
    return f"buckets {config.features.buckets}, dim {config.dim}, hidden {config.hidden}"
