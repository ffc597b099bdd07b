"""An arena probe killed from outside is no verdict; one run at a time writes a folder.

- The TFLM arena probe runs in a child process because a too-small arena can crash the
  runtime. Only the probe's own "does not fit" and a crash signal (SIGSEGV, SIGBUS,
  SIGABRT, SIGILL, SIGFPE) say the arena is too small. A probe killed from outside (the
  out-of-memory killer's SIGKILL, a SIGTERM) or one that ran past its time said nothing:
  eval blamed a valid manifest's arena, and train's search silently grew the arena.
- Two runs writing one output folder at once (two ``generate -o SAME --force``): the
  second took the first's staging folder for a stopped run's ("delete it") or named its
  ``.NAME.tmp-`` as a leftover; now the first holds the folder's lock and the second
  refuses at once. A stopped run (its lock gone with it) is still named as before.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_r41_outdir import PROJECT

from tinyslm import outdir
from tinyslm.errors import ModelError, OutputExistsError
from tinyslm.manifest import load_model_dir
from tinyslm.outdir import Ownership, check_target, write_tree
from tinyslm.tflm_runtime import min_arena_bytes, probe_arena

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "model"
MODEL = Ownership(kind="model folder", marker="manifest.json", names=("manifest.json", "x.bin"))
FILES = {
    "project": {"tinyslm.json": b"{}", "src/main.cc": b"new"},
    "model folder": {"manifest.json": b"{}", "x.bin": b"new"},
}
CONTENT = {"project": "src/main.cc", "model folder": "x.bin"}  # b"live" from the live run


def _fake_python(tmp_path: Path, body: str) -> str:
    """A stand-in for ``sys.executable`` that the probe runs instead of Python."""
    path = tmp_path / "python"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


def _model(tmp_path: Path) -> Path:
    path = tmp_path / "model.tflite"
    path.write_bytes((FIXTURE / "model.tflite").read_bytes())
    return path


def test_only_a_crash_or_the_probes_answer_says_the_arena_is_too_small(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _model(tmp_path)
    for crash in ("SEGV", "BUS", "ABRT", "ILL", "FPE"):
        monkeypatch.setattr("sys.executable", _fake_python(tmp_path, f"kill -{crash} $$"))
        assert not probe_arena(model, 4096), crash
    monkeypatch.setattr("sys.executable", _fake_python(tmp_path, "exit 3"))  # DOES_NOT_FIT
    assert not probe_arena(model, 4096)
    # The OOM killer's SIGKILL: no answer at all.
    monkeypatch.setattr("sys.executable", _fake_python(tmp_path, "kill -KILL $$"))
    with pytest.raises(ModelError) as killed:
        probe_arena(model, 4096)
    assert str(killed.value) == (
        "the TFLM arena probe failed: killed by SIGKILL (out of memory?); nothing is "
        "concluded about the arena; run again"
    )
    monkeypatch.setattr("sys.executable", _fake_python(tmp_path, "kill -TERM $$"))
    with pytest.raises(ModelError, match=r"probe failed: killed by SIGTERM; nothing is concluded"):
        probe_arena(model, 4096)


def test_a_probe_past_its_time_is_no_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.executable", _fake_python(tmp_path, "exec sleep 30"))
    start = time.monotonic()
    with pytest.raises(ModelError, match=r"^the TFLM arena probe did not finish within 0.5 s"):
        probe_arena(_model(tmp_path), 4096, timeout=0.5)
    assert time.monotonic() - start < 10


def test_a_killed_probe_neither_blames_the_manifest_nor_grows_the_arena(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.executable", _fake_python(tmp_path, "kill -KILL $$"))
    # eval: "field 'arena_bytes' is 3072 but TFLM cannot allocate ... retrain" once.
    with pytest.raises(ModelError) as loading:
        load_model_dir(FIXTURE)
    assert "killed by SIGKILL" in str(loading.value)
    assert "arena_bytes" not in str(loading.value)
    # train: each killed probe read as "does not fit" and the search went on upwards.
    with pytest.raises(ModelError, match="killed by SIGKILL"):
        min_arena_bytes((FIXTURE / "model.tflite").read_bytes())


# A live run into the target, paused mid-write (its staging folder, or its .NAME.tmp-,
# holding the new files) until the test creates `go`.
LIVE_WRITER = """
import sys, time
from pathlib import Path
from tinyslm.outdir import Ownership, write_tree

kind, target, gate = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
if kind == "project":
    own = Ownership(kind="project", marker="tinyslm.json", record=".tinyslm-files.json",
                    keep_foreign=True, trees=("lib/tflm",))
    files = {"tinyslm.json": b"{}", "src/main.cc": b"live"}
else:
    own = Ownership(kind="model folder", marker="manifest.json", names=("manifest.json", "x.bin"))
    files = {"manifest.json": b"{}", "x.bin": b"live"}

def pause(staging):
    (gate / "ready").write_text(str(staging))
    while not (gate / "go").exists():
        time.sleep(0.02)

write_tree(files, target, force=True, ownership=own, extra=pause)
print("written")
"""


@pytest.fixture()
def live_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, list[subprocess.Popen[str]]]]:
    # A second run waits for the lock up to LOCK_WAIT_S: short here, so that it refuses.
    monkeypatch.setattr(outdir, "LOCK_WAIT_S", 0.5)
    gate = tmp_path / "gate"
    gate.mkdir()
    procs: list[subprocess.Popen[str]] = []
    yield gate, procs
    (gate / "go").touch()
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _start(
    kind: str, target: Path, gate: Path, procs: list[subprocess.Popen[str]]
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(LIVE_WRITER), kind, str(target), str(gate)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    deadline = time.monotonic() + 60
    while not (gate / "ready").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return proc


@pytest.mark.parametrize("kind", ["project", "model folder"])  # generate -o, train -o
def test_a_second_run_into_a_folder_being_written_waits_then_refuses(
    kind: str,
    tmp_path: Path,
    live_writer: tuple[Path, list[subprocess.Popen[str]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate, procs = live_writer
    own = PROJECT if kind == "project" else MODEL
    target = tmp_path / "out"
    write_tree(FILES[kind], target, ownership=own)
    first = _start(kind, target, gate, procs)
    busy = f"another tinyslm run is writing {target}; wait for it to finish"
    # Both the early check (before a training) and the write itself.
    with pytest.raises(OutputExistsError) as early:
        check_target(target, True, ownership=own)
    assert str(early.value) == busy
    with pytest.raises(OutputExistsError) as late:
        write_tree(FILES[kind], target, force=True, ownership=own)
    assert str(late.value) == busy
    (gate / "go").touch()
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    # The live run's output is whole, and nothing of the refused runs is left.
    assert target.joinpath(*CONTENT[kind].split("/")).read_bytes() == b"live"
    assert sorted(os.listdir(tmp_path)) == ["gate", "out"]
    # The lock went with it: the next run writes, and counts nothing of a run as yours.
    report = write_tree(FILES[kind], target, force=True, ownership=own)
    assert report.kept == ()
    assert "warning" not in capsys.readouterr().err


def test_a_live_new_write_is_no_leftover_but_a_killed_one_still_is(
    tmp_path: Path,
    live_writer: tuple[Path, list[subprocess.Popen[str]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate, procs = live_writer
    target = tmp_path / "new"
    first = _start("project", target, gate, procs)
    staging = Path((gate / "ready").read_text())
    assert staging.name.startswith(".new.tmp-")
    with pytest.raises(OutputExistsError, match=r"^another tinyslm run is writing"):
        write_tree(FILES["project"], target, ownership=PROJECT)
    assert "unfinished" not in capsys.readouterr().err  # not told to delete a live run's
    assert not target.exists()
    # Killed (SIGKILL): its lock goes with it, its temporary stays and is named.
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    write_tree(FILES["project"], target, ownership=PROJECT)
    assert f"{staging}: the unfinished output of an earlier tinyslm run" in (
        capsys.readouterr().err
    )


def test_a_stopped_runs_staging_folder_is_still_named_as_before(
    tmp_path: Path, live_writer: tuple[Path, list[subprocess.Popen[str]]]
) -> None:
    gate, procs = live_writer
    target = tmp_path / "proj"
    write_tree(FILES["project"], target, ownership=PROJECT)
    first = _start("project", target, gate, procs)
    staging = Path((gate / "ready").read_text()).parent  # <stage>/new
    with pytest.raises(OutputExistsError, match=r"^another tinyslm run is writing"):
        check_target(target, True, ownership=PROJECT)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    with pytest.raises(OutputExistsError) as stopped:
        check_target(target, True, ownership=PROJECT)
    assert str(stopped.value) == (
        f"{target}: {staging.name}/ holds the unfinished output of a tinyslm run that was "
        "stopped (or is still running), nothing of the files it replaced; delete it, then "
        "run again"
    )


def test_a_second_run_waits_for_the_first_then_writes(
    tmp_path: Path,
    live_writer: tuple[Path, list[subprocess.Popen[str]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Refusing at once lost a train's whole training when its write met another's: it
    # waits, then its checks see the first run's finished output (replaced with --force).
    gate, procs = live_writer
    monkeypatch.setattr(outdir, "LOCK_WAIT_S", 60.0)
    target = tmp_path / "out"
    write_tree(FILES["project"], target, ownership=PROJECT)
    first = _start("project", target, gate, procs)
    threading.Timer(1.0, (gate / "go").touch).start()
    write_tree(
        {**FILES["project"], "src/main.cc": b"second"}, target, force=True, ownership=PROJECT
    )
    assert first.wait(timeout=60) == 0
    assert (target / "src" / "main.cc").read_bytes() == b"second"
    assert capsys.readouterr().err.count(f"another tinyslm run is writing {target}; waiting") == 1
