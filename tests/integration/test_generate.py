"""``tinyslm generate`` and ``tinyslm boards`` end to end (click runner, fixture model).

Checks the project layouts against what ESP-IDF and STM32Cube/PlatformIO expect,
that ``pio project config`` accepts them offline, determinism, the TFLM tree
hand-off, and that every failure leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner, Result
from shared_paths import missing

from tinyslm.boards import load_board
from tinyslm.cli import cli
from tinyslm.manifest import load_model_dir

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "model"
PIO = REPO / ".venv" / "bin" / "pio"

COMMON = {
    "platformio.ini",
    "README.md",
    "tinyslm.json",
    "src/main.cc",
    "src/tinyslm_core.c",
    "src/tinyslm_core.h",
    "src/tinyslm_gate.c",
    "src/tinyslm_gate.h",
    "src/tinyslm_json.c",
    "src/tinyslm_json.h",
    "src/tinyslm_mean.cc",
    "src/tinyslm_mean.h",
    "src/tinyslm_tflm.cc",
    "src/tinyslm_tflm.h",
    "src/tinyslm_tokenizer.c",
    "src/tinyslm_tokenizer.h",
    "src/tinyslm_model_data.cc",
    "src/tinyslm_model_data.h",
    "src/tinyslm_settings.c",
    "src/tinyslm_settings.h",
    "src/tinyslm_ops.h",
    "src/tinyslm_actions.h",
    "src/tinyslm_actions.c",  # the user's, from the starter
}
ESP32_ONLY = {"CMakeLists.txt", "src/CMakeLists.txt", "src/idf_component.yml", "sdkconfig.defaults"}
STM32_ONLY = {"tinyslm_hardfloat.py"}
# Not rendered: the list of what generate wrote, for 'generate --force' (tinyslm.outdir).
RECORD = ".tinyslm-files.json"


@pytest.fixture(autouse=True)
def _no_cached_tflm_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # resolve_tree falls back to ~/.cache; keep the tests independent of this machine.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def _run(*args: str, cwd: Path | None = None) -> Result:
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(cli, list(args), catch_exceptions=False)
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return runner.invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def _generate(board: str, out: Path, *extra: str) -> Result:
    return _run("generate", "--board", board, "--model", str(FIXTURE), "-o", str(out), *extra)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _one_error(result: Result, *needles: str) -> str:
    assert result.exit_code == 1, (result.exit_code, result.output)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _fixture_model_bytes() -> int:
    return int(json.loads((FIXTURE / "manifest.json").read_text())["model_bytes"])


def test_esp32_project_is_an_esp_idf_project(tmp_path: Path) -> None:
    out = tmp_path / "esp32"
    result = _generate("esp32", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        f"wrote {out} (28 files): board esp32, model {_fixture_model_bytes()} bytes, "
        "arena 4096 bytes"
    )
    files = _files(out)
    assert set(files) == COMMON | ESP32_ONLY | {RECORD}
    # ESP-IDF: a top-level project CMakeLists.txt ...
    top = files["CMakeLists.txt"].decode()
    assert re.search(r"^cmake_minimum_required\(VERSION 3\.\d+\)$", top, re.M)
    assert "include($ENV{IDF_PATH}/tools/cmake/project.cmake)" in top
    assert re.search(r"^project\(tinyslm_esp32\)$", top, re.M)
    # ... a component in src/ registering every source that is there ...
    comp = files["src/CMakeLists.txt"].decode()
    assert "idf_component_register(" in comp and 'INCLUDE_DIRS "."' in comp
    listed = set(re.findall(r'"([\w.]+\.(?:c|cc))"', comp))
    assert listed == {p[4:] for p in files if p.startswith("src/") and p.endswith((".c", ".cc"))}
    # ... and the TFLM component pinned in its manifest.
    manifest = yaml.safe_load(files["src/idf_component.yml"])
    board = load_board("esp32")
    assert manifest == {
        "dependencies": {
            "espressif/esp-tflite-micro": board.tflm.version,
            "idf": {"version": board.tflm.idf},
        }
    }
    assert b"CONFIG_ESP_DEFAULT_CPU_FREQ_MHZ_240=y" in files["sdkconfig.defaults"]
    info = json.loads(files["tinyslm.json"])
    fixture_manifest = json.loads((FIXTURE / "manifest.json").read_text())
    assert info["manifest"] == fixture_manifest
    assert (info["board"], info["model_sha256"]) == ("esp32", fixture_manifest["model_sha256"])


def test_stm32h7_project_is_a_stm32cube_project(tmp_path: Path) -> None:
    out = tmp_path / "stm32h7"
    result = _generate("stm32h7", out)
    assert result.exit_code == 0, result.output
    files = _files(out)
    # PlatformIO's stm32cube build: sources in src/, libraries in lib/, no CMake.
    assert set(files) == COMMON | STM32_ONLY | {RECORD}
    assert not (out / "lib").exists()
    from tinyslm.toolchain import tflm

    note = [ln for ln in result.stderr.splitlines() if ln.startswith("note: lib/")]
    assert note == [f"note: lib/tflm not included: {tflm.missing_tree_hint()}"]
    assert "tinyslm tflm fetch" in note[0] and "--tflm-dir" in note[0]
    ini = files["platformio.ini"].decode()
    assert "extra_scripts =\n    tinyslm_hardfloat.py\n" in ini
    main = files["src/main.cc"].decode()
    for needle in ("USART3_IRQHandler", "GPIO_AF7_USART3", "GPIO_PIN_8", "GPIOD", "GPIOB",
                   "DWT->CYCCNT", "SystemCoreClock", "tinyslm_tflm_init()",
                   '"tflm_init_failed"', "SysTick_Handler"):  # fmt: skip
        assert needle in main, needle


def _fake_tflm_tree(root: Path, *, cortex_m: bool = True) -> Path:
    """The files tinyslm.toolchain.tflm.validate_tree requires, plus one kernel, marked
    (and cortex_m_generic's debug_log.cc: the kind of tree the STM32H7 builds)."""
    from tinyslm.toolchain import tflm

    marker = (tflm.CORTEX_M_MARKER,) if cortex_m else ()
    for rel in (*tflm.REQUIRED_FILES, *marker, "tensorflow/lite/micro/kernels/softmax.cc"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"// {rel}\n")
    return root


def test_stm32h7_with_a_tflm_tree_gets_lib_tflm(tmp_path: Path) -> None:
    tree = _fake_tflm_tree(tmp_path / "tree")
    out = tmp_path / "proj"
    result = _generate("stm32h7", out, "--tflm-dir", str(tree))
    assert result.exit_code == 0, result.output
    assert "+ lib/tflm" in result.stdout and "note: lib/tflm" not in result.output
    lib = _files(out / "lib" / "tflm")
    for rel, data in _files(tree).items():
        assert lib[rel] == data
    library = json.loads(lib["library.json"])
    assert library["name"] == "tflm"
    assert set(_files(out)) - {f"lib/tflm/{rel}" for rel in lib} == COMMON | STM32_ONLY | {RECORD}


def test_force_keeps_a_patched_lib_tflm(tmp_path: Path) -> None:
    """A kernel patched in lib/tflm is the user's work: generate --force with a new tree
    names it and replaces nothing; with the patch undone, the tree is replaced."""
    tree = _fake_tflm_tree(tmp_path / "tree")
    out = tmp_path / "proj"
    assert _generate("stm32h7", out, "--tflm-dir", str(tree)).exit_code == 0
    kernel = out / "lib" / "tflm" / "tensorflow/lite/micro/kernels/softmax.cc"
    original = kernel.read_bytes()
    kernel.write_text("// my fix\n")
    before = _files(out)
    (tree / "tensorflow/lite/micro/kernels/softmax.cc").write_text("// a newer TFLM\n")
    result = _generate("stm32h7", out, "--tflm-dir", str(tree), "--force")
    _one_error(result, "lib/tflm/tensorflow/lite/micro/kernels/softmax.cc (edited since")
    assert _files(out) == before
    kernel.write_bytes(original)
    assert _generate("stm32h7", out, "--tflm-dir", str(tree), "--force").exit_code == 0
    assert kernel.read_text() == "// a newer TFLM\n"


def test_moving_to_esp32_makes_lib_tflm_stale(tmp_path: Path) -> None:
    """Round 33: esp32 builds TFLM as an ESP-IDF component, so an stm32h7 project's
    lib/tflm is stale there; it was kept even with --prune (and counted as the user's)."""
    tree = _fake_tflm_tree(tmp_path / "tree")
    out = tmp_path / "proj"
    assert _generate("stm32h7", out, "--tflm-dir", str(tree)).exit_code == 0
    kept = _generate("esp32", out, "--force")
    assert kept.exit_code == 0, kept.output
    assert "(remove with --force --prune): " in kept.stderr and "lib/tflm/" in kept.stderr
    assert "kept 1 of yours" in kept.stdout
    assert (out / "lib" / "tflm" / "library.json").is_file()
    pruned = _generate("esp32", out, "--force", "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert "removed   lib/tflm/" in pruned.stdout
    assert set(_files(out)) == COMMON | ESP32_ONLY | {RECORD}


def test_a_bad_tflm_dir_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = _generate("stm32h7", tmp_path / "proj", "--tflm-dir", str(tmp_path / "empty"))
    _one_error(result, "is not a TFLM tree")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_a_tflm_dir_in_a_symlink_loop_is_one_line(tmp_path: Path) -> None:
    # Path.resolve() raised RuntimeError (a traceback) on the loop.
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    result = _generate("stm32h7", tmp_path / "proj", "--tflm-dir", str(tmp_path / "a"))
    _one_error(result, "does not exist or is not a folder")
    assert not (tmp_path / "proj").exists()


def test_tflm_dir_does_not_apply_to_esp32(tmp_path: Path) -> None:
    result = _generate("esp32", tmp_path / "proj", "--tflm-dir", str(tmp_path))
    _one_error(result, "--tflm-dir does not apply to board esp32", "espressif/esp-tflite-micro")
    assert not (tmp_path / "proj").exists()


def test_a_project_inside_the_tflm_tree_it_copies_is_refused(tmp_path: Path) -> None:
    # The staging folder would sit inside the tree, and the tree would be copied into itself.
    result = _generate("stm32h7", tmp_path / "proj", "--tflm-dir", str(tmp_path))
    _one_error(result, f"is inside the TFLM tree being copied ({tmp_path})")
    assert sorted(tmp_path.iterdir()) == []


@pytest.mark.parametrize("board", ["esp32", "stm32h7"])
def test_generation_is_deterministic(tmp_path: Path, board: str) -> None:
    assert _generate(board, tmp_path / "a").exit_code == 0
    assert _generate(board, tmp_path / "b").exit_code == 0
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


@pytest.mark.parametrize("board", ["esp32", "stm32h7"])
def test_pio_accepts_the_project_offline(tmp_path: Path, board: str) -> None:
    if not PIO.exists() and shutil.which("pio") is None:
        missing("PlatformIO (pio) is not installed")
    pio = str(PIO) if PIO.exists() else "pio"
    out = tmp_path / board
    assert _generate(board, out).exit_code == 0
    core = tmp_path / "pio-core"  # empty: nothing to download, nothing cached from elsewhere
    env = dict(os.environ, PLATFORMIO_CORE_DIR=str(core), PLATFORMIO_NO_ANSI="1")
    proc = subprocess.run(
        [pio, "project", "config", "-d", str(out), "--json-output"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = dict(json.loads(proc.stdout))
    spec = load_board(board)
    assert dict(config["platformio"])["default_envs"] == [spec.platformio.env]
    env_opts = dict(config[f"env:{spec.platformio.env}"])
    for key, value in spec.platformio.options:
        got = env_opts[key]
        if isinstance(value, tuple):
            assert got == list(value), key
        elif key == "framework":
            assert got == [value]
        else:
            assert got == value, key
    assert not (core / "platforms").exists() and not (core / "packages").exists()


def test_existing_output_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "proj"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    # Not a project --force would take (no tinyslm.json): --force is not suggested.
    _one_error(_generate("esp32", out), "exists and is not empty", "choose a new or empty folder")
    assert _files(out) == {"mine.txt": b"keep"}
    # --force replaces only a tinyslm project's files: a folder of other files is not one.
    _one_error(_generate("esp32", out, "--force"), "not a tinyslm project", "tinyslm.json")
    assert _files(out) == {"mine.txt": b"keep"}


def _tflm_board_model(tmp_path: Path, labels_suffix: str) -> Path:
    """A copy of the fixture model whose labels differ (so generated files change)."""
    from tinyslm.manifest import load_model_dir

    manifest, model = load_model_dir(FIXTURE)
    import dataclasses

    other = dataclasses.replace(
        manifest, labels=tuple(f"{x}{labels_suffix}" for x in manifest.labels)
    )
    folder = tmp_path / f"model{labels_suffix}"
    folder.mkdir()
    (folder / "model.tflite").write_bytes(model)
    other.write(folder)
    return folder


def test_force_regenerates_and_keeps_the_users_files_and_pio_cache(tmp_path: Path) -> None:
    out = tmp_path / "proj"
    assert _generate("esp32", out).exit_code == 0
    (out / "src" / "my_sensor.c").write_text("int my_sensor;\n")
    (out / "notes.md").write_text("my notes\n")
    (out / ".pio" / "build" / "esp32").mkdir(parents=True)
    (out / ".pio" / "build" / "esp32" / "firmware.bin").write_bytes(b"\xe9cached")
    model = _tflm_board_model(tmp_path, "_v2")
    result = _run("generate", "--board", "esp32", "--model", str(model), "-o", str(out), "--force")
    assert result.exit_code == 0, result.output
    files = _files(out)
    assert files["src/my_sensor.c"] == b"int my_sensor;\n"
    assert files["notes.md"] == b"my notes\n"
    assert files[".pio/build/esp32/firmware.bin"] == b"\xe9cached"
    assert b"_v2" in files["src/tinyslm_settings.c"]
    # Which files changed, as copier's update says it.
    lines = result.stdout.splitlines()
    assert "  changed   src/tinyslm_settings.c" in lines
    assert "  changed   src/main.cc" not in lines
    summary = lines[-1]
    assert summary.startswith(f"updated {out}: ") and "0 added" in summary, summary
    # Theirs: my_sensor.c, notes.md, .pio/ and the actions file generate started.
    assert "kept 4 of yours" in summary, summary


def test_the_actions_file_is_the_users_across_regenerations(tmp_path: Path) -> None:
    """src/tinyslm_actions.c: written by the first generate, then never replaced."""
    out = tmp_path / "proj"
    result = _generate("esp32", out)
    assert result.exit_code == 0, result.output
    assert (
        "note: src/tinyslm_actions.c is yours: what the board does on each answer; "
        "generate never replaces it"
    ) in result.stderr.splitlines()
    actions = out / "src" / "tinyslm_actions.c"
    starter = actions.read_bytes()
    assert b"void tinyslm_on_answer(const tinyslm_answer_t *answer, void *ctx)" in starter
    record = json.loads((out / ".tinyslm-files.json").read_text())
    assert "src/tinyslm_actions.c" not in record["files"]
    assert "src/tinyslm_actions.h" in record["files"]
    cmake = (out / "src" / "CMakeLists.txt").read_text()
    assert '"tinyslm_actions.c"' in cmake  # ESP-IDF lists its sources: the user's is built
    mine = starter.replace(b"// Set up what", b"gpio_reset_pin(GPIO_NUM_2);  // Set up what")
    actions.write_bytes(mine)
    model = _tflm_board_model(tmp_path, "_v2")
    for extra in ((), ("--prune",)):
        result = _run(
            "generate", "--board", "esp32", "--model", str(model), "-o", str(out), "--force",
            *extra,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert actions.read_bytes() == mine
        # No starter note (the labels-changed note may name the kept file).
        assert "tinyslm_actions.c is yours: what the board does" not in result.output
    actions.unlink()
    result = _run("generate", "--board", "esp32", "--model", str(model), "-o", str(out), "--force")
    assert result.exit_code == 0, result.output
    assert b"_v2" in actions.read_bytes()  # a new starter, for the model of now
    assert "note: src/tinyslm_actions.c is yours" in result.stderr


def test_force_keeps_the_mode_of_a_file_it_rewrites(tmp_path: Path) -> None:
    # A rewritten file was made anew with the umask's mode: a README the user had made
    # private (chmod 600) became readable by all again.
    out = tmp_path / "proj"
    assert _generate("esp32", out).exit_code == 0
    (out / "README.md").chmod(0o600)
    (out / "src" / "tinyslm_settings.c").chmod(0o640)
    result = _generate("esp32", out, "--threshold", "0.6", "--force")
    assert result.exit_code == 0, result.output
    assert "  changed   README.md" in result.stdout.splitlines()
    assert (out / "README.md").stat().st_mode & 0o777 == 0o600
    assert (out / "src" / "tinyslm_settings.c").stat().st_mode & 0o777 == 0o640


def test_force_refuses_an_edited_generated_file(tmp_path: Path) -> None:
    out = tmp_path / "proj"
    assert _generate("esp32", out).exit_code == 0
    main = out / "src" / "main.cc"
    main.write_bytes(main.read_bytes() + b"// my change\n")
    before = _files(out)
    model = _tflm_board_model(tmp_path, "_v2")
    result = _run("generate", "--board", "esp32", "--model", str(model), "-o", str(out), "--force")
    _one_error(result, "src/main.cc (edited since it was generated)")
    assert _files(out) == before


def test_stale_generated_files_are_removed_only_with_prune(tmp_path: Path) -> None:
    # An esp32 project regenerated for stm32h7: the ESP-IDF files are no longer generated.
    assert _generate("esp32", tmp_path / "esp32").exit_code == 0
    assert _generate("stm32h7", tmp_path / "stm32h7").exit_code == 0
    esp32, stm32h7 = set(_files(tmp_path / "esp32")), set(_files(tmp_path / "stm32h7"))
    assert esp32 - stm32h7 >= ESP32_ONLY
    out = tmp_path / "esp32"
    result = _generate("stm32h7", out, "--force")
    assert result.exit_code == 0, result.output
    assert "note: no longer generated, kept (remove with --force --prune): CMakeLists.txt" in (
        result.stderr
    )
    assert set(_files(out)) == esp32 | stm32h7
    result = _generate("stm32h7", out, "--force", "--prune")
    assert result.exit_code == 0, result.output
    assert "  removed   src/idf_component.yml" in result.stdout.splitlines()
    assert set(_files(out)) == stm32h7
    assert _one_error(_run("generate", "--board", "esp32", "--prune"), "--prune only applies")


def test_a_stale_file_kept_because_edited_is_named_so(tmp_path: Path) -> None:
    """--prune keeps a no-longer-generated file the user edited; the note said "remove
    with --force --prune" to the user who had just passed both. And with -q, stdout is
    the summary line alone: notes go to stderr."""
    out = tmp_path / "p"
    assert _generate("esp32", out).exit_code == 0
    with (out / "sdkconfig.defaults").open("a") as f:
        f.write("CONFIG_MINE=y\n")
    for extra in ((), ("--prune",)):
        result = _generate("stm32h7", out, "--force", "-q", *extra)
        assert result.exit_code == 0, result.output
        notes = [ln for ln in result.stderr.splitlines() if "no longer generated" in ln]
        assert notes[-1] == (
            "note: no longer generated, kept because edited since tinyslm wrote them "
            "(remove them yourself if unneeded): sdkconfig.defaults"
        ), extra
        assert not any("sdkconfig.defaults" in ln and "--prune" in ln for ln in notes), extra
        assert len(result.stdout.splitlines()) == 1 and result.stdout.startswith("updated ")
    assert (out / "sdkconfig.defaults").read_text().endswith("CONFIG_MINE=y\n")


def test_force_refuses_the_model_folder_in_use(tmp_path: Path) -> None:
    model = tmp_path / "m"
    shutil.copytree(FIXTURE, model)
    for out in (model, tmp_path):
        result = _run(
            "generate", "--board", "esp32", "--model", str(model), "-o", str(out), "--force"
        )
        _one_error(result, "holds the model being used")
    assert sorted(p.name for p in model.iterdir()) == ["manifest.json", "model.tflite"]


def test_a_symlinked_output_stays_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert _generate("esp32", link).exit_code == 0
    assert _generate("esp32", link, "--force").exit_code == 0
    assert link.is_symlink() and (real / "platformio.ini").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]  # no .link.old-*


def test_over_budget_writes_nothing(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(FIXTURE, model_dir)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    manifest["arena_bytes"] = 200 * 1024  # esp32 allows 96 KB of arena
    (model_dir / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "new" / "proj"
    result = _run("generate", "--board", "esp32", "--model", str(model_dir), "-o", str(out))
    line = _one_error(result, "does not fit board esp32", "arena 256000 bytes", "98304 bytes")
    # The model fits; only the arena is reported.
    assert f"model {_fixture_model_bytes()}" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # not even new/


def test_unknown_board_lists_the_known_ones(tmp_path: Path) -> None:
    result = _generate("esp8266", tmp_path / "proj")
    assert _one_error(result).startswith(
        "error: Invalid value for '--board': 'esp8266' is not one of 'esp32', 'stm32h7'."
    )
    assert not (tmp_path / "proj").exists()


def test_missing_model_dir(tmp_path: Path) -> None:
    result = _run(
        "generate", "--board", "esp32", "--model", str(tmp_path / "nope"), "-o", str(tmp_path / "p")
    )
    _one_error(result, "manifest.json not found")
    assert not (tmp_path / "p").exists()


def test_default_output_is_firmware_board_under_cwd(tmp_path: Path) -> None:
    result = _run("generate", "--board", "esp32", "--model", str(FIXTURE), cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "projects" / "esp32" / "platformio.ini").is_file()


def test_without_model_it_trains_on_the_demo_set_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Training itself is covered by the train tests; here only the hand-over is checked:
    # run_train gets the demo set (data=None) and its output is what gets generated.
    import tinyslm.pipeline as pipeline

    calls: list[tuple[object, Path]] = []

    def fake_train(data: object, out: Path, *args: object, **kwargs: object) -> object:
        calls.append((data, out))
        shutil.copytree(FIXTURE, out)
        # What the size check after training reads of run_train's result.
        return SimpleNamespace(manifest=load_model_dir(out)[0])

    monkeypatch.setattr(pipeline, "run_train", fake_train)
    out = tmp_path / "proj"
    result = _run("generate", "--board", "esp32", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert len(calls) == 1 and calls[0][0] is None
    assert not calls[0][1].exists()  # trained into a temporary folder, removed afterwards
    info = json.loads((out / "tinyslm.json").read_text())
    assert (
        info["model_sha256"] == json.loads((FIXTURE / "manifest.json").read_text())["model_sha256"]
    )


def test_boards_command() -> None:
    result = _run("boards")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[0] == "id"
    assert [ln.split()[0] for ln in lines[1:]] == ["esp32", "stm32h7"]


def test_the_missing_lib_tflm_hint_regenerates_the_same_project(tmp_path: Path) -> None:
    """``build`` on an STM32H7 project without ``lib/tflm`` prints the ``generate`` command
    that makes it again: run as printed (the model folder filled in, a tree added), it
    gives the project back byte for byte, its operating point included. The hint lacked
    ``-o`` and ``--model`` and so trained the demo into projects/stm32h7/."""
    tree = _fake_tflm_tree(tmp_path / "tree")
    out = tmp_path / "my proj"
    own = ("--threshold", "0.6", "--label-threshold", "door_unlock=0.9")
    assert _generate("stm32h7", out, "--tflm-dir", str(tree), *own).exit_code == 0
    before = _files(out)
    shutil.rmtree(out / "lib" / "tflm")
    line = _one_error(_run("build", str(out)), "no lib/tflm", "tinyslm tflm fetch")
    sha = json.loads(before["tinyslm.json"])["model_sha256"]
    assert f"model sha256 {sha[:12]}" in line
    command = shlex.split(line.rsplit("...): ", 1)[1])
    assert command[:2] == ["tinyslm", "generate"] and "-o" in command and "--force" in command
    args = [str(FIXTURE) if arg == "MODEL_DIR" else arg for arg in command[1:]]
    result = _run(*args, "--tflm-dir", str(tree))
    assert result.exit_code == 0, result.output
    assert _files(out) == before
    assert not (tmp_path / "projects").exists()
    # The project README's command does the same.
    shutil.rmtree(out / "lib" / "tflm")
    readme = before["README.md"].decode()
    said = next(ln for ln in readme.splitlines() if ln.startswith("tinyslm generate --model"))
    # The levels as recorded (0.6 and 0.9 select 0.601 and 0.902): the same levels again.
    options = "--force --threshold 0.601 --label-threshold door_unlock=0.902"
    assert said.endswith(f"-o PROJECT_DIR {options}"), said
    fill = {"MODEL_DIR": str(FIXTURE), "PROJECT_DIR": out.name}
    args = [fill.get(arg, arg) for arg in shlex.split(said)[1:]]
    result = _run(*args, "--tflm-dir", str(tree), cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert _files(out) == before


def test_stm32h7_refuses_a_host_tree_and_keeps_its_own_on_regenerate(tmp_path: Path) -> None:
    """A host (reference-kernel) tree was copied in silently, and the README and
    platformio.ini described it as CMSIS-NN; regenerating without a tree said lib/tflm
    was not included while it kept the project's own."""
    host = _fake_tflm_tree(tmp_path / "host", cortex_m=False)
    out = tmp_path / "proj"
    _one_error(
        _generate("stm32h7", out, "--tflm-dir", str(host)),
        "is a host (reference-kernel) TFLM tree; board stm32h7 needs a Cortex-M7",
    )
    assert not out.exists()
    tree = _fake_tflm_tree(tmp_path / "tree")
    assert _generate("stm32h7", out, "--tflm-dir", str(tree)).exit_code == 0
    before = _files(out / "lib" / "tflm")
    result = _generate("stm32h7", out, "--force", "--threshold", "0.6")
    assert result.exit_code == 0, result.output
    assert "note: lib/tflm kept as it is" in result.stderr
    assert "not included" not in result.output
    assert _files(out / "lib" / "tflm") == before


def test_the_keyword_readme_regenerates_with_its_microphone_pins(tmp_path: Path) -> None:
    """The keyword README's regenerate command names the --mic-pin overrides: without
    them it moved the microphone back to the board file's pins, away from the wiring."""
    import sys

    sys.path.insert(0, str(REPO / "tests" / "fixtures"))
    from kws import keyword_model_dir

    model = keyword_model_dir(tmp_path / "km")
    tree = _fake_tflm_tree(tmp_path / "tree")
    out = tmp_path / "kproj"
    args = ("generate", "--board", "stm32h7", "--model", str(model), "-o", str(out))
    result = _run(*args, "--tflm-dir", str(tree), "--mic-pin", "sd=PD6:AF6")
    assert result.exit_code == 0, result.output
    before = _files(out)
    readme = before["README.md"].decode()
    said = next(ln for ln in readme.splitlines() if ln.startswith("tinyslm generate --model"))
    assert said.endswith("-o PROJECT_DIR --force --mic-pin sd=PD6:AF6"), said
    fill = {"MODEL_DIR": str(model), "PROJECT_DIR": out.name}
    again = [fill.get(arg, arg) for arg in shlex.split(said)[1:]]
    result = _run(*again, "--tflm-dir", str(tree), cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert _files(out) == before
    # build's hint gives the same command, with the pins tinyslm.json records.
    shutil.rmtree(out / "lib" / "tflm")
    _one_error(_run("build", str(out)), f"-o {out} --force --mic-pin sd=PD6:AF6")


def test_force_with_other_labels_says_to_check_the_users_actions(tmp_path: Path) -> None:
    # src/tinyslm_actions.c is kept on --force; a branch for a label the new model lacks
    # then never fires again, and nothing said so.
    out = tmp_path / "proj"
    assert _generate("esp32", out).exit_code == 0
    model = _tflm_board_model(tmp_path, "_v2")
    result = _run("generate", "--board", "esp32", "--model", str(model), "-o", str(out), "--force")
    assert result.exit_code == 0, result.output
    manifest, _ = load_model_dir(FIXTURE)
    notes = [ln for ln in result.output.splitlines() if "labels changed" in ln]
    assert len(notes) == 1, result.output
    assert f"no longer: {', '.join(manifest.labels)}" in notes[0]
    assert "src/tinyslm_actions.c is yours and was kept" in notes[0]
    # The same labels again: nothing to say.
    again = _run("generate", "--board", "esp32", "--model", str(model), "-o", str(out), "--force")
    assert again.exit_code == 0 and "labels changed" not in again.output
