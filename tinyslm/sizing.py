"""Pick the model's shape (buckets, dim, hidden) for a flash and RAM budget, before training.

The INT8 flatbuffer's size follows from the architecture alone (see
:func:`estimate_model_bytes`), so the shape can be chosen before minutes of
training instead of by training candidates and throwing most of them away.

The rule (``choose_shape``): the hidden width is the ladder step for the budget;
then the hash table gets the most buckets (a power of two; with the data's
budget, at most the data's) for which the embedding can still be at least
:data:`MIN_DIM` wide, and the widest embedding
(up to :data:`MAX_DIM`) that fits in what is left. Hashing n-grams into more
buckets means fewer unrelated n-grams share a row, which is what a bag of
n-grams loses accuracy to; below about 32 dimensions the rows themselves get too
narrow to keep 100+ intents apart (measured on CLINC150: B8192 D54 beats B16384
D27 at the same bytes; see docs/architecture.md). The
training step then verifies the converted size (``fits``) and retrains one size
smaller if the estimate was ever short.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyslm.errors import BudgetError

# Bytes of the converted model besides the tensors below: flatbuffer tables,
# tensor names, the op list. Calibrated on real conversions (CLINC150 at
# B4096 D32 H64 and B8192 D54 H256, the 20-intent test fixture at B512 D8 H16),
# where the formula gave the converted size to the byte. The converter used now
# (TensorFlow 2.21) writes 88 bytes less at those shapes and at the demo's
# (144,800 converted, 144,888 estimated), 92 less for 15 intents; other shapes and
# settings have come out up to ~100 bytes smaller, never larger. Kept as it is:
# over errs on the budget's side.
MODEL_FIXED_BYTES = 3016
# Per output channel of each FULLY_CONNECTED: an int32 bias (4) and per-channel
# quantization of weights and bias (float32 scale + int64 zero point, twice: 24).
PER_CHANNEL_BYTES = 28
# Left unused of the budget: the flatbuffer aligns buffers, and a converter
# update may move a few bytes.
MODEL_MARGIN_BYTES = 2048
# Arena, measured by TFLM's recording allocator: the int32 ids and the gathered
# int8 rows live together at the peak, each FULLY_CONNECTED keeps an int32
# multiplier and shift per output channel, and the rest (tensor structs, MEAN's
# scratch) came to 1808-2400 bytes on the same three models.
ARENA_FIXED_BYTES = 2400
ARENA_PER_CHANNEL_BYTES = 8

# The embedding is never narrower than this when a wider one fits (see above);
# a tiny budget may force less, down to 4.
MIN_DIM = 32
# Wider rows gain little for a bag of n-grams; more buckets gain more.
MAX_DIM = 96
# The most int8 table entries (buckets x dim) TrainConfig takes: 256 MiB (past it only an
# out-of-memory traceback followed). A chosen dim keeps to it as to the budget.
MAX_TABLE = 2**28
# The narrowest embedding sizing picks on its own (MIN_DIM, then 16, 8, this).
NARROWEST_DIM = 4
BUCKET_LADDER: tuple[int, ...] = tuple(2**k for k in range(8, 21))  # 256 ... 1,048,576
# (smallest budget in bytes, hidden width): a narrower hidden layer leaves
# small budgets to the embedding table, which carries most of the accuracy.
HIDDEN_LADDER = ((384 * 1024, 256), (96 * 1024, 128), (32 * 1024, 64), (0, 32))
# Plain ``tinyslm train`` sizes for this budget (KiB, as --max-model-kb and the
# boards count): 500 KiB is 512,000 bytes, the "512 KB" that issue 12's targets
# and benchmark table count in thousands; for 150 intents it is the benchmark's
# B8192 D54 H256 point (508,976 bytes estimated, 508,888 converted).
DEFAULT_MODEL_KB = 500


def data_buckets(distinct_ids: int) -> int:
    """The fewest ladder buckets that give every distinct n-gram id its own row.

    Ids fall in [1, B-1] (0 pads), hence the ``+ 1``; more buckets than that
    only add rows no training phrase ever reaches.
    """
    return next((b for b in BUCKET_LADDER if b >= distinct_ids + 1), BUCKET_LADDER[-1])


def data_budget_bytes(distinct_ids: int, num_labels: int) -> int:
    """The model bytes the training data can use (``train`` caps its default or a board's by this).

    The shape that can use them: :func:`data_buckets` buckets at :data:`MIN_DIM`,
    with the hidden width the ladder gives that shape's own bytes, plus the
    margin ``choose_shape`` keeps. A 20-intent set (3,200 distinct ids -> 4096
    buckets) gets ~144 KB instead of a 500 KB table of rows it never trains;
    CLINC150 (34,722 ids) asks for more than the default, so the default wins.
    """
    shape = Shape(data_buckets(distinct_ids), MIN_DIM, _hidden_for(0))
    while True:
        budget = estimate_model_bytes(shape, num_labels) + MODEL_MARGIN_BYTES
        # The ladder keys hidden on the budget, which grows with hidden:
        # step up until the budget's own step is the one it was sized with.
        hidden = _hidden_for(budget)
        if hidden <= shape.hidden:
            return budget
        shape = Shape(shape.buckets, shape.dim, hidden)


@dataclass(frozen=True)
class Shape:
    """The three sizes that decide the model's bytes (with the intent count)."""

    buckets: int
    dim: int
    hidden: int

    def __str__(self) -> str:
        return f"buckets {self.buckets}, dim {self.dim}, hidden {self.hidden}"


@dataclass(frozen=True)
class SizeChoice:
    """A shape chosen for a budget, with the estimates and the reason given to the user.

    Attributes:
        shape: the chosen buckets, dim and hidden.
        model_bytes: estimated INT8 flatbuffer size.
        arena_bytes: estimated TFLM arena (as measured, before the firmware's margin).
        budget_bytes: the model budget it was chosen for.
        arena_budget_bytes: the arena budget (``None``: no board, none checked).
        budget_source: where the budget comes from, for the message.
        pinned: the sizes given by the user (not chosen).
        min_dim: the narrowest embedding the bucket count was chosen to leave:
            :data:`MIN_DIM`, or less where no shape that wide fits the budgets.
        max_buckets: the most buckets it could choose (``None``: the ladder's top);
            a retry one size smaller keeps it.
        arena_source: where the arena budget comes from (a board), for a message
            about the arena alone; ``""``: ``budget_source``.
    """

    shape: Shape
    model_bytes: int
    arena_bytes: int
    budget_bytes: int
    arena_budget_bytes: int | None
    budget_source: str
    pinned: tuple[str, ...] = ()
    min_dim: int = MIN_DIM
    max_buckets: int | None = None
    arena_source: str = ""

    def describe(self) -> str:
        """One line: what was chosen, its estimated bytes and why."""
        arena = (
            f", arena ~{self.arena_bytes / 1024:.1f} KB of {self.arena_budget_bytes // 1024} KB"
            if self.arena_budget_bytes is not None
            else ""
        )
        kb = f"~{self.model_bytes / 1024:.0f} KB"
        head = f"size: {self.shape} (model {kb} of {self.budget_source}{arena})"
        if len(self.pinned) == 3:
            return head + ": as given, and it fits"
        if "buckets" in self.pinned:
            # The buckets were given, not chosen: "the most hash buckets" said otherwise.
            why = (
                f"the widest embedding (at most {MAX_DIM}) that fits with buckets "
                f"{self.shape.buckets}"
                if "dim" not in self.pinned
                else ""
            )
        elif "dim" in self.pinned:
            why = f"the most hash buckets that fit with dim {self.shape.dim}"
        else:
            # The width the search settled for, not the one it aimed at: a small budget
            # or a long --seq-len's arena can leave no 32-wide embedding at any count.
            # A narrowed embedding at the data's bucket count: the cap, not the budget,
            # stopped the buckets (more would fit the bytes, rows no phrase reaches).
            capped = (
                self.max_buckets is not None
                and self.shape.buckets == self.max_buckets
                and self.min_dim < MIN_DIM
            )
            why = (
                "the most hash buckets"
                + (f" up to the {self.max_buckets} the data reaches" if capped else "")
                + f" that still leave the embedding >= {self.min_dim} wide"
                + (f" (none fits {MIN_DIM} wide)" if self.min_dim < MIN_DIM else "")
                + ", then the widest embedding that fits"
            )
        if "hidden" not in self.pinned:
            why = ", then ".join(part for part in (self._hidden_reason(), why) if part)
        if self.pinned:
            why += f" ({', '.join(self.pinned)} as given)"
        return f"{head}: {why}"

    def _hidden_reason(self) -> str:
        """Why the hidden width: the ladder's step for the budget, or the widest below
        it that fits (choose_shape narrows it only when nothing fits at the step)."""
        step = _hidden_for(self.budget_bytes)
        if self.shape.hidden >= step:
            return f"hidden {self.shape.hidden} for this budget"
        return f"hidden {self.shape.hidden}, the widest below this budget's {step} that fits"


def estimate_model_bytes(shape: Shape, num_labels: int) -> int:
    """Bytes of the INT8 flatbuffer ``tinyslm.quantize`` writes for this shape.

    int8 table (B x D) + int8 FC weights (D x H, H x C) + per-channel extras
    + fixed overhead: never under a real conversion; 88 bytes over the current
    converter's at most shapes measured (see :data:`MODEL_FIXED_BYTES`).
    """
    b, d, h, c = shape.buckets, shape.dim, shape.hidden, num_labels
    return b * d + d * h + h * c + PER_CHANNEL_BYTES * (h + c) + MODEL_FIXED_BYTES


def estimate_arena_bytes(shape: Shape, num_labels: int, seq_len: int) -> int:
    """An upper estimate of TFLM's arena for this shape (before the firmware's margin)."""
    peak = seq_len * 4 + seq_len * shape.dim  # int32 ids + gathered int8 rows
    return peak + ARENA_PER_CHANNEL_BYTES * (shape.hidden + num_labels) + ARENA_FIXED_BYTES


def _hidden_for(budget: int) -> int:
    # The smallest step below the ladder's last floor (a negative budget, from a retry
    # that overshot by more than the budget): choose_shape then says nothing fits.
    return next((h for floor, h in HIDDEN_LADDER if budget >= floor), HIDDEN_LADDER[-1][1])


def _widest_dim(buckets: int, hidden: int, num_labels: int, usable: int) -> int:
    """The widest D (<= MAX_DIM, and buckets x D <= MAX_TABLE) whose estimate fits in
    ``usable`` bytes; 0 if none."""
    fixed = estimate_model_bytes(Shape(buckets, 0, hidden), num_labels)
    return max(0, min(MAX_DIM, MAX_TABLE // buckets, (usable - fixed) // (buckets + hidden)))


def _arena_ok(shape: Shape, num_labels: int, seq_len: int, arena_budget: int | None) -> bool:
    if arena_budget is None:
        return True
    from tinyslm.emit.project import arena_size_for

    return arena_size_for(estimate_arena_bytes(shape, num_labels, seq_len)) <= arena_budget


def choose_shape(
    num_labels: int,
    seq_len: int,
    budget_bytes: int,
    *,
    arena_budget_bytes: int | None = None,
    budget_source: str = "",
    arena_source: str = "",
    max_buckets: int | None = None,
    buckets: int | None = None,
    dim: int | None = None,
    hidden: int | None = None,
) -> SizeChoice:
    """The shape for ``num_labels`` intents within the budgets (see the module doc).

    ``buckets``, ``dim`` and ``hidden`` pin a size (given by the user); the
    others are chosen around it. ``max_buckets`` caps the chosen bucket count
    (what the data reaches, :func:`data_buckets`): where the arena narrows the
    embedding, the bytes it frees would otherwise buy buckets no phrase reaches
    at a narrower dim (demo set, ``--board esp32 --seq-len 4096``, seed 0: B32768
    D4 H128 scored 94.23 % INT8 test, B4096 D7 H128 98.46 %).

    Raises:
        BudgetError: no shape with the pinned sizes fits.
    """
    usable = budget_bytes - MODEL_MARGIN_BYTES
    source = budget_source or f"{budget_bytes // 1024} KB"
    top = _hidden_for(budget_bytes)
    hiddens = [hidden] if hidden else [h for h in (256, 128, 64, 32, 16, 8) if h <= top]
    bucket_list = (
        [buckets]
        if buckets
        else sorted((b for b in BUCKET_LADDER if b <= (max_buckets or b)), reverse=True)
    )
    for h in hiddens:
        for min_dim in (MIN_DIM, 16, 8, NARROWEST_DIM) if dim is None else (dim,):
            for b in bucket_list:
                d = dim if dim is not None else _widest_dim(b, h, num_labels, usable)
                if dim is not None and (
                    estimate_model_bytes(Shape(b, d, h), num_labels) > usable or b * d > MAX_TABLE
                ):
                    continue
                # The arena grows with dim (L x D gathered rows): narrow until it fits.
                while d >= min_dim and not _arena_ok(
                    Shape(b, d, h), num_labels, seq_len, arena_budget_bytes
                ):
                    d = d - 1 if dim is None else 0
                if d >= min_dim:
                    shape = Shape(b, d, h)
                    return SizeChoice(
                        shape=shape,
                        model_bytes=estimate_model_bytes(shape, num_labels),
                        arena_bytes=estimate_arena_bytes(shape, num_labels, seq_len),
                        budget_bytes=budget_bytes,
                        arena_budget_bytes=arena_budget_bytes,
                        budget_source=source,
                        min_dim=min_dim,
                        max_buckets=max_buckets,
                        arena_source=arena_source,
                        pinned=tuple(
                            k
                            for k, v in (("buckets", buckets), ("dim", dim), ("hidden", hidden))
                            if v is not None
                        ),
                    )
    pinned = ", ".join(
        f"{k} {v}" for k, v in (("buckets", buckets), ("dim", dim), ("hidden", hidden)) if v
    )
    smallest = Shape(buckets or BUCKET_LADDER[0], dim or NARROWEST_DIM, hidden or 8)
    # The figures are what the checks above compare with the budgets (the model with
    # the margin kept for the converter, the arena as the firmware sizes it): the model
    # alone once read "needs about 5 KB" in a refusal of --max-model-kb 6.
    from tinyslm.emit.project import arena_size_for

    needs = estimate_model_bytes(smallest, num_labels) + MODEL_MARGIN_BYTES
    arena = arena_size_for(estimate_arena_bytes(smallest, num_labels, seq_len))
    raise BudgetError(
        f"no model for {num_labels} intents{' with ' + pinned if pinned else ''} fits "
        f"{source}: {smallest} alone needs about {-(-needs // 1024)} KB "
        f"(with the {MODEL_MARGIN_BYTES // 1024} KB margin kept for the converter)"
        + (
            f" and an arena of about {-(-arena // 1024)} KB"
            if arena_budget_bytes is not None
            else ""
        )
    )


def overshoot(choice: SizeChoice, model_bytes: int, arena_size: int) -> tuple[int, int] | None:
    """How far a converted model misses its budgets (bytes over model, arena), or None."""
    over_model = model_bytes - choice.budget_bytes
    over_arena = (
        arena_size - choice.arena_budget_bytes if choice.arena_budget_bytes is not None else 0
    )
    if over_model <= 0 and over_arena <= 0:
        return None
    return max(over_model, 0), max(over_arena, 0)
