"""The ``tinyslm`` command line: parse options, call one pipeline function, map errors.

Every ``TinySlmError`` becomes one line on stderr and exit code 1. Heavy imports
(TensorFlow) happen inside the commands so ``tinyslm --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import click

from tinyslm import __version__
from tinyslm.audio.options import keyword_options
from tinyslm.audio.synth import MAX_BACKGROUND_S, RANGE_BOUNDS
from tinyslm.boards import board_ids
from tinyslm.cache import CACHE_RULE
from tinyslm.errors import (
    OutputError,
    TinySlmError,
    for_terminal,
    one_line,
    quoted,
    utf8_text,
)
from tinyslm.outdir import names_folder
from tinyslm.train_options import FloatRange, train_options

if TYPE_CHECKING:
    from tinyslm.escalate import Escalation
    from tinyslm.pipeline import GenerateRunResult

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Turn a TinySlmError into its detail lines (indented), ``error: <message>``, exit 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TinySlmError as exc:
            # Every error the same way: the explanation first, the one error line last.
            # A line break in a message (a path holding one: $'no\nsuch.csv') is shown
            # escaped, as every line here is one line.
            for line in exc.detail:
                click.echo(f"  {for_terminal(line)}", err=True)
            click.echo(f"error: {for_terminal(str(exc))}", err=True)
            sys.exit(1)
        except KeyboardInterrupt as exc:
            # One with a message says what the output holds (outdir.InterruptedAfterUpdate).
            click.echo(f"error: {for_terminal(str(exc) or 'interrupted')}", err=True)
            sys.exit(130)
        except OSError as exc:
            # The checks name what they foresee; the file system can still refuse a path
            # (a name over 255 bytes, a symlink loop, a folder without read permission).
            # One line all the same, never a traceback.
            where = f"{exc.filename}: " if exc.filename is not None else ""
            click.echo(f"error: {for_terminal(f'{where}{exc.strerror or exc}')}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


# --json PATH on every command that has figures: PATH gets the JSON and the usual
# text still goes to stdout; "-" prints the JSON to stdout and moves the text to stderr.
JSON_HELP = "Write the figures as JSON to this file; '-' prints them to stdout (text to stderr)."


def _path_checked(
    path_type: click.Path, value: Any, param: click.Parameter | None, ctx: click.Context | None
) -> Any:
    """``click.Path.convert``, its refusal naming the path as every error of ours does.
    click shows a path's undecodable byte as U+FFFD (``Directory '.../t\\ufffd' is a
    file.``), which names no file the user can find: it is shown as the shell shows it
    (``\\xff``)."""
    try:
        return click.Path.convert(path_type, value, param, ctx)
    except click.BadParameter as exc:
        shown = click.utils.format_filename(value) if isinstance(value, str) else value
        if shown != value:
            # click writes the name as its repr ('{filename!r}'): a name that also holds a
            # backslash or a line break is there as '..\\..' or '..\\n..', not as itself.
            if repr(shown) in exc.message:
                message = exc.message.replace(repr(shown), quoted(value))
            else:
                message = exc.message.replace(shown, one_line(value))
            path_type.fail(message, param, ctx)
        raise


class _FileName(click.Path):
    """click.Path refusing an empty name: Path("") is ".", so ``--json ""`` was called a
    folder named "."; and a name typed as a folder's (:func:`tinyslm.outdir.names_folder`)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty file name", param, ctx)
        if isinstance(value, str) and (folder := names_folder(value)) is not None:
            self.fail(folder, param, ctx)
        return _path_checked(self, value, param, ctx)


def _echo_err(line: str) -> None:
    """One line of tinyslm's own on stderr, shown as the ``error:`` line is: it may name
    the user's labels and files (:func:`~tinyslm.errors.for_terminal`). Raw, a path's
    undecodable byte reached stderr as ``\\udcff`` and a line break in it split the line."""
    click.echo(for_terminal(line), err=True)


def _tell(kind: str, message: str) -> None:
    """One ``warning:`` or ``note:`` line on stderr (:func:`_echo_err`)."""
    _echo_err(f"{kind}: {message}")


class _OutName(click.Path):
    """click.Path, its refusal naming the path as :func:`_path_checked` does: for report's
    ``-o``, whose empty or folder-like name the command itself explains."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return _path_checked(self, value, param, ctx)


class _PathName(click.Path):
    """click.Path refusing an empty name: Path("") is ".", so ``generate -o "$OUT"`` (or
    ``train -o``, ``synth -o``) with OUT unset wrote into the current folder, and ``info
    ""`` named a folder "." the user never gave."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty path (give '.' for the current folder)", param, ctx)
        return _path_checked(self, value, param, ctx)


class _DataName(_PathName):
    """A dataset of eval, emulate --data and report --data: ``demo`` names the bundled
    set (:func:`tinyslm.evaluate.demo_or_path`), but ``demo/`` or ``./demo`` is a path the
    user wrote, and Path() reads both as ``demo``: where no such file or folder exists it
    is refused here, not taken for the bundled set."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        if (
            isinstance(value, str)
            and value != "demo"
            and str(path) == "demo"
            and not os.path.lexists(path)
        ):
            self.fail(
                f"{value!r}: no such file or folder ('demo' alone names the bundled demo set)",
                param,
                ctx,
            )
        return path


def json_option(help_text: str = JSON_HELP) -> Callable[[F], F]:
    return click.option(
        "--json",
        "json_out",
        type=_FileName(path_type=Path, allow_dash=True),
        metavar="PATH|-",
        help=help_text,
    )


def host_options(func: F) -> F:
    """--host-model / --host-cmd / --host-act / --host-timeout: who answers escalated
    phrases, and whether a sure answer goes back to the device."""
    for option in reversed(
        [
            click.option(
                "--host-model",
                type=_PathName(path_type=Path),
                help="Answer each escalated phrase with this (bigger) tinyslm text model, run "
                "on TFLM here; its answer follows as a host line.",
            ),
            click.option(
                "--host-cmd",
                metavar="'PROGRAM ARGS'",
                help="Answer each escalated phrase with this program (no shell): the phrase "
                "on its stdin and in $TINYSLM_TEXT, the device's guess in $TINYSLM_INTENT and "
                "$TINYSLM_SCORE; its first non-blank output line is the answer.",
            ),
            click.option(
                "--host-act/--no-host-act",
                default=True,
                show_default=True,
                help="Send the host's sure answers back as ':do <intent>' so the device acts "
                "on them (its actions hook runs, by_host set); a --host-cmd program acts by "
                "printing a ':do <intent>' line.",
            ),
            click.option(
                "--host-timeout",
                type=FloatRange(min=0.1),
                default=30.0,
                show_default=True,
                help="Seconds --host-cmd may take per phrase.",
            ),
        ]
    ):
        func = option(func)
    return func


def _port_given(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--port's callback: an empty (or blank) port is refused; it was taken for no
    --port at all, and then another port was picked (PlatformIO's, or the only USB one)."""
    if value is not None and not value.strip():
        raise click.BadParameter(
            "an empty port name; give the board's serial port or leave --port out",
            ctx,
            param,
        )
    return value


def _given(name: str) -> bool:
    """Whether option ``name`` was given on the command line (not its default)."""
    ctx = click.get_current_context(silent=True)
    return (
        ctx is not None and ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    )


def _refuse_unless(name: str, applies: bool, needs: str) -> None:
    """A usage error for option ``name`` given where it does nothing (without ``needs``)."""
    if not applies and _given(name):
        raise click.UsageError(f"--{name.replace('_', '-')} needs {needs}")


def make_escalation(
    host_model: Path | None, host_cmd: str | None, host_timeout: float
) -> Escalation | None:
    """The --host-* options as an escalation (None without them); both is a usage error,
    and so are --host-act / --host-timeout given without what they shape (they were
    silently ignored)."""
    from tinyslm.escalate import from_options

    _refuse_unless(
        "host_act", host_model is not None or host_cmd is not None, "--host-model or --host-cmd"
    )
    _refuse_unless("host_timeout", host_cmd is not None, "--host-cmd")
    try:
        return from_options(host_model, host_cmd, host_timeout)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def json_to_stdout(json_out: Path | None) -> bool:
    return json_out is not None and str(json_out) == "-"


def check_json_target(
    json_out: Path | None, protect: Sequence[Path | None] = (), what: str = "the input"
) -> None:
    """Refuse a --json file that cannot be written, names an input (``what``) or lies
    inside an input folder, before the work. Inside a keyword dataset it would join it:
    a ``.wav`` name in ``_background_noise_/`` made every later eval and train fail."""
    from tinyslm.outdir import check_file_target, is_json_document, real_path

    if json_out is None or json_to_stdout(json_out):
        return
    json_real = real_path(json_out)
    for path in protect:
        if path is None:
            continue
        if json_real == real_path(path):
            raise click.UsageError(f"--json names {what} {path}; give another file name")
        folder = real_path(path)
        if (
            folder.is_dir()
            and folder in json_real.parents
            and (json_real.parent != folder or json_real.suffix.lower() == ".wav")
        ):
            raise click.UsageError(
                f"--json {json_out} would join the dataset {path}, which tinyslm reads; "
                "write it elsewhere"
            )
    from tinyslm.pipeline import refuse_inside_model_folder

    refuse_inside_model_folder(json_out, "--json")
    check_file_target(json_out, "--json", is_json_document)


def emit_json(json_out: Path | None, figures: Mapping[str, Any]) -> None:
    """The figures as a --json document (sorted keys, the tool's version under
    ``tinyslm``) to ``json_out``, or to stdout for ``-``."""
    from tinyslm.outdir import is_json_document, json_document, write_file

    if json_out is None:
        return
    data = json_document(figures, __version__)
    if json_to_stdout(json_out):
        click.echo(data.decode(), nl=False)
    else:
        write_file(json_out, data, "--json", is_json_document)


# click 8.2+ raises it for a group called without a command; 8.1 printed the help.
_NO_ARGS_IS_HELP: type[click.UsageError] | None = getattr(
    click.exceptions, "NoArgsIsHelpError", None
)


def _option_values(command: click.Command, args: Sequence[str]) -> dict[click.Option, list[str]]:
    """Each single-valued option of ``command`` -> the values ``args`` give it, read as
    click's parser reads them (``--board X``, ``--board=X``, ``-oX``, a cluster of short
    flags ending in one that takes a value, ``-qo X``; a value is never an option of its
    own; ``--`` ends the options). What does not parse is left to click. An on/off
    pair (``--bigrams/--no-bigrams``) gets the spellings given as its values."""
    takes: dict[str, click.Option | None] = {}
    flags: set[str] = set()
    pairs: dict[str, click.Option] = {}
    for param in command.params:
        if not isinstance(param, click.Option):
            continue
        for name in [*param.opts, *param.secondary_opts]:
            if param.is_flag or param.count:
                flags.add(name)
                if param.secondary_opts and name.startswith("--"):
                    pairs[name] = param
            else:
                # A repeatable option (--mic-pin) checks its own repeats.
                takes[name] = None if param.multiple else param
    seen: dict[click.Option, list[str]] = {}
    i = 0
    while i < len(args):
        token, i = args[i], i + 1
        if token == "--":
            break
        if token.startswith("--"):
            name, eq, value = token.partition("=")
        elif token.startswith("-") and len(token) > 2:
            # A short cluster: flags, then at most one option that takes the rest (or
            # the next argument) as its value.
            name, eq, value = token, "", ""
            for k in range(1, len(token)):
                short = "-" + token[k]
                if short in takes:
                    rest = token[k + 1 :]
                    name, eq, value = short, "=" if rest else "", rest
                    break
                if short not in flags:
                    break
        else:
            name, eq, value = token, "", ""
        if name in pairs and not eq:
            seen.setdefault(pairs[name], []).append(name)
            continue
        if name not in takes:
            continue
        if not eq:
            if i >= len(args):
                break
            value, i = args[i], i + 1
        option = takes[name]
        if option is not None:
            seen.setdefault(option, []).append(value)
    return seen


class _Command(click.Command):
    """A command whose usage errors name it, and that refuses an option of one value given
    twice: click keeps the last of ``--board esp32 --board stm32h7`` (or ``train --epochs
    3 --epochs 5``) without a word."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        options = args[: args.index("--")] if "--" in args else args
        # --help shows the help whatever else is on the line, as click gives it.
        asked_help = any(a in ctx.help_option_names for a in options)
        for option, values in ({} if asked_help else _option_values(self, args)).items():
            if option.secondary_opts and not ctx.resilient_parsing:
                # An on/off pair: a repeat is a flag repeated (as --force --force), but
                # both spellings contradict each other, and click kept the last.
                if len(set(values)) > 1:
                    raise click.UsageError(
                        f"{values[0]} and {next(v for v in values if v != values[0])} are "
                        "both given; give one",
                        ctx,
                    )
                continue
            if len(values) > 1 and not ctx.resilient_parsing:
                name = next((o for o in option.opts if o.startswith("--")), option.opts[0])
                times = "twice" if len(values) == 2 else f"{len(values)} times"
                given = ", ".join(one_line(v) or "''" for v in values)
                raise click.UsageError(f"{name} is given {times} ({given}); give it once", ctx)
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            # click 8.5's parser raises "Option '--board' requires an argument." without
            # a context, and the hint then named 'tinyslm --help', which lists no options.
            if exc.ctx is None:
                exc.ctx = ctx
            raise


class _Group(click.Group):
    """A sub-group (``tinyslm tflm``) whose commands name themselves in usage errors."""

    command_class = _Command


class OneLineErrors(click.Group):
    """A click group whose usage errors are one ``error:`` line and exit code 1.

    click's own handling prints a usage block and exits 2; the README promises
    one line and exit 1 for every error, bad options included.
    """

    command_class = _Command
    group_class = _Group

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        typed = list(sys.argv[1:] if args is None else args)  # as click reads them
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            if _NO_ARGS_IS_HELP is not None and isinstance(exc, _NO_ARGS_IS_HELP) and exc.ctx:
                # A bare 'tinyslm' or 'tinyslm tflm' asks for the help (click 8.1 printed it
                # and exited 0); as an error line it was the whole help squashed into one.
                click.echo(exc.ctx.get_help())
                sys.exit(0)
            message = _click_message(exc.format_message(), typed)
            where = exc.ctx.command_path if exc.ctx is not None else "tinyslm"
            _echo_err(f"error: {message} (see '{where} --help')")
            sys.exit(1)
        except click.ClickException as exc:
            _echo_err(f"error: {_click_message(exc.format_message(), typed)}")
            sys.exit(1)
        except click.Abort:
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


def _click_message(message: str, typed: Sequence[str]) -> str:
    """A click error message as one line: its line breaks as spaces, and a typed word it
    quotes as its repr (``'x\\udcff' is not one of ...``: a byte that is not UTF-8 shown
    as a character the word does not hold) as every error shows a name, ``'x\\xff'``."""
    for word in typed:
        # The word, an option's value after '=' (--board=x), or after a short option (-ox).
        attached = word[2:] if word.startswith("-") and not word.startswith("--") else ""
        for value in dict.fromkeys((word, word.partition("=")[2], attached)):
            if utf8_text(value) != value:  # it holds such a byte (repr escapes the rest)
                message = message.replace(repr(value), quoted(value))
    return " ".join(message.split())


@click.group(cls=OneLineErrors)
@click.version_option(__version__, prog_name="tinyslm")
def cli() -> None:
    """Turn labelled voice-command phrases into offline TFLM firmware."""


# --- train ---


@cli.command("train")
@click.argument("data", required=False, type=_DataName(path_type=Path))
@click.option(
    "-o",
    "--out",
    "--output",  # generate's and report's spelling: the same concept, either name
    type=_PathName(path_type=Path),
    default=Path("model"),
    show_default=True,
    help="Output folder for model.tflite and manifest.json.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace the model in an existing tinyslm model folder (nothing else is touched).",
)
@train_options
@keyword_options
@click.option(
    "--no-report",
    is_flag=True,
    help="Do not write report.json and report.html (saves scoring the held-out split again).",
)
# The rule train's refusal points to: a --json file in the model folder is not the model's.
@json_option(JSON_HELP + " Not inside the model folder (-o), nor a folder it goes in.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary table.")
@friendly_errors
def train_command(
    data: Path | None,
    out: Path,
    force: bool,
    no_report: bool,
    json_out: Path | None,
    quiet: bool,
    **knobs: Any,
) -> None:
    """Train, quantize (INT8) and verify (TFLM) a classifier on DATA (default: demo set).

    DATA is a text intent dataset (.csv, .tsv, .jsonl, CLINC .json) or an audio keyword
    dataset (a folder in the Speech Commands layout, or a .csv/.jsonl list of WAV
    files); left out, or 'demo' where no file or folder has that name, it is the bundled
    demo set. Writes model.tflite, manifest.json and (unless --no-report)
    report.json and report.html (open it in a browser; 'tinyslm report' redraws it).
    """
    from tinyslm.audio.options import KEYWORD_ONLY, audio_config, refuse_keyword_options
    from tinyslm.modality import AUDIO, modality_of_data
    from tinyslm.pipeline import check_model_target, format_train_table, run_train, train_data
    from tinyslm.text.dataset import check_has_rows, load_dataset
    from tinyslm.train_options import refuse_distill_options_without_distill, train_to_budget

    data = train_data(data)  # 'demo': the bundled set, as eval and emulate --data take it
    check_json_target(json_out, (data, *(knobs.get("extra_train") or ())))
    if json_out is not None and not json_to_stdout(json_out):
        from tinyslm.outdir import real_path

        json_real, out_real = real_path(json_out), real_path(out)
        if json_real == out_real or out_real in json_real.parents:
            raise click.UsageError(
                "--json names a file inside the model folder, or the folder itself; "
                "put it elsewhere"
            )
        if json_real in out_real.parents:
            raise click.UsageError(
                "--json names a folder the model folder goes in; give a file name"
            )
    # With --json -, stdout is the JSON alone.
    text_err = json_to_stdout(json_out)

    def say(line: str) -> None:
        click.echo(line, err=text_err)

    def run(config: Any, again: bool, accept: Any = None) -> Any:
        # The budget check (accept) runs before anything is written, so a retry one
        # size smaller finds the folder as the user left it.
        return run_train(
            data,
            out,
            config,
            force=force,
            log=None if quiet else say,
            warn=lambda message: _tell("warning", message),
            report=not no_report,
            accept=accept,
        )

    def check_out() -> None:
        # After the options (an option the data cannot take is the first thing wrong),
        # before the data is read and sized: a bad -o was refused only after the sizing
        # line.
        check_model_target(out, force, data, tuple(knobs.get("extra_train") or ()))

    explicit = [name for name in knobs if _given(name)]
    if modality_of_data(data).name == AUDIO:
        # Keyword models have named sizes, not a budget-sized hash table.
        config = audio_config(knobs, explicit)
        check_out()
        result = run(config, False)
    else:
        if data is not None and any(n in KEYWORD_ONLY for n in explicit):
            # A file with no row names no .wav either, so it is taken for text: its being
            # empty (or missing) is what is wrong, not the keyword option.
            check_has_rows(data)
        refuse_keyword_options(explicit)
        refuse_distill_options_without_distill(knobs, explicit)
        check_out()
        result = train_to_budget(
            knobs,
            lambda: load_dataset(data, seed=knobs["seed"]),
            run,
            (lambda _: None) if quiet else say,
        )
    say(format_train_table(result))
    emit_json(json_out, result.summary())


# --- emulate / build / flash / monitor ---


@cli.command()
@click.argument("project_dir", type=_PathName(path_type=Path))
@click.option(
    "--text",
    help="Send one line; print the device's JSON line (keyword projects: a command, e.g. ':info').",
)
@click.option(
    "--data",
    "data_file",
    type=_DataName(path_type=Path),
    help="Run a dataset (.csv/.tsv/.jsonl/.json; a keyword dataset for a keyword project) through "
    "the firmware path and print figures ('demo': the bundled demo set, which 'generate' "
    "without --model trains on, unless a file or folder named demo is here).",
)
@click.option(
    "--wav",
    "wav_file",
    type=_PathName(path_type=Path),
    help="Keyword projects: stream a 16 kHz mono 16-bit WAV through the firmware and print "
    "its detection lines.",
)
@click.option(
    "--split",
    type=click.Choice(["test", "val", "train", "all"]),
    default="test",
    show_default=True,
    help="Which split of --data to run.",
)
@json_option("With --data: write the figures as JSON to this file; '-' prints them to stdout.")
@click.option(
    "--native",
    is_flag=True,
    help="Run a native build of the project (core + TFLM C++) instead of the Python runtime.",
)
@click.option(
    "--qemu",
    is_flag=True,
    help="Run the firmware built for Cortex-M7 (CMSIS-NN) on QEMU's mps2-an500 instead.",
)
@click.option(
    "--tflm-dir",
    type=_PathName(path_type=Path),
    help="TFLM source tree: host for --native, Cortex-M7 for --qemu (default for --native: "
    "the 'tinyslm tflm fetch --target host' cache, never the project's lib/tflm, which is "
    "a Cortex-M7 tree; for --qemu: the project's lib/tflm where it has one, else the "
    "'tinyslm tflm fetch' cache).",
)
@click.option(
    "--coverage", is_flag=True, help="Build the core with gcov and print its line coverage."
)
@host_options
@friendly_errors
def emulate(
    project_dir: Path,
    text: str | None,
    data_file: Path | None,
    wav_file: Path | None,
    split: str,
    json_out: Path | None,
    native: bool,
    qemu: bool,
    tflm_dir: Path | None,
    coverage: bool,
    host_model: Path | None,
    host_cmd: str | None,
    host_act: bool,
    host_timeout: float,
) -> None:
    """Run a generated project's firmware on this machine.

    With --text, one line in and the device's line out; with --data, a whole
    dataset with accuracy, escalation and timing (keyword projects: detections,
    false accepts per hour, false rejections, parity with verify's loop); with
    --wav (keyword projects), a recording in and the device's detection lines
    out; otherwise an interactive loop (stdin lines in, device lines out; pipes
    work too; --native and --qemu read all of stdin first and answer its lines
    at its end, Ctrl-D at a terminal). With --host-model or --host-cmd (text
    projects, --text or the loop), each escalated phrase is answered on the
    host as well, as 'tinyslm monitor' does for a board: a {"host":...} line
    after the device's.
    """
    import os

    hosted = host_model is not None or host_cmd is not None
    if hosted and (data_file is not None or wav_file is not None):
        raise click.UsageError("--host-model/--host-cmd work with --text or the interactive loop")

    if sum(x is not None for x in (text, data_file, wav_file)) > 1:
        raise click.UsageError("give one of --text, --data and --wav")
    if text is not None and ("\n" in text or "\r" in text):
        # The device ends a line at either: one --text became two lines and two answers.
        raise click.UsageError(
            "--text holds a line break: give one line (pipe several lines in instead)"
        )
    if text is not None and not os.fsencode(text).strip(b" \t\v\f"):
        # The firmware ignores a line of only these (tinyslm_core.c, is_blank; a keyword
        # app skips a line that holds no command): one --text answered with silence.
        raise click.UsageError(
            "--text is blank: the firmware ignores a blank line, so nothing would be printed"
        )
    if json_out is not None and data_file is None:
        raise click.UsageError("--json needs --data")
    # Given where they do nothing, they were ignored: a typo'd --tflm-dir went unseen.
    _refuse_unless("split", data_file is not None, "--data")
    _refuse_unless("tflm_dir", native or qemu, "--native or --qemu")
    if native and coverage:
        raise click.UsageError("--coverage measures the shared-library emulator, not --native")
    if qemu and (native or coverage):
        raise click.UsageError("--qemu cannot be combined with --native or --coverage")
    check_json_target(json_out, (data_file,), "the --data file")  # before the run
    engine = "native" if native else "qemu" if qemu else "emulator"
    if data_file is not None:
        _emulate_data(project_dir, data_file, split, engine, tflm_dir, coverage, json_out)
        _qemu_note(project_dir, engine)
        return
    from tinyslm.emulate.keywords import is_keyword_project

    if is_keyword_project(project_dir):
        if hosted:
            raise click.UsageError(
                "--host-model/--host-cmd need a text project: a keyword project never escalates"
            )
        _emulate_keywords(project_dir, engine, tflm_dir, text, wav_file, coverage)
        _qemu_note(project_dir, engine)
        return
    if wav_file is not None:
        raise click.UsageError("--wav needs a keyword project (generated from a keyword model)")

    escalation = make_escalation(host_model, host_cmd, host_timeout)  # before the build
    _emulate_text(project_dir, native, qemu, tflm_dir, text, coverage, escalation, host_act)
    _qemu_note(project_dir, engine)


def _qemu_note(project_dir: Path, engine: str) -> None:
    """After a --qemu run of a project whose board is not a Cortex-M7 (ESP32's Xtensa):
    one line on stderr saying QEMU ran a stand-in for its CPU."""
    if engine != "qemu":
        return
    from tinyslm.emulate.qemu import stand_in_note
    from tinyslm.project import open_project

    note = stand_in_note(open_project(project_dir).board)
    if note is not None:
        click.echo(note, err=True)


def _emulate_data(
    project_dir: Path,
    data_file: Path,
    split: str,
    engine: str,
    tflm_dir: Path | None,
    coverage: bool,
    json_out: Path | None,
) -> None:
    """emulate --data: the figures (text: with the engine, the unit of its timings and
    parity with the Python TFLM reference); one error line when the answers differ."""
    from tinyslm.errors import ModelError
    from tinyslm.pipeline import EmulateConfig, run_emulate

    result = run_emulate(
        EmulateConfig(project_dir, data_file, split, engine, tflm_dir, coverage=coverage)
    )
    for warning in result.warnings:
        _tell("warning", warning)
    click.echo(result.text, err=json_to_stdout(json_out))
    emit_json(json_out, result.summary)
    if result.coverage is not None:
        cov = result.coverage
        click.echo(
            f"{cov.file} line coverage: {cov.percent:.1f}% "
            f"({cov.lines_executed}/{cov.lines_total} lines)",
            err=True,
        )
    if result.failure is not None:
        raise ModelError(result.failure)


def _emulate_text(
    project_dir: Path,
    native: bool,
    qemu: bool,
    tflm_dir: Path | None,
    text: str | None,
    coverage: bool,
    escalation: Escalation | None = None,
    host_act: bool = True,
) -> None:
    """emulate on a text project: --text (one line), or stdin's lines (interactive with
    the shared-library emulator: each line answered as it is typed); each escalated
    line is followed by the host's answer when ``escalation`` is given."""
    import contextlib
    import os
    import re
    import tempfile

    from tinyslm.emulate.emulator import Emulator, check_compiled_settings, emulator_runner
    from tinyslm.escalate import foreign_intents_warning, reply_to
    from tinyslm.project import open_project

    if native or qemu:
        # The host emulator checks its own settings; these builds read nothing back, and
        # a hand-edited threshold was answered at the edited level.
        check_compiled_settings(project_dir)
    manifest = open_project(project_dir).manifest if escalation is not None else None
    if manifest is not None:
        # Once, before the first phrase: ':do alarm_set' answered unknown_intent by a
        # project without that intent read as a fault of the device's.
        foreign = foreign_intents_warning(escalation, manifest.labels)
        if foreign is not None:
            _tell("warning", foreign)

    # The host's ":do <intent>" lines go into the firmware's line buffer between lines:
    # stdin is fed in chunks, and one fed while a chunk's last line was half read was
    # glued to it ("turn o:do lights_on" answered locally as lights_on). Held here until
    # the line in progress ends.
    held_acts: list[bytes] = []
    mid_line = [False]

    def act(data: bytes) -> None:
        # ":do <intent>" back into the firmware; it never escalates, so no loop.
        for out in run([data.rstrip(b"\n")]):
            click.echo(out)

    def show(line: str) -> None:
        click.echo(line)
        reply = reply_to(escalation, line) if escalation is not None else None
        if reply is None:
            return
        click.echo(reply.line)
        if host_act and reply.act is not None:
            if mid_line[0]:
                held_acts.append(reply.act)
            else:
                act(reply.act)

    def feed(emulator: Emulator, data: bytes) -> None:
        """``data`` into the emulator, each held act right after the line in progress ends."""
        while data:
            cut = len(data)
            if held_acts:
                end = re.search(rb"[\r\n]", data)
                cut = end.end() if end is not None else cut
            head, data = data[:cut], data[cut:]
            mid_line[0] = not head.endswith((b"\n", b"\r"))
            for line in emulator.feed(head):
                show(line)
            if not mid_line[0]:
                while held_acts:
                    act(held_acts.pop(0))

    run: Callable[[Sequence[bytes]], list[str]]
    emulator = None
    # Only a coverage build needs a folder for its gcov files.
    with (
        tempfile.TemporaryDirectory(prefix="tinyslm-cov-")
        if coverage
        else contextlib.nullcontext("")
    ) as cov_tmp:
        if native:
            from tinyslm.emulate.native import run_native
            from tinyslm.toolchain.host import resolve_host_tree

            # --tflm-dir, else the 'tinyslm tflm fetch --target host' cache; one line if neither.
            native_tree = resolve_host_tree(tflm_dir)

            def run(lines: Sequence[bytes]) -> list[str]:
                return list(run_native(project_dir, native_tree, list(lines)))

        elif qemu:
            from tinyslm.emulate.qemu import check_tools, run_qemu
            from tinyslm.toolchain.cortex_m import resolve_cortex_m_tree

            check_tools()
            # --tflm-dir, else lib/tflm, else the (Cortex-M7) fetch cache; one line if none.
            qemu_tree = resolve_cortex_m_tree(tflm_dir, project_dir)

            def run(lines: Sequence[bytes]) -> list[str]:
                return run_qemu(project_dir, qemu_tree, list(lines))

        else:
            emulator = Emulator(project_dir, coverage_dir=Path(cov_tmp) if coverage else None)
            run = emulator_runner(emulator)

        try:
            if text is not None:
                # The bytes as typed: an argument that is not valid UTF-8 reaches Python
                # surrogate-escaped, and the device answers such bytes with U+FFFD.
                for line in run([os.fsencode(text)]):
                    show(line)
            elif emulator is not None:
                if _stdin().isatty():
                    _echo_err(
                        f"tinyslm emulator: {emulator.project.board} project {project_dir}; type a "
                        "phrase or :info, Ctrl-D to quit"
                    )
                for chunk in _stdin_chunks(_stdin()):
                    feed(emulator, chunk)
                if mid_line[0]:  # a last line without terminator
                    feed(emulator, b"\n")
            else:
                if _stdin().isatty():
                    # These engines run the firmware once on every line: a typed line
                    # alone got no answer, with nothing said why.
                    engine = "--native" if native else "--qemu"
                    click.echo(
                        f"tinyslm emulate {engine}: type phrases, one a line; they are "
                        "run and answered together at Ctrl-D",
                        err=True,
                    )
                # "\r" ends a line as "\n" does, as on the device.
                lines = re.split(rb"[\r\n]", _stdin().read())
                for line in run([ln for ln in lines if ln]):
                    show(line)

            if emulator is not None and coverage:
                cov = emulator.coverage()
                click.echo(
                    f"{cov.file} line coverage: {cov.percent:.1f}% "
                    f"({cov.lines_executed}/{cov.lines_total} lines)",
                    err=True,
                )
        finally:
            # gcov's last write, while its folder still exists (on an error or Ctrl-C too).
            if emulator is not None:
                emulator.close()


def _stdin() -> BinaryIO:
    """Standard input as bytes; a closed one (``<&-``: Python's ``sys.stdin`` is None) is a
    usage error, not an AttributeError."""
    if sys.stdin is None:
        raise click.UsageError("standard input is closed: give --text, or pipe the lines in")
    return sys.stdin.buffer


def _emulate_keywords(
    project_dir: Path,
    engine: str,
    tflm_dir: Path | None,
    text: str | None,
    wav_file: Path | None,
    coverage: bool,
) -> None:
    """emulate on a keyword project: --wav (detections, parity on stderr), --text (a
    command such as :info), or stdin's bytes (framed audio and commands) as they are."""
    import os
    import tempfile

    from tinyslm.emulate import keywords as kws
    from tinyslm.errors import ModelError

    if coverage:
        raise click.UsageError("--coverage measures the text core, not a keyword project")
    if text is not None and not text.startswith(":"):
        # The keyword app reads audio frames; other bytes between frames are skipped in
        # silence, so a phrase would print nothing at all.
        raise click.UsageError(
            "a keyword project hears audio: --text takes a command such as ':info';"
            " stream a recording with --wav"
        )
    if text is not None and any(b >= 0x80 for b in os.fsencode(text)):
        # Commands are ASCII: the app takes such a byte for the start of an audio frame and
        # drops the command unanswered (tinyslm_kws_app_feed).
        raise click.UsageError(
            "--text holds a non-ASCII byte: keyword commands are ASCII, and the keyword app "
            "ends a command at such a byte without an answer, so nothing would be printed"
        )
    samples = None
    if wav_file is not None:
        from tinyslm.audio.wav import read_wav

        samples = read_wav(wav_file)  # refused in one line before anything is built
    from tinyslm.audio.spec import KeywordSpec

    project, manifest = kws.keyword_project(project_dir)
    memo: kws.ScoreMemo = {}
    with tempfile.TemporaryDirectory(prefix="tinyslm-emulate-") as tmp:
        runner = kws.keyword_runner(project_dir, engine, Path(tmp), tflm_dir=tflm_dir, memo=memo)
        if samples is not None:
            from tinyslm.project import read_model_bytes

            run = kws.run_wav(runner, manifest, read_model_bytes(project), samples, memo)
            for line in run.lines:
                click.echo(line)
            p = run.parity
            verdict = "identical" if p.identical else "DIFFERENT"
            _echo_err(
                # Two decimals, as the too-short warning below gives the length (1.4 s
                # read as long enough beside "1.38 s ... needs 1.39 s").
                f"{engine}: {wav_file} ({run.seconds:.2f} s): {p.device} detection"
                f"{'' if p.device == 1 else 's'}; parity with "
                f"verify's Python loop: {verdict} ({p.matching}/{p.reference} identical)"
            )
            spec = manifest.features
            if isinstance(spec, KeywordSpec) and len(samples) < spec.shortest_detection_samples:
                # The first thing a user tries is one 1 s clip; say why nothing fired.
                need = spec.shortest_detection_samples / spec.frontend.sample_rate
                click.echo(
                    f"warning: {run.seconds:.2f} s is too short for a detection: the detector "
                    f"averages {spec.average} inferences {spec.stride_ms} ms "
                    f"apart over a {spec.window_samples / spec.frontend.sample_rate:g} s window, "
                    f"so it needs {need:.2f} s; pad a one-word clip with silence on both sides "
                    "(sox in.wav out.wav pad 0.5 0.5)",
                    err=True,
                )
            if not p.identical:
                # The one error line, after the lines and the verdict it sums up.
                raise ModelError(
                    f"{engine}: the firmware's detections on {wav_file} differ from verify's "
                    f"Python loop ({p.matching}/{p.reference} identical, device made "
                    f"{p.device}{', with error lines' if p.errors else ''})"
                )
        elif text is not None:
            for line in runner(os.fsencode(text) + b"\n"):
                click.echo(line)
        else:
            for line in runner(_stdin().read()):
                click.echo(line)


def _stdin_chunks(stream: Any) -> Iterator[bytes]:
    """Bytes from a binary stream as soon as they arrive.

    Not ``readline()``: the device ends a line at a lone ``\r`` too, and a line
    sent with ``\r`` only must be answered without waiting for a ``\n``.
    """
    read = getattr(stream, "read1", None)
    while True:
        chunk = read(4096) if read is not None else stream.readline()
        if not chunk:
            return
        yield chunk


@cli.command()
@click.argument("project_dir", type=_PathName(path_type=Path))
@json_option()
@friendly_errors
def build(project_dir: Path, json_out: Path | None) -> None:
    """Build a generated project with PlatformIO and report flash/RAM against the board."""
    from tinyslm.toolchain import build as build_mod

    check_json_target(json_out)
    err = json_to_stdout(json_out)
    # PlatformIO's own output is streamed to stderr; the figures go to stdout.
    result = build_mod.build(
        project_dir,
        log=lambda line: click.echo(line, err=True),
        warn=lambda message: _tell("warning", message),
    )
    # The path as every error shows it: a raw undecodable byte was a traceback on stdout.
    built = f"built {one_line(str(result.project))} for {result.board}"
    click.echo(f"{built} in {result.seconds:.1f} s", err=err)
    for use in (result.flash, result.ram):
        if use is not None:
            click.echo(build_mod.format_usage(use), err=err)
    if result.flash is None and result.ram is None:
        click.echo("PlatformIO printed no RAM/Flash size lines", err=err)
    emit_json(json_out, build_mod.build_summary(result))


@cli.command()
@click.argument("project_dir", type=_PathName(path_type=Path))
@click.option(
    "--port",
    callback=_port_given,
    help="Serial port of the board (default: PlatformIO picks).",
)
@friendly_errors
def flash(project_dir: Path, port: str | None) -> None:
    """Build and upload a generated project to a connected board (pio run -t upload)."""
    from tinyslm.toolchain import build as build_mod

    build_mod.upload(
        project_dir,
        port,
        log=lambda line: click.echo(line, err=True),
        warn=lambda message: _tell("warning", message),
    )
    click.echo(f"flashed {one_line(str(project_dir))}; talk to it with 'tinyslm monitor'")


@cli.command()
@click.option(
    "--port",
    callback=_port_given,
    help="Serial port or pyserial URL (default: the only USB serial port present).",
)
# Baud 0 is "hang up" to a POSIX tty, and pyserial overflowed past a C int.
@click.option(
    "--baud",
    type=click.IntRange(1, 10_000_000),
    default=115200,
    show_default=True,
    help="Baud rate.",
)
@click.option("--raw", is_flag=True, help="Print the device's JSON lines unformatted.")
@click.option(
    "--wav",
    "wav_file",
    type=_PathName(path_type=Path),
    help="Keyword boards: play this 16 kHz mono 16-bit WAV as framed audio and print the "
    "detections.",
)
@click.option(
    "--fast",
    is_flag=True,
    help="With --wav: send as fast as the port takes it, not at real time.",
)
@host_options
@friendly_errors
def monitor(
    port: str | None,
    baud: int,
    raw: bool,
    wav_file: Path | None,
    fast: bool,
    host_model: Path | None,
    host_cmd: str | None,
    host_act: bool,
    host_timeout: float,
) -> None:
    """Talk to a flashed board: type phrases, see its answers (Ctrl-D or Ctrl-C quits).

    With --host-model or --host-cmd, each phrase the board escalates is answered on
    this machine too. With --wav, play a recording into a keyword board and print its
    detections.
    """
    from tinyslm import monitor as monitor_mod

    status = _echo_err  # the port's and the recording's names
    if wav_file is not None:
        if host_model is not None or host_cmd is not None:
            raise click.UsageError("--host-model/--host-cmd answer escalated phrases, not --wav")
        monitor_mod.monitor_wav(
            wav_file, port, baud, echo=click.echo, raw=raw, pace=not fast, status=status
        )
        return
    if fast:
        raise click.UsageError("--fast needs --wav")
    escalation = make_escalation(host_model, host_cmd, host_timeout)  # before the port
    monitor_mod.monitor(
        port,
        baud,
        echo=click.echo,
        raw=raw,
        status=status,
        escalation=escalation,
        host_act=host_act,
    )


# --- generate / boards ---


@cli.command("generate")
@click.option(
    "--board",
    required=True,
    # A choice, as train's --board is: one message for an unknown board on both.
    type=click.Choice(board_ids()),
    help="Board id (see 'tinyslm boards').",
)
@click.option(
    "--model",
    "model_dir",
    type=_PathName(path_type=Path, file_okay=False),
    help="A 'tinyslm train' output folder (default: train on the demo set first).",
)
@click.option(
    "-o",
    "--output",
    "--out",  # train's and synth's spelling: the same concept, either name
    type=_PathName(path_type=Path),
    help="Project folder (default: projects/<board>/ under the current directory).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Regenerate an existing project: replace its generated files, keep your own "
    "files and .pio/.",
)
@click.option(
    "--prune",
    is_flag=True,
    help="With --force, also remove generated files the new project no longer has.",
)
@click.option(
    "--tflm-dir",
    type=_PathName(path_type=Path),
    help="TFLM source tree to copy into lib/tflm (boards that build TFLM from source).",
)
@click.option(
    "--mic-pin",
    "mic_pins",
    multiple=True,
    metavar="SIGNAL=PIN",
    help="Keyword projects: move a microphone signal to another pin (repeatable), e.g. "
    "ws=GPIO32 on ESP32 or sd=PD6:AF6 on STM32H7; the README's wiring table follows.",
)
@click.option(
    "--threshold",
    type=FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    show_default="the trained one",
    help="Confidence threshold for the firmware (the text gate's local answers, or the "
    "keyword detector's averaged score): another point on the report's curve, without "
    "retraining.",
)
@click.option(
    "--label-threshold",
    "label_thresholds",
    multiple=True,
    metavar="LABEL=P",
    help="A threshold of its own for one intent or keyword (repeatable), e.g. "
    "door_unlock=0.9: an intent is answered locally only when its score reaches P, a "
    "keyword fires only when its averaged score does; every other label keeps the "
    "model's (or --threshold's).",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="Print only the summary line (notes go to stderr)."
)
@friendly_errors
def generate_command(
    board: str,
    model_dir: Path | None,
    output: Path | None,
    force: bool,
    prune: bool,
    tflm_dir: Path | None,
    mic_pins: tuple[str, ...],
    threshold: float | None,
    label_thresholds: tuple[str, ...],
    quiet: bool,
) -> None:
    """Emit a PlatformIO project that runs the model offline on the --board."""
    from tinyslm.operating_point import (
        check_label_reachable,
        check_reachable,
        parse_label_thresholds,
    )
    from tinyslm.pipeline import run_generate

    if prune and not force:
        raise click.UsageError("--prune only applies with --force")
    own = parse_label_thresholds(label_thresholds)  # LABEL=P typos fail before training
    if threshold is not None:
        check_reachable(threshold, f"--threshold {threshold:g}")
    for label, p in own.items():
        try:
            check_label_reachable(label, p)
        except TinySlmError:
            if model_dir is None or "=" not in label or label not in _model_labels(model_dir):
                raise
            # 'temp=20=1.5' for a model with the label 'temp=20' is that label with a P out
            # of range, not two thresholds in one option (which is all that can be told
            # before the model is known): say so, naming the label, since the item alone
            # does not show which '=' ends it.
            check_reachable(p, f"--label-threshold {label}={p:g} (label {label!r}, P {p:g})")
            raise
    result = run_generate(
        board,
        output,
        model_dir=model_dir,
        force=force,
        prune=prune,
        tflm_dir=tflm_dir,
        mic_pins=mic_pins,
        threshold=threshold,
        label_thresholds=own,
        log=None if quiet else _progress,
    )
    try:
        _say_generated(result, quiet)
    except OSError as exc:
        # The project is complete; a bare "No space left on device" (stdout on a full
        # disk, or a closed pipe with -q) read as if the project could not be written.
        raise OutputError(
            f"{one_line(str(result.out))} was written, but printing what was done failed: "
            f"{exc.strerror or exc}"
        ) from None


def _progress(line: str) -> None:
    """generate's progress lines; what a failed print means (nothing is written yet)."""
    try:
        click.echo(line)
    except OSError as exc:
        raise OutputError(f"cannot print to standard output: {exc.strerror or exc}") from None


def _say_generated(result: GenerateRunResult, quiet: bool) -> None:
    """generate's notes (stderr) and its summary line, after the project was written."""
    for note in result.notes:
        _tell("note", note)  # stdout is the summary line alone with -q
    tree = " + lib/tflm" if result.tflm_tree is not None else ""
    report = result.report
    # A note like the others: -q prints only the summary line on stdout (its help says
    # notes go to stderr), and this one dropped under -q alone.
    if report is not None and report.started:
        what = "keyword it hears" if result.modality == "audio" else "answer"
        for path in report.started:
            _tell(
                "note",
                f"{path} is yours: what the board does on each {what}; generate never replaces it",
            )
    if report is not None and not report.created:
        # What regenerating did, file by file (as copier's update does).
        # A starter written again (the user had deleted it) is a file added too: the
        # summary said "0 added" of it.
        started = [f"{path} (yours from now on)" for path in report.started]
        if not quiet:
            for label, paths in (
                ("changed", report.changed),
                ("added", [*report.added, *started]),
                ("removed", report.removed),
            ):
                for path in paths:
                    click.echo(f"  {label:<9} {path}")
        prunable = [rel for rel in report.stale if rel not in report.stale_edited]
        if prunable:
            _tell(
                "note",
                "no longer generated, kept (remove with --force --prune): " + ", ".join(prunable),
            )
        edited = [rel for rel in report.stale_edited if rel not in report.stale_unlisted]
        if edited:
            # --prune keeps these too: saying "remove with --force --prune" after the
            # user had just passed both was the wrong reason.
            _tell(
                "note",
                "no longer generated, kept because edited since tinyslm wrote them "
                "(remove them yourself if unneeded): " + ", ".join(edited),
            )
        if report.stale_unlisted:
            _tell(
                "note",
                "no longer generated, kept because the record, written before round 32, lists "
                "none of their files, so they may hold yours (remove them yourself if "
                "unneeded): " + ", ".join(report.stale_unlisted),
            )
        kept = f", kept {len(report.kept)} of yours" if report.kept else ""
        click.echo(
            f"updated {one_line(str(result.out))}{tree}: {len(report.changed)} changed, "
            f"{len(report.added) + len(started)} added, {len(report.unchanged)} unchanged, "
            f"{len(report.removed)} removed{kept}; "
            f"board {result.board}, model {result.model_bytes} bytes, arena "
            f"{result.arena_size} bytes"
        )
        return
    # Every file that landed: the generated ones, the starters written (the user's from
    # now on) and the record of what tinyslm wrote; "26 files" was said of 28.
    written = len(result.files) + (len(report.started) + 1 if report is not None else 0)
    click.echo(
        f"wrote {one_line(str(result.out))} ({written} files{tree}): board {result.board}, "
        f"model {result.model_bytes} bytes, arena {result.arena_size} bytes"
    )


def _model_labels(model_dir: Path) -> tuple[str, ...]:
    """The labels of the model in ``model_dir``; none when it cannot be read (generate
    then says why, once it loads the model)."""
    from tinyslm.manifest import load_model_dir

    try:
        manifest, _ = load_model_dir(model_dir, probe_arena=False)
    except (TinySlmError, OSError):
        return ()
    return manifest.labels


@cli.command("boards")
@friendly_errors
def boards_command() -> None:
    """List the boards 'tinyslm generate' knows."""
    from tinyslm.boards import format_board_table, load_boards

    click.echo(format_board_table(load_boards()))


@cli.command("report")
@click.argument("path", type=_PathName(path_type=Path))
@click.option(
    "-o",
    "--output",
    "--out",  # train's and synth's spelling: the same concept, either name
    # A str, not a Path: Path("") is ".", and '-o ""' was refused as the folder '.'.
    type=_OutName(dir_okay=False),
    default="report.html",
    show_default=True,
    help="The HTML file to write (self-contained: open it in any browser, offline).",
)
@click.option(
    "--data",
    # A folder is accepted here so that report says what it holds (keyword data, as eval
    # says), not click's bare "is a directory".
    type=_DataName(path_type=Path),
    metavar="FILE",
    help="Text models only: measure the figures on this dataset's held-out split (for a "
    "project, or a model folder without report.json; 'demo': the bundled demo set, which "
    "'generate' without --model trains on, unless a file or folder named demo is here). "
    "A keyword model's report is drawn "
    "from the report.json train wrote into its model folder.",
)
@friendly_errors
def report_command(path: Path, output: str, data: Path | None) -> None:
    """Draw the HTML report of a model folder or a generated project (PATH).

    Text: per-intent precision and recall, confusion heatmap and the most confused
    pairs, threshold curve, size breakdown against the boards, training curves.
    Keywords: per-keyword accuracy, confusions, false accepts and false rejections
    against the detector threshold, size breakdown, training curves; drawn from the
    model folder's report.json (a keyword model takes no --data).
    """
    from tinyslm.pipeline import run_report

    if not output:
        raise OutputError("-o is empty: give the HTML file to write, e.g. -o report.html")
    # '-' is stdout for --json, but the page is refused there rather than printed: it is
    # written whole or not at all (a temporary file renamed over the target), which a
    # pipe cannot be (an interrupted 'report -o - > r.html' leaves half a page), and it
    # is 150 kB of HTML for a browser, not the terminal. It was written to a file named
    # '-'. A file of that name is still reachable as -o ./-.
    if output == "-":
        raise OutputError(
            "-o -: report writes the page to a file, not to stdout; give a file name, "
            "e.g. -o report.html"
        )
    # As --json's: 'report -o newdir/' wrote a file named newdir (Path() drops the '/').
    folder = names_folder(output)
    if folder is not None:
        raise OutputError(f"-o {folder}, e.g. -o {os.path.join(output, 'report.html')}")
    result = run_report(path, Path(output), data=data)
    # As the other "wrote" lines: a path's undecodable byte as the shell shows it (raw, it
    # was a UnicodeEncodeError on a terminal whose stdout is strict UTF-8, the page written).
    click.echo(f"wrote {one_line(str(result.out))} (figures from {one_line(result.source)})")


@cli.command("info")
@click.argument("path", type=_PathName(path_type=Path))
@json_option("Write the information as JSON to this file; '-' prints it to stdout alone.")
@friendly_errors
def info_command(path: Path, json_out: Path | None) -> None:
    """Intents, sizes, arena, threshold, ops and the boards a model folder or project fits."""
    from tinyslm.info import format_info, model_info

    check_json_target(json_out)
    info = model_info(path)
    # With --json - the text moves to stderr, as every --json command does.
    click.echo(format_info(info), err=json_to_stdout(json_out))
    emit_json(json_out, info.to_dict())


# --- eval / synth ---


@cli.command("eval")
@click.argument("model_dir", type=_PathName(path_type=Path))
@click.argument("data", type=_DataName(path_type=Path))
@click.option(
    "--split",
    type=click.Choice(["test", "val", "train", "all"]),
    default="test",
    show_default=True,
    help="Which split of DATA to score (a file without a split column is split with the "
    "model's seed, as in training; 'all' scores every phrase).",
)
@json_option()
@friendly_errors
def eval_command(model_dir: Path, data: Path, split: str, json_out: Path | None) -> None:
    """Score a trained model (MODEL_DIR) on another dataset of its kind (DATA), on TFLM.

    DATA 'demo' is the bundled demo set, which 'generate' without --model trains on
    (unless a file or folder named demo is in the current folder).

    Text: train's figures (accuracy, accuracy at the model's threshold, escalation,
    out-of-scope recall) next to the ones train recorded, and the weakest intents.
    Keywords: clip accuracy, and false rejections and false accepts per hour of the
    detector at the model's threshold on the split's streams.
    """
    from tinyslm.audio.evaluate import KeywordEvalResult, format_keyword_eval
    from tinyslm.evaluate import EvalConfig, format_eval, run_eval

    check_json_target(
        json_out,
        (data, model_dir / "manifest.json", model_dir / "model.tflite", model_dir / "tinyslm.json"),
    )
    err = json_to_stdout(json_out)
    result = run_eval(EvalConfig(model_dir, data, split))
    for warning in result.warnings:
        _tell("warning", warning)
    if isinstance(result, KeywordEvalResult):
        click.echo(format_keyword_eval(result), err=err)
    else:
        click.echo(format_eval(result), err=err)
    emit_json(json_out, result.summary())


def _bounds(name: str) -> str:
    """SynthConfig's limits of range ``name``, as --help says them ("0.1..10")."""
    least, most = RANGE_BOUNDS[name]
    return f"{least:g}..{most:g}"


def _range(text: str, option: str, bounds: tuple[float, float]) -> tuple[float, float]:
    """``LOW,HIGH`` (or one number for both) as a pair of floats within ``bounds``."""
    low, _, high = text.partition(",")
    try:
        pair = float(low), float(high or low)
    except ValueError:
        raise click.BadParameter(f"expected LOW,HIGH, got {text!r}", param_hint=option) from None
    if not all(math.isfinite(v) for v in pair):
        # nan passed every range check after this and was named by its field (rate_range).
        raise click.BadParameter(f"expected two finite numbers, got {text!r}", param_hint=option)
    least, most = bounds
    if not least <= pair[0] <= pair[1] <= most:
        # Checked here, not only by SynthConfig, whose line named its field (rate_range).
        raise click.BadParameter(
            f"expected {least:g} <= LOW <= HIGH <= {most:g}, got {text!r}", param_hint=option
        )
    return pair


# The defaults are SynthConfig's (tests/integration/test_cli_synth.py checks they
# agree); written out here so that 'tinyslm --help' does not import the audio stack.
@cli.command("synth")
@click.argument("words", nargs=-1, required=True)
@click.option(
    "-o",
    "--out",
    "--output",  # generate's and report's spelling: the same concept, either name
    "out_dir",
    type=_PathName(path_type=Path, file_okay=False),
    required=True,
    help="New (or empty) folder for the dataset (Speech Commands layout).",
)
@click.option(
    "--engine",
    "engines",
    multiple=True,
    type=click.Choice(["espeak-ng", "flite", "festival"]),
    help="TTS engine to use (repeatable).  [default: every one installed]",
)
@click.option(
    "--voice",
    "voices",
    multiple=True,
    metavar="SPEAKER",
    help="Keep only this voice, e.g. espeak-en-gb-f3, flite-slt (repeatable).  [default: all]",
)
@click.option(
    "--max-voices",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="At most this many voices per engine (the most different first); 0: all. Fewer "
    "than one engine's voices named with --voice is refused.",
)
@click.option(
    "--clips",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Clips of each word per voice.",
)
@click.option(
    "--unknown-clips",
    type=click.IntRange(min=0),
    default=6,
    show_default=True,
    help="_unknown_ clips per voice (near-misses and common words).",
)
@click.option(
    "--near-misses",
    type=click.IntRange(min=0),
    default=6,
    show_default=True,
    help="Near-miss words per keyword ('yes' -> 'yet', 'chess').",
)
@click.option(
    "--rate",
    default="0.8,1.25",
    show_default=True,
    help=f"Speaking-rate range LOW,HIGH, within {_bounds('rate_range')} (espeak-ng follows "
    "0.46..2.57).",
)
@click.option(
    "--pitch",
    default="0.85,1.2",
    show_default=True,
    help=f"Pitch factor range LOW,HIGH, within {_bounds('pitch_range')} (espeak-ng follows "
    "0.5..1.49, festival's diphone voices festival-kal and festival-ked 0.5..4.5: wider is "
    "refused when one speaks).",
)
@click.option(
    "--noise",
    type=FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Share of clips mixed with white/pink/brown noise.",
)
@click.option(
    "--snr",
    default="5,30",
    show_default=True,
    help=f"That noise's SNR range LOW,HIGH, dB, within {_bounds('snr_db_range')}.",
)
@click.option(
    "--reverb",
    type=FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Share of clips put in a synthetic room (RT60 0.1-0.6 s).",
)
@click.option(
    "--background-seconds",
    type=FloatRange(0, MAX_BACKGROUND_S),
    default=30.0,
    show_default=True,
    help="Length of each _background_noise_ file; 0: none.",
)
@click.option(
    "--seed",
    # train's range (what numpy's generators take): a negative or 77-bit seed was taken.
    type=click.IntRange(0, 2**32 - 1),
    default=0,
    show_default=True,
    help="Same words, seed, engines: same bytes.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Re-synthesize an earlier synth folder (clips you added there are kept).",
)
@friendly_errors
def synth_command(
    words: tuple[str, ...],
    out_dir: Path,
    engines: tuple[str, ...],
    voices: tuple[str, ...],
    max_voices: int,
    clips: int,
    unknown_clips: int,
    near_misses: int,
    rate: str,
    pitch: str,
    noise: float,
    snr: str,
    reverb: float,
    background_seconds: float,
    seed: int,
    force: bool,
) -> None:
    """Write a keyword dataset of WORD... spoken by offline TTS voices (for 'tinyslm train')."""
    from tinyslm.audio.spec import KeywordSpec
    from tinyslm.audio.synth import SynthConfig, long_phrase_note, synthesize

    # Given where they shape nothing, they were recorded in synth.json as if they had.
    _refuse_unless("near_misses", unknown_clips > 0, "--unknown-clips above 0")
    _refuse_unless("snr", noise > 0, "--noise above 0")
    config = SynthConfig(
        seed=seed,
        engines=engines,
        voices=voices,
        max_voices_per_engine=max_voices,
        clips_per_voice=clips,
        unknown_clips_per_voice=unknown_clips,
        near_misses=near_misses,
        rate_range=_range(rate, "'--rate'", RANGE_BOUNDS["rate_range"]),
        pitch_range=_range(pitch, "'--pitch'", RANGE_BOUNDS["pitch_range"]),
        noise_probability=noise,
        snr_db_range=_range(snr, "'--snr'", RANGE_BOUNDS["snr_db_range"]),
        reverb_probability=reverb,
        background_seconds=background_seconds,
    )
    # A long run says it started, then how far it is, on stderr (34 s said nothing).
    result = synthesize(
        words, out_dir, config, force=force, progress=lambda line: click.echo(line, err=True)
    )
    counts = ", ".join(f"{label} {n}" for label, n in result.clips)
    voices_used = len(result.speakers)
    click.echo(
        # As generate's "wrote" line: a raw undecodable byte ended the run in a traceback.
        f"wrote {one_line(str(result.out_dir))}: {counts} clips;"
        f" {voices_used} voice{'' if voices_used == 1 else 's'}"
        f" ({', '.join(result.engines)}) in {result.seconds:.0f} s"
        + (f"; kept {len(result.kept)} of yours" if result.kept else "")
    )
    kept_note = synth_kept_note(result.kept, [label for label, _ in result.clips])
    if kept_note:
        click.echo(for_terminal(kept_note), err=True)
    if result.fitted:
        were = (
            "clip was longer than the window at its rate and was"
            if result.fitted == 1
            else "clips were longer than the window at their rate and were"
        )
        click.echo(
            f"{result.fitted} {were} sped up"
            f" to fit (at most {result.max_fit_speed:.2f}x; 'fit_speed' in synth.json)",
            err=True,
        )
    note = long_phrase_note(result, KeywordSpec(window_samples=config.window_samples))
    if note:
        click.echo(for_terminal(note), err=True)
    if len(words) == 1:
        # Not refused: one word is a fine --extra-train set for a dataset that has it.
        click.echo(for_terminal(one_word_note(words[0], result.out_dir)), err=True)


def synth_kept_note(kept: Sequence[str], labels: Sequence[str]) -> str:
    """What ``synth --force`` kept of the user's (they were said nowhere), naming the
    word folders of theirs that hold no clip synthesized this time: ``train`` reads
    each as a label that the summary's counts leave out."""
    from tinyslm.audio.dataset import NOISE

    if not kept:
        return ""
    shown = ", ".join(kept[:_KEPT_SHOWN])
    if len(kept) > _KEPT_SHOWN:
        shown += f" and {len(kept) - _KEPT_SHOWN} more"
    note = f"note: kept {len(kept)} of yours: {shown}"
    # A kept clip's word folder, or a kept folder of the user's own (``maybe/``).
    clips = [
        p for p in kept if (p.count("/") == 1 and (p.lower().endswith(".wav") or p.endswith("/")))
    ]
    folders = sorted({p.split("/")[0] for p in clips} - {*labels, NOISE})
    if folders:
        names = ", ".join(f"{f}/" for f in folders)
        one = len(folders) == 1
        note += (
            f"; {names} {'is not a word' if one else 'are not words'} synthesized this time: "
            f"'tinyslm train' reads {'it as a label' if one else 'each as a label'} of your "
            "clips there"
        )
    return note


# synth --force's note names this many of the user's files kept, then counts the rest.
_KEPT_SHOWN = 5


def one_word_note(word: str, out_dir: Path) -> str:
    """What a one-word synthetic dataset is good for: 'tinyslm train' refuses it alone."""
    from tinyslm.errors import shell_word

    # Copy-pasted as it is printed: a path may hold spaces, or bytes that are not UTF-8.
    shown = shell_word(str(out_dir))
    return (
        f"note: one word only: 'tinyslm train {shown}' refuses a dataset of one keyword "
        f"(a keyword model needs at least 2); give more words, or use it as "
        f"'--extra-train {shown}' for a dataset that has {word!r}"
    )


# --- tflm ---


@cli.group("tflm")
def tflm_group() -> None:
    """TensorFlow Lite Micro source trees (for lib/tflm, emulate --native and emulate --qemu)."""


@tflm_group.command("fetch")
@click.option(
    "--target",
    type=click.Choice(["cortex-m7", "host"]),
    default="cortex-m7",
    show_default=True,
    help="cortex-m7: CMSIS-NN kernels for the STM32H7 board; host: reference kernels "
    "for 'tinyslm emulate --native'.",
)
@click.option(
    "--cache-dir",
    type=_PathName(path_type=Path, file_okay=False),
    help=f"Where to put the tree (default tflm/<commit>-<target> in {CACHE_RULE}).",
)
@click.option("--force", is_flag=True, help="Rebuild even if the tree is already there.")
@friendly_errors
def tflm_fetch_command(target: str, cache_dir: Path | None, force: bool) -> None:
    """Download the pinned tflite-micro and generate a TFLM tree (needs github.com)."""
    from tinyslm.toolchain.tflm import fetch

    tree = fetch(cache_dir, target=target, force=force, log=_echo_err)  # names the tree
    # stdout holds the tree's path alone, a value for scripts (--tflm-dir "$(tinyslm tflm
    # fetch)"), so it is the path's own bytes, as pwd and mktemp print a path. The line for
    # the eye (a byte that is not UTF-8 shown as \xff) is stderr's "TFLM tree ... at"; the
    # "wrote ..." lines on stdout are sentences no script takes a path from, shown so too.
    # Written as text, such a byte came out as Python had set stdout up: raw (C or POSIX
    # locale), a UnicodeEncodeError traceback (en_US.UTF-8: strict), "\udcff"
    # (backslashreplace) or "?" (ascii). A stdout that takes text only (io.StringIO: the
    # CLI run in-process under contextlib.redirect_stdout) has no bytes to take: click
    # wrote bytes to it anyway (TypeError, even for an ASCII path), so it gets the str,
    # which os.fsencode turns back into the same bytes.
    value = os.fsencode(tree) if hasattr(sys.stdout, "buffer") else str(tree)
    click.echo(value)


def main() -> None:
    # SIGTERM (kill, a CI timeout, systemd) and SIGHUP (the terminal closed) killed the
    # process without running a single finally block: an output folder being swapped was
    # left with the previous model in a staging folder, which then blocked --force. They
    # are handled as Ctrl-C is (KeyboardInterrupt: every cleanup runs, then one line
    # "error: interrupted"), with the usual exit code 128 + the signal's number. A signal
    # already ignored (nohup) stays ignored; a repeat (a supervisor sending it again) is
    # ignored too, so that it cannot cut the cleanup short (SIGKILL still stops it).
    #
    # Once the command has finished (its cleanups run, its exit status decided), only the
    # interpreter's exit is left: joining threads, atexit, module teardown (seconds, with
    # TensorFlow loaded). A signal there ends the process at once with the command's own
    # exit status (its output is complete): before, the handler raised KeyboardInterrupt
    # outside any command (a traceback from threading's shutdown or an atexit callback).
    # Exiting rather than ignoring keeps a hung exit stoppable by SIGTERM. After atexit,
    # CPython puts the default action back in place of Python handlers (_PySignal_Fini),
    # so a signal in module teardown killed the process with 143 and no error line;
    # SIG_IGN outlasts that reset, so it is set from atexit, for that last stretch only.
    import atexit
    import signal

    caught: list[int] = []
    finished: list[int] = []  # the command's exit status, once it has one
    wanted = [getattr(signal, name, None) for name in ("SIGTERM", "SIGHUP")]
    handled = [s for s in wanted if s is not None and signal.getsignal(s) == signal.SIG_DFL]

    def ignore() -> None:
        for sig in handled:
            signal.signal(sig, signal.SIG_IGN)

    def interrupt(signum: int, frame: object) -> None:
        ignore()
        if finished:
            for stream in (sys.stdout, sys.stderr):
                # A closed pipe or stream: nothing left to keep.
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            os._exit(finished[0])
        caught.append(signum)
        raise KeyboardInterrupt

    try:
        for sig in handled:
            signal.signal(sig, interrupt)
    except ValueError:  # main() called from another thread than the main one
        handled = []
    # Registered first, so it runs last (atexit is last in, first out): the callbacks the
    # command's imports register (TensorFlow's, multiprocessing's) run while a signal
    # still ends the process with the command's status, not while it is ignored.
    atexit.register(ignore)
    status = 1  # an exception other than SystemExit: Python exits with 1 for it
    try:
        cli()
        status = 0
    except SystemExit as exc:
        code = exc.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
        if caught and code == 130:
            status = 128 + caught[0]
            sys.exit(status)
        raise
    finally:
        finished.append(status)
        # Ctrl-C too: its KeyboardInterrupt in the exit killed the process by SIGINT
        # (exit 130 after a summary of success). Handled from here only, so that during
        # the command a second Ctrl-C still interrupts a cleanup, as it always has.
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            with contextlib.suppress(ValueError):  # not the main thread
                signal.signal(signal.SIGINT, interrupt)
                handled.append(signal.SIGINT)


if __name__ == "__main__":
    main()
