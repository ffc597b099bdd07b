"""ESP-IDF's sdkconfig files: options the build's configuration holds against sdkconfig.defaults.

ESP-IDF applies ``sdkconfig.defaults`` only to the options the build's existing
configuration does not hold; with PlatformIO that configuration is ``sdkconfig.<env>``
in the project folder, which the first build writes (and ``menuconfig`` edits). So a
``sdkconfig.defaults`` that ``generate --force`` rewrote (a text project made a keyword
one gains ``CONFIG_I2S_ISR_IRAM_SAFE=y``; a later tinyslm adds an option) is not what the
board is built with: the old values win, without a word from ESP-IDF. tinyslm never
edits or deletes ``sdkconfig.<env>`` (it may hold the user's own choices); generate and
build name what differs (:func:`stale_options`, :func:`describe`): generate every option,
once per regenerate; build and flash, on every run, only those the firmware needs
(:data:`REQUIRED`, :func:`required`), so a tuning choice made in menuconfig (a slower
clock, -Os, a quieter log level) is not warned of again and again. The configuration of an
env is the file its ``board_build.esp-idf.sdkconfig_path`` names (PlatformIO's ``${...}``
resolved as PlatformIO does), else ``sdkconfig.<env>`` (:func:`pio_configs`); an env whose
file only PlatformIO can name is said to be unchecked (:func:`unchecked_configs`). Only an
ESP-IDF board's build reads these files (:func:`board_stale_options`).

The module reads files only, so that build needs neither ESP-IDF nor the templates.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tinyslm.boards import Board

DEFAULTS = "sdkconfig.defaults"
# The framework whose build reads sdkconfig files (a board file's platformio options).
ESP_IDF = "espidf"
# Options named in one line before "and N more": the line stays readable.
SHOWN = 3
# A value longer than this (a string option) is cut short in that line.
SHOWN_CHARS = 40

# As kconfiglib (ESP-IDF's kconfgen) reads a configuration file: a set option, and an
# unset bool written as a comment; any other line (a comment, a malformed line) is skipped.
_SET = re.compile(r"(CONFIG_[A-Za-z0-9_]+)=(.*)", re.ASCII)
_UNSET = re.compile(r"# (CONFIG_[A-Za-z0-9_]+) is not set", re.ASCII)
# An env's option naming its build configuration file (espressif32's builder reads it).
SDKCONFIG_PATH = "board_build.esp-idf.sdkconfig_path"
# PlatformIO 6.1's interpolation (ProjectConfigBase.VARTPL_RE): ${<section>.<option>}, or a
# built-in / build variable ${NAME}.
_VARIABLE = re.compile(r"\$\{(?:([^.}()]+)\.)?([^}]+)\}")
# PlatformIO's built-in variables tinyslm does not compute (PROJECT_DIR it does).
_BUILTINS = frozenset({"PROJECT_HASH", "UNIX_TIME"})
# Nested ${...} followed this deep at most: deeper is a value that refers to itself.
_MAX_DEPTH = 16

# The options of sdkconfig.defaults (templates/esp32/sdkconfig.defaults.j2) the firmware
# needs for correctness, each with why; any other (clock, optimisation, partitions) is
# tuning a user may choose otherwise in menuconfig.
REQUIRED: Mapping[str, str] = {
    "CONFIG_ESP_MAIN_TASK_STACK_SIZE": "TFLM's set-up and every Invoke run on the main "
    "task: a smaller stack overflows",
    "CONFIG_BOOTLOADER_LOG_LEVEL_WARN": "the JSON protocol shares UART0 with the console: "
    "bootloader log lines would come between its lines",
    "CONFIG_LOG_DEFAULT_LEVEL_WARN": "the app's log lines would come between the "
    "protocol's lines on UART0",
    "CONFIG_ESP_CONSOLE_UART_CUSTOM": "ESP-IDF takes the console baud only for a custom "
    "console UART",
    "CONFIG_ESP_CONSOLE_UART_CUSTOM_NUM_0": "the protocol is spoken on UART0",
    "CONFIG_ESP_CONSOLE_UART_BAUDRATE": "the host speaks the protocol at the board's baud",
    "CONFIG_UART_ISR_IN_IRAM": "held off while the flash cache is off, the UART's 128-byte "
    "FIFO overflows",
    "CONFIG_I2S_ISR_IRAM_SAFE": "held off while the flash cache is off, the microphone's "
    "DMA buffers are lost without a word (keyword projects)",
}
# Of REQUIRED, the numbers the firmware needs at least: a larger value is no fault.
AT_LEAST = frozenset({"CONFIG_ESP_MAIN_TASK_STACK_SIZE"})
# Of REQUIRED, the WARN members of a log level choice, each with the int kconfgen derives
# from the choice and writes beside it (and, reading a file, ignores: _chosen_level): a
# quieter level (ERROR, NONE) puts no more lines on UART0 than WARN, so it is no fault.
LOG_LEVELS: Mapping[str, str] = {
    "CONFIG_LOG_DEFAULT_LEVEL_WARN": "CONFIG_LOG_DEFAULT_LEVEL",
    "CONFIG_BOOTLOADER_LOG_LEVEL_WARN": "CONFIG_BOOTLOADER_LOG_LEVEL",
}
# The choices' members by that int (ESP-IDF 5.3.1: components/log/Kconfig, and
# components/bootloader/Kconfig.projbuild): NONE 0, ERROR 1, WARN 2, then INFO, DEBUG,
# VERBOSE.
LEVEL_NAMES = ("NONE", "ERROR", "WARN", "INFO", "DEBUG", "VERBOSE")
WARN_LEVEL = LEVEL_NAMES.index("WARN")


def parse_sdkconfig(text: str) -> dict[str, str]:
    """``{option: value}`` of an sdkconfig file's text: ``CONFIG_X=V`` gives ``V`` as
    written (a string keeps its quotes), ``# CONFIG_X is not set`` gives ``n``. An option
    set twice takes its last value, as kconfiglib does."""
    options: dict[str, str] = {}
    for line in text.splitlines():
        unset = _UNSET.match(line)
        if unset is not None:
            options.pop(unset.group(1), None)
            options[unset.group(1)] = "n"
            continue
        found = _SET.match(line)
        if found is not None:
            options.pop(found.group(1), None)  # kept where it was last set (_chosen_level)
            options[found.group(1)] = found.group(2).strip()
    return options


def _value(raw: str) -> str:
    """What a value means, for comparing: a quoted string without its quotes and escapes
    (kconfgen writes ``\\"`` and ``\\\\`` in one)."""
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    return raw


@dataclass(frozen=True)
class Stale:
    """An option sdkconfig.defaults sets that the build's configuration holds otherwise.

    Attributes:
        option: ``CONFIG_...``.
        config: its value in ``sdkconfig.<env>`` (``n``: not set), which the build uses.
        defaults: its value in ``sdkconfig.defaults``.
    """

    option: str
    config: str
    defaults: str


def differences(defaults_text: str, config_text: str) -> tuple[Stale, ...]:
    """Each option ``defaults_text`` sets that ``config_text`` holds with another value,
    in the defaults' order. An option the configuration lacks is none: ESP-IDF applies
    the default to it."""
    config = parse_sdkconfig(config_text)
    return tuple(
        Stale(option, config[option], value)
        for option, value in parse_sdkconfig(defaults_text).items()
        if option in config and _value(config[option]) != _value(value)
    )


def _ini(ini_text: str) -> configparser.ConfigParser | None:
    """``platformio.ini`` read as PlatformIO reads it: ``;`` and ``#`` start a comment
    (inline after a space too), a value may run over indented lines, ``${...}`` is not
    configparser's (PlatformIO expands it itself). None for a file configparser refuses:
    pio says what is wrong with it."""
    parser = configparser.ConfigParser(
        inline_comment_prefixes=("#", ";"), interpolation=None, strict=False
    )
    try:
        parser.read_string(ini_text)
    except configparser.Error:
        return None
    return parser


def _multi(value: str) -> list[str]:
    """A PlatformIO list option's items: one a line, or comma-separated."""
    return [item.strip() for item in re.split(r"[,\n]", value) if item.strip()]


def _extends(value: str) -> list[str]:
    """The sections an ``extends`` names, split as PlatformIO splits it
    (``ProjectConfigBase.parse_multi_values``): one a line, else at ``", "``, a comma
    with a space. ``extends = a,b`` names one section, ``a,b``, which PlatformIO finds
    none of, so the env's own value or ``[env]``'s is built with; split at the bare
    comma, b's file was checked, one the build does not read."""
    found = []
    for item in value.split("\n" if "\n" in value else ", "):
        item = item.strip()
        if item and not item.startswith((";", "#")):
            found.append(re.sub(r"\s+;.*$", "", item).strip())
    return found


def pio_envs(ini_text: str) -> list[str]:
    """The envs ``pio run`` builds for a ``platformio.ini``, each once: its
    ``default_envs``, else every ``[env:...]`` section (build and flash run pio without
    ``-e``)."""
    parser = _ini(ini_text)
    if parser is None:
        return []
    named = _multi(parser.get("platformio", "default_envs", fallback=""))
    if not named:
        named = [s[len("env:") :].strip() for s in parser.sections() if s.startswith("env:")]
    return list(dict.fromkeys(env for env in named if env))  # pio builds an env once


def _option(parser: configparser.ConfigParser, section: str, option: str) -> str | None:
    """``option`` of ``section`` as PlatformIO resolves it (``ProjectConfig.walk_options``,
    6.1.6 on): the section, then the sections it ``extends``, the last listed first (so a
    later one overrides an earlier one), each with the sections it extends in turn before
    the next; then, for an ``[env:...]``, the common ``[env]`` and the sections it
    extends."""
    seen: set[str] = set()
    # A stack, as PlatformIO's: [env] at the bottom, an extends list pushed in its order.
    todo = ["env", section] if section.startswith("env:") else [section]
    while todo:
        current = todo.pop()
        if current in seen or not parser.has_section(current):
            continue
        seen.add(current)
        if parser.has_option(current, option):
            return parser.get(current, option)
        todo.extend(_extends(parser.get(current, "extends", fallback="")))
    return None


def _env_option(parser: configparser.ConfigParser, env: str, option: str) -> str | None:
    """``option`` of ``[env:<env>]`` as PlatformIO resolves it (:func:`_option`)."""
    return _option(parser, f"env:{env}", option)


class _Unresolved(Exception):
    """A ``${...}`` of platformio.ini that only PlatformIO (or the build) can resolve."""


def _interpolate(
    parser: configparser.ConfigParser, section: str, value: str, project: Path, depth: int = 0
) -> str:
    """``value`` of ``section`` with PlatformIO's ``${...}`` resolved as PlatformIO 6.1's
    ProjectConfig does: ``${<section>.<option>}`` (an ``[env:...]``'s through its
    ``extends`` and ``[env]``, itself resolved), ``${this.<option>}`` and
    ``${this.__env__}`` of ``section``, ``${sysenv.<name>}`` from this process's
    environment (which the ``pio`` that build and flash run inherits; unset, empty, as
    PlatformIO reads it), ``${PROJECT_DIR}``
    (pio runs in the project folder). Any other ``${NAME}`` is left as PlatformIO leaves it
    (espressif32's builder then expands environment variables).

    Raises:
        _Unresolved: what only PlatformIO or the build knows (an option's built-in default
            such as ``${platformio.packages_dir}``, ``${PROJECT_HASH}``), or a value
            that refers to itself.
    """
    if depth > _MAX_DEPTH:
        raise _Unresolved("a ${...} that refers to itself")

    def one(match: re.Match[str]) -> str:
        where, option = match.group(1), match.group(2)
        token = match.group(0)
        if where is None:
            if option == "PROJECT_DIR":
                # pio's working folder: absolute, as the result is joined to ``project``.
                return str(project.absolute())
            if option in _BUILTINS:
                raise _Unresolved(f"{token}, which PlatformIO computes when it runs")
            return token  # a build variable: left as PlatformIO leaves it
        if where == "sysenv":
            # Unset, PlatformIO reads it as empty (its handler returns os.getenv's None,
            # which re.sub takes as ''): the build then reads the file that names.
            return os.environ.get(option, "")
        if where == "this":
            if option == "__env__" and section.startswith("env:"):
                return section[len("env:") :]
            where = section
        raw = _option(parser, where, option)
        if raw is None:
            raise _Unresolved(
                f"{token}, which platformio.ini does not set (PlatformIO's own default)"
            )
        return _interpolate(parser, where, raw, project, depth + 1)

    return _VARIABLE.sub(one, value)


def _configs(project: Path, ini_text: str) -> tuple[list[Path], list[str]]:
    """:func:`pio_configs`, and a line for each env whose configuration file is not
    known (:func:`unchecked_configs`)."""
    parser = _ini(ini_text)
    if parser is None:
        return [], []
    paths: dict[Path, None] = {}
    unchecked: list[str] = []
    for env in pio_envs(ini_text):
        custom = _env_option(parser, env, SDKCONFIG_PATH)
        if custom is None:
            paths[project / f"sdkconfig.{env}"] = None
            continue
        try:
            resolved = os.path.expandvars(_interpolate(parser, f"env:{env}", custom, project))
        except _Unresolved as exc:
            unchecked.append(_unchecked(env, str(exc)))
            continue
        left = _VARIABLE.search(resolved)
        if left is not None:
            # A ${NAME} PlatformIO leaves for the build, and no variable of that name here.
            unchecked.append(_unchecked(env, f"{left.group(0)}, a variable not set here"))
        elif resolved.strip():
            paths[project / resolved.strip()] = None
    return list(paths), unchecked


def _unchecked(env: str, why: str) -> str:
    """One line: env ``env``'s build configuration was not checked, and why."""
    from tinyslm.errors import one_line

    return one_line(
        f"env {env}: its {SDKCONFIG_PATH} holds {why}: tinyslm does not know which file "
        f"it names, so that build configuration was not checked against {DEFAULTS}"
    )


def pio_configs(project: Path, ini_text: str) -> list[Path]:
    """The build configuration file of each env ``pio run`` builds, each file once:
    ``board_build.esp-idf.sdkconfig_path`` where the env sets it (PlatformIO's ``${...}``
    resolved as PlatformIO does, :func:`_interpolate`; then environment variables
    expanded, relative to the project folder pio runs in, as espressif32's builder does),
    else ``sdkconfig.<env>`` in the project. An env whose path is empty, or holds a
    ``${...}`` only PlatformIO can resolve, is left out, so nothing false is said of it:
    :func:`unchecked_configs` says so."""
    return _configs(project, ini_text)[0]


def unchecked_configs(project: Path, ini_text: str) -> list[str]:
    """A line for each env :func:`pio_configs` leaves out for a ``${...}`` it cannot
    resolve (a build variable not set here, an option's PlatformIO default such as
    ``${platformio.packages_dir}``): its configuration is not checked, said rather than
    left unsaid."""
    return _configs(project, ini_text)[1]


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None  # unreadable or absent: ESP-IDF's build says what is wrong with it


def stale_options(
    project: Path, configs: Sequence[Path], *, needed: bool = False
) -> list[tuple[Path, tuple[Stale, ...]]]:
    """For each of ``configs`` (build configuration files) that exists and holds an
    option of ``project``'s ``sdkconfig.defaults`` otherwise: that file and the options
    (``needed``: only those :func:`required` keeps, judged with that file). Neither file is
    written."""
    defaults = _read(project / DEFAULTS)
    if defaults is None:
        return []
    found = []
    for config_path in configs:
        config = _read(config_path) if config_path.is_file() else None
        stale = differences(defaults, config) if config is not None else ()
        if needed and config is not None:
            stale = required(stale, parse_sdkconfig(config))
        if stale:
            found.append((config_path, stale))
    return found


def board_stale_options(
    board: Board, project: Path, *, needed: bool = False
) -> list[tuple[Path, tuple[Stale, ...]]]:
    """:func:`stale_options` for the configuration files of the envs the project's
    ``platformio.ini`` builds (:func:`pio_configs`; none without one), when ``board``'s
    framework is :data:`ESP_IDF`: no other build reads sdkconfig files, so any other board
    gives none. ``needed``: only the options :func:`required` keeps (build and flash)."""
    if board.platformio.get("framework") != ESP_IDF:
        return []
    ini = _read(project / "platformio.ini")
    if ini is None:
        return []
    return stale_options(project, pio_configs(project, ini), needed=needed)


def board_unchecked_configs(board: Board, project: Path) -> list[str]:
    """:func:`unchecked_configs` of the project's ``platformio.ini``, when ``board``'s
    framework is :data:`ESP_IDF` (as :func:`board_stale_options`): build, flash and
    generate say these beside what :func:`board_stale_options` finds."""
    if board.platformio.get("framework") != ESP_IDF:
        return []
    ini = _read(project / "platformio.ini")
    return [] if ini is None else unchecked_configs(project, ini)


def _is_at_least(stale: Stale) -> bool:
    """Whether ``stale`` is an :data:`AT_LEAST` option held at or above the default."""
    if stale.option not in AT_LEAST:
        return False
    try:
        return int(stale.config, 0) >= int(stale.defaults, 0)
    except ValueError:
        return False


def _chosen_level(option: str, config: Mapping[str, str]) -> int | None:
    """The level of the log level choice ``option`` (a :data:`LOG_LEVELS` member) is of, as
    the build takes it from ``config`` (the parsed build configuration): the member set
    ``y`` last (:func:`parse_sdkconfig` keeps an option where it was last set), as
    kconfiglib selects it. Not the int written beside the members
    (``CONFIG_LOG_DEFAULT_LEVEL=1``): it has no prompt, so kconfgen derives it from the
    choice again and ignores the file's (checked with esp-idf-kconfig 2.5.4 on ESP-IDF
    5.3.1's components/log/Kconfig). None where no member is set ``y``."""
    stem = option[: -len("WARN")]
    chosen = [
        LEVEL_NAMES.index(name[len(stem) :])
        for name, value in config.items()
        if value == "y" and name.startswith(stem) and name[len(stem) :] in LEVEL_NAMES
    ]
    return chosen[-1] if chosen else None


def _is_quieter(stale: Stale, config: Mapping[str, str] | None) -> bool:
    """Whether ``stale`` is a :data:`LOG_LEVELS` member that ``config`` (the parsed build
    configuration; None: not read) leaves for a level no louder than WARN, as the build
    takes it (:func:`_chosen_level`). A configuration that sets no member leaves the
    choice to sdkconfig.defaults, which then holds (``y``) the WARN member."""
    if stale.option not in LOG_LEVELS or config is None:
        return False
    level = _chosen_level(stale.option, config)
    if level is None:
        return stale.defaults == "y"
    return level <= WARN_LEVEL


def required(stale: Sequence[Stale], config: Mapping[str, str] | None = None) -> tuple[Stale, ...]:
    """Those of ``stale`` the firmware needs (:data:`REQUIRED`), less an
    :data:`AT_LEAST` number held larger and a log level the build takes from ``config``
    (the parsed build configuration they come from; None: not read) no louder than WARN
    (:func:`_is_quieter`): build and flash warn of these only."""
    return tuple(
        s
        for s in stale
        if s.option in REQUIRED and not _is_at_least(s) and not _is_quieter(s, config)
    )


def _shown(value: str) -> str:
    """A value as the line shows it: ``n`` as unset (kconfgen's ``is not set``), a long
    string cut short (the line names the file that holds it whole)."""
    if value == "n":
        return "unset"
    return value if len(value) <= SHOWN_CHARS else value[: SHOWN_CHARS - 3] + "..."


def describe(config: Path, stale: Sequence[Stale], *, every_run: bool = False) -> str:
    """One line: ``config`` (its name), the options that differ with both values (the
    first :data:`SHOWN` and a count), and what to do. ``every_run``: the line of build
    and flash, which name only :func:`required` options and say it again each run."""
    listed = "; ".join(
        f"{s.option} {_shown(s.config)} (sdkconfig.defaults: {_shown(s.defaults)})"
        for s in stale[:SHOWN]
    )
    if len(stale) > SHOWN:
        listed += f"; and {len(stale) - SHOWN} more"
    one = len(stale) == 1
    which = " that the firmware needs" if every_run else ""
    tail = (
        "; said on every build and flash until the values agree"
        if every_run
        else "; a value you chose there can stay"
    )
    return (
        f"{config} (the build's configuration, which ESP-IDF keeps over {DEFAULTS}) gives "
        f"{len(stale)} option{'' if one else 's'} of {DEFAULTS}{which} "
        f"{'another value' if one else 'other values'}, which the board is built with: "
        f"{listed}; to apply {DEFAULTS}, delete {config.name} (menuconfig edits in it must "
        f"then be made again) or set {'it' if one else 'them'} with 'pio run -t menuconfig'"
        f"{tail}"
    )
