"""Round 52 (review of e6ee3a3): train's retry after a model-budget miss is a retry.

e6ee3a3 took an arena overshoot off the planned shape's estimate, since the shape rarely
fills its arena budget, but still took a model overshoot off the model budget. The shape
does not fill that either (the widest dim leaves up to buckets + hidden bytes, ~16 KB at
16,384 buckets), so a converted model 500 bytes over the ESP32's budget planned the
same shape again and train stopped without a retry: 'give a smaller --max-model-kb or
--buckets/--dim/--hidden', where dim 60 fits. And a model that missed both budgets was
told only the model's sizes, not the --seq-len or --dim that shrink its arena.
"""

from __future__ import annotations

from pathlib import Path

from budget_runs import plan, run_to_budget

from tinyslm.emit.project import arena_size_for
from tinyslm.sizing import Shape, estimate_model_bytes
from tinyslm.text.dataset import load_dataset
from tinyslm.text.train import TrainConfig
from tinyslm.train_options import default_options

REPO = Path(__file__).resolve().parents[2]


def test_a_small_model_miss_retries_one_size_smaller_and_writes_it() -> None:
    # --max-model-kb 1024, the board's own budget: capped by the demo set's data (round
    # 55), the plan is B4096 D32, whose retry takes fewer buckets (B2048 D61), not one
    # dim less; this test is the retry at a ~1 MB shape (B16384 D61 -> D60).
    options = dict(default_options(), board="esp32", max_model_kb=1024)
    data = load_dataset(None)
    choice = plan(options)
    # A converter that writes every shape the same bytes over its estimate: 500 over the
    # budget at the planned shape.
    excess = choice.budget_bytes + 500 - choice.model_bytes

    def shape(config: TrainConfig) -> Shape:
        return Shape(config.features.buckets, config.dim, config.hidden)

    done = run_to_budget(
        options,
        lambda n, c: {"model_bytes": estimate_model_bytes(shape(c), len(data.labels)) + excess},
    )
    trained, said = [shape(c) for c in done.configs], done.said
    assert done.result == "written", said
    assert len(trained) == 2 and trained[1].dim < trained[0].dim, (trained, said)
    assert said[-1] == (
        f"the converted model does not fit --max-model-kb 1024: model "
        f"{choice.budget_bytes + 500} bytes > {choice.budget_bytes} bytes; retraining at "
        f"{trained[1]}"
    )


def test_a_miss_of_both_budgets_names_what_shrinks_each() -> None:
    options = dict(default_options(), board="esp32", buckets=16384, dim=61, hidden=256)
    choice = plan(options)
    done = run_to_budget(
        options,
        lambda n, _: {
            "model_bytes": choice.budget_bytes + 10,
            "arena_bytes": choice.arena_budget_bytes,
        },
    )
    assert str(done.error) == (
        f"the converted model does not fit board esp32's 1024 KB: model "
        f"{choice.budget_bytes + 10} bytes > {choice.budget_bytes} bytes; arena "
        f"{arena_size_for(choice.arena_budget_bytes)} bytes in the firmware (measured "
        f"{choice.arena_budget_bytes}) > {choice.arena_budget_bytes} bytes (the arena budget "
        "less the firmware's other RAM); give a smaller --buckets/--dim/--hidden and a "
        "smaller --seq-len or --dim or leave them on auto"
    )


def test_the_readme_says_train_warns_of_a_model_with_no_right_local_answer() -> None:
    """The README's dataset section lists what train warns of; this warning was missing."""
    from tinyslm.decision import GateMetrics
    from tinyslm.text.fit import _nothing_right_locally
    from tinyslm.verify import RULE_NO_OOS, ThresholdChoice, VerifyResult

    result = VerifyResult(
        float_accuracy=0.0,
        int8_accuracy=0.0,
        agreement=1.0,
        threshold=ThresholdChoice(0.273, -58, RULE_NO_OOS, 1.0, escalated=1, calibrated_on=1),
        test_gate=GateMetrics(0.0, 0.0, 0.0, None),
        ops=(),
        model_bytes=0,
        arena_bytes=0,
        eval_split="test",
        n_eval=4,
        n_oos_eval=0,
    )
    warning = _nothing_right_locally(result)
    said = "a board flashed with this model answers nothing right on its own"
    assert warning is not None and said in warning, warning
    readme = " ".join(REPO.joinpath("README.md").read_text(encoding="utf-8").split())
    assert f"train warns that {said}" in readme
