"""``tinyslm train``'s options when DATA is an audio keyword dataset.

``tinyslm train`` has one set of options (the text recipe's, generated from
``TrainConfig``, plus ``--keyword-model``). A keyword dataset takes the options the
two recipes share only when they are given on the command line (``--epochs`` defaults
to the text recipe's 25, the keyword recipe's is 40), and refuses the text-only ones
given there with one line, instead of silently ignoring them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

import click

from tinyslm.audio.model import SIZES

if TYPE_CHECKING:
    from tinyslm.audio.train import AudioTrainConfig

# Options both recipes have (the text option's name -> AudioTrainConfig's field).
SHARED = {
    "seed": "seed",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "learning_rate": "learning_rate",
    "label_smoothing": "label_smoothing",
}
KEYWORD_MODEL = "keyword_model"
KEYWORD_MODEL_OPTION = click.option(
    "--keyword-model",
    type=click.Choice(sorted(SIZES)),
    default="default",
    show_default=True,
    help="DS-CNN size for an audio keyword dataset (small: under 20 KB).",
)


def audio_config(options: Mapping[str, Any], explicit: Collection[str]) -> AudioTrainConfig:
    """The keyword recipe with the shared options given on the command line.

    Args:
        options: every option of ``tinyslm train`` by parameter name.
        explicit: the names given on the command line (not defaults).

    Raises:
        click.UsageError: a text-only option was given.
    """
    from tinyslm.audio.train import AudioTrainConfig

    text_only = sorted(
        n for n in explicit if n not in SHARED and n != KEYWORD_MODEL and n in options
    )
    if text_only:
        flags = ", ".join("--" + n.replace("_", "-") for n in text_only)
        raise click.UsageError(
            f"{flags}: text intent options; DATA is an audio keyword dataset "
            "(its options: --keyword-model, --seed, --epochs, --batch-size, --learning-rate, "
            "--label-smoothing)"
        )
    shared = {SHARED[n]: options[n] for n in explicit if n in SHARED}
    if shared.get("batch_size") == 0:
        del shared["batch_size"]  # the text recipe's "auto"; the keyword recipe has one
    try:
        return AudioTrainConfig(size=options.get(KEYWORD_MODEL) or "default", **shared)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
