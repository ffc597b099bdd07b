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
env is the file its ``board_build.esp-idf.sdkconfig_path`` names, else ``sdkconfig.<env>``
(:func:`pio_configs`). Only an ESP-IDF board's build reads these files
(:func:`board_stale_options`).

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
# from the choice and writes beside it: a quieter level (ERROR, NONE) puts no more lines on
# UART0 than WARN, so it is no fault.
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
            options[unset.group(1)] = "n"
            continue
        found = _SET.match(line)
        if found is not None:
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


def _env_option(parser: configparser.ConfigParser, env: str, option: str) -> str | None:
    """``option`` of ``[env:<env>]`` as PlatformIO resolves it: the section, the
    sections it ``extends`` (in order, depth first), then the common ``[env]``."""
    seen: set[str] = set()
    todo = [f"env:{env}"]
    while todo:
        section = todo.pop(0)
        if section in seen or not parser.has_section(section):
            continue
        seen.add(section)
        if parser.has_option(section, option):
            return parser.get(section, option)
        todo[:0] = _multi(parser.get(section, "extends", fallback=""))
    return parser.get("env", option, fallback=None) if parser.has_section("env") else None


def pio_configs(project: Path, ini_text: str) -> list[Path]:
    """The build configuration file of each env ``pio run`` builds, each file once:
    ``board_build.esp-idf.sdkconfig_path`` where the env sets it (environment variables
    expanded, relative to the project folder pio runs in, as espressif32's builder does),
    else ``sdkconfig.<env>`` in the project. An env whose path is empty or holds
    PlatformIO's ``${...}`` is skipped, so nothing false is said of it: tinyslm does not
    expand that (its own platformio.ini sets no such path)."""
    parser = _ini(ini_text)
    if parser is None:
        return []
    paths: dict[Path, None] = {}
    for env in pio_envs(ini_text):
        custom = _env_option(parser, env, SDKCONFIG_PATH)
        if custom is None:
            paths[project / f"sdkconfig.{env}"] = None
        elif custom.strip() and "${" not in custom:
            paths[project / os.path.expandvars(custom.strip())] = None
    return list(paths)


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


def _is_at_least(stale: Stale) -> bool:
    """Whether ``stale`` is an :data:`AT_LEAST` option held at or above the default."""
    if stale.option not in AT_LEAST:
        return False
    try:
        return int(stale.config, 0) >= int(stale.defaults, 0)
    except ValueError:
        return False


def _is_quieter(stale: Stale, config: Mapping[str, str]) -> bool:
    """Whether ``stale`` is a :data:`LOG_LEVELS` member that ``config`` (the parsed build
    configuration) leaves for a level below WARN: its int (``CONFIG_LOG_DEFAULT_LEVEL=1``)
    names one, and that level's member is the one chosen. kconfiglib reads the choice, not
    the int (it has no prompt), so a hand-edited file whose int and choice disagree is
    judged as unsafe: warned of."""
    level_option = LOG_LEVELS.get(stale.option)
    level = config.get(level_option, "") if level_option is not None else ""
    # ASCII digits only: str.isdigit takes "²", which int() refuses.
    if not (level.isascii() and level.isdigit()) or int(level) >= WARN_LEVEL:
        return False
    member = stale.option[: -len("WARN")] + LEVEL_NAMES[int(level)]
    return config.get(member) == "y"


def required(stale: Sequence[Stale], config: Mapping[str, str] | None = None) -> tuple[Stale, ...]:
    """Those of ``stale`` the firmware needs (:data:`REQUIRED`), less an
    :data:`AT_LEAST` number held larger and a log level ``config`` (the parsed build
    configuration they come from) holds quieter than WARN: build and flash warn of these
    only."""
    held = config or {}
    return tuple(
        s
        for s in stale
        if s.option in REQUIRED and not _is_at_least(s) and not _is_quieter(s, held)
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
