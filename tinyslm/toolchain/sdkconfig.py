"""ESP-IDF's sdkconfig files: options the build's configuration holds against sdkconfig.defaults.

ESP-IDF applies ``sdkconfig.defaults`` only to the options the build's existing
configuration does not hold; with PlatformIO that configuration is ``sdkconfig.<env>``
in the project folder, which the first build writes (and ``menuconfig`` edits). So a
``sdkconfig.defaults`` that ``generate --force`` rewrote (a text project made a keyword
one gains ``CONFIG_I2S_ISR_IRAM_SAFE=y``; a later tinyslm adds an option) is not what the
board is built with: the old values win, without a word from ESP-IDF. tinyslm never
edits or deletes ``sdkconfig.<env>`` (it may hold the user's own choices); generate and
build name what differs (:func:`stale_options`, :func:`describe`).

The module reads files only, so that build needs neither ESP-IDF nor the templates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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
_INI_SECTION = re.compile(r"^\[env:([^\]]+)\]", re.MULTILINE)
_DEFAULT_ENVS = re.compile(r"^default_envs\s*=\s*(.*)$", re.MULTILINE)


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


def pio_envs(ini_text: str) -> list[str]:
    """The envs ``pio run`` builds for a ``platformio.ini``: its ``default_envs``, else
    every ``[env:...]`` section (build and flash run pio without ``-e``)."""
    listed = _DEFAULT_ENVS.search(ini_text)
    if listed is not None:
        named = [env.strip() for env in re.split(r"[,\s]+", listed.group(1)) if env.strip()]
        if named:
            return named
    return _INI_SECTION.findall(ini_text)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None  # unreadable or absent: ESP-IDF's build says what is wrong with it


def stale_options(project: Path, envs: Sequence[str]) -> list[tuple[Path, tuple[Stale, ...]]]:
    """For each of ``envs`` whose ``sdkconfig.<env>`` exists in ``project`` and holds an
    option of ``sdkconfig.defaults`` otherwise: that file and the options. Neither file
    is written."""
    defaults = _read(project / DEFAULTS)
    if defaults is None:
        return []
    found = []
    for env in envs:
        config_path = project / f"sdkconfig.{env}"
        config = _read(config_path) if config_path.is_file() else None
        stale = differences(defaults, config) if config is not None else ()
        if stale:
            found.append((config_path, stale))
    return found


def project_stale_options(project: Path) -> list[tuple[Path, tuple[Stale, ...]]]:
    """:func:`stale_options` for the envs the project's ``platformio.ini`` builds (none
    without one). Callers ask only of a board whose framework is :data:`ESP_IDF`: no other
    build reads sdkconfig files."""
    ini = _read(project / "platformio.ini")
    return [] if ini is None else stale_options(project, pio_envs(ini))


def _shown(value: str) -> str:
    """A value as the line shows it: ``n`` as unset (kconfgen's ``is not set``), a long
    string cut short (the line names the file that holds it whole)."""
    if value == "n":
        return "unset"
    return value if len(value) <= SHOWN_CHARS else value[: SHOWN_CHARS - 3] + "..."


def describe(config: Path, stale: Sequence[Stale]) -> str:
    """One line: ``config`` (its name), the options that differ with both values (the
    first :data:`SHOWN` and a count), and what to do."""
    listed = "; ".join(
        f"{s.option} {_shown(s.config)} (sdkconfig.defaults: {_shown(s.defaults)})"
        for s in stale[:SHOWN]
    )
    if len(stale) > SHOWN:
        listed += f"; and {len(stale) - SHOWN} more"
    one = len(stale) == 1
    return (
        f"{config} (the build's configuration, which ESP-IDF keeps over {DEFAULTS}) gives "
        f"{len(stale)} option{'' if one else 's'} of {DEFAULTS} "
        f"{'another value' if one else 'other values'}, which the board is built with: "
        f"{listed}; to apply {DEFAULTS}, delete {config.name} (menuconfig edits in it must "
        f"then be made again) or set {'it' if one else 'them'} with 'pio run -t menuconfig'; "
        "a value you chose there can stay"
    )
