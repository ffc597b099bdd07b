"""ESP-IDF 5.3.1 without its build system: sdkconfig.h from kconfgen, include folders, compiles.

Test helper for ``test_esp32_idf.py``. ``shared/sdk/esp-idf-5.3.1`` holds ESP-IDF's
headers and Kconfig files for the esp32 target, but not its CMake, so what
``idf.py``/PlatformIO would compute is reproduced here from ESP-IDF 5.3.1's own
files and named where it comes from:

* ``sdkconfig.h``: ``python -m kconfgen`` (PyPI ``esp-idf-kconfig<3``, what ESP-IDF
  5.3's ``tools/cmake/kconfig.cmake`` runs) on the root ``Kconfig`` with every
  component's ``Kconfig``/``Kconfig.projbuild`` sourced and the ``sdkconfig.rename``
  files applied, defaults from the project's ``sdkconfig.defaults``.
* Include folders: each component's public ``INCLUDE_DIRS`` as its ESP-IDF 5.3.1
  ``CMakeLists.txt`` declares them for esp32 (``PUBLIC_INCLUDES``); for TFLM, the
  ``INCLUDE_DIRS`` of esp-tflite-micro's own ``CMakeLists.txt``, parsed from it.
* Flags: those ESP-IDF 5.3.1's ``tools/cmake/build.cmake`` gives every component
  (``IDF_DEFINES``, ``-std=gnu17``/``-std=gnu++2b``, no exceptions, no RTTI).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

IDF_VERSION = "5.3.1"
TARGET = "esp32"

# Public INCLUDE_DIRS (relative to the component) of the ESP-IDF components whose
# headers the esp32 glue reaches: what it REQUIRES, their public requirements and
# the common requirements every component gets.
PUBLIC_INCLUDES: dict[str, tuple[str, ...]] = {
    "esp_driver_uart": ("include",),
    "esp_driver_i2s": ("include",),  # keyword projects: the microphone's driver/i2s_std.h
    "esp_driver_gpio": ("include",),
    "esp_ringbuf": ("include",),
    "esp_pm": ("include",),
    "esp_timer": ("include",),
    "freertos": (
        "config/include",
        "config/include/freertos",
        "config/xtensa/include",
        "FreeRTOS-Kernel/include",
        "FreeRTOS-Kernel/portable/xtensa/include",
        "FreeRTOS-Kernel/portable/xtensa/include/freertos",
        "esp_additions/include",
    ),
    "esp_hw_support": (
        "include",
        "include/soc",
        "include/soc/esp32",
        "dma/include",
        "ldo/include",
    ),
    "esp_system": ("include",),
    "esp_common": ("include",),
    "hal": ("platform_port/include", "esp32/include", "include"),
    "soc": ("include", "esp32", "esp32/include"),
    "esp_rom": ("include", "include/esp32", "esp32"),
    "log": ("include",),
    "heap": ("include",),
    "newlib": ("platform_include",),
    "xtensa": ("esp32/include", "include", "deprecated_include"),
}
# Every ESP-IDF 5.3 component requires these without naming them
# (tools/cmake/build.cmake, __build_init: IDF_COMPONENT_REQUIRES_COMMON, Xtensa).
COMMON_REQUIREMENTS = frozenset(
    {
        "cxx",
        "newlib",
        "freertos",
        "esp_hw_support",
        "heap",
        "log",
        "soc",
        "hal",
        "esp_rom",
        "esp_common",
        "esp_system",
        "xtensa",
    }
)
IDF_DEFINES = (
    "ESP_PLATFORM",
    f'IDF_VER="v{IDF_VERSION}"',
    "_GNU_SOURCE",
    "_GLIBCXX_USE_POSIX_SEMAPHORE",
    "_GLIBCXX_HAVE_POSIX_SEMAPHORE",
    "SOC_MMU_PAGE_SIZE=CONFIG_MMU_PAGE_SIZE",
    "SOC_XTAL_FREQ_MHZ=CONFIG_XTAL_FREQ",
)
# What the stand-in compiler needs to take the Xtensa branches of ESP-IDF's headers.
XTENSA_STANDIN_DEFINES = ("__XTENSA__=1",)
C_STD = "-std=gnu17"
CXX_STD = "-std=gnu++2b"
# CONFIG_COMPILER_CXX_EXCEPTIONS and CONFIG_COMPILER_CXX_RTTI are off by default.
CXX_FLAGS = ("-fno-exceptions", "-fno-rtti")
# tinyslm's own sources are held to more than ESP-IDF's defaults.
STRICT_WARNINGS = ("-Wall", "-Wextra", "-Werror")

_UNKNOWN_SYMBOL = re.compile(r"warning: unknown kconfig symbol '([^']+)'")
_ASSIGNMENT = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$")
_NOT_SET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


@dataclass(frozen=True)
class KconfigResult:
    """``sdkconfig.h`` and ``sdkconfig`` written by kconfgen, and what it warned about."""

    header: Path
    config: Path
    unknown_symbols: tuple[str, ...]
    log: str


def component_dirs(idf: Path) -> list[Path]:
    return sorted(p for p in (idf / "components").iterdir() if p.is_dir())


def run_kconfgen(idf: Path, defaults: Path, out_dir: Path) -> KconfigResult:
    """Run kconfgen for the esp32 target as ESP-IDF 5.3.1's build does; return its outputs.

    Raises:
        AssertionError: kconfgen failed (its output is in the message).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    comps = component_dirs(idf)
    kconfigs = [c / "Kconfig" for c in comps if (c / "Kconfig").is_file()]
    projbuild = [c / "Kconfig.projbuild" for c in comps if (c / "Kconfig.projbuild").is_file()]
    renames = [
        p
        for c in comps
        for p in sorted(c.glob("sdkconfig.rename*"))
        if p.name in ("sdkconfig.rename", f"sdkconfig.rename.{TARGET}")
    ]
    # The root Kconfig sources these two files; ESP-IDF's CMake writes them the same way.
    source_file = out_dir / "kconfigs.in"
    projbuild_file = out_dir / "kconfigs_projbuild.in"
    source_file.write_text("".join(f'source "{p}"\n' for p in kconfigs))
    projbuild_file.write_text("".join(f'source "{p}"\n' for p in projbuild))
    env = {
        "IDF_PATH": str(idf),
        "IDF_TARGET": TARGET,
        "IDF_TOOLCHAIN": "gcc",
        "IDF_VERSION": IDF_VERSION,
        "IDF_INIT_VERSION": IDF_VERSION,
        "IDF_ENV_FPGA": "",
        "IDF_CI_BUILD": "",
        "IDF_DOC_BUILD": "",
        "COMPONENT_KCONFIGS": ";".join(map(str, kconfigs)),
        "COMPONENT_KCONFIGS_PROJBUILD": ";".join(map(str, projbuild)),
        "COMPONENT_KCONFIGS_SOURCE_FILE": str(source_file),
        "COMPONENT_KCONFIGS_PROJBUILD_SOURCE_FILE": str(projbuild_file),
        "COMPONENT_SDKCONFIG_RENAMES": ";".join(map(str, renames)),
    }
    env_file = out_dir / "config.env"
    env_file.write_text(json.dumps(env, indent=2))
    header, config = out_dir / "sdkconfig.h", out_dir / "sdkconfig"
    argv = [
        sys.executable,
        "-m",
        "kconfgen",
        "--list-separator=semicolon",
        "--kconfig",
        str(idf / "Kconfig"),
        "--sdkconfig-rename",
        str(idf / "sdkconfig.rename"),
        "--config",
        str(config),
        "--defaults",
        str(defaults),
        "--env-file",
        str(env_file),
        "--output",
        "header",
        str(header),
        "--output",
        "config",
        str(config),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=out_dir)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"kconfgen failed ({proc.returncode}):\n{log[-2000:]}"
    return KconfigResult(header, config, tuple(_UNKNOWN_SYMBOL.findall(log)), log)


def read_config(path: Path) -> dict[str, str]:
    """``CONFIG_X`` -> value from an sdkconfig(.defaults) file; ``n`` for 'is not set'."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if m := _ASSIGNMENT.match(line):
            values[m[1]] = m[2]
        elif m := _NOT_SET.match(line):
            values[m[1]] = "n"
    return values


def idf_include_dirs(idf: Path) -> list[Path]:
    """Every folder of :data:`PUBLIC_INCLUDES`, in order.

    Raises:
        AssertionError: one is missing (the SDK copy and this table disagree).
    """
    dirs = [
        idf / "components" / comp / rel for comp, rels in PUBLIC_INCLUDES.items() for rel in rels
    ]
    missing = [str(d) for d in dirs if not d.is_dir()]
    assert not missing, f"ESP-IDF include folders missing: {missing}"
    return dirs


def component_include_dirs(component: Path) -> list[Path]:
    """The INCLUDE_DIRS of ``component``'s ``idf_component_register`` (its CMakeLists.txt)."""
    text = (component / "CMakeLists.txt").read_text(encoding="utf-8")
    call = re.search(r"idf_component_register\((.*?)\)", text, re.S)
    assert call, f"{component}/CMakeLists.txt has no idf_component_register"
    words = shlex.split(call[1].replace("\n", " "))
    dirs: list[Path] = []
    current = None
    for word in words:
        if re.fullmatch(r"[A-Z_]+", word):  # a keyword: SRCS, INCLUDE_DIRS, REQUIRES, ...
            current = word
        elif current == "INCLUDE_DIRS":
            dirs.append(component / word)
    assert dirs, f"{component}/CMakeLists.txt registers no INCLUDE_DIRS"
    return dirs


def header_owner(idf: Path, header: str) -> str | None:
    """The component (from :data:`PUBLIC_INCLUDES` plus all others' ``include``) providing it."""
    for comp, rels in PUBLIC_INCLUDES.items():
        if any((idf / "components" / comp / rel / header).is_file() for rel in rels):
            return comp
    for folder in component_dirs(idf):
        if (folder / "include" / header).is_file():
            return folder.name
    return None


_INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]', re.M)


def quoted_includes(source: Path) -> list[str]:
    """The headers ``source`` includes (both spellings), in order."""
    return _INCLUDE.findall(source.read_text(encoding="utf-8"))


def syntax_check(
    compiler: Sequence[str],
    source: Path,
    *,
    std: str,
    includes: Iterable[Path],
    system_includes: Iterable[Path],
    defines: Iterable[str],
    flags: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """``compiler -fsyntax-only`` on ``source``; SDK headers as -isystem (theirs to warn about)."""
    argv = [*compiler, "-fsyntax-only", std, *flags]
    argv += [f"-D{d}" for d in defines]
    argv += [f"-I{p}" for p in includes]
    argv += [f"-isystem{p}" for p in system_includes]
    argv.append(str(source))
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def version_matches(spec: str, version: str) -> bool:
    """``version`` against an ESP-IDF component manager spec (comma-separated clauses).

    Covers the operators these manifests use: ``~X.Y.Z`` (same minor), ``^X.Y.Z``
    (same major), ``>=``, ``>``, ``<=``, ``<``, ``==`` and a bare version.
    """

    def parse(v: str) -> tuple[int, ...]:
        parts = [int(x) for x in re.findall(r"\d+", v)[:3]]
        return tuple(parts + [0] * (3 - len(parts)))

    have = parse(version)
    for clause in (c.strip() for c in spec.split(",") if c.strip()):
        m = re.fullmatch(r"(~|\^|>=|<=|==|>|<)?\s*([0-9][0-9.]*)\*?", clause)
        assert m, f"unsupported version spec {clause!r}"
        op, want = m[1] or "==", parse(m[2])
        ok = {
            "~": want <= have < (want[0], want[1] + 1, 0),
            "^": want <= have < (want[0] + 1, 0, 0),
            ">=": have >= want,
            ">": have > want,
            "<=": have <= want,
            "<": have < want,
            "==": have == want,
        }[op]
        if not ok:
            return False
    return True
