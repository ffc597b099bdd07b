"""Line coverage of the emulated C core, measured with gcov."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tinyslm.errors import ToolchainError, output_tail


@dataclass(frozen=True)
class CoverageResult:
    """Line coverage of ``tinyslm_core.c`` measured by gcov."""

    file: str
    lines_executed: int
    lines_total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.lines_executed / self.lines_total if self.lines_total else 0.0


_GCOV_LINES = re.compile(r"Lines executed:\s*([\d.]+)% of (\d+)")


def gcov_line_coverage(object_dir: Path, source: Path) -> CoverageResult:
    """Run gcov on ``source``'s objects in ``object_dir`` and parse its line figure."""
    gcov = shutil.which("gcov")
    if gcov is None:
        raise ToolchainError("gcov not found on PATH (it ships with gcc)")
    obj = object_dir / f"{source.stem}.o"
    with tempfile.TemporaryDirectory(prefix="tinyslm-gcov-") as tmp:
        proc = subprocess.run(
            [gcov, "-n", "-o", str(obj), str(source)],
            capture_output=True,
            text=True,
            cwd=tmp,
            check=False,
        )
    text = proc.stdout
    # gcov prints one block per file (headers too); take the block for source.
    for block in text.split("\n\n"):
        if source.name in block and "File '" in block:
            m = _GCOV_LINES.search(block)
            if m:
                total = int(m.group(2))
                executed = round(float(m.group(1)) * total / 100.0)
                return CoverageResult(source.name, executed, total)
    raise ToolchainError(f"gcov gave no line figure for {source.name}: {output_tail(text)}")
