"""The STM32H7 firmware image, built as PlatformIO builds a generated project.

``tinyslm generate --board stm32h7`` writes a PlatformIO project for
``nucleo_h743zi`` on platform ``ststm32@19.6.0`` with the ``stm32cube``
framework. PlatformIO cannot run offline, so this module reproduces its build
from the platform's own sources, with the same compiler flags, so that tests and
benchmarks link the exact code a user flashes:

- ``src/*``: the project's sources, with the global environment;
- ``lib/tflm``: a library (``library.json``: its ``build.flags`` apply to it
  alone) archived as ``libtflm.a``, so only the members the link needs count;
- the STM32Cube HAL (``Drivers/STM32H7xx_HAL_Driver/Src``, templates and
  ``Legacy`` left out) compiled and linked as objects (``env.BuildSources``);
- the CMSIS device's ``system_stm32h7xx.c`` and ``gcc/startup_stm32h743xx.S``
  archived as ``libFrameworkCMSISDevice.a``;
- ``stm32h7xx_hal_conf.h``: the framework copies its template when none exists;
- the linker script PlatformIO picks, ``STM32H743ZITX_FLASH.ld`` (layout in
  ``tinyslm/emulate/glue/stm32h7/``).

Where each flag comes from (platformio/platform-ststm32 at v19.6.0, and
platformio/platformio-core 6.1 for the generic parts) is said next to it below.
The one addition is ``-Wl,-Map`` for the size breakdown. Compiling takes
minutes, so TFLM and HAL objects are cached by :mod:`tinyslm.toolchain.host`'s object
cache (keyed by compiler, flags and sources), and TFLM's kernels and CMSIS-NN are
compiled only when the link asks for them: in an archive only needed members are
linked anyway, so the image is the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tinyslm.cache import cache_dir
from tinyslm.errors import ProjectError, ToolchainError, output_tail
from tinyslm.toolchain import ccompile, cortex_m, host

ARM_AR = "arm-none-eabi-gcc-ar"  # builder/main.py: AR
GLUE_DIR = Path(__file__).resolve().parent.parent / "emulate" / "glue" / "stm32h7"
LINKER_SCRIPT = GLUE_DIR / "STM32H743ZITX_FLASH.ld"
HAL_DIR = Path("Drivers/STM32H7xx_HAL_Driver")
DEVICE_DIR = Path("Drivers/CMSIS/Device/ST/STM32H7xx")
HAL_CONF = "stm32h7xx_hal_conf.h"
CACHE_VERSION = "1"

# boards/nucleo_h743zi.json: build.cpu, build.f_cpu, build.extra_flags, build.product_line.
BOARD_CPU = "cortex-m7"
BOARD_F_CPU = "400000000L"
BOARD_DEFINES = ("STM32H7", "STM32H7xx", "STM32H743xx")
STARTUP = "gcc/startup_stm32h743xx.S"
SYSTEM = "system_stm32h7xx.c"
# boards/nucleo_h743zi.json: upload.maximum_size / maximum_ram_size (checkprogsize).
MAX_FLASH = 2097152
MAX_RAM = 524288
# platformio-core builder/tools/piobuild.py (_append_pio_macros): PLATFORMIO=<core version>.
PIO_CORE_DEFINE = "PLATFORMIO=60118"

# builder/frameworks/stm32cube.py: machine_flags, and CCFLAGS / CXXFLAGS / CPPDEFINES.
MACHINE_FLAGS = ("-mthumb", f"-mcpu={BOARD_CPU}")
FRAMEWORK_CCFLAGS = (
    *MACHINE_FLAGS,
    "-Os",
    "-ffunction-sections",
    "-fdata-sections",
    "-Wall",
    "-nostdlib",
)
FRAMEWORK_CXXFLAGS = ("-fno-rtti", "-fno-exceptions")
FRAMEWORK_DEFINES = ("USE_HAL_DRIVER", f"F_CPU={BOARD_F_CPU}")
# builder/frameworks/stm32cube.py: ASPPFLAGS (SCons' asm tool puts $ASFLAGS = machine_flags first).
FRAMEWORK_ASPPFLAGS = (*MACHINE_FLAGS, "-x", "assembler-with-cpp")
# builder/frameworks/stm32cube.py: LINKFLAGS and LIBS (platformio-core piobuild.py wraps
# LIBS in --start-group/--end-group and prepends -T $LDSCRIPT_PATH).
FRAMEWORK_LINKFLAGS = (
    *MACHINE_FLAGS,
    "-Os",
    "-Wl,--gc-sections,--relax",
    "--specs=nano.specs",
    "--specs=nosys.specs",
)
FRAMEWORK_LIBS = ("c", "gcc", "m", "stdc++", "nosys")
# builder/frameworks/stm32cube.py: the HAL src_filter "+<*> -<Src/*_template.c> -<Src/Legacy>".
_HAL_SKIP = re.compile(r"_template\.c$")
_LAZY_TFLM = ("tensorflow/lite/micro/kernels/", "third_party/cmsis_nn/Source/")


@dataclass(frozen=True)
class PioFlags:
    """One compile environment as PlatformIO composes it (SCons CCCOM / CXXCOM / ASPPCOM).

    C: ``$CC $CFLAGS $CCFLAGS -D.. -I..``; C++: ``$CXX $CXXFLAGS $CCFLAGS -D.. -I..``.
    """

    ccflags: tuple[str, ...]
    cflags: tuple[str, ...]
    cxxflags: tuple[str, ...]
    defines: tuple[str, ...]
    includes: tuple[Path, ...]

    def c_argv(self) -> tuple[str, ...]:
        return (*self.cflags, *self.ccflags, *self._cpp())

    def cxx_argv(self) -> tuple[str, ...]:
        return (*self.cxxflags, *self.ccflags, *self._cpp())

    def _cpp(self) -> tuple[str, ...]:
        return (*(f"-D{d}" for d in self.defines), *(f"-I{p}" for p in self.includes))


@dataclass(frozen=True)
class Stm32Image:
    """A linked STM32H7 image: the ELF, its map file and its Berkeley section sizes.

    ``flash`` is what PlatformIO's checkprogsize counts as program (text + data load
    image); ``ram`` is .data + .bss as ``arm-none-eabi-size`` counts them, so with the
    linker script's minimum heap and stack reserve (1.5 KB) included.
    """

    elf: Path
    map_file: Path
    text: int
    data: int
    bss: int

    @property
    def flash(self) -> int:
        return self.text + self.data

    @property
    def ram(self) -> int:
        return self.data + self.bss


@dataclass(frozen=True)
class ComponentSize:
    """Bytes of flash and RAM one component takes in the image."""

    name: str
    flash: int
    ram: int


@dataclass(frozen=True)
class MapBreakdown:
    """The image's flash and RAM by component, from the linker map file.

    ``arena_address`` is where the tensor arena starts (0 when not found) and
    ``arena_region`` the memory region that holds it (``RAM_D1``, ``DTCMRAM``, ...).
    """

    components: tuple[ComponentSize, ...]
    arena_address: int
    arena_region: str

    def get(self, name: str) -> ComponentSize:
        for comp in self.components:
            if comp.name == name:
                return comp
        raise KeyError(name)

    @property
    def flash(self) -> int:
        return sum(c.flash for c in self.components)

    @property
    def ram(self) -> int:
        return sum(c.ram for c in self.components)

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {c.name: {"flash": c.flash, "ram": c.ram} for c in self.components}


# What map_breakdown reports. "model array": src/tinyslm_model_data.cc; "TFLM core",
# "TFLM kernels" (tensorflow/lite/micro/kernels/), "CMSIS-NN": members of libtflm.a;
# "tinyslm core + adapter": the other src/tinyslm_* files; "board glue": src/main.cc,
# the user's src/tinyslm_actions.c and any other project source; "C library":
# newlib-nano, libm, libgcc, libstdc++, libnosys and the crt files; "HAL": the
# STM32Cube HAL objects and the CMSIS device's startup and system files; "tensor
# arena": the adapter's arena buffer; "other": padding and the linker script's heap
# and stack reserve.
COMPONENTS = (
    "model array",
    "TFLM core",
    "TFLM kernels",
    "CMSIS-NN",
    "tinyslm core + adapter",
    "board glue",
    "C library",
    "HAL",
    "tensor arena",
    "other",
)
# Memory regions of the linker script (name, origin, length).
REGIONS = (
    ("FLASH", 0x08000000, 2048 * 1024),
    ("DTCMRAM", 0x20000000, 128 * 1024),
    ("RAM_D1", 0x24000000, 512 * 1024),
    ("RAM_D2", 0x30000000, 288 * 1024),
    ("RAM_D3", 0x38000000, 64 * 1024),
    ("ITCMRAM", 0x00000000, 64 * 1024),
)


def region_of(address: int) -> str:
    """The linker-script memory region holding ``address`` ("" if none)."""
    for name, origin, length in REGIONS:
        if origin <= address < origin + length:
            return name
    return ""


def _require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise ToolchainError(
            f"{program} not found on PATH (install the Arm GNU toolchain, "
            "e.g. apt-get install gcc-arm-none-eabi)"
        )
    return path


def _platformio_ini(project: Path) -> dict[str, list[str]]:
    """The ``[env:*]`` options of the project's platformio.ini (multi-line values split)."""
    ini = project / "platformio.ini"
    if not ini.is_file():
        raise ProjectError(f"{project}: platformio.ini is missing (regenerate the project)")
    options: dict[str, list[str]] = {}
    in_env = False
    key = ""
    for raw in ini.read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].rstrip()
        if not line.strip():
            continue
        if line.startswith("["):
            in_env = line.startswith("[env:")
            continue
        if not in_env:
            continue
        if line[0].isspace() and key:
            options[key].append(line.strip())
            continue
        name, _, value = line.partition("=")
        key = name.strip()
        options[key] = [value.strip()] if value.strip() else []
    return options


def _split_build_flags(flags: Sequence[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    """SCons ParseFlags as PlatformIO applies it: (CCFLAGS, CXXFLAGS, CPPDEFINES, CPPPATH).

    ``-std=`` with ``++`` goes to CXXFLAGS, ``-D`` to CPPDEFINES, ``-I`` to CPPPATH,
    every other ``-`` flag to CCFLAGS (C and C++ compiles alike).
    """
    cc: list[str] = []
    cxx: list[str] = []
    defines: list[str] = []
    paths: list[str] = []
    for flag in flags:
        if flag.startswith("-D"):
            defines.append(flag[2:])
        elif flag.startswith("-I"):
            paths.append(flag[2:])
        elif flag.startswith("-std="):
            (cxx if "++" in flag else cc).append(flag)
        else:
            cc.append(flag)
    return cc, cxx, defines, paths


def _hal_conf_dir(sdk_dir: Path, work: Path) -> Path | None:
    """Where stm32h7xx_hal_conf.h comes from, as stm32cube.py's generate_hal_config_file.

    The framework keeps an existing ``Inc/stm32h7xx_hal_conf.h`` and otherwise copies
    ``stm32h7xx_hal_conf_template.h`` to it. The SDK is read-only here, so a missing
    one is written to ``work`` (searched first, as the copy next to stm32h7xx_hal.h would be).
    """
    inc = sdk_dir / HAL_DIR / "Inc"
    if (inc / HAL_CONF).is_file():
        return None
    template = inc / "stm32h7xx_hal_conf_template.h"
    if not template.is_file():
        raise ToolchainError(f"{template} is missing: not a framework-stm32cubeh7 tree")
    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, work / HAL_CONF)
    return work


def _tflm_lib_flags(lib: Path) -> tuple[list[str], list[str], list[str]]:
    """lib/tflm/library.json build.flags (paths relative to the library, as piolib does)."""
    manifest = lib / "library.json"
    if not manifest.is_file():
        raise ProjectError(f"{lib}: library.json is missing (regenerate with --tflm-dir)")
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        flags = [str(f) for f in doc.get("build", {}).get("flags", [])]
    except (OSError, ValueError, RecursionError, AttributeError, TypeError) as exc:
        raise ProjectError(f"{manifest}: unreadable ({exc}); regenerate with --tflm-dir") from None
    cc, _cxx, defines, paths = _split_build_flags(flags)
    return cc, defines, [str((lib / p).resolve()) for p in paths]


@dataclass(frozen=True)
class PioEnvs:
    """The environments of one PlatformIO build: project sources, lib/tflm, the HAL,
    the startup file's assembler-with-cpp flags, and the link flags."""

    src: PioFlags
    tflm: PioFlags
    hal: PioFlags
    asm: tuple[str, ...]
    linkflags: tuple[str, ...]


def platformio_envs(project: Path, sdk_dir: Path, hal_conf_dir: Path | None) -> PioEnvs:
    """The compile environments PlatformIO uses for the project's src/, lib/tflm and the HAL."""
    options = _platformio_ini(project)
    build_flags = options.get("build_flags", [])
    unflags = set(options.get("build_unflags", []))
    cc_user, cxx_user, def_user, path_user = _split_build_flags(build_flags)
    # platformio-core ParseFlagsExtended: relative -I folders are made absolute
    # against the project folder.
    user_paths = [str((project / p).resolve()) for p in path_user]
    # CPPPATH: builder/frameworks/stm32cube.py ($PROJECT_SRC_DIR, $PROJECT_INCLUDE_DIR,
    # CMSIS Core, CMSIS device, HAL Inc and Src), then process_dsp_lib's DSP/Include.
    framework_paths = [
        project / "src",
        project / "include",
        sdk_dir / "Drivers/CMSIS/Include",
        sdk_dir / DEVICE_DIR / "Include",
        sdk_dir / HAL_DIR / "Inc",
        sdk_dir / HAL_DIR / "Src",
        sdk_dir / "Drivers/CMSIS/DSP/Include",
    ]
    includes = [p for p in framework_paths if p.is_dir()]
    if hal_conf_dir is not None:
        # Stands for the copy the framework writes next to stm32h7xx_hal.h, which a
        # quoted include finds before any -I folder.
        includes.insert(0, hal_conf_dir)
    includes += [Path(p) for p in user_paths]
    # Order of piobuild.py ProcessProgramDeps: board extra_flags, build_flags, framework.
    defines = [PIO_CORE_DEFINE, *BOARD_DEFINES, *def_user, *FRAMEWORK_DEFINES]
    ccflags = [f for f in (*cc_user, *FRAMEWORK_CCFLAGS) if f not in unflags]
    cxxflags = [f for f in (*cxx_user, *FRAMEWORK_CXXFLAGS) if f not in unflags]
    src = PioFlags(tuple(ccflags), (), tuple(cxxflags), tuple(defines), tuple(includes))
    lib = project / "lib" / "tflm"
    lib_cc, lib_defs, lib_paths = _tflm_lib_flags(lib)
    # piolib: the library's include folder first, then the global CPPPATH, then its flags.
    tflm = PioFlags(
        tuple([*ccflags, *lib_cc]),
        (),
        tuple(cxxflags),
        tuple([*defines, *lib_defs]),
        tuple([lib.resolve(), *includes, *(Path(p) for p in lib_paths)]),
    )
    # The HAL is built in the global environment (env.BuildSources).
    hal = src
    asm = (*FRAMEWORK_ASPPFLAGS, *(f"-D{d}" for d in defines), *(f"-I{p}" for p in includes))
    # build_flags reach LINKFLAGS only through -Wl,...; the project's extra script
    # (tinyslm_hardfloat.py) copies the float ABI flags there.
    extra = [f for f in cc_user if f.startswith(("-mfpu=", "-mfloat-abi="))]
    if "tinyslm_hardfloat.py" not in " ".join(options.get("extra_scripts", [])):
        extra = []
    linkflags = (*FRAMEWORK_LINKFLAGS, *extra)
    return PioEnvs(src=src, tflm=tflm, hal=hal, asm=asm, linkflags=linkflags)


def _toolchain(name: str, env: PioFlags) -> host.Toolchain:
    # host's compile helper puts -I/-D after the flags; PioFlags keeps PlatformIO's
    # order by carrying them in the flags instead.
    return host.Toolchain(
        name=name,
        cc=(cortex_m.ARM_CC,),
        cxx=(cortex_m.ARM_CXX,),
        cflags=env.c_argv(),
        cxxflags=env.cxx_argv(),
        defines=(),
        ldflags=(),
        board_sources=(),
        lazy_prefixes=_LAZY_TFLM,
    )


def default_cache_dir() -> Path:
    """``stm32h7`` below :func:`tinyslm.cache.cache_root`: HAL and TFLM objects."""
    return cache_dir("stm32h7")


def _key(project: Path, *parts: object, files: Sequence[tuple[Path, Path]] = ()) -> str:
    """Cache key: the flags (the project folder written as ``<project>``, so that every
    generated project shares the cache; these sources include none of its headers)
    and each (root, rel) file's relative path, size and mtime."""
    digest = hashlib.sha256()
    for part in (CACHE_VERSION, *parts):
        text = str(part).replace(str(project), "<project>")
        # surrogateescape: a non-UTF-8 path byte hashes as itself (UTF-8 keys unchanged).
        digest.update(text.encode("utf-8", "surrogateescape") + b"\0")
    for root, rel in files:
        st = (root / rel).stat()
        digest.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:16]


def _compile(
    root: Path,
    rels: Sequence[Path],
    objdir: Path,
    toolchain: host.Toolchain,
    jobs: int,
) -> list[Path]:
    return host._compile_all(root, rels, objdir, (), jobs, toolchain)


STRICT_FLAGS = ("-Wall", "-Wextra", "-Werror")


def check_own_sources(project: Path, env: PioFlags) -> None:
    """Compile each ``src/`` file (``-fsyntax-only``) with PlatformIO's flags plus
    ``-Wall -Wextra -Werror``; TFLM, HAL and CMSIS folders are ``-isystem`` so that
    their headers' warnings are not taken for the project's.

    Raises:
        ToolchainError: a warning or error in a project source (the compiler's lines).
    """
    src = project / "src"
    own = [p for p in env.includes if p == src]
    others = [p for p in env.includes if p != src]
    for rel in _project_sources(project):
        path = src / rel
        cxx = path.suffix in (".cc", ".cpp", ".cxx")
        if path.suffix in (".S", ".s"):
            continue
        argv = [
            cortex_m.ARM_CXX if cxx else cortex_m.ARM_CC,
            *(env.cxxflags if cxx else env.cflags),
            *env.ccflags,
            *(f"-D{d}" for d in env.defines),
            *(f"-I{p}" for p in own),
            *(f"-isystem{p}" for p in others),
            *STRICT_FLAGS,
            "-fsyntax-only",
            str(path),
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace", check=False)
        if proc.returncode != 0 or proc.stderr.strip():
            lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
            found = [ln for ln in lines if "error:" in ln or "warning:" in ln] or lines
            raise ToolchainError(f"{rel} fails -Wall -Wextra -Werror: " + " | ".join(found[:3]))


def _archive(objects: Sequence[Path], out: Path) -> Path:
    ar = _require(ARM_AR)
    out.unlink(missing_ok=True)
    # builder/main.py: ARFLAGS ["rc"]; RANLIBCOM indexes it afterwards (s does both).
    proc = subprocess.run(
        [ar, "rcs", str(out), *map(str, objects)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    if proc.returncode != 0:
        raise ToolchainError(f"{ARM_AR} failed on {out.name}: {output_tail(proc.stderr)}")
    return out


def _hal_sources(sdk_dir: Path) -> list[Path]:
    src = sdk_dir / HAL_DIR / "Src"
    return sorted(
        Path("Src") / p.name
        for p in src.glob("*.c")
        if p.is_file() and not _HAL_SKIP.search(p.name)
    )


def _project_sources(project: Path) -> list[Path]:
    # platformio-core SRC_FILTER_DEFAULT / SRC_BUILD_EXT: every C, C++ and assembly
    # source under src/.
    exts = {".c", ".cc", ".cpp", ".cxx", ".S", ".s"}
    return sorted(
        p.relative_to(project / "src") for p in (project / "src").rglob("*") if p.suffix in exts
    )


def _tflm_sources(lib: Path) -> list[Path]:
    return host.tree_sources(lib)


def build_stm32h7_image(
    project: Path,
    sdk_dir: Path,
    out_dir: Path,
    *,
    strict: bool = False,
    cache_dir: Path | None = None,
    jobs: int | None = None,
) -> Stm32Image:
    """Build and link a generated stm32h7 project as PlatformIO would, into ``out_dir``.

    Args:
        project: a ``tinyslm generate --board stm32h7`` folder with ``lib/tflm``.
        sdk_dir: a ``framework-stm32cubeh7`` tree (``Drivers/...``), read only.
        out_dir: gets ``firmware.elf``, ``firmware.map`` and the project's objects.
        strict: also check every ``src/`` file with ``-Wall -Wextra -Werror`` (third-party
            headers as system headers, so only the project's own code counts).
        cache_dir: TFLM and HAL objects (default :func:`default_cache_dir`).
        jobs: parallel compiles (default: CPU count).

    Raises:
        ProjectError: not a generated stm32h7 project with lib/tflm.
        ToolchainError: no Arm toolchain, a bad SDK, or a failed compile or link
            (with the compiler's or linker's last lines).
    """
    project = Path(os.path.realpath(project))
    sdk_dir = Path(os.path.realpath(sdk_dir))
    out_dir = Path(os.path.realpath(out_dir))
    for program in (cortex_m.ARM_CC, cortex_m.ARM_CXX):
        _require(program)
    lib = project / "lib" / "tflm"
    if not (project / "src").is_dir() or not lib.is_dir():
        raise ProjectError(
            f"{project}: not a generated stm32h7 project with lib/tflm "
            "(tinyslm generate --board stm32h7 --tflm-dir ...)"
        )
    if not (sdk_dir / HAL_DIR / "Src").is_dir():
        raise ToolchainError(f"{sdk_dir}: no {HAL_DIR}/Src (expected framework-stm32cubeh7)")
    workers = jobs or os.cpu_count() or 1
    cache = cache_dir or default_cache_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    hal_conf = _hal_conf_dir(sdk_dir, out_dir / "hal_conf")
    envs = platformio_envs(project, sdk_dir, hal_conf)

    # Project sources: compiled fresh every build (they are what changes).
    src_env = envs.src
    if strict:
        check_own_sources(project, envs.src)
    src_dir = out_dir / "obj" / "src"
    shutil.rmtree(src_dir, ignore_errors=True)
    src_objs = _compile(
        project / "src", _project_sources(project), src_dir, _toolchain("src", src_env), workers
    )

    # HAL: every source, cached by flags (which include the HAL conf's folder) and files.
    hal_tc = _toolchain("hal", envs.hal)
    hal_rels = _hal_sources(sdk_dir)
    hal_root = sdk_dir / HAL_DIR
    hal_files = [(hal_root, r) for r in hal_rels]
    if hal_conf is not None:
        hal_files.append((hal_conf, Path(HAL_CONF)))
    hal_key = _key(project, hal_tc, sdk_dir, files=hal_files)
    hal_objs = _compile(
        sdk_dir / HAL_DIR, hal_rels, cache / "FrameworkHALDriver" / hal_key, hal_tc, workers
    )

    # CMSIS device: system file (C) and startup (assembler with cpp), archived.
    dev_root = sdk_dir / DEVICE_DIR / "Source" / "Templates"
    dev_key = _key(
        project, envs.asm, envs.hal, files=[(dev_root, Path(SYSTEM)), (dev_root, Path(STARTUP))]
    )
    dev_dir = cache / "FrameworkCMSISDevice" / dev_key
    dev_objs = _compile(dev_root, [Path(SYSTEM)], dev_dir, hal_tc, workers)
    startup_obj = dev_dir / "startup_stm32h743xx.S.o"
    if not startup_obj.is_file():
        ccompile.compile_object(
            dev_root / STARTUP, startup_obj, flags=envs.asm, compiler=(cortex_m.ARM_CC,)
        )
    link_dir = out_dir / "link"
    shutil.rmtree(link_dir, ignore_errors=True)
    link_dir.mkdir(parents=True)
    _archive([*dev_objs, startup_obj], link_dir / "libFrameworkCMSISDevice.a")

    # lib/tflm: the non-kernel sources always; kernels and CMSIS-NN on demand.
    tflm_tc = _toolchain("tflm", envs.tflm)
    tflm_srcs = _tflm_sources(lib)
    lazy = [p for p in tflm_srcs if p.as_posix().startswith(_LAZY_TFLM)]
    selected = [p for p in tflm_srcs if not p.as_posix().startswith(_LAZY_TFLM)]
    texts = {rel: (lib / rel).read_text(encoding="utf-8", errors="replace") for rel in lazy}
    tflm_dir = cache / "tflm" / _key(project, tflm_tc, files=[(lib, r) for r in tflm_srcs])

    elf = out_dir / "firmware.elf"
    map_file = out_dir / "firmware.map"
    while True:
        tflm_objs = _compile(lib, selected, tflm_dir, tflm_tc, workers)
        _archive(tflm_objs, link_dir / "libtflm.a")
        proc = _link(envs, [*src_objs, *hal_objs], link_dir, elf, map_file)
        if proc.returncode == 0:
            break
        names: set[str] = set()
        for symbol in host._UNDEFINED.findall(proc.stderr):
            names |= host._identifiers(symbol)
        pending = {rel: texts[rel] for rel in lazy if rel not in selected}
        wanted = sorted({rel for n in names for rel in host._defining(n, pending)})
        if not wanted:
            raise ToolchainError(f"linking the STM32H7 image failed: {output_tail(proc.stderr)}")
        selected += wanted
    warnings = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
    if warnings:
        raise ToolchainError("the STM32H7 link warned: " + " | ".join(warnings[-4:]))
    size = cortex_m.image_size(elf)
    return Stm32Image(elf=elf, map_file=map_file, text=size.text, data=size.data, bss=size.bss)


def _link(
    envs: PioEnvs,
    objects: Sequence[Path],
    link_dir: Path,
    elf: Path,
    map_file: Path,
) -> subprocess.CompletedProcess[str]:
    # SCons LINKCOM: $LINK -o $TARGET $LINKFLAGS $SOURCES $_LIBDIRFLAGS $_LIBFLAGS, with
    # -T prepended (piobuild.py) and g++ as $LINK (C++ sources present).
    libs = ["tflm", *FRAMEWORK_LIBS, "FrameworkCMSISDevice"]
    argv = [
        cortex_m.ARM_CXX,
        "-o",
        str(elf),
        "-T",
        str(LINKER_SCRIPT),
        *envs.linkflags,
        f"-Wl,-Map={map_file}",
        *map(str, objects),
        f"-L{link_dir}",
        "-Wl,--start-group",
        *(f"-l{lib}" for lib in libs),
        "-Wl,--end-group",
    ]
    try:
        return subprocess.run(argv, capture_output=True, text=True, errors="replace", check=False)
    except OSError as exc:
        raise ToolchainError(
            f"cannot run {cortex_m.ARM_CXX} to link the STM32H7 image: {exc}"
        ) from exc


# --- map file ----------------------------------------------------------------------------

_HEADER = re.compile(r"^(\S+)?\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)(.*)$")
_LOAD_ADDRESS = re.compile(r"load address 0x([0-9a-fA-F]+)")
_INPUT_NAME = re.compile(r"^ (\.\S+|COMMON|\*fill\*)(.*)$")
_ADDR_SIZE = re.compile(r"^\s*0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s*(.*)$")

_CLIB = re.compile(
    r"(^|/)(libc(_nano)?|libm|libg(_nano)?|libgcc|libstdc\+\+(_nano)?|libsupc\+\+(_nano)?"
    r"|libnosys)\.a\(|(^|/)crt[a-z0-9]*\.o$"
)


def _component(section: str, origin: str) -> str:
    """Which component an input section (name, object file) belongs to."""
    if "arena" in section and ("/src/" in origin and "tinyslm_tflm" in origin):
        return "tensor arena"
    member = re.search(r"libtflm\.a\((.+)\)$", origin)
    if member:
        name = member.group(1)
        if name.startswith("tensorflow__lite__micro__kernels__"):
            return "TFLM kernels"
        if name.startswith("third_party__cmsis_nn__"):
            return "CMSIS-NN"
        return "TFLM core"
    if "libFrameworkCMSISDevice.a(" in origin or "/FrameworkHALDriver/" in origin:
        return "HAL"
    if _CLIB.search(origin):
        return "C library"
    if "/obj/src/" in origin:
        stem = origin.rsplit("/", 1)[-1]
        if stem.startswith("tinyslm_model_data."):
            return "model array"
        if stem.startswith("tinyslm_") and not stem.startswith("tinyslm_actions."):
            return "tinyslm core + adapter"
        return "board glue"
    return "other"


def map_breakdown(map_file: Path) -> MapBreakdown:
    """Flash and RAM bytes per component, read from a GNU ld map file of the image.

    Flash is every byte placed in FLASH plus the load image of ``.data``; RAM is every
    byte placed in a RAM region. Each output section's bytes are accounted exactly:
    an input section counts up to where the next one starts (merged strings are
    listed at their size before merging), and what no input section covers
    (alignment, the linker script's minimum heap and stack) counts as "other".

    Raises:
        ToolchainError: the file cannot be read or holds no memory map.
    """
    try:
        lines = Path(map_file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise ToolchainError(f"cannot read the map file {map_file}: {exc}") from exc
    try:
        start = lines.index("Linker script and memory map")
    except ValueError as exc:
        raise ToolchainError(f"{map_file} holds no memory map") from exc
    flash = dict.fromkeys(COMPONENTS, 0)
    ram = dict.fromkeys(COMPONENTS, 0)
    sections: list[_OutputSection] = []
    current: _OutputSection | None = None
    out_pending = ""
    in_pending = ""
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        if not line[0].isspace():
            # An output section: "name addr size [load address x]", or the name alone
            # with the rest on the next line.
            head = _HEADER.match(line)
            current = _output_section(line.split()[0], line, head)
            out_pending = "" if head else line.split()[0]
            in_pending = ""
            if current:
                sections.append(current)
            continue
        if out_pending:
            head = _HEADER.match(line)
            if head is not None and head.group(1) is None:
                current = _output_section(out_pending, line, head)
                if current:
                    sections.append(current)
            out_pending = ""
            continue
        if current is None:
            continue
        name_match = _INPUT_NAME.match(line)
        if name_match:
            in_pending = name_match.group(1)
            rest = name_match.group(2)
            if not rest.strip():
                continue  # a long section name: address, size and file on the next line
        elif in_pending:
            rest = line
        else:
            continue
        section, in_pending = in_pending, ""
        fields = _ADDR_SIZE.match(rest)
        if fields is None:
            continue
        addr, size = int(fields.group(1), 16), int(fields.group(2), 16)
        origin = fields.group(3).strip()
        if size:
            comp = _component(section, origin) if origin else "other"
            current.inputs.append((addr, size, comp))
    arena_address = 0
    for out in sections:
        covered = 0
        end = out.address + out.size
        ends = [a for a, _s, _c in out.inputs[1:]] + ([end] if out.inputs else [])
        for (addr, size, comp), nxt in zip(out.inputs, ends, strict=True):
            used = max(0, min(size, nxt - addr, end - addr))
            covered += used
            _add(flash, ram, out, comp, used)
            if comp == "tensor arena" and not arena_address:
                arena_address = addr
        _add(flash, ram, out, "other", out.size - covered)
    comps = tuple(ComponentSize(n, flash[n], ram[n]) for n in COMPONENTS)
    return MapBreakdown(comps, arena_address, region_of(arena_address) if arena_address else "")


@dataclass
class _OutputSection:
    name: str
    address: int
    size: int
    region: str
    loaded: bool  # also has a load image in FLASH (.data)
    inputs: list[tuple[int, int, str]]


def _add(
    flash: dict[str, int], ram: dict[str, int], out: _OutputSection, comp: str, n: int
) -> None:
    if out.region == "FLASH":
        flash[comp] += n
        return
    ram[comp] += n
    if out.loaded:
        flash[comp] += n


def _output_section(name: str, line: str, head: re.Match[str] | None) -> _OutputSection | None:
    """The output section of a header line, or None when it is not loaded anywhere."""
    if head is None:
        return None
    addr, size = int(head.group(2), 16), int(head.group(3), 16)
    region = region_of(addr)
    if addr == 0 or size == 0 or not region:  # debug, comment and attribute sections
        return None
    load = _LOAD_ADDRESS.search(line)
    # .bss and the heap/stack reserve print a load address too; only .data is copied.
    loaded = (
        load is not None
        and region_of(int(load.group(1), 16)) == "FLASH"
        and region != "FLASH"
        and not name.startswith((".bss", "._user_heap_stack"))
    )
    return _OutputSection(name, addr, size, region, loaded, [])


def format_breakdown(breakdown: MapBreakdown) -> str:
    """A fixed-width table of the breakdown (bytes), for logs and benchmarks."""
    rows = [f"{'component':<24} {'flash':>9} {'ram':>9}"]
    for comp in breakdown.components:
        rows.append(f"{comp.name:<24} {comp.flash:>9} {comp.ram:>9}")
    rows.append(f"{'total':<24} {breakdown.flash:>9} {breakdown.ram:>9}")
    return "\n".join(rows)
