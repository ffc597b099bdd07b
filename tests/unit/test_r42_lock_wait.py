"""Round 42: train's write waits for another run's lock as long as that run holds it.

A ``tinyslm train`` whose write came while another run held the output folder's lock
waited up to ``LOCK_WAIT_S`` (300 s) and was then refused: its whole training (minutes)
was lost for a guard. An ``flock`` dies with its process, so it is never stale: train's
write now waits as long as the other run holds it (the note says so, and that Ctrl-C
stops the run), while ``generate`` and the other quick writers keep the bounded wait.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tinyslm import modality, outdir
from tinyslm.errors import OutputExistsError
from tinyslm.manifest import MANIFEST_NAME, MODEL_NAME, load_model_dir
from tinyslm.modality import Fitted
from tinyslm.outdir import write_tree
from tinyslm.pipeline import MODEL_OWNERSHIP, run_train

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "model"
BOUND_S = 0.5  # LOCK_WAIT_S here: the bounded writers refuse after it
RELEASE_S = 2.0  # the holder lets go this long after train's write began (> BOUND_S)

# Another run holding the folder's write lock (as its checks and write do) until the
# test creates `go`; it writes nothing, so train's write then finds a new folder.
HOLDER = """
import sys, time
from pathlib import Path
from tinyslm import outdir

target, gate = Path(sys.argv[1]), Path(sys.argv[2])
with outdir._writing(outdir.real_path(target), target):
    (gate / "ready").touch()
    while not (gate / "go").exists():
        time.sleep(0.02)
"""


@pytest.fixture()
def holder(tmp_path: Path) -> Iterator[tuple[Path, list[subprocess.Popen[bytes]]]]:
    gate = tmp_path / "gate"
    gate.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    yield gate, procs
    (gate / "go").touch()
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _hold(target: Path, gate: Path, procs: list[subprocess.Popen[bytes]]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), str(target), str(gate)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    procs.append(proc)
    deadline = time.monotonic() + 60
    while not (gate / "ready").exists():
        assert proc.poll() is None, "the lock holder stopped"
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _model_files() -> dict[str, bytes]:
    return {name: (FIXTURE / name).read_bytes() for name in (MANIFEST_NAME, MODEL_NAME)}


def test_trains_write_waits_past_the_bounded_limit_while_quick_writers_are_refused(
    tmp_path: Path,
    holder: tuple[Path, list[subprocess.Popen[bytes]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate, procs = holder
    monkeypatch.setattr(outdir, "LOCK_WAIT_S", BOUND_S)
    out = tmp_path / "model"
    files = _model_files()
    timer = threading.Timer(RELEASE_S, (gate / "go").touch)
    bounded: list[float] = []

    def fit(data: Path | None, config: Any, *, log: Any, warn: Any, report: bool) -> Fitted:
        # Another run starts writing `out` while this one trains (train's early check
        # found it free). A quick writer meeting it is refused at the bounded limit.
        _hold(out, gate, procs)
        start = time.monotonic()
        with pytest.raises(OutputExistsError, match=r"^another tinyslm run is writing"):
            write_tree(files, out, ownership=MODEL_OWNERSHIP)
        bounded.append(time.monotonic() - start)
        capsys.readouterr()  # that writer's note; train's own is looked at below
        timer.start()
        manifest, _ = load_model_dir(FIXTURE, probe_arena=False)
        return Fitted(manifest, files, (), (), 0.0, 0.0, 0.0, 0.0)

    kind = SimpleNamespace(fit=fit)
    monkeypatch.setattr(modality, "modality_of_data", lambda data: kind)
    start = time.monotonic()
    try:
        result = run_train(None, out)
    finally:
        timer.cancel()
    waited = time.monotonic() - start
    assert BOUND_S <= bounded[0] < RELEASE_S
    # Past the bounded limit, until the holder let go: then written, whole.
    assert waited >= RELEASE_S
    assert result.out == out
    assert {name: (out / name).read_bytes() for name in files} == files
    assert procs[0].wait(timeout=30) == 0
    err = capsys.readouterr().err
    note = (
        f"another tinyslm run is writing {out}; waiting for it to finish, with no time limit"
        " (Ctrl-C stops this run)"
    )
    assert err.count(note) == 1, err
    assert "error" not in err


def test_only_the_caller_that_asks_waits_without_a_limit(
    tmp_path: Path,
    holder: tuple[Path, list[subprocess.Popen[bytes]]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    gate, procs = holder
    monkeypatch.setattr(outdir, "LOCK_WAIT_S", BOUND_S)
    out = tmp_path / "model"
    files = _model_files()
    _hold(out, gate, procs)
    with pytest.raises(OutputExistsError) as refused:
        write_tree(files, out, ownership=MODEL_OWNERSHIP)
    assert str(refused.value) == f"another tinyslm run is writing {out}; wait for it to finish"
    # The bounded note does not promise a wait without end.
    assert "no time limit" not in capsys.readouterr().err
    threading.Timer(RELEASE_S, (gate / "go").touch).start()
    start = time.monotonic()
    write_tree(files, out, ownership=MODEL_OWNERSHIP, wait_until_free=True)
    assert time.monotonic() - start >= RELEASE_S - 0.2
    assert (out / MODEL_NAME).read_bytes() == files[MODEL_NAME]


def test_synths_write_waits_without_a_limit_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Synthesis takes minutes with every voice (136): its write waits as train's does."""
    from shared_paths import require_tool

    from tinyslm.audio import synth

    require_tool("espeak-ng")
    seen: list[bool] = []
    real = synth.write_tree

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("wait_until_free", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(synth, "write_tree", spy)
    config = synth.SynthConfig(
        engines=("espeak-ng",),
        max_voices_per_engine=1,
        clips_per_voice=1,
        unknown_clips_per_voice=1,
        background_seconds=0,
    )
    synth.synthesize(["yes", "no"], tmp_path / "out", config)
    assert seen == [True]
