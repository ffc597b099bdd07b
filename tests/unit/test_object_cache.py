"""The firmware builder's object cache: concurrent builds compile each object once.

Two builds sharing ``$TINYSLM_CACHE_DIR`` (parallel test workers, two ``emulate
--native`` runs) both find a TFLM object missing; ``tinyslm.toolchain.host`` makes
the second wait for the first's compile and reuse it. The compiler here is a stub
that logs each call and takes half a second, so two compiles of one object would
overlap without the lock.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tinyslm.toolchain import host

STUB = """#!{python}
import sys, time
from pathlib import Path
argv = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(argv[argv.index("-c") + 1] + "\\n")
time.sleep(0.5)
Path(argv[argv.index("-o") + 1]).write_bytes(b"object")
"""


def stub_toolchain(tmp_path: Path) -> tuple[host.Toolchain, Path]:
    log = tmp_path / "calls.log"
    stub = tmp_path / "stub-cc"
    stub.write_text(STUB.format(python=sys.executable, log=str(log)))
    stub.chmod(0o755)
    toolchain = host.Toolchain(
        name="stub",
        cc=(str(stub),),
        cxx=(str(stub),),
        cflags=(),
        cxxflags=(),
        defines=(),
        ldflags=(),
        board_sources=(),
    )
    return toolchain, log


def build_twice_at_once(tmp_path: Path, jobs: int) -> tuple[list[Path], list[str]]:
    """Two threads (separate open files, as two processes) compile the same pairs."""
    toolchain, log = stub_toolchain(tmp_path)
    sources = [tmp_path / f"k{i}.cc" for i in range(3)]
    for src in sources:
        src.write_text("int x;\n")
    objdir = tmp_path / "obj"
    pairs = [(src, objdir / f"{src.name}.o") for src in sources]
    results: list[list[Path]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)  # both look for the objects at the same moment

    def build() -> None:
        try:
            start.wait(timeout=30)
            results.append(host._compile_pairs(pairs, (), jobs, toolchain))
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    assert results[0] == results[1] == [obj for _, obj in pairs]
    assert all(obj.read_bytes() == b"object" for _, obj in pairs)
    return sources, log.read_text().splitlines()


@pytest.mark.parametrize("jobs", [1, 2])
def test_two_builds_at_once_compile_each_object_once(tmp_path: Path, jobs: int) -> None:
    sources, calls = build_twice_at_once(tmp_path, jobs)
    assert sorted(calls) == sorted(str(src) for src in sources)


def test_without_the_lock_both_builds_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The planted defect: what the test above would see if the lock were gone.
    @contextlib.contextmanager
    def no_lock(obj: Path) -> Iterator[None]:
        yield

    monkeypatch.setattr(host, "_object_lock", no_lock)
    sources, calls = build_twice_at_once(tmp_path, 1)
    assert len(calls) > len(sources)


def test_an_object_already_there_is_not_compiled_again(tmp_path: Path) -> None:
    toolchain, log = stub_toolchain(tmp_path)
    src = tmp_path / "a.c"
    src.write_text("int a;\n")
    obj = tmp_path / "obj" / "a.c.o"
    host._compile_pairs([(src, obj)], (), 1, toolchain)
    host._compile_pairs([(src, obj)], (), 1, toolchain)
    assert log.read_text().splitlines() == [str(src)]
