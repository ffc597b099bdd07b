"""Round 49 (hrep #1, #8): a report page saved with CRLF line endings is the user's
('report -o' and 'train --force' keep it), and 'report -o -' writes no file named '-'."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_support import assert_one_error_line, run_cli

pytestmark = pytest.mark.slow

FIXTURE_CSV = Path(__file__).resolve().parents[1] / "fixtures" / "fixture_commands.csv"
TINY = ["--buckets", "256", "--dim", "8", "--hidden", "8", "--seq-len", "16", "--epochs", "2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("r49") / "m"
    proc = run_cli("train", str(FIXTURE_CSV), "-o", str(out), "-q", *TINY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _crlf_with_notes(page: bytes) -> bytes:
    """The page with a note of the user's, saved as a Windows editor (or git's autocrlf)
    saves it: every line ending CRLF."""
    noted = page.replace(b"<h2>Summary</h2>", b"<h2>Summary</h2><p>MY NOTES</p>", 1)
    assert noted != page
    return noted.replace(b"\n", b"\r\n")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_report_o_keeps_a_crlf_page_with_notes(trained: Path, tmp_path: Path) -> None:
    """It was taken for a page drawn before seals and overwritten: the notes were gone."""
    mine = tmp_path / "mine.html"
    mine.write_bytes(_crlf_with_notes((trained / "report.html").read_bytes()))
    before = mine.read_bytes()
    proc = run_cli("report", str(trained), "-o", str(mine))
    assert_one_error_line(proc, f"-o {mine} exists and is not a report page")
    assert mine.read_bytes() == before


@pytest.mark.parametrize("no_report", [True, False], ids=["no-report", "report"])
def test_force_keeps_a_crlf_report_page(trained: Path, tmp_path: Path, no_report: bool) -> None:
    """--no-report deleted the page, and without it the page was overwritten."""
    model = tmp_path / "m"
    shutil.copytree(trained, model)
    page = model / "report.html"
    page.write_bytes(_crlf_with_notes(page.read_bytes()))
    before = _files(model)
    extra = ["--no-report"] if no_report else []
    proc = run_cli("train", str(FIXTURE_CSV), "-o", str(model), "--force", "-q", *extra, *TINY)
    assert_one_error_line(proc, "report.html (edited since tinyslm wrote it)")
    assert _files(model) == before


def test_report_o_dash_is_refused_and_writes_no_file(trained: Path, tmp_path: Path) -> None:
    """'-' is stdout for --json; report wrote a 160 kB file named '-' and said 'wrote -'."""
    proc = run_cli("report", str(trained), "-o", "-", cwd=tmp_path)
    assert_one_error_line(proc, "-o -: report writes the page to a file", "give a file name")
    assert list(tmp_path.iterdir()) == []
