"""The ESP32 project's ``src/CMakeLists.txt`` builds every C/C++ file in ``src/``
(round 48, texthunt item 10).

It listed its sources one by one: a driver of the user's beside
``src/tinyslm_actions.c`` was never compiled (a call to it failed at the link), and
adding it to the list was an edit of a generated file, which ``generate --force`` then
refused. PlatformIO's own ESP-IDF template globs ``src/``, and the STM32H7 build
(PlatformIO's default ``build_src_filter``) takes every file there.

CMake itself reads the file here, in project mode, with ``idf_component_register``
stubbed to write down its ``SRCS``: what ESP-IDF would be given, with no ESP-IDF tree
needed; and in script mode, as ESP-IDF 5.3.1 first reads every component's file for its
requirements (``component_get_requirements.cmake``, ``CMAKE_BUILD_EARLY_EXPANSION``),
where CMake refuses ``CONFIGURE_DEPENDS``: the first glob stopped every ESP32 build there.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from shared_paths import missing

from tinyslm.boards import load_board
from tinyslm.emit import render_project
from tinyslm.manifest import load_model_dir

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"
# A top-level project standing in for ESP-IDF's: the component's call, recorded.
STUB = """cmake_minimum_required(VERSION 3.16)
project(srcs_check NONE)
function(idf_component_register)
  cmake_parse_arguments(arg "" "" "SRCS;INCLUDE_DIRS;REQUIRES" ${ARGN})
  string(REPLACE ";" "\\n" listed "${arg_SRCS}")
  file(WRITE "${CMAKE_BINARY_DIR}/srcs.txt" "${listed}")
endfunction()
add_subdirectory(src)
"""


def _project(tmp_path: Path) -> Path:
    manifest, model = load_model_dir(FIXTURE_MODEL, probe_arena=False)
    plan = render_project(load_board("esp32"), manifest, model)
    root = tmp_path / "project"
    for rel, data in {**plan.as_mapping(), **plan.starter_mapping()}.items():
        if rel.startswith("src/"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
    (root / "CMakeLists.txt").write_text(STUB, encoding="utf-8")
    return root


def _registered(root: Path) -> list[str]:
    if shutil.which("cmake") is None:
        missing("cmake not on PATH")
    build = root / "build"
    proc = subprocess.run(
        ["cmake", "-S", str(root), "-B", str(build)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return (build / "srcs.txt").read_text(encoding="utf-8").splitlines()


def test_a_users_sources_beside_the_actions_file_are_built(tmp_path: Path) -> None:
    root = _project(tmp_path)
    src = root / "src"
    generated = sorted(p.name for p in src.iterdir() if p.suffix in (".c", ".cc"))
    assert "tinyslm_actions.c" in generated and "main.cc" in generated
    (src / "my_driver.c").write_text("int my_driver(void) { return 1; }\n", encoding="utf-8")
    (src / "drivers").mkdir()
    (src / "drivers" / "relay.cpp").write_text("int relay() { return 0; }\n", encoding="utf-8")
    (src / "notes.txt").write_text("not a source\n", encoding="utf-8")

    srcs = _registered(root)
    assert len(srcs) == len(set(srcs)), f"a source given twice: {srcs}"
    assert sorted(srcs) == sorted([*generated, "my_driver.c", "drivers/relay.cpp"])


def test_the_sources_are_globbed_so_a_new_file_needs_no_edit() -> None:
    manifest, model = load_model_dir(FIXTURE_MODEL, probe_arena=False)
    cmake = render_project(load_board("esp32"), manifest, model).as_mapping()["src/CMakeLists.txt"]
    text = cmake.decode()
    assert "file(GLOB_RECURSE " in text and "CONFIGURE_DEPENDS *.c *.cc *.cpp" in text
    assert "SRCS ${tinyslm_sources}" in text


def test_generated_sources_alone_are_what_it_built_before(tmp_path: Path) -> None:
    root = _project(tmp_path)
    src = root / "src"
    assert sorted(_registered(root)) == sorted(
        p.name for p in src.iterdir() if p.suffix in (".c", ".cc")
    )


# ESP-IDF 5.3.1's tools/cmake/scripts/component_get_requirements.cmake, cut to what it
# does with a component's file: `cmake -P`, idf_component_register a macro that records
# REQUIRES and returns, CMAKE_BUILD_EARLY_EXPANSION set, the file include()d.
EARLY = """macro(idf_component_register)
  cmake_parse_arguments(_ "" "KCONFIG;KCONFIG_PROJBUILD"
    "SRCS;SRC_DIRS;INCLUDE_DIRS;REQUIRES;PRIV_REQUIRES" "${ARGN}")
  set(__component_requires "${__REQUIRES}")
  set(__component_registered 1)
  return()
endmacro()
function(__component_get_requirements)
  include(${__component_dir}/CMakeLists.txt OPTIONAL)
  message(STATUS "requires: ${__component_requires} registered=${__component_registered}")
endfunction()
set(CMAKE_BUILD_EARLY_EXPANSION 1)
__component_get_requirements()
"""


def test_esp_idf_reads_the_file_as_a_script_for_its_requirements(tmp_path: Path) -> None:
    root = _project(tmp_path)
    if shutil.which("cmake") is None:
        missing("cmake not on PATH")
    script = tmp_path / "early.cmake"
    script.write_text(EARLY, encoding="utf-8")
    proc = subprocess.run(
        ["cmake", f"-D__component_dir={root / 'src'}", "-P", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    said = proc.stdout + proc.stderr
    assert "requires: esp_driver_gpio;esp_driver_uart;esp_timer registered=1" in said, said
