"""The ESP32 project's ``src/CMakeLists.txt`` builds every C/C++ file in ``src/``
(round 48, texthunt item 10).

It listed its sources one by one: a driver of the user's beside
``src/tinyslm_actions.c`` was never compiled (a call to it failed at the link), and
adding it to the list was an edit of a generated file, which ``generate --force`` then
refused. PlatformIO's own ESP-IDF template globs ``src/``, and the STM32H7 build
(PlatformIO's default ``build_src_filter``) takes every file there.

CMake itself reads the file here, in project mode (``CONFIGURE_DEPENDS`` is refused in
script mode), with ``idf_component_register`` stubbed to write down its ``SRCS``: what
ESP-IDF would be given, with no ESP-IDF tree needed.
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
