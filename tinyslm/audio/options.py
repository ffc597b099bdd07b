"""``tinyslm train``'s options when DATA is an audio keyword dataset.

``tinyslm train`` has one set of options (the text recipe's, generated from
``TrainConfig``, plus ``--keyword-model``). A keyword dataset takes the options the
two recipes share only when they are given on the command line (``--epochs`` defaults
to the text recipe's 25, the keyword recipe's is 40), and refuses the text-only ones
given there with one line, instead of silently ignoring them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tinyslm.audio.detector import MAX_WINDOW
from tinyslm.audio.model import SIZES
from tinyslm.audio.spec import DEFAULT_AVERAGE, DEFAULT_STRIDE_FRAMES, KeywordSpec
from tinyslm.audio.stream import MAX_STRIDE_FRAMES

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
# The front end's frame step (20 ms): --stride-ms is a whole number of frames.
FRAME_MS = KeywordSpec().frame_ms
# The longest stride at which the device still hears every sample: one model window of
# front-end frames (49 frames of 20 ms in the 1 s window). A longer stride leaves audio
# between two inferences that no window holds (the C loop's uint8 counter would allow
# MAX_STRIDE_FRAMES, 5,100 ms).
WINDOW_FRAMES = KeywordSpec().frames
MAX_STRIDE_MS = min(WINDOW_FRAMES, MAX_STRIDE_FRAMES) * FRAME_MS
# The text recipe's size options: a keyword model is sized by --keyword-model instead
# (--board on keywords was refused as a "text intent option", which it is not).
_TEXT_SIZE = frozenset({"board", "max_model_kb"})
_SIZE_NOTE = (
    " (--board and --max-model-kb size text models only; a keyword model's size is --keyword-model)"
)
# Options only a keyword dataset takes.
KEYWORD_ONLY = frozenset(
    {KEYWORD_MODEL, "stride_ms", "average", "extra_train", "keywords", "unknown_words"}
)


class _StrideRange(click.IntRange):
    """``20<=x<=980`` in ``--help`` (``x>=20`` sat beside "at most 980"), and a stride
    above the window refused with why, as :func:`stride_frames_of` says it."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.INT.convert(value, param, ctx)
        if number > MAX_STRIDE_MS:
            self.fail(
                f"{number} is above the {MAX_STRIDE_MS} ms that the model's 1 s window spans"
                f" ({WINDOW_FRAMES} frames of {FRAME_MS} ms): the device would never hear part"
                f" of the audio between two inferences; give {FRAME_MS} to {MAX_STRIDE_MS}",
                param,
                ctx,
            )
        return super().convert(number, param, ctx)


def _words(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """``--keywords yes,no --keywords up``: the words, comma- or repeat-separated, in order."""
    words: list[str] = []
    for part in value:
        for word in part.split(","):
            word = word.strip()
            if not word:
                raise click.BadParameter(f"an empty word in {part!r}")
            if word not in words:
                words.append(word)
    return tuple(words)


def keyword_options(f: Any) -> Any:
    """``--keyword-model``, ``--stride-ms``, ``--average``, ``--extra-train``,
    ``--keywords`` and ``--unknown-words`` (keywords only)."""
    f = click.option(
        "--unknown-words",
        multiple=True,
        callback=_words,
        metavar="WORD,...",
        help="Keyword datasets: words (folders or list labels) trained as _unknown_ "
        "instead of as keywords.",
    )(f)
    f = click.option(
        "--keywords",
        multiple=True,
        callback=_words,
        metavar="WORD,...",
        help="Keyword datasets: the words to detect; every other word of DATA is trained "
        "as _unknown_ (e.g. 7 of Speech Commands' 35). Default: every word folder.",
    )(f)
    f = click.option(
        "--extra-train",
        multiple=True,
        type=click.Path(exists=True, path_type=Path),
        help="Keyword datasets: another dataset (folder or list, e.g. from 'tinyslm synth') "
        "whose clips join the training split only, never validation or test; repeatable.",
    )(f)
    f = click.option(
        "--average",
        type=click.IntRange(1, MAX_WINDOW),
        default=DEFAULT_AVERAGE,
        show_default=True,
        help="Keyword datasets: score vectors the detector averages before it fires.",
    )(f)
    f = click.option(
        "--stride-ms",
        type=_StrideRange(FRAME_MS, MAX_STRIDE_MS),
        default=DEFAULT_STRIDE_FRAMES * FRAME_MS,
        show_default=True,
        help=f"Keyword datasets: time between two inferences on the device, a multiple of "
        f"{FRAME_MS} ms, at most {MAX_STRIDE_MS} (the {WINDOW_FRAMES} frames of the 1 s window: "
        "longer would leave audio no inference hears). Shorter reacts sooner and costs "
        "proportionally more CPU.",
    )(f)
    return click.option(
        "--keyword-model",
        type=click.Choice(sorted(SIZES)),
        default="default",
        show_default=True,
        help="DS-CNN size for an audio keyword dataset (small: under 20 KB).",
    )(f)


def stride_frames_of(stride_ms: int) -> int:
    """Front-end frames between two inferences for ``--stride-ms`` (train and the benchmark).

    Raises:
        ValueError: ``stride_ms`` is not a whole number of frames from one frame to the
            model's window (``MAX_STRIDE_MS``: a longer stride skips audio).
    """
    if stride_ms < FRAME_MS:
        raise ValueError(f"--stride-ms {stride_ms}: must be {FRAME_MS} to {MAX_STRIDE_MS} ms")
    if stride_ms > MAX_STRIDE_MS:
        raise ValueError(
            f"--stride-ms {stride_ms}: above the {MAX_STRIDE_MS} ms that the model's 1 s window"
            f" spans ({WINDOW_FRAMES} frames of {FRAME_MS} ms), the device would never hear part"
            f" of the audio between two inferences; give {FRAME_MS} to {MAX_STRIDE_MS} ms"
        )
    if stride_ms % FRAME_MS:
        raise ValueError(
            f"--stride-ms {stride_ms}: not a multiple of the front end's {FRAME_MS} ms frame"
        )
    return stride_ms // FRAME_MS


def refuse_keyword_options(explicit: Collection[str]) -> None:
    """A text dataset given keyword-only options: one usage line, not silence.

    Raises:
        click.UsageError: one of them was given on the command line.
    """
    given = sorted(n for n in explicit if n in KEYWORD_ONLY)
    if given:
        flags = ", ".join("--" + n.replace("_", "-") for n in given)
        raise click.UsageError(f"{flags}: audio keyword options; DATA is a text intent dataset")


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
        n for n in explicit if n not in SHARED and n not in KEYWORD_ONLY and n in options
    )
    if text_only:
        flags = ", ".join("--" + n.replace("_", "-") for n in text_only)
        raise click.UsageError(
            f"{flags}: {'options' if len(text_only) > 1 else 'an option'} of text datasets"
            f"{_SIZE_NOTE if _TEXT_SIZE & set(text_only) else ''}; DATA is an audio keyword"
            " dataset (its options: --keyword-model, --stride-ms, --average, --extra-train,"
            " --keywords, --unknown-words, --seed, --epochs, --batch-size, --learning-rate,"
            " --label-smoothing)"
        )
    try:
        stride_frames = stride_frames_of(
            int(options.get("stride_ms") or DEFAULT_STRIDE_FRAMES * FRAME_MS)
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    shared = {SHARED[n]: options[n] for n in explicit if n in SHARED}
    if shared.get("batch_size") == 0:
        del shared["batch_size"]  # the text recipe's "auto"; the keyword recipe has one
    try:
        return AudioTrainConfig(
            size=options.get(KEYWORD_MODEL) or "default",
            stride_frames=stride_frames,
            average=int(options.get("average") or DEFAULT_AVERAGE),
            extra_train=tuple(str(p) for p in options.get("extra_train") or ()),
            keywords=tuple(options.get("keywords") or ()),
            unknown_words=tuple(options.get("unknown_words") or ()),
            **shared,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
