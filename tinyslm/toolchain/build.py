"""Drive PlatformIO for a generated project: build, read sizes, compare, upload.

``tinyslm build DIR`` runs ``pio run -d DIR`` (the environment comes from the
project's ``platformio.ini``), reads PlatformIO's ``RAM:`` / ``Flash:`` usage
lines and sets them against the board's flash and RAM (``boards/<id>.yaml``).
``tinyslm flash DIR`` runs ``pio run -d DIR -t upload``.

The project is checked before PlatformIO starts (a tinyslm project with a
``platformio.ini``; ``lib/tflm`` for boards that build TFLM from source). An ESP32
project whose build configuration (``sdkconfig.<env>``) holds options the firmware needs
otherwise than its ``sdkconfig.defaults`` gets a warning first: ESP-IDF builds with the
former (:mod:`tinyslm.toolchain.sdkconfig`).
PlatformIO downloads platforms and toolchains on first use and, offline, retries
for about a minute before it says so; when the project's platform is not
installed yet, the registry is tried first (a few seconds) so that a machine
without access to it gets one line at once. PlatformIO's output is streamed
as it comes (a first build takes minutes), and a download failure stops it at
the first sign: an error line, or an "Installing" line while the registry does not
answer (pio itself says nothing for its minute of retries). An ESP32 project's first
build also fetches ESP-IDF components from the component registry
(components.espressif.com); failing that, the line names that registry. Any other
failure is a :class:`PioError` whose ``detail`` holds PlatformIO's last lines when they
were not already streamed to ``log``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tinyslm.errors import (
    BudgetError,
    OutputError,
    ProjectError,
    ToolchainError,
    one_line,
    shell_word,
    tail_lines,
    utf8_text,
)
from tinyslm.processes import signal_tree
from tinyslm.project import PLATFORMIO_INI, Project, open_project

if TYPE_CHECKING:
    from tinyslm.boards import Board

TAIL_LINES = 15

# PlatformIO's registry API; TINYSLM_PIO_REGISTRY=host:port names another (a mirror).
PIO_REGISTRY = ("api.registry.platformio.org", 443)
REGISTRY_ENV = "TINYSLM_PIO_REGISTRY"
REGISTRY_TIMEOUT_S = 5.0
_PLATFORM_LINE = re.compile(r"^\s*platform\s*=\s*([A-Za-z0-9_-]+)\s*(?:@.*)?$", re.MULTILINE)
_FRAMEWORK_LINE = re.compile(r"^\s*framework\s*=\s*([A-Za-z0-9_-]+)\s*$", re.MULTILINE)
# platform_packages entries, one per continuation line: [owner/]name[@version]
_PACKAGE_ENTRY = re.compile(r"^\s+(?:[A-Za-z0-9_.-]+/)?([A-Za-z0-9_.-]+)\s*(?:@.*)?$")

Log = Callable[[str], None]

# What pio 6.x prints when it cannot download a platform, tool or library: seen
# offline as "Platform Manager: Installing espressif32 @ 6.9.0" then
# "HTTPClientError:"; the others are requests/urllib3 and pio's own variants.
_OFFLINE_PATTERNS = (
    "HTTPClientError",
    "InternetIsOffline",
    "ConnectionError",
    "NewConnectionError",
    "Max retries exceeded",
    "Could not resolve host",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Failed to establish a new connection",
    "You are not connected to the Internet",
)
# What the ESP-IDF component manager (idf-component-manager 1.5 to 3.x) prints when it
# cannot fetch an idf_component.yml dependency (espressif/esp-tflite-micro): its fatal
# error (core.py's general_error_handler, followed by a "URL: ..." line), and a failed
# archive download ("Cannot download component NAME@VERSION. <requests' error>", offline
# when that error is one of _OFFLINE_PATTERNS). Its "Cannot establish a connection to the
# component registry. Skipping checks of dependency changes." is a notice on a build that
# goes on offline, and matches neither.
_COMPONENT_OFFLINE = (
    "Cannot establish a connection to the component registry. Are you connected to the internet?"
)
_COMPONENT_DOWNLOAD = "Cannot download component "
COMPONENT_REGISTRY = "components.espressif.com"
# pio's line before it downloads a platform, tool or library from its registry ("Platform
# Manager: Installing espressif32 @ 6.9.0"). Offline, pio 6.2 says nothing more for about
# a minute (urllib3 retries silently) and then "HTTPClientError:", so this line is the
# first sign; one naming a URL (a git or file source) is not the registry.
_INSTALLING = re.compile(r"^\w+ Manager: Installing (?!\S*://)")

_SIZE_LINE = re.compile(
    r"^(RAM|Flash):\s*\[[^\]]*\]\s*[\d.]+%\s*\(used\s+(\d+)\s+bytes\s+from\s+(\d+)\s+bytes\)",
    re.MULTILINE,
)


class PioError(ToolchainError):
    """``pio`` failed; ``detail`` holds PlatformIO's last output lines (unless streamed)."""


@dataclass(frozen=True)
class MemoryUse:
    """One PlatformIO size line, set against the board.

    Attributes:
        region: ``RAM`` or ``Flash``.
        used: bytes used (PlatformIO's figure).
        pio_total: the total PlatformIO compares with (static RAM / app partition).
        board_bytes: the board's capacity from ``boards/<id>.yaml`` (None if unknown).
    """

    region: str
    used: int
    pio_total: int
    board_bytes: int | None


@dataclass(frozen=True)
class BuildResult:
    project: Path
    board: str
    ram: MemoryUse | None
    flash: MemoryUse | None
    seconds: float
    output: str


def find_pio() -> str:
    """The ``pio`` executable: on PATH, else next to this Python (a venv's bin/).

    Raises:
        ToolchainError: neither exists.
    """
    for name in ("pio", "platformio"):
        found = shutil.which(name)
        if found:
            return found
    bindir = Path(sys.executable).parent
    for name in ("pio", "platformio"):
        candidate = bindir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise ToolchainError(
        "PlatformIO ('pio') not found on PATH or next to Python; install it with "
        "'pip install platformio'"
    )


def _is_offline(output: str) -> bool:
    return any(p in output for p in _OFFLINE_PATTERNS)


def _offline_source(line: str) -> str | None:
    """Which registry ``line`` says could not be reached: ``"components"`` (the ESP-IDF
    component registry), ``"platformio"``, or None when it says no such thing."""
    if _COMPONENT_OFFLINE in line:
        return "components"
    if _is_offline(line):
        return "components" if _COMPONENT_DOWNLOAD in line else "platformio"
    return None


# The build proper has begun: every download (platform, tools, libraries, ESP-IDF
# components) is over, and a file name or a compiler diagnostic quoting the user's code
# ("retry_ConnectionError.c", "ConnectionError was not declared") is no network error.
_BUILD_STARTED = ("Compiling ", "Linking ", "Archiving ")


def _offline_before_build(lines: Sequence[str]) -> str | None:
    """:func:`_offline_source` of the first line saying so before pio's first compile
    line (where download errors appear); None when there is none."""
    for line in lines:
        if line.startswith(_BUILD_STARTED):
            break
        source = _offline_source(line)
        if source is not None:
            return source
    return None


def _offline_error(project: Project, what: str, source: str = "platformio") -> ToolchainError:
    if source == "components":
        # PlatformIO's own downloads are done by then; naming its registry sent the user
        # to check the wrong host.
        return ToolchainError(
            "the ESP-IDF component manager could not reach the component registry "
            f"({COMPONENT_REGISTRY}) to download the components that "
            f"{project.root / 'src' / 'idf_component.yml'} names (no network?); run "
            f"'{what}' on a networked machine once, after that this project builds offline"
        )
    return ToolchainError(
        f"PlatformIO could not reach its registry to download the platform, toolchain "
        f"or libraries for {project.root} (no network?); run '{what}' on a networked "
        "machine once, after that it works offline"
    )


def _core_dir() -> Path:
    core = os.environ.get("PLATFORMIO_CORE_DIR")
    return Path(core) if core else Path.home() / ".platformio"


def _registry() -> tuple[str, int]:
    """The registry to check: ``TINYSLM_PIO_REGISTRY`` (``host:port``, ``[v6addr]:port``)
    or PlatformIO's own.

    Raises:
        ToolchainError: the variable is set but malformed. It was ignored, so a typo
            checked PlatformIO's registry instead of the mirror, without a word.
    """
    override = os.environ.get(REGISTRY_ENV)
    if not override:
        return PIO_REGISTRY
    host, _, port = override.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]  # an IPv6 address, bracketed as in a URL
    # ASCII digits only: str.isdigit() also takes '²' and other scripts' digits.
    number = int(port) if re.fullmatch(r"[0-9]{1,5}", port) else 0
    bad_host = not host or (":" in host and not bracketed) or any(c.isspace() for c in host)
    if bad_host or not 0 < number < 65536:
        raise ToolchainError(
            f"{REGISTRY_ENV}={override!r} is not host:port with a port from 1 to 65535 "
            "(e.g. registry.example.com:443, or [::1]:8080 for an IPv6 address)"
        )
    return host, number


# The compiler package each platform's boards build with (the bundled boards' platforms;
# any other platform: some toolchain).
_TOOLCHAINS = {"espressif32": "toolchain-xtensa-*", "ststm32": "toolchain-gccarmnoneeabi"}


def _needed_packages(ini: str, platform: str) -> list[str]:
    """Glob patterns, under the core's ``packages/``, of what a build of ``ini`` needs
    besides its platform: SCons, its toolchain and framework (``framework-stm32cubeh7``
    for ``stm32cube``), and each ``platform_packages`` entry."""
    needed = ["tool-scons", _TOOLCHAINS.get(platform, "toolchain-*")]
    needed += [f"framework-{fw}*" for fw in _FRAMEWORK_LINE.findall(ini)]
    lines = ini.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s*platform_packages\s*=", line):
            for entry in lines[i + 1 :]:
                m = _PACKAGE_ENTRY.match(entry)
                if m is None:
                    break
                needed.append(m.group(1))
    return needed


def _installed(ini: str, core: Path) -> bool:
    """Whether the platform of ``ini`` and the packages it needs are in ``core``.

    A platform folder alone is not enough: a first build that was interrupted, or
    another project's platform of the same name, leaves the toolchain or framework
    still to be downloaded, and pio then retries the registry for about a minute
    before it says so.
    """
    m = _PLATFORM_LINE.search(ini)
    if m is None:
        return True  # nothing tinyslm can check: pio says what it lacks
    if not (core / "platforms" / m.group(1)).is_dir():
        return False
    packages = core / "packages"
    return all(any(packages.glob(p)) for p in _needed_packages(ini, m.group(1)))


def check_registry(project: Project, what: str) -> None:
    """Fail at once when pio would have to download the platform and cannot.

    Only when the project's platform, or a package it needs (:func:`_installed`), is
    not in PlatformIO's core folder (``PLATFORMIO_CORE_DIR`` or ``~/.platformio``):
    an installed one builds offline.

    Raises:
        ToolchainError: the registry does not answer within a few seconds, or
            ``TINYSLM_PIO_REGISTRY`` is malformed (refused even when unused, so a typo
            shows on the first build, not on the first one that needs the network).
    """
    registry = _registry()
    try:
        ini = (project.root / PLATFORMIO_INI).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    if _installed(ini, _core_dir()):
        return
    if not _reachable(registry):
        raise _offline_error(project, what)


# What makes pio (requests) go through a proxy: where one is set, a direct connection
# that fails says nothing about pio's, which then goes through the proxy.
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _reachable(registry: tuple[str, int]) -> bool:
    """Whether a TCP connection to ``registry`` opens within :data:`REGISTRY_TIMEOUT_S`;
    True without trying behind a proxy (a network reached only through one stopped builds
    that pio would have done), unless ``TINYSLM_PIO_REGISTRY`` names what to try."""
    if any(os.environ.get(v) for v in _PROXY_VARS) and not os.environ.get(REGISTRY_ENV):
        return True
    try:
        socket.create_connection(registry, timeout=REGISTRY_TIMEOUT_S).close()
    except OSError:
        return False
    return True


def run_pio(args: Sequence[str], project: Project, what: str, log: Log | None = None) -> str:
    """Run ``pio <args>``, passing each output line to ``log`` as it comes; return it all.

    Raises:
        ToolchainError: pio is missing, or its registry cannot be reached.
        PioError: any other failure (detail: pio's last lines, unless streamed to ``log``).
    """
    pio = find_pio()
    registry = _registry()
    env = dict(os.environ)
    env.setdefault("PLATFORMIO_DISABLE_PROGRESSBAR", "true")
    try:
        proc = subprocess.Popen(
            [pio, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
        )
    except OSError as exc:
        raise ToolchainError(f"cannot run {pio}: {exc.strerror or exc}") from None
    lines: list[str] = []
    offline: str | None = None
    building = probed = False
    with proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines.append(line)
                if log is not None:
                    log(line.rstrip("\n"))
                building = building or line.startswith(_BUILD_STARTED)
                if building:
                    continue
                offline = _offline_source(line)
                if offline is None and not probed and _INSTALLING.match(line):
                    # A platform folder that is there but broken (or a package or library
                    # check_registry cannot see) passed as installed: ask the registry
                    # now, while pio waits its silent minute of retries.
                    probed = True
                    offline = None if _reachable(registry) else "platformio"
                if offline is not None:
                    # pio retries for a minute before giving up; the answer is known now.
                    signal_tree(proc.pid, signal.SIGTERM)
                    break
        except BaseException:
            signal_tree(proc.pid, signal.SIGKILL)
            raise
        returncode = proc.wait()
    output = "".join(lines)
    if offline is not None:
        raise _offline_error(project, what, offline)
    if returncode != 0:
        source = _offline_before_build(lines)
        if source is not None:
            raise _offline_error(project, what, source)
        raise PioError(
            f"PlatformIO failed ({what}, exit code {returncode}); its output is above",
            detail=() if log is not None else tail_lines(output, TAIL_LINES),
        )
    return output


def warn_stale_sdkconfig(project: Project, warn: Log | None) -> None:
    """Say each build configuration (``sdkconfig.<env>``) of an ESP-IDF project that
    holds options the firmware needs (:data:`tinyslm.toolchain.sdkconfig.REQUIRED`) otherwise
    than its ``sdkconfig.defaults``: ESP-IDF builds with those values, so a regenerate (or
    an edit of the defaults) that changed them did not reach the board. Only those: a
    tuning choice made in menuconfig would otherwise be warned of on every run (generate's
    note names every option once). A warning, not a refusal; the file is neither edited
    nor deleted (it may hold the user's choices). ``warn`` None: nothing is said."""
    from tinyslm import boards
    from tinyslm.toolchain.sdkconfig import board_stale_options, board_unchecked_configs, describe

    if warn is None:
        return
    board = boards.load_board(project.board)
    for config, needed in board_stale_options(board, project.root, needed=True):
        warn(describe(config, needed, every_run=True))
    # An env whose configuration file only PlatformIO can name: unchecked, said so.
    for line in board_unchecked_configs(board, project.root):
        warn(line)


def parse_sizes(output: str) -> dict[str, tuple[int, int]]:
    """``{"RAM": (used, total), "Flash": (used, total)}`` from pio's size lines (last wins)."""
    sizes: dict[str, tuple[int, int]] = {}
    for m in _SIZE_LINE.finditer(output):
        sizes[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return sizes


def _board_capacity(board_id: str) -> tuple[int | None, int | None]:
    """(flash bytes, RAM bytes) of the board, from ``boards/<id>.yaml``."""
    from tinyslm import boards

    board = boards.load_board(board_id)
    return board.flash_kb * 1024, board.ram_kb * 1024


def build(project_dir: Path | str, log: Log | None = None, warn: Log | None = None) -> BuildResult:
    """Build the project with PlatformIO and check its size against the board.

    Args:
        project_dir: a generated project.
        log: a "building" line once the project is checked, then PlatformIO's
            output line by line; ``None`` is silent.
        warn: warnings, before PlatformIO starts (:func:`warn_stale_sdkconfig`);
            ``None``: none.

    Raises:
        ProjectError: not a tinyslm project, no platformio.ini, or no lib/tflm
            where the board builds TFLM from it.
        ToolchainError / PioError: PlatformIO is missing, offline or failed.
        BudgetError: the image needs more flash or RAM than the board has.
    """
    project = open_checked(project_dir)
    flash_cap, ram_cap = _board_capacity(project.board)
    # Quoted: the command is suggested for copy-pasting, and a path may hold spaces, or
    # bytes that are not UTF-8 (shell_word: $'...\xff').
    what = f"tinyslm build {shell_word(str(project.root))}"
    find_pio()
    check_registry(project, what)
    warn_stale_sdkconfig(project, warn)
    if log is not None:
        log(
            # As every error names a path: a raw undecodable byte was '\udcff' on stderr,
            # and a line break split the line.
            f"building {one_line(str(project.root))} with PlatformIO (the first build "
            "downloads the platform and toolchain; this can take minutes)"
        )
    start = time.perf_counter()
    output = run_pio(["run", "-d", str(project.root)], project, what, log)
    seconds = time.perf_counter() - start
    sizes = parse_sizes(output)
    ram = MemoryUse("RAM", *sizes["RAM"], ram_cap) if "RAM" in sizes else None
    flash = MemoryUse("Flash", *sizes["Flash"], flash_cap) if "Flash" in sizes else None
    for use in (ram, flash):
        if use is not None and use.board_bytes is not None and use.used > use.board_bytes:
            raise BudgetError(
                f"{project.root}: the image uses {use.used} bytes of {use.region}, more than "
                f"the {project.board} board's {use.board_bytes}"
            )
    return BuildResult(project.root, project.board, ram, flash, seconds, output)


def upload(
    project_dir: Path | str,
    port: str | None = None,
    log: Log | None = None,
    warn: Log | None = None,
) -> str:
    """Build and upload with ``pio run -t upload``; return PlatformIO's output. ``log``
    and ``warn``: as :func:`build`.

    Raises:
        ProjectError, ToolchainError, PioError: as :func:`build`.
        OutputError: ``port`` would overwrite a file (``spy://...?file=``), or the board
            is flashed through a debug probe, which ``port`` does not select.
    """
    if port:
        check_upload_port(open_project(project_dir).board, port)
    project = open_checked(project_dir)
    # As the user ran it: quoted path, and the --port they gave.
    what = f"tinyslm flash {shell_word(str(project.root))}"
    if port:
        what += f" --port {shell_word(port)}"
    find_pio()
    check_registry(project, what)
    warn_stale_sdkconfig(project, warn)
    if log is not None:
        log(f"building and uploading {one_line(str(project.root))} with PlatformIO")
    args = ["run", "-d", str(project.root), "-t", "upload"]
    if port:
        args += ["--upload-port", port]
    return run_pio(args, project, what, log)


# PlatformIO upload protocols that flash through a debug probe with OpenOCD (or the
# probe's own tool): platform-ststm32 builds their upload command from the probe's server
# arguments and never reads --upload-port, so a port named the board only in our message.
PROBE_PROTOCOLS = ("stlink", "jlink", "cmsis-dap")


def check_upload_port(board_id: str, port: str) -> None:
    """Refuse a ``--port`` that ``pio run -t upload`` would not use as the user means it,
    before PlatformIO starts.

    Raises:
        OutputError: ``port`` is a ``spy://`` URL naming an existing file (the uploader
            opens it with pyserial, which empties that file: monitor's refusal), or the
            board's ``upload_protocol`` (its board file) is a debug probe, which flashes
            whichever probe it finds first whatever the port.
    """
    from tinyslm import boards
    from tinyslm.monitor import spy_log_problem

    problem = spy_log_problem(port)
    if problem is not None:
        raise OutputError(problem)
    protocol = boards.load_board(board_id).platformio.get("upload_protocol")
    if isinstance(protocol, str) and protocol in PROBE_PROTOCOLS:
        raise OutputError(
            f"--port {port}: the {board_id} board is flashed through its {protocol} debug "
            "probe (OpenOCD), which --port does not select; leave --port out with only this "
            "board plugged in, or pick the probe by its serial number with PlatformIO's "
            "upload_flags"
        )


def open_checked(project_dir: Path | str) -> Project:
    """Open the project and check what PlatformIO needs before it starts."""
    from tinyslm import boards
    from tinyslm.operating_point import generate_options, trained_on_demo
    from tinyslm.toolchain import tflm

    project = open_project(project_dir)
    if not (project.root / PLATFORMIO_INI).is_file():
        raise ProjectError(f"{project.root}: no {PLATFORMIO_INI} (regenerate the project)")
    board = boards.load_board(project.board)
    # What generate asks of --tflm-dir, not merely a folder: an empty or partial lib/tflm
    # went on to PlatformIO, which failed on a missing header after its slow start.
    lib = project.root / "lib" / "tflm"
    problem = tflm.installed_tree_problem(lib) if board.tflm.needs_tree else None
    if problem is not None:
        # The project keeps the model array, not its folder: the hint names the model by
        # its hash, and the operating point the project was generated with.
        options = generate_options(project.manifest) if project.manifest else ""
        demo = (
            "; trained on the bundled demo set: if generate trained it, leave --model "
            "MODEL_DIR out and it trains the same model again"
            if project.manifest is not None and trained_on_demo(project.manifest)
            else ""
        )
        from tinyslm.outdir import tree_place_problem, unrecorded_tree
        from tinyslm.pipeline import PROJECT_OWNERSHIP

        # A link or file there (or at lib) is the user's: the regenerate refuses it, so
        # it goes first; a file is moved away, not removed. So is a folder the record
        # does not list (one the user made, even empty): the regenerate refused it too.
        block = tree_place_problem(project.root, "lib/tflm") or unrecorded_tree(
            project.root, "lib/tflm", PROJECT_OWNERSHIP
        )
        remove = f"{block.step()}, " if block is not None else ""
        raise ProjectError(
            f"{project.root}: {problem}, which board {board.id} builds TFLM from; {remove}get a "
            f"tree ('{tflm.fetch_command()}' on a networked machine, or add --tflm-dir PATH "
            "below) and regenerate the project from the model folder it came from (model "
            f"sha256 {project.model_sha256[:12]}...{demo}): tinyslm generate --model "
            f"MODEL_DIR --board {board.id} -o {shell_word(str(project.root))} --force"
            f"{recorded_mic_pin_options(project, board)}{options}"
        )
    return project


def recorded_mic_pin_options(project: Project, board: Board) -> str:
    """The ``--mic-pin`` options of the project README's regenerate command, from the pins
    ``tinyslm.json`` records (``microphone_pins``): those that differ from the board file.

    Without them a regenerate command moved the microphone back to the board file's pins.
    Recorded pins the board file no longer takes (an edited tinyslm.json or board file)
    are given as recorded, so that generate names what is wrong with them.
    """
    from tinyslm.boards import mic_pin_options, with_mic_pins
    from tinyslm.errors import BoardError
    from tinyslm.pipeline import MIC_PINS_KEY

    pins = project.info.get(MIC_PINS_KEY)
    if not isinstance(pins, dict) or not pins or board.microphone is None:
        return ""
    given = [f"{signal}={pin}" for signal, pin in sorted(pins.items())]
    try:
        return mic_pin_options(with_mic_pins(board, given))
    except BoardError:
        return "".join(f" --mic-pin {shlex.quote(item)}" for item in given)


def format_usage(use: MemoryUse) -> str:
    """``RAM    17032 B  (5.2% of 327680 B static, board 320 KB)``."""
    pct = 100.0 * use.used / use.pio_total if use.pio_total else 0.0
    text = f"{use.region + ':':7}{use.used:>9} B used ({pct:.1f}% of PlatformIO's {use.pio_total} B"
    if use.board_bytes is not None:
        text += f"; board {use.board_bytes // 1024} KB, {100.0 * use.used / use.board_bytes:.1f}%"
    return text + ")"


def build_summary(result: BuildResult) -> dict[str, object]:
    """What ``tinyslm build --json`` prints: board, time, flash and RAM against the board."""

    def use(u: MemoryUse | None) -> dict[str, object] | None:
        if u is None:
            return None
        return {
            "used": u.used,
            "platformio_total": u.pio_total,
            "board_bytes": u.board_bytes,
            "board_percent": None
            if not u.board_bytes
            else round(100.0 * u.used / u.board_bytes, 2),
        }

    return {
        # As every path tinyslm writes: JSON's "\udcff" is no text, and jq refuses it.
        "project": utf8_text(str(result.project)),
        "board": result.board,
        "seconds": round(result.seconds, 3),
        "flash": use(result.flash),
        "ram": use(result.ram),
    }
