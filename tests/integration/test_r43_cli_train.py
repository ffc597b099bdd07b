"""Round 43: what ``train --force`` may replace in a model folder, and a bad ``-o``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cli_support import assert_one_error_line, run_cli

FIXTURE_CSV = Path(__file__).resolve().parents[1] / "fixtures" / "fixture_commands.csv"
TINY = ["--buckets", "256", "--dim", "8", "--hidden", "8", "--seq-len", "16", "--epochs", "2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("r43") / "m"
    proc = run_cli("train", str(FIXTURE_CSV), "-o", str(out), "-q", *TINY)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _copy(trained: Path, tmp_path: Path) -> Path:
    model = tmp_path / "m"
    shutil.copytree(trained, model)
    return model


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("no_report", [True, False], ids=["no-report", "report"])
def test_force_refuses_an_edited_report(trained: Path, tmp_path: Path, no_report: bool) -> None:
    """An edited report page was deleted (--no-report) or replaced; generate --force
    refuses an edited file, and so does train now, before training."""
    model = _copy(trained, tmp_path)
    with (model / "report.html").open("a") as f:
        f.write("\n<!-- my notes on this run -->\n")
    before = _files(model)
    extra = ["--no-report"] if no_report else []
    proc = run_cli("train", str(FIXTURE_CSV), "-o", str(model), "--force", "-q", *extra, *TINY)
    assert_one_error_line(proc, "report.html (edited since tinyslm wrote it)")
    assert "epoch" not in proc.stdout
    assert _files(model) == before


def test_force_takes_every_unedited_page_tinyslm_drew(trained: Path, tmp_path: Path) -> None:
    """The first version redrew the page to compare: a page drawn elsewhere (other
    matplotlib settings, an older commit, 'report --data' in place) was called edited.
    The page's own seal says it; a page from before the seal is taken by its banner."""
    other = tmp_path / "other.html"
    proc = run_cli("report", str(trained), "--data", str(FIXTURE_CSV), "-o", str(other))
    assert proc.returncode == 0, proc.stderr
    sealed = other.read_bytes()
    lines = sealed.split(b"\n")
    assert lines[1].startswith(b"<!-- tinyslm page sha256 ")
    unsealed = b"\n".join([lines[0], *lines[2:]])  # as pages were drawn before the seal
    for page in (sealed, unsealed):
        model = _copy(trained, tmp_path / str(len(page)))
        (model / "report.html").write_bytes(page)
        proc = run_cli(
            "train", str(FIXTURE_CSV), "-o", str(model), "--force", "-q", "--no-report", *TINY
        )
        assert proc.returncode == 0, proc.stderr


def test_force_still_replaces_an_unedited_model_folder(trained: Path, tmp_path: Path) -> None:
    model = _copy(trained, tmp_path)
    proc = run_cli(
        "train", str(FIXTURE_CSV), "-o", str(model), "--force", "-q", "--no-report", *TINY
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(_files(model)) == ["manifest.json", "model.tflite"]


def test_files_tinyslm_wrote_beside_a_model_are_named_truly(trained: Path, tmp_path: Path) -> None:
    model = _copy(trained, tmp_path)
    # eval/info --json and report -o refuse a path inside a model folder up front ...
    proc = run_cli("info", str(model), "--json", str(model / "info.json"))
    assert_one_error_line(proc, f"--json {model / 'info.json'} is inside the model folder")
    proc = run_cli("report", str(model), "-o", str(model / "r2.html"))
    assert_one_error_line(proc, f"-o {model / 'r2.html'} is inside the model folder")
    # ... however deep: MODEL/sub/i.json made sub/ in the model folder (review).
    proc = run_cli("info", str(model), "--json", str(model / "sub" / "i.json"))
    assert_one_error_line(proc, f"is inside the model folder {model}")
    assert sorted(_files(model)) == sorted(_files(trained))
    # ... and a file there is not called "not written by tinyslm": tinyslm may have.
    (model / "eval.json").write_bytes(b"{}")
    proc = run_cli("train", str(FIXTURE_CSV), "-o", str(model), "--force", "-q", *TINY)
    error = assert_one_error_line(proc, "eval.json (not one of the model folder's files)")
    assert "not written by tinyslm" not in error


def test_bad_out_is_one_line_before_sizing(trained: Path, tmp_path: Path) -> None:
    """The sizing line ("size: buckets ...") was printed before the refusal."""
    for args in (["-o", str(trained)], ["-o", "/proc/tinyslm-r43"]):
        proc = run_cli("train", str(FIXTURE_CSV), *args)
        assert_one_error_line(proc)
        assert proc.stdout == "", proc.stdout
        assert len(proc.stderr.splitlines()) == 1, proc.stderr


def test_the_model_folders_own_page_may_be_redrawn_in_place(trained: Path, tmp_path: Path) -> None:
    """'cd MODEL && tinyslm report .' writes the page train wrote there (the default -o
    report.html): not refused as a file inside the model folder, and not an edit."""
    model = _copy(trained, tmp_path)
    before = _files(model)
    proc = run_cli("report", ".", cwd=model)
    assert proc.returncode == 0, proc.stderr
    assert _files(model) == before  # the same bytes: train --force still takes the folder
    # Measured on other data, the page is not the model's own: refused there.
    proc = run_cli("report", ".", "--data", str(FIXTURE_CSV), cwd=model)
    assert_one_error_line(proc, "is inside the model folder")
    assert _files(model) == before
    # A page with the user's notes is theirs: not redrawn over (review).
    with (model / "report.html").open("a") as f:
        f.write("<!-- my notes -->\n")
    edited = _files(model)
    proc = run_cli("report", ".", cwd=model)
    assert_one_error_line(proc, "is not a report page this tinyslm may replace")
    assert _files(model) == edited
