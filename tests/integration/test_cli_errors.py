"""Every command's failure modes: exit code 1 and ONE ``error:`` line, no traceback.

Each case runs ``python -m tinyslm`` in a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from cli_support import DEMO_CSV, REPO, assert_one_error_line, run_cli

# JSON nested past Python's recursion limit: json.loads raises RecursionError, which is
# not a ValueError, so readers that caught only JSONDecodeError gave a traceback.
DEEP = "[" * 100_000 + "]" * 100_000


def test_unknown_board(tmp_path: Path, fixture_model: Path) -> None:
    proc = run_cli(
        "generate", "--board", "nosuch", "--model", str(fixture_model), "-o", str(tmp_path / "o")
    )
    assert_one_error_line(proc, "'nosuch' is not one of 'esp32', 'stm32h7'")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "args", [("build",), ("flash",), ("emulate", "--text", "hi"), ("info",)],
    ids=["build", "flash", "emulate", "info"],
)  # fmt: skip
def test_unknown_board_in_project(
    fake_pio: Path, minimal_project: Path, args: tuple[str, ...]
) -> None:
    """Named with the file it is in (build and flash used to say only "unknown board";
    emulate and info went on for a board tinyslm does not know)."""
    record = minimal_project / "tinyslm.json"
    record.write_text(json.dumps(dict(json.loads(record.read_text()), board="nosuch")))
    proc = run_cli(args[0], str(minimal_project), *args[1:])
    assert_one_error_line(proc, f"{record}: unknown board 'nosuch'", "esp32")
    assert not fake_pio.exists()  # refused before running pio


@pytest.mark.parametrize(
    "args",
    [("emulate", "{p}", "--text", "hi"), ("build", "{p}"), ("flash", "{p}")],
    ids=["emulate", "build", "flash"],
)
def test_missing_project(tmp_path: Path, args: tuple[str, ...]) -> None:
    missing = tmp_path / "nowhere"
    proc = run_cli(*(a.format(p=missing) for a in args))
    assert_one_error_line(proc, str(missing), "project folder not found")


@pytest.mark.parametrize("command", ["emulate", "build", "flash"])
def test_not_a_project(tmp_path: Path, command: str) -> None:
    (tmp_path / "src").mkdir()
    proc = run_cli(command, str(tmp_path))
    assert_one_error_line(proc, "not a tinyslm project", "tinyslm.json")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{", "unreadable"),
        ("[]", "expected a JSON object"),
        ('{"board": "esp32"}', "model_sha256"),
        (DEEP, "unreadable"),
    ],
)
def test_malformed_project_file(tmp_path: Path, content: str, needle: str) -> None:
    (tmp_path / "tinyslm.json").write_text(content)
    assert_one_error_line(run_cli("emulate", str(tmp_path), "--text", "hi"), "tinyslm.json", needle)


def test_incomplete_project(esp32_project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "p"
    shutil.copytree(esp32_project, copy)
    (copy / "src" / "tinyslm_settings.c").unlink()
    proc = run_cli("emulate", str(copy), "--text", "hi")
    assert_one_error_line(proc, "incomplete project", "src/tinyslm_settings.c")


@pytest.mark.parametrize("command", ["build", "flash"])
def test_pio_absent(minimal_project: Path, tmp_path: Path, command: str) -> None:
    # A Python whose folder holds no pio (a symlink outside any venv), and a PATH
    # without one, with this environment's packages reachable via PYTHONPATH.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    python = bindir / "python3"
    python.symlink_to(getattr(sys, "_base_executable", sys.executable))
    env = dict(os.environ)
    env["PATH"] = str(bindir)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]])
    proc = subprocess.run(
        [str(python), "-m", "tinyslm", command, str(minimal_project)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert_one_error_line(proc, "PlatformIO ('pio') not found", "pip install platformio")


@pytest.mark.parametrize("command", ["build", "flash"])
def test_registry_unreachable(
    fake_pio: Path, minimal_project: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setenv("FAKE_PIO_MODE", "offline")
    proc = run_cli(command, str(minimal_project))
    assert_one_error_line(proc, "could not reach its registry", "networked machine")
    assert fake_pio.read_text().startswith("run -d")


def _flip_model_byte(project: Path, index: int) -> None:
    path = project / "src" / "tinyslm_model_data.cc"
    text = path.read_text()
    body_start = text.index("tinyslm_model_data[] = {")
    hexes = list(re.finditer(r"0x([0-9a-f]{2})", text[body_start:]))
    m = hexes[index]
    start = body_start + m.start(1)
    flipped = f"{int(m.group(1), 16) ^ 0xFF:02x}"
    path.write_text(text[:start] + flipped + text[start + 2 :])


def test_corrupted_model_is_refused(esp32_project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "p"
    shutil.copytree(esp32_project, copy)
    ok = run_cli("emulate", str(copy), "--text", "turn on the lights")
    assert ok.returncode == 0, ok.stderr
    _flip_model_byte(copy, 1000)
    for extra in (("--text", "turn on the lights"), ("--data", str(REPO / "no.csv"))):
        proc = run_cli("emulate", str(copy), *extra)
        assert_one_error_line(proc, "tinyslm_model_data.cc", "does not match tinyslm.json")
        assert proc.stdout == ""


def test_an_emptied_model_array_file_is_named(esp32_project: Path, tmp_path: Path) -> None:
    """An empty src/tinyslm_model_data.cc compiles: it was reported as an undefined
    symbol of a cached library, naming neither the file nor what to do."""
    copy = tmp_path / "p"
    shutil.copytree(esp32_project, copy)
    (copy / "src" / "tinyslm_model_data.cc").write_text("")
    proc = run_cli("emulate", str(copy), "--text", "turn on the lights")
    assert_one_error_line(
        proc, f"{copy / 'src' / 'tinyslm_model_data.cc'}: no tinyslm_model_data array"
    )


def test_missing_dataset_file(esp32_project: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    assert_one_error_line(
        run_cli("emulate", str(esp32_project), "--data", str(missing)),
        "missing.csv",
        "not found",
    )
    assert_one_error_line(
        run_cli("train", str(missing), "-o", str(tmp_path / "m")), "missing.csv", "not found"
    )


def test_native_without_a_tree(esp32_project: Path, tmp_path: Path) -> None:
    # An empty cache: no 'tinyslm tflm fetch --target host' tree to fall back on.
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    proc = run_cli("emulate", str(esp32_project), "--native", "--text", "hi", env=env)
    assert_one_error_line(proc, "TFLM source tree", "tinyslm tflm fetch --target host")
    proc = run_cli(
        "emulate", str(esp32_project), "--native", "--tflm-dir", str(tmp_path / "no"), env=env
    )
    assert_one_error_line(proc, "does not exist")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("emulate", "{p}", "--text", "a", "--data", "b.csv"), ("give one of --text, --data",)),
        (("train", "--frob"), ("No such option '--frob'", "tinyslm train --help")),
        (("emulate",), ("Missing argument 'PROJECT_DIR'",)),
        (("nosuch",), ("No such command 'nosuch'",)),
        (("generate", "--board", "esp32", "--prune"), ("--prune only applies with --force",)),
        (("train", "--hashes", "9"), ("'--hashes': 9 is not in the range 1<=x<=8",)),
        (("train", "--hashes", "2", "--seq-len", "1"), ("seq_len 1 holds no n-gram of 2 ids",)),
        # Options given where they do nothing were silently ignored.
        (("emulate", "{p}", "--tflm-dir", "/x", "--text", "hi"), ("--tflm-dir needs --native",)),
        (("emulate", "{p}", "--split", "val", "--text", "hi"), ("--split needs --data",)),
        (("emulate", "{p}", "--host-timeout", "5", "--text", "hi"), ("--host-timeout needs",)),
        (("emulate", "{p}", "--no-host-act", "--text", "hi"), ("--host-act needs --host-model",)),
    ],
    ids=[
        "conflicting",
        "unknown-option",
        "missing-argument",
        "unknown-command",
        "prune",
        "hashes-range",
        "hashes-over-seq-len",
        "tflm-dir-alone",
        "split-alone",
        "host-timeout-alone",
        "host-act-alone",
    ],
)
def test_usage_errors_are_one_line_and_exit_1(
    esp32_project: Path, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    # The README: "Errors are one line on stderr (error: ...) and exit code 1", usage too.
    proc = run_cli(*(a.format(p=esp32_project) for a in args))
    assert_one_error_line(proc, *needles)
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stdout == ""


def test_help_and_version_still_exit_0() -> None:
    assert run_cli("--help").returncode == 0
    proc = run_cli("--version")
    assert (proc.returncode, proc.stdout.strip()) == (0, "tinyslm, version 0.1.0")


def _demo_copy(folder: Path) -> Path:
    folder.mkdir(parents=True)
    data = folder / "my.csv"
    data.write_bytes(DEMO_CSV.read_bytes())
    return data


@pytest.mark.parametrize("out", ["data", ".", "data/.."])
def test_train_force_never_replaces_the_input_data(tmp_path: Path, out: str) -> None:
    data = _demo_copy(tmp_path / "data")
    proc = run_cli("train", "data/my.csv", "-o", out, "--force", cwd=tmp_path)
    assert_one_error_line(proc, "holds the input data", "my.csv")
    assert data.read_bytes() == DEMO_CSV.read_bytes()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["data", "my.csv"]


def test_train_force_refuses_the_current_folder_and_a_non_model_folder(tmp_path: Path) -> None:
    data = _demo_copy(tmp_path / "in")
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    proc = run_cli("train", str(data), "-o", ".", "--force", cwd=work)
    assert_one_error_line(proc, "current folder or a parent")
    proc = run_cli("train", str(data), "-o", str(work), "--force")
    assert_one_error_line(proc, "not a tinyslm model folder (no manifest.json)")
    assert [p.name for p in work.iterdir()] == ["notes.txt"]


def test_outputs_inside_their_inputs_are_refused_before_any_work(
    fixture_model: Path, tmp_path: Path
) -> None:
    # A model folder inside a keyword dataset would become a label folder without clips
    # (the next 'train kw' refuses the dataset); a project inside the model folder it
    # reads would be a stranger there.
    kw, synth = tmp_path / "kw", tmp_path / "syn"
    for folder in (kw / "yes", kw / "no", synth / "yes"):
        folder.mkdir(parents=True)
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    proc = run_cli("train", str(kw), "-o", str(kw / "model"))
    assert_one_error_line(proc, f"is inside the input data ({kw})")
    proc = run_cli("train", str(kw), "--extra-train", str(synth), "-o", str(synth / "m"))
    assert_one_error_line(proc, f"is inside the --extra-train data ({synth})")
    model = tmp_path / "m"
    shutil.copytree(fixture_model, model)
    proc = run_cli("generate", "--board", "esp32", "--model", str(model), "-o", str(model / "p"))
    assert_one_error_line(proc, "is inside the model being used")
    assert sorted(p.name for p in model.iterdir()) == ["manifest.json", "model.tflite"]
    assert "epoch" not in proc.stdout
    after = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert after == sorted([*before, "m", "m/manifest.json", "m/model.tflite"])


def test_train_unwritable_output_fails_before_training(tmp_path: Path) -> None:
    start = time.monotonic()
    proc = run_cli("train", "-o", "/proc/tinyslm-out", timeout=60)
    line = assert_one_error_line(proc, "cannot write /proc/tinyslm-out")
    assert ".tmp-" not in line  # names the target, not a hidden temporary folder
    assert "epoch" not in proc.stdout
    assert time.monotonic() - start < 30


@pytest.mark.parametrize(
    ("out", "json_out", "words"),
    [
        ("m", "m", "inside the model folder, or the folder itself"),
        ("m", "m/figures.json", "inside the model folder, or the folder itself"),
        ("a/m", "a", "names a folder the model folder goes in"),
    ],
)
def test_train_json_that_collides_with_the_model_folder_is_refused_before_training(
    tmp_path: Path, out: str, json_out: str, words: str
) -> None:
    """Before round 32 the first and the last case trained, then failed to write (the
    first leaving the model folder behind)."""
    proc = run_cli("train", "-o", out, "--json", json_out, cwd=tmp_path, timeout=60)
    assert_one_error_line(proc, words)
    assert "epoch" not in proc.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["info", "report"])
def test_a_path_the_file_system_refuses_is_one_line(
    fixture_model: Path, tmp_path: Path, command: str
) -> None:
    """A name over 255 bytes: Path.exists() lets that OSError through (it only swallows
    'no such file'), so the CLI's last resort turns it into one line."""
    long_name = tmp_path / ("a" * 300)
    args = (
        ["info", str(long_name)]
        if command == "info"
        else ["report", str(fixture_model), "-o", str(long_name)]
    )
    proc = run_cli(*args)
    assert_one_error_line(proc, "File name too long")


def test_generate_force_refuses_to_replace_the_model_it_reads(
    fixture_model: Path, tmp_path: Path
) -> None:
    model = tmp_path / "m"
    shutil.copytree(fixture_model, model)
    proc = run_cli(
        "generate", "--board", "esp32", "--model", str(model), "-o", str(model), "--force"
    )
    assert_one_error_line(proc, "holds the model being used")
    assert sorted(p.name for p in model.iterdir()) == ["manifest.json", "model.tflite"]


def test_emulate_text_that_is_not_utf8(esp32_project: Path) -> None:
    # A shell passes $'caf\xe9' as the bytes c a f 0xE9; the device gets them as typed.
    proc = run_cli("emulate", str(esp32_project), "--text", "caf\udce9")
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert set(answer) >= {"intent", "score", "route", "us"}


@pytest.mark.parametrize("kind", ["folder", "file-parent"])
def test_emulate_json_target_is_checked_before_the_run(
    esp32_project: Path, tmp_path: Path, kind: str
) -> None:
    if kind == "folder":
        target, needle = tmp_path, "is a folder"
    else:
        (tmp_path / "afile").write_text("x")
        target, needle = tmp_path / "afile" / "r.json", "is not a folder"
    proc = run_cli("emulate", str(esp32_project), "--data", str(DEMO_CSV), "--json", str(target))
    assert_one_error_line(proc, "--json", needle)
    assert proc.stdout == ""  # refused before running the data


def test_emulate_json_never_overwrites_the_data(esp32_project: Path, tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_bytes(DEMO_CSV.read_bytes())
    proc = run_cli("emulate", str(esp32_project), "--data", str(data), "--json", str(data))
    assert_one_error_line(proc, "--json names the --data file")
    assert data.read_bytes() == DEMO_CSV.read_bytes()


def test_emulate_json_creates_a_missing_parent(esp32_project: Path, tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "r.json"
    proc = run_cli("emulate", str(esp32_project), "--data", str(DEMO_CSV), "--json", str(target))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(target.read_text())
    assert summary["split"] == "test" and summary["phrases"] > 0, summary
    assert sorted(p.name for p in target.parent.iterdir()) == ["r.json"]


def test_tflm_fetch_offline_hint_names_real_options(tmp_path: Path) -> None:
    from tinyslm.errors import ToolchainError
    from tinyslm.toolchain import tflm

    with pytest.raises(ToolchainError) as err:
        tflm._download("http://127.0.0.1:9/tflite-micro.tar.gz", tmp_path / "a.tgz", 5)
    message = str(err.value)
    # 'tinyslm tflm fetch' has no --tflm-dir; the option belongs to generate and emulate.
    assert "or pass --tflm-dir" not in message
    assert "'tinyslm generate'" in message and "--tflm-dir PATH" in message
    fetch_options = run_cli("tflm", "fetch", "--help").stdout
    assert "--tflm-dir" not in fetch_options


@pytest.mark.parametrize(
    ("name", "args", "needle"),
    [
        ("manifest.json", ("info",), "is not valid JSON"),
        ("report.json", ("report",), "unreadable"),
    ],
)
def test_model_files_nested_too_deeply_are_one_line(
    fixture_model: Path, tmp_path: Path, name: str, args: tuple[str, ...], needle: str
) -> None:
    model = tmp_path / "model"
    shutil.copytree(fixture_model, model)
    (model / name).write_text(DEEP)
    extra = ("-o", str(tmp_path / "r.html")) if args == ("report",) else ()
    assert_one_error_line(run_cli(*args, str(model), *extra), name, needle)


def test_a_project_record_nested_too_deeply_is_one_line(
    esp32_project: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "p"
    shutil.copytree(esp32_project, copy)
    (copy / ".tinyslm-files.json").write_text(DEEP)
    proc = run_cli("generate", "--board", "esp32", "-o", str(copy), "--force")
    assert_one_error_line(proc, ".tinyslm-files.json", "unreadable")
    # Refused before the slow work: without --model the demo was trained first.
    assert "training on the demo set" not in proc.stdout + proc.stderr


def test_a_json_target_nested_too_deeply_is_not_replaced(
    esp32_project: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out.json"
    target.write_text(DEEP)
    proc = run_cli("emulate", str(esp32_project), "--data", str(DEMO_CSV), "--json", str(target))
    assert_one_error_line(proc, "out.json")
    assert target.read_text() == DEEP
