"""``tinyslm train``'s training options, derived from ``TrainConfig`` and ``FeatureSpec``.

Every field of the two dataclasses becomes one option whose default and help
text come from the dataclass itself (its default and its docstring's
``Attributes`` entry), so the CLI cannot drift from the library or from the
benchmark, which builds the same ``TrainConfig``. The three size fields
(buckets, dim, hidden) default to "auto": ``tinyslm.sizing`` picks them for
the model budget (``--max-model-kb``, or ``--board``'s budgets), and the
training is checked against that budget after conversion.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

import click

from tinyslm.errors import BudgetError
from tinyslm.sizing import (
    DEFAULT_MODEL_KB,
    MAX_TABLE,
    MIN_DIM,
    MODEL_MARGIN_BYTES,
    NARROWEST_DIM,
    Shape,
    SizeChoice,
    choose_shape,
    data_buckets,
    data_budget_bytes,
    overshoot,
)
from tinyslm.text.features import MAX_HASHES, SEQ_LEN_NGRAMS, FeatureSpec
from tinyslm.text.train import SMALL_SET, SMALL_SET_TOKEN_DROPOUT, TrainConfig, auto_token_dropout

F = TypeVar("F", bound=Callable[..., Any])
Log = Callable[[str], None]

SIZE_FIELDS = ("buckets", "dim", "hidden")
# distill_alpha is set through --distill (off by default) plus --distill-alpha.
_DISTILL_FLAG = "distill"


class FloatRange(click.FloatRange):
    """click's FloatRange, refusing ``nan`` too: every comparison with nan is false, so
    click let it through and the option's name was lost in a later, vaguer error."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        result = super().convert(value, param, ctx)
        if result != result:  # nan is the one float unequal to itself
            self.fail(f"{value!r} is not a number", param, ctx)
        return result


# The range each numeric option accepts (the dataclasses' __post_init__ checks
# them too; click says so before anything is loaded).
_RANGES: dict[str, click.ParamType[Any]] = {
    "buckets": click.IntRange(2, 2**31 - 1),
    "seq_len": click.IntRange(1, 4096),
    "hashes": click.IntRange(1, MAX_HASHES),
    # Upper ends far past any useful setting: inf, 1e308 and 10**20 were taken and ended
    # in a diverged model written as if trained, or in a traceback deep in TensorFlow.
    "dim": click.IntRange(1, 4096),
    "hidden": click.IntRange(1, 65536),
    "epochs": click.IntRange(1, 100_000),
    "batch_size": click.IntRange(0, 1_000_000),
    "learning_rate": FloatRange(0, 10, min_open=True),
    "label_smoothing": FloatRange(0, 1, max_open=True),
    "dropout": FloatRange(0, 1, max_open=True),
    "token_dropout": FloatRange(0, 1, max_open=True),
    "adversarial": FloatRange(0, 100),
    "distill_alpha": FloatRange(0, 1, min_open=True),
    "distill_temperature": FloatRange(0, 100, min_open=True),
    "distill_folds": click.IntRange(1, 100),
    "distill_augment": click.IntRange(0, 100),
    "gate_temperature": FloatRange(0.01, 100),
    # What keras.utils.set_random_seed and numpy take.
    "seed": click.IntRange(0, 2**32 - 1),
}


def attribute_docs(cls: type) -> dict[str, str]:
    """``name: text`` entries of a class docstring's ``Attributes:`` section, one line each."""
    doc = inspect.getdoc(cls) or ""
    section = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    out: dict[str, str] = {}
    name = None
    for line in section.splitlines():
        if not line.strip():
            continue
        match = re.match(r"^    (\w+): (.*)$", line)
        if match:
            name = match.group(1)
            out[name] = match.group(2).strip()
        elif line.startswith("        ") and name is not None:
            out[name] += " " + line.strip()
        else:
            break
    return out


def _fields() -> list[tuple[str, Any, type, str]]:
    """(name, default, type, help) of every knob, features first."""
    rows = []
    for cls, skip in ((FeatureSpec, ()), (TrainConfig, ("features",))):
        docs = attribute_docs(cls)
        hints = get_type_hints(cls)
        defaults = cls()
        for f in dataclasses.fields(cls):
            if f.name in skip:
                continue
            rows.append((f.name, getattr(defaults, f.name), hints[f.name], docs[f.name]))
    return rows


def _field_names() -> tuple[str, ...]:
    return tuple(f.name for cls in (FeatureSpec, TrainConfig) for f in dataclasses.fields(cls))


def _default_shape() -> Shape:
    cfg = TrainConfig()
    return Shape(cfg.features.buckets, cfg.dim, cfg.hidden)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _help(name: str, doc: str) -> str:
    """The docstring entry as option help: ``field`` names become their flags."""
    if name == "distill_alpha":
        doc = "weight of the teacher's soft targets in the loss (with --distill)"
    if name == "buckets":
        # The range click shows (2<=x<=2^31-1) is the feature spec's; the embedding
        # table's own limit is on the product, which TrainConfig refuses past.
        doc += " At most 2^28 (268,435,456) buckets x ``dim``."
    fields = {row for row in _field_names()}
    text = re.sub(
        r"``(\w+)``", lambda m: _flag(m.group(1)) if m.group(1) in fields else m.group(1), doc
    )
    text = text.replace("``", "")
    return text[0].upper() + text[1:]


def _option(name: str, default: Any, kind: type, doc: str) -> Callable[[F], F]:
    flag = _flag(name)
    help_text = _help(name, doc)
    if kind is bool:
        return click.option(
            f"{flag}/--no-{flag[2:]}", default=default, show_default=True, help=help_text
        )
    if name in SIZE_FIELDS:
        return click.option(
            flag,
            type=_RANGES[name],
            default=None,
            show_default="auto: sized for the model budget, see --max-model-kb",
            help=help_text,
        )
    if name == "seq_len":
        return click.option(
            flag,
            type=_RANGES[name],
            default=None,
            show_default=f"auto: {SEQ_LEN_NGRAMS} x --hashes",
            help=help_text,
        )
    if name == "token_dropout":
        return click.option(
            flag,
            type=_RANGES[name],
            default=None,
            show_default=f"auto: {SMALL_SET_TOKEN_DROPOUT} below {SMALL_SET:,} training "
            f"phrases, else {default}",
            help=help_text,
        )
    shown: str | bool = "0: auto" if name == "batch_size" else True
    keyword = _keyword_default(name)
    if keyword is not None and keyword != default:
        # A keyword dataset takes the keyword recipe's own default unless the option is
        # given; --help showed the text recipe's alone.
        shown = f"text {'0 (auto)' if name == 'batch_size' else default}, keywords {keyword}"
    return click.option(
        flag,
        type=_RANGES.get(name, kind),
        default=default if name != "distill_alpha" else 0.5,
        show_default=shown,
        help=help_text,
    )


def _keyword_default(name: str) -> object | None:
    """The keyword recipe's default for a text option both recipes take, else ``None``."""
    from tinyslm.audio.options import SHARED
    from tinyslm.audio.train import AudioTrainConfig

    field = SHARED.get(name)
    return getattr(AudioTrainConfig(), field) if field is not None else None


def train_options(func: F) -> F:
    """Add every training option, ``--distill``, ``--board`` and ``--max-model-kb`` to ``func``.

    The command receives them as keyword arguments; pass them all to
    :func:`train_to_budget` (or :func:`config_from_options`).
    """
    from tinyslm.boards import board_ids

    decorators: list[Callable[[F], F]] = [
        click.option(
            "--board",
            type=click.Choice(board_ids()),
            default=None,
            help="Text datasets only: size the model for this board's model (flash) and arena (RAM)"
            " budgets, the model's budget capped by what the training data can use (a keyword"
            " model's size is --keyword-model).",
        ),
        click.option(
            "--max-model-kb",
            type=click.IntRange(4, 2**20),  # up to 1 GiB: far beyond any board
            default=None,
            # plan_size's rule: the data caps the default, or the board's budget in its place.
            show_default=(
                f"the smaller of {DEFAULT_MODEL_KB} and what the training data can use; "
                f"{DEFAULT_MODEL_KB} with --buckets/--dim/--hidden; with --board, the board's "
                f"model budget in place of {DEFAULT_MODEL_KB}"
            ),
            help="Text datasets only: model size budget in KB (1024 bytes) for the automatic"
            " buckets, dim and hidden (a keyword model's size is --keyword-model).",
        ),
        click.option(
            "--" + _DISTILL_FLAG,
            is_flag=True,
            help="Also learn from all-MiniLM-L6-v2's soft labels (needs the 'distill' extra).",
        ),
        *(_option(*row) for row in _fields()),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


def option_names() -> tuple[str, ...]:
    """The keyword arguments :func:`train_options` adds, in order."""
    return ("board", "max_model_kb", _DISTILL_FLAG, *(row[0] for row in _fields()))


def config_from_options(
    options: Mapping[str, Any], shape: Shape | None = None, n_train: int | None = None
) -> TrainConfig:
    """The TrainConfig the options describe; ``shape`` fills sizes left on auto.

    ``--token-dropout`` on auto (``None``) follows ``n_train`` training phrases
    (:func:`tinyslm.text.train.auto_token_dropout`); not counted, it is the recipe's.
    ``--seq-len`` on auto is room for :data:`~tinyslm.text.features.SEQ_LEN_NGRAMS`
    n-grams of ``--hashes`` ids (:func:`resolve_seq_len`).
    """
    options = resolve_seq_len(options)
    fallback = shape or _default_shape()
    feature_keys = [f.name for f in dataclasses.fields(FeatureSpec)]
    sizes = {
        k: options[k] if options.get(k) is not None else getattr(fallback, k) for k in SIZE_FIELDS
    }
    knobs = {
        f.name: sizes[f.name] if f.name in sizes else options[f.name]
        for f in dataclasses.fields(TrainConfig)
        if f.name != "features"
    }
    if knobs["token_dropout"] is None:
        knobs["token_dropout"] = (
            TrainConfig.token_dropout if n_train is None else auto_token_dropout(n_train)
        )
    if not options.get(_DISTILL_FLAG):
        knobs["distill_alpha"] = 0.0
    try:
        features = FeatureSpec(**{k: sizes[k] if k in sizes else options[k] for k in feature_keys})
        return TrainConfig(features=features, **knobs)
    except ValueError as exc:
        # What the option ranges cannot see (e.g. every n-gram family off) is the
        # dataclasses' check: a usage error, one line, not a traceback.
        raise click.UsageError(str(exc), ctx=click.get_current_context(silent=True)) from None


def refuse_distill_options_without_distill(
    options: Mapping[str, Any], explicit: Collection[str]
) -> None:
    """``--distill-alpha``, ``--distill-temperature``, ... given without ``--distill``.

    They only shape the teacher's loss, which is off without the flag: silently
    training without the teacher the user asked to tune was a wrong model, not an error.

    Raises:
        click.UsageError: one of them was given on the command line without ``--distill``.
    """
    if options.get(_DISTILL_FLAG):
        return
    given = sorted(n for n in explicit if n.startswith(_DISTILL_FLAG + "_"))
    if given:
        flags = ", ".join(_flag(n) for n in given)
        verb = "applies" if len(given) == 1 else "apply"
        raise click.UsageError(
            f"{flags} only {verb} with --distill (the teacher is off without it)"
        )


def resolve_seq_len(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with ``--seq-len`` on auto (``None``) filled in: room for
    :data:`~tinyslm.text.features.SEQ_LEN_NGRAMS` n-grams of ``--hashes`` ids each."""
    out = dict(options)
    if out.get("seq_len") is None:
        out["seq_len"] = SEQ_LEN_NGRAMS * int(out.get("hashes") or 1)
    return out


_AUTO = (*SIZE_FIELDS, "token_dropout", "seq_len")


def default_options() -> dict[str, Any]:
    """The options of a plain ``tinyslm train`` (what ``--help`` shows as defaults)."""
    opts: dict[str, Any] = {"board": None, "max_model_kb": None, _DISTILL_FLAG: False}
    for name, default, _kind, _help in _fields():
        opts[name] = None if name in _AUTO else default
    opts["distill_alpha"] = 0.5
    return opts


def check_given_sizes(options: Mapping[str, Any]) -> None:
    """Refuse, before the data is read, the options the dataclasses refuse, judging only
    the sizes given: one on auto is chosen later to keep every rule.

    Raises:
        click.UsageError: the options (with the given sizes) make no valid config.
    """
    buckets = options.get("buckets")
    most = MAX_TABLE // NARROWEST_DIM
    if buckets is not None and options.get("dim") is None and buckets > most:
        # Even the narrowest embedding sizing picks is over the table's limit: the buckets
        # are what to change (a review found 2^27 refused as over a 1 GB budget it fitted,
        # and "at most 2^28" advised, which was refused in turn).
        # A --dim helps only where some width fits (2^27 with --dim 2): past 2^28 none does.
        narrower = (
            f" (or a --dim of at most {MAX_TABLE // buckets})" if buckets <= MAX_TABLE else ""
        )
        raise click.UsageError(
            f"--buckets {buckets} leaves the embedding under {NARROWEST_DIM} wide: buckets x"
            f" dim may be at most 2^28 = {MAX_TABLE}, so give --buckets at most {most}"
            f"{narrower}",
            ctx=click.get_current_context(silent=True),
        )
    # Sizes on auto take the smallest values here: filled from TrainConfig's defaults,
    # a refusal of --buckets alone named a dim (54) the user never gave nor would get.
    config_from_options(options, Shape(2, 1, 1))


def needs_budget(options: Mapping[str, Any]) -> bool:
    """Sizes are chosen or checked: one is on auto, or a budget was given."""
    return (
        any(options.get(k) is None for k in SIZE_FIELDS)
        or options.get("board") is not None
        or options.get("max_model_kb") is not None
    )


def distinct_ids(dataset: Dataset, options: Mapping[str, Any]) -> int:
    """How many different n-grams the training split yields with these feature options.

    Counted as ids at the largest bucket count, where hash collisions are
    negligible, and after ``seq_len`` truncation (ids cut off never reach the
    model). With ``hashes`` > 1 only an n-gram's first id counts: the bucket
    rule gives each n-gram a row, not each of its ids.
    """
    from tinyslm.text.features import tokenize

    options = resolve_seq_len(options)
    spec = FeatureSpec(
        buckets=2**31 - 1,
        **{f.name: options[f.name] for f in dataclasses.fields(FeatureSpec) if f.name != "buckets"},
    )
    seen: set[int] = set()
    for example in dataset.train:
        seen.update(tokenize(example.text, spec)[:: spec.hashes])
    seen.discard(0)  # padding, not an n-gram
    return len(seen)


def plan_size(
    options: Mapping[str, Any], num_labels: int, distinct: int | None = None
) -> SizeChoice:
    """The shape for these options: automatic sizes chosen, given ones checked.

    The budget is ``--max-model-kb`` (capped by ``--board``'s model budget when
    both are given); else, when no size is pinned, the smaller of ``--board``'s
    model budget (without it :data:`DEFAULT_MODEL_KB`) and what the data can use
    (:func:`tinyslm.sizing.data_budget_bytes` of ``distinct`` n-gram ids;
    ``None``: not counted, the board's or the default alone). ``--board`` also
    brings its arena budget.

    Raises:
        BudgetError: sizes given by hand do not fit the budget (before training).
    """
    options = resolve_seq_len(options)
    board_id, max_kb = options.get("board"), options.get("max_model_kb")
    budget = DEFAULT_MODEL_KB * 1024
    # The budget nobody gave, named for the size line: the default or the board's.
    name, cap = f"the default {DEFAULT_MODEL_KB} KB", f"default cap {DEFAULT_MODEL_KB} KB"
    source = f"{name} ({budget:,} bytes)"
    arena_budget, arena_source, max_buckets = None, "", None
    if board_id is not None:
        from tinyslm.boards import load_board
        from tinyslm.emit.text import firmware_ram
        from tinyslm.text.dataset import MAX_LINE_LIMIT

        board = load_board(board_id)
        name = f"board {board.id}'s {board.model_flash_kb} KB"
        cap = f"board {board.id}'s cap {board.model_flash_kb} KB"
        budget, source = board.model_budget_bytes, name
        # generate counts the firmware's other RAM with the arena (emit.text.ram_bytes):
        # the arena gets what that leaves, the line buffer at its largest since the
        # model's line limit is known only once trained.
        others, _ = firmware_ram(board, int(options["seq_len"]), num_labels, MAX_LINE_LIMIT)
        arena_budget, arena_source = board.arena_budget_bytes - others, name
    if max_kb is not None:
        if board_id is None or max_kb * 1024 <= budget:
            budget, source = max_kb * 1024, f"--max-model-kb {max_kb}"
    elif distinct is not None and all(options.get(k) is None for k in SIZE_FIELDS):
        # Only a budget nobody gave (the default, or the board's) is sized by the data;
        # an explicit --max-model-kb or size (--buckets/--dim/--hidden) keeps its meaning
        # against it. A board's whole budget on a small set was a table of rows no phrase
        # reaches: the demo set got ~1 MB for the ESP32 (B16384 D61 H256) at the ~141 KiB
        # model's test accuracy, and trained longer (docs/architecture.md).
        wanted = data_budget_bytes(distinct, num_labels)
        rule = (
            f"{distinct:,} distinct n-gram ids -> {data_buckets(distinct)} buckets at "
            f"dim {MIN_DIM} need {wanted:,} bytes"
        )
        if wanted < budget:
            budget = wanted
            source = f"what the data can use ({rule}; {cap})"
            # Where a long --seq-len's arena narrows the embedding, the bytes that frees
            # must not buy buckets past the data's, rows no phrase reaches (demo set,
            # --board esp32 --seq-len 4096: B32768 D4 scored 94.23 %, B4096 D7 98.46 %).
            max_buckets = data_buckets(distinct)
        else:
            source = f"{name} ({budget:,} bytes; {rule})"
    return choose_shape(
        num_labels,
        int(options["seq_len"]),
        budget,
        arena_budget_bytes=arena_budget,
        budget_source=source,
        arena_source=arena_source,
        max_buckets=max_buckets,
        **{k: options[k] for k in SIZE_FIELDS if options.get(k) is not None},
    )


if TYPE_CHECKING:
    from tinyslm.manifest import Manifest
    from tinyslm.pipeline import TrainRunResult
    from tinyslm.text.dataset import Dataset

# Trains one model for a config and writes it once the check (third argument) passes
# the trained manifest; a check that raises leaves nothing written. The flag is True on
# the retry one size smaller.
TrainRun = Callable[[TrainConfig, bool, Callable[["Manifest"], None]], "TrainRunResult"]


class _Overshoot(BudgetError):
    """The trained model misses the budget: raised by the check, before anything is written."""

    def __init__(self, model_bytes: int, arena: int, over: tuple[int, int]) -> None:
        super().__init__(f"{model_bytes} bytes, arena {arena} bytes")
        self.model_bytes, self.arena, self.over = model_bytes, arena, over


def _missed(choice: SizeChoice, model_bytes: int, arena: int, over: tuple[int, int]) -> str:
    """What of the converted model misses which budget, as the check compared them: the
    arena as the firmware sizes it (arena_size_for), not the measured one, which can be
    under the arena budget it missed ('arena 77188 bytes ... (arena budget 78188 bytes)')."""
    from tinyslm.emit.project import arena_size_for

    parts = []
    if over[0] > 0:
        parts.append(f"model {model_bytes} bytes > {choice.budget_bytes} bytes")
    if over[1] > 0 and choice.arena_budget_bytes is not None:
        parts.append(
            f"arena {arena_size_for(arena)} bytes in the firmware (measured {arena}) > "
            f"{choice.arena_budget_bytes} bytes (the arena budget less the firmware's other RAM)"
        )
    # The arena budget is the board's, whatever capped the model's (the data, or
    # --max-model-kb): an arena miss alone names the board, not the data's bytes.
    owner = choice.budget_source
    if over[1] > 0 and choice.arena_source:
        if over[0] <= 0:
            owner = choice.arena_source
        elif not owner.startswith(choice.arena_source):
            # A model budget that is the board's already names it (with the rule, where
            # the data wants more): "board esp32's 1024 KB (...) or board esp32's 1024 KB".
            owner = f"{owner} or {choice.arena_source}"
    return f"the converted model does not fit {owner}: " + "; ".join(parts)


def _first_plan(
    options: Mapping[str, Any], dataset: Callable[[], Dataset], say: Log
) -> tuple[Mapping[str, Any], TrainConfig, SizeChoice | None, Dataset | None]:
    """The options (sequence length resolved), the config :func:`train_to_budget` trains
    first, the size choice behind it (None where no budget applies) and the dataset
    (None where it was not needed). The size line is said.

    Raises:
        click.UsageError: the given sizes make no valid config (before the data is read).
    """
    # Option combinations the dataclasses refuse are refused before the data is read.
    check_given_sizes(options)
    options = resolve_seq_len(options)
    if not needs_budget(options) and options.get("token_dropout") is not None:
        return options, config_from_options(options), None, None
    data = dataset()
    n_train = len(data.train)
    if not needs_budget(options):
        return options, config_from_options(options, n_train=n_train), None, data
    choice = plan_size(options, len(data.labels), distinct_ids(data, options))
    say(choice.describe())
    return options, config_from_options(options, choice.shape, n_train), choice, data


def plan_config(
    options: Mapping[str, Any], dataset: Callable[[], Dataset], say: Log
) -> TrainConfig:
    """The config ``tinyslm train`` trains first for ``options`` on ``dataset()``, its
    size line said as train says it; nothing is trained (the benchmarks train it)."""
    return _first_plan(options, dataset, say)[1]


def train_to_budget(
    options: Mapping[str, Any],
    dataset: Callable[[], Dataset],
    run: TrainRun,
    say: Log,
) -> TrainRunResult:
    """Train with the options' config, sized for their budget, and check the result fits.

    Args:
        options: the keyword arguments of :func:`train_options`.
        dataset: loads the dataset (called only when a budget applies or
            ``--token-dropout`` is on auto): its intent count, its distinct
            n-grams for the default budget and its training phrase count.
        run: trains and writes one model for a config (see :data:`TrainRun`).
        say: where the size choice is explained.

    Raises:
        BudgetError: sizes given by hand do not fit (before training), or the
            converted model misses the budget even after one retry one size smaller.
    """
    from tinyslm.emit.project import arena_size_for

    options, config, choice, data = _first_plan(options, dataset, say)

    def anything(_: Manifest) -> None:
        return None

    if choice is None or data is None:
        return run(config, False, anything)
    n_train = len(data.train)
    count = len(data.labels)
    for attempt in range(2):

        def fits(manifest: Manifest, planned: SizeChoice = choice) -> None:
            # Checked before the model is written: a model over the budget once
            # replaced the user's model folder (--force) or was left behind.
            arena_size = arena_size_for(manifest.arena_bytes)
            over = overshoot(planned, manifest.model_bytes, arena_size)
            if over is not None:
                raise _Overshoot(manifest.model_bytes, manifest.arena_bytes, over)

        try:
            return run(config_from_options(options, choice.shape, n_train), attempt > 0, fits)
        except _Overshoot as miss:
            model_bytes, arena, over = miss.model_bytes, miss.arena, miss.over
        if attempt > 0 or len(choice.pinned) == 3:
            break
        # The estimate was short: ask for that much less and train once more. Each
        # overshoot is taken off the planned shape's estimate, not off the budget: the
        # shape rarely fills the arena budget (the model's bytes cap it first), nor the
        # model's (up to buckets + hidden bytes under it, ~16 KB at 16,384 buckets), so a
        # budget less the overshoot chose the very shape that missed, and no retry was made.
        model_budget = (
            choice.budget_bytes - 1024
            if over[0] == 0
            else min(choice.budget_bytes, choice.model_bytes + MODEL_MARGIN_BYTES) - over[0] - 1024
        )
        if model_budget <= 0:
            break  # overshot by more than the whole budget: no smaller shape to try
        try:
            smaller = choose_shape(
                count,
                int(options["seq_len"]),
                model_budget,
                arena_budget_bytes=(
                    None
                    if choice.arena_budget_bytes is None
                    else choice.arena_budget_bytes - over[1] - 1024
                    if over[1] == 0
                    else min(choice.arena_budget_bytes, arena_size_for(choice.arena_bytes))
                    - over[1]
                    - 1024
                ),
                budget_source=choice.budget_source,
                arena_source=choice.arena_source,
                max_buckets=choice.max_buckets,
                **{k: options[k] for k in SIZE_FIELDS if options.get(k) is not None},
            )
        except BudgetError:
            # No shape is that much smaller: said as the miss it is, not as "no model
            # fits" with the figures of a budget the user never gave.
            break
        if smaller.shape == choice.shape:
            break  # the same shape would miss the same way
        say(f"{_missed(choice, model_bytes, arena, over)}; retraining at {smaller.shape}")
        choice = dataclasses.replace(
            smaller,
            budget_bytes=choice.budget_bytes,
            arena_budget_bytes=choice.arena_budget_bytes,
        )
    # The way on is whatever makes what missed smaller: sizes (the arena grows with
    # --seq-len and --dim), not 'leave them on auto' where they were never given.
    # Both missed: both are named (a smaller --buckets alone leaves the arena over).
    levers = []
    if over[0] > 0:
        levers.append(("" if choice.pinned else "--max-model-kb or ") + "--buckets/--dim/--hidden")
    if over[1] > 0:
        levers.append("--seq-len or --dim")
    raise BudgetError(
        f"{_missed(choice, model_bytes, arena, over)}; give a smaller "
        + " and a smaller ".join(levers)
        + (" or leave them on auto" if choice.pinned else "")
    )
