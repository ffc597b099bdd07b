"""``train`` writes report.html; ``report`` redraws it; Chromium renders its plots; ``info``;
``--json`` on train, build and info."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from cli_support import DEMO_CSV, assert_one_error_line, run_cli
from shared_paths import missing

from tinyslm.boards import load_boards
from tinyslm.emit.project import arena_size_for, check_budget
from tinyslm.errors import BudgetError
from tinyslm.info import board_fits
from tinyslm.manifest import load_model_dir

pytestmark = pytest.mark.slow

LABELS = ("lights_off", "lights_on", "timer_set", "weather_query")
TINY = ["--buckets", "256", "--dim", "8", "--hidden", "8", "--seq-len", "16", "--epochs", "6"]
PLOTS = 5  # precision/recall, confusion, threshold, size, training
WIDTH = 1200


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object], str]:
    """A tiny model trained by the CLI with ``--json -``: (folder, its JSON, stderr)."""
    keep: dict[str, list[str]] = defaultdict(list)
    with DEMO_CSV.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if (row["label"] in LABELS or row["label"] == "oos") and len(keep[row["label"]]) < 20:
                keep[row["label"]].append(row["text"])
    root = tmp_path_factory.mktemp("report")
    data = root / "subset.csv"
    with data.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for label, texts in sorted(keep.items()):
            w.writerows([t, label] for t in texts)
    out = root / "model"
    proc = run_cli("train", str(data), "-o", str(out), *TINY, "--json", "-")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out, json.loads(proc.stdout), proc.stderr  # stdout is the JSON alone


def test_train_writes_the_report_and_json(
    trained: tuple[Path, dict[str, object], str], tmp_path: Path
) -> None:
    out, figures, stderr = trained
    manifest, _ = load_model_dir(out)
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "model.tflite",
        "report.html",
        "report.json",
    ]
    # The text moved to stderr; the JSON has the manifest's figures.
    assert "int8 accuracy" in stderr and "epoch   6/6" in stderr
    assert figures["model_sha256"] == manifest.model_sha256
    assert figures["model_bytes"] == manifest.model_bytes
    assert figures["metrics"] == manifest.metrics
    assert figures["report"] == str(out / "report.html")
    report = json.loads((out / "report.json").read_text())
    assert report["model_sha256"] == manifest.model_sha256
    assert len(report["history"]) == 6
    # 'report' draws the same page from report.json, byte for byte.
    again = tmp_path / "again.html"
    proc = run_cli("report", str(out), "-o", str(again))
    assert proc.returncode == 0, proc.stderr
    assert again.read_bytes() == (out / "report.html").read_bytes()
    # Round 36: report.json's labels swapped by hand kept the sha and drew one intent's
    # figures under another's name; they must be the manifest's, in its order.
    edited = tmp_path / "edited"
    shutil.copytree(out, edited)
    raw = json.loads((edited / "report.json").read_text())
    raw["labels"][0], raw["labels"][1] = raw["labels"][1], raw["labels"][0]
    (edited / "report.json").write_text(json.dumps(raw))
    proc = run_cli("report", str(edited), "-o", str(tmp_path / "edited.html"))
    assert_one_error_line(proc, "report.json: its labels are not the model's")
    assert not (tmp_path / "edited.html").exists()
    proc = run_cli("train", "--help")
    assert "--json PATH|-" in proc.stdout and "--no-report" in proc.stdout


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    missing("chromium is not on PATH (Debian: apt-get install chromium)")
    raise AssertionError("unreachable")


def _run_chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# Appended to a copy of the page (never to the report itself, which has no script):
# where each plot landed, and the page's height, for the screenshot checks.
_PROBE = """<script>
document.body.setAttribute("data-probe", JSON.stringify({
  height: document.documentElement.scrollHeight,
  figures: [...document.querySelectorAll("figure svg")].map(s => {
    const r = s.getBoundingClientRect();
    return [r.left + scrollX, r.top + scrollY, r.width, r.height];
  })
}));
</script>"""


def render_in_chromium(page: Path, work: Path) -> tuple[np.ndarray, list[list[float]], str]:
    """Screenshot the page whole; return (RGB pixels, plot boxes, Chromium's log)."""
    from PIL import Image

    probe_page = work / "probe.html"
    probe_page.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"))
    dom = _run_chromium(probe_page, work / "profile", f"--window-size={WIDTH},1000", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    attr = dom.stdout.split('data-probe="', 1)[1].split('"', 1)[0]
    probe = json.loads(attr.replace("&quot;", '"'))
    shot = work / "report.png"
    run = _run_chromium(
        page, work / "profile", f"--window-size={WIDTH},{probe['height']}", f"--screenshot={shot}"
    )
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    return pixels, probe["figures"], run.stderr


def blank_plots(pixels: np.ndarray, boxes: list[list[float]]) -> list[int]:
    """Indices of plots whose screenshot area is uniform or has no coloured pixels.

    Every plot draws in colour (bars, heatmap, curves); text and frames are grey.
    """
    blank = []
    for i, (x, y, w, h) in enumerate(boxes):
        area = pixels[int(y) : int(y + h), int(x) : int(x + w)]
        if area.size == 0 or w < 100 or h < 100:
            blank.append(i)
            continue
        spread = area.max(axis=2) - area.min(axis=2)
        coloured = np.count_nonzero(spread > 60)
        if area.std() < 5 or coloured < 0.005 * w * h:
            blank.append(i)
    return blank


def console_messages(log: str) -> list[str]:
    return [ln for ln in log.splitlines() if ":CONSOLE" in ln]


def test_report_renders_its_plots_in_chromium(
    trained: tuple[Path, dict[str, object], str], tmp_path: Path
) -> None:
    out, _, _ = trained
    pixels, boxes, log = render_in_chromium(out / "report.html", tmp_path)
    assert console_messages(log) == []
    assert len(boxes) == PLOTS
    assert pixels.std() > 5, "the screenshot is uniform"
    assert blank_plots(pixels, boxes) == []
    # Laid out one below the other, inside the page width.
    tops = [b[1] for b in boxes]
    assert tops == sorted(tops) and all(b[0] >= 0 and b[0] + b[2] <= WIDTH for b in boxes)


def test_the_chromium_check_sees_a_blank_plot_and_a_console_error(tmp_path: Path) -> None:
    """The checks above can fail: an empty SVG and a script error are caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body><figure>"
        '<svg viewBox="0 0 400 300" width="400" height="300"></svg>'
        "</figure><script>console.error('broken')</script></body></html>"
    )
    pixels, boxes, log = render_in_chromium(page, tmp_path)
    assert len(boxes) == 1 and blank_plots(pixels, boxes) == [0]
    assert any("broken" in m for m in console_messages(log))


def test_report_needs_figures_or_data(
    fixture_model: Path, esp32_project: Path, tmp_path: Path
) -> None:
    model = tmp_path / "old-model"
    shutil.copytree(fixture_model, model)  # trained without report.json
    proc = run_cli("report", str(model), "-o", str(tmp_path / "r.html"))
    assert_one_error_line(proc, "no report.json", "--data")
    proc = run_cli("report", str(esp32_project), "-o", str(tmp_path / "r.html"))
    assert_one_error_line(proc, "a project holds no report figures", "--data")
    assert not (tmp_path / "r.html").exists()
    proc = run_cli("report", str(model), "-o", str(model / "manifest.json"), "--data", "x.csv")
    assert_one_error_line(proc, "names one of the report's inputs")
    proc = run_cli("report", str(tmp_path), "-o", str(tmp_path / "r.html"))
    assert_one_error_line(proc, "neither a model folder")

    # With --data, the model folder and the project built from it give the same page.
    fixture_csv = fixture_model.parent / "fixture_commands.csv"
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    assert run_cli("report", str(model), "--data", str(fixture_csv), "-o", str(a)).returncode == 0
    proc = run_cli("report", str(esp32_project), "--data", str(fixture_csv), "-o", str(b))
    assert proc.returncode == 0, proc.stderr
    # ... but for the note on the training curves: the model was trained without them,
    # a project never carries them (it said "trained without one" of a project too).
    model_note = "No training history was recorded with this model"
    project_note = "A project does not carry the training curves"
    # Without the second line, each page's own sha256 (the pages differ, so do the seals).
    page_a, page_b = ("\n".join(x.read_text().split("\n")[2:]) for x in (a, b))
    assert model_note in page_a and project_note in page_b and project_note not in page_a
    assert page_a.split(model_note)[0] == page_b.split(project_note)[0]
    assert page_a.count("<svg") == PLOTS - 1  # no training history to plot
    # A damaged report.json is refused alone, but --data measures everything again: it
    # only costs the training curves (it refused the run).
    (model / "report.json").write_text('{"format": ')
    proc = run_cli("report", str(model), "-o", str(tmp_path / "c.html"))
    assert_one_error_line(proc, "report.json")
    proc = run_cli("report", str(model), "--data", str(fixture_csv), "-o", str(tmp_path / "c.html"))
    assert proc.returncode == 0, proc.stderr
    # The page and stderr say the file was set aside (the page said the model was trained
    # without curves); the rest of the page is the one without report.json.
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "set aside" in notes[0], proc.stderr
    set_aside = "The training curves were not drawn: they are kept only in report.json"
    page_c = "\n".join((tmp_path / "c.html").read_text().split("\n")[2:])
    assert set_aside in page_c and model_note not in page_c
    assert page_c.split(set_aside)[0] == page_a.split(model_note)[0]


def _project_summary(fixture_model: Path, tmp_path: Path, *options: str) -> tuple[Path, str]:
    """An esp32 project of the fixture model generated with ``options``, and the summary
    table of its report measured on the fixture's dataset."""
    project = tmp_path / "proj"
    proc = run_cli("generate", "--board", "esp32", "--model", str(fixture_model), "-o",
                   str(project), *options, "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    fixture_csv = fixture_model.parent / "fixture_commands.csv"
    page = tmp_path / "p.html"
    proc = run_cli("report", str(project), "--data", str(fixture_csv), "-o", str(page))
    assert proc.returncode == 0, proc.stderr
    return project, page.read_text().split("<h2>Summary</h2>")[1].split("</table>")[0]


def test_a_projects_report_after_generate_threshold(fixture_model: Path, tmp_path: Path) -> None:
    """The summary showed n/a for accuracy at threshold and out-of-scope recall: those
    figures had moved aside under at_trained_threshold. They are shown as info shows them,
    with the figures at the project's own threshold measured beside them."""
    _, summary = _project_summary(fixture_model, tmp_path, "--threshold", "0.6")
    assert "n/a" not in summary
    # Training's figures beside --data's are tagged as training's (round 42).
    assert (
        "INT8 accuracy at threshold (train, fixture_commands.csv test split; trained: " in summary
    )
    assert re.search(
        r"<td>at 0\.6\d\d \(fixture_commands\.csv test split, the model-wide gate\)</td>", summary
    )


def test_a_projects_report_gates_labels_at_their_own_thresholds(
    fixture_model: Path, tmp_path: Path
) -> None:
    """Round 36: with --label-threshold the summary showed only the model-wide gate, which
    is not what the firmware does. Its 'own thresholds' row must be what the firmware
    answers: emulate's figures on the same split."""
    project, summary = _project_summary(
        fixture_model, tmp_path, "--label-threshold", "lights_on=0.97"
    )
    fixture_csv = fixture_model.parent / "fixture_commands.csv"
    proc = run_cli("emulate", str(project), "--data", str(fixture_csv), "--json", "-")
    assert proc.returncode == 0, proc.stderr
    device = json.loads(proc.stdout)
    assert device["split"] == "test"
    row = re.search(
        r"<td>at its own thresholds \(fixture_commands\.csv test split, [^<]*\)</td>\s*"
        r"<td>accuracy at threshold "
        r"([0-9.]+)%, out-of-scope recall ([0-9.]+)%, in-scope escalated ([0-9.]+)%</td>",
        summary,
    )
    assert row, summary
    assert [float(v) for v in row.groups()] == [
        round(100 * device[k], 2)
        for k in ("accuracy_at_threshold", "oos_recall", "escalation_rate")
    ]
    # The model-wide gate at the same level answers more phrases locally: the rows differ.
    wide = re.search(r"the model-wide gate\)</td>\s*<td>accuracy at threshold ([0-9.]+)%", summary)
    assert wide and float(wide.group(1)) != float(row.group(1))


def test_report_with_data_refuses_a_manifest_tflm_would_crash_on(
    fixture_model: Path, esp32_project: Path, tmp_path: Path
) -> None:
    """With --data the model runs on TFLM in the report's own process. An arena_bytes
    edited down (the content hash leaves it out) crashed it (exit 139, no line); a
    project's manifest was never checked against its model (a traceback)."""
    fixture_csv = fixture_model.parent / "fixture_commands.csv"
    model = tmp_path / "m"
    shutil.copytree(fixture_model, model)
    manifest = json.loads((model / "manifest.json").read_text())
    (model / "manifest.json").write_text(json.dumps({**manifest, "arena_bytes": 16}))
    proc = run_cli("report", str(model), "--data", str(fixture_csv), "-o", str(tmp_path / "r.html"))
    assert_one_error_line(proc, "'arena_bytes' is 16", "TFLM cannot allocate")
    project = tmp_path / "p"
    shutil.copytree(esp32_project, project)
    info = json.loads((project / "tinyslm.json").read_text())
    info["manifest"]["arena_bytes"] = 16
    (project / "tinyslm.json").write_text(json.dumps(info))
    proc = run_cli(
        "report", str(project), "--data", str(fixture_csv), "-o", str(tmp_path / "r.html")
    )
    assert_one_error_line(proc, "tinyslm.json: field 'arena_bytes' is 16")
    assert not (tmp_path / "r.html").exists()


def test_report_and_json_replace_only_their_own_files(
    fixture_model: Path, esp32_project: Path, tmp_path: Path
) -> None:
    from tinyslm import __version__

    project = tmp_path / "p"
    shutil.copytree(esp32_project, project)
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    fixture_csv = fixture_model.parent / "fixture_commands.csv"
    mine = tmp_path / "notes.html"
    mine.write_text("<!DOCTYPE html><p>my notes</p>\n")
    # A project's own file, a source, a user's page: refused, in one line, unchanged.
    for args in (
        ("info", str(project), "--json", str(project / "tinyslm.json")),
        ("info", str(project), "--json", str(project / "src" / "main.cc")),
        ("info", str(project), "--json", str(fixture_csv)),
        ("report", str(project), "--data", str(fixture_csv), "-o", str(project / "README.md")),
        ("report", str(project), "--data", str(fixture_csv), "-o", str(mine)),
    ):
        proc = run_cli(*args)
        assert_one_error_line(proc, "this tinyslm may replace (")
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before
    assert mine.read_text() == "<!DOCTYPE html><p>my notes</p>\n"

    # Its own earlier outputs are replaced: a second run succeeds, with the same bytes.
    info_json, page = tmp_path / "info.json", tmp_path / "r.html"
    written = []
    for _ in range(2):
        assert run_cli("info", str(project), "--json", str(info_json)).returncode == 0
        proc = run_cli("report", str(project), "--data", str(fixture_csv), "-o", str(page))
        assert proc.returncode == 0, proc.stderr
        written.append((info_json.read_bytes(), page.read_bytes()))
    assert written[0] == written[1]
    assert json.loads(info_json.read_text())["tinyslm"] == __version__
    assert page.read_text().startswith("<!DOCTYPE html>")


def test_a_project_with_an_edited_model_array_is_refused(
    esp32_project: Path, tmp_path: Path
) -> None:
    project = tmp_path / "p"
    shutil.copytree(esp32_project, project)
    cc = project / "src" / "tinyslm_model_data.cc"
    cc.write_text(cc.read_text().replace("0x1c,", "0x1d,", 1))
    proc = run_cli("report", str(project), "--data", str(DEMO_CSV), "-o", str(tmp_path / "r.html"))
    assert_one_error_line(proc, "sha256", "regenerate")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("other manifest", "the manifest is not the model's"),
        ("arena_size true", "arena_size True is not a number of bytes"),
        ("arena_size -1", "arena_size -1 is not a number of bytes"),
        ("arena_size 16", "arena_size 16 is not a number of bytes"),
    ],
)
def test_info_checks_a_projects_manifest_and_arena(
    esp32_project: Path, tmp_path: Path, edit: str, expected: str
) -> None:
    # Round 33: info showed whatever tinyslm.json said: another model's manifest (labels,
    # threshold the firmware does not have), or an arena of True or -1 bytes.
    import sys

    from click.testing import CliRunner

    from tinyslm.cli import cli

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
    from kws import keyword_manifest

    project = tmp_path / "p"
    shutil.copytree(esp32_project, project)
    path = project / "tinyslm.json"
    doc = json.loads(path.read_text())
    if edit == "other manifest":
        doc["manifest"] = keyword_manifest().to_dict()
    else:
        doc["arena_size"] = json.loads(edit.split()[1])
    path.write_text(json.dumps(doc))
    for args in (["info", str(project)], ["report", str(project), "-o", str(tmp_path / "r.html")]):
        result = CliRunner().invoke(cli, args)
        lines = result.output.strip().splitlines()
        if args[0] == "report" and edit != "other manifest":
            continue  # report draws no arena_size; it needs --data for a project anyway
        assert result.exit_code == 1 and len(lines) == 1, result.output
        assert lines[0].startswith(f"error: {path}: ") and expected in lines[0], lines[0]


def test_info_recipe_names_every_scalar_setting(
    trained: tuple[Path, dict[str, object], str],
) -> None:
    # Switches too: cosine_decay was left out of the table, though --json has it.
    out, _, _ = trained
    manifest, _ = load_model_dir(out)
    proc = run_cli("info", str(out))
    assert proc.returncode == 0, proc.stderr
    recipe = next(ln for ln in proc.stdout.splitlines() if ln.startswith("recipe"))
    switches = [k for k, v in manifest.train_config.items() if isinstance(v, bool)]
    assert "cosine_decay" in switches
    for key, value in manifest.train_config.items():
        if isinstance(value, bool | int | float | str):
            assert f"{key} {json.dumps(value) if isinstance(value, bool) else value}" in recipe


def test_info_on_a_model_folder_and_a_project(fixture_model: Path, esp32_project: Path) -> None:
    manifest, _ = load_model_dir(fixture_model)
    arena = arena_size_for(manifest.arena_bytes)
    for path, kind, board in (
        (fixture_model, "model folder", None),
        (esp32_project, "project", "esp32"),
    ):
        text = run_cli("info", str(path))
        assert text.returncode == 0, text.stderr
        for needle in (f"{manifest.model_bytes} bytes", f"q={manifest.threshold_q}", kind):
            assert needle in text.stdout
        assert ", ".join(manifest.ops) in text.stdout
        proc = run_cli("info", str(path), "--json", "-")
        assert proc.returncode == 0, proc.stderr
        info = json.loads(proc.stdout)  # nothing but the JSON on stdout
        assert proc.stderr == text.stdout  # and the text on stderr, as the README says
        assert (info["kind"], info["board"], info["modality"]) == (kind, board, "text")
        assert info["labels"] == list(manifest.labels)
        assert (info["model_bytes"], info["arena_bytes"]) == (
            manifest.model_bytes,
            manifest.arena_bytes,
        )
        assert info["arena_size"] == arena and info["ops"] == list(manifest.ops)
        assert info["threshold_q"] == manifest.threshold_q
        for fit in info["boards"]:
            board_spec = next(b for b in load_boards() if b.id == fit["board"])
            try:
                check_budget(board_spec, manifest.model_bytes, arena)
                fits = True
            except BudgetError:
                fits = False
            assert fit["fits"] is fits
        assert [f["board"] for f in info["boards"]] == [b.id for b in load_boards()]
    assert_one_error_line(run_cli("info", str(fixture_model.parent)), "neither a model folder")
    # A file was "no such folder".
    model_file = str(fixture_model / "model.tflite")
    assert_one_error_line(run_cli("info", model_file), "a file, not a model folder or a project")
    assert_one_error_line(run_cli("info", model_file + "x"), "no such folder")


def test_board_fits_says_why_not(fixture_model: Path) -> None:
    manifest, _ = load_model_dir(fixture_model, probe_arena=False)
    fits = board_fits(dataclasses.replace(manifest, model_bytes=10**9), 16)
    assert fits and not any(f.fits for f in fits)
    assert all("flash budget" in f.reason and "arena" not in f.reason for f in fits)
    assert all(f.fits for f in board_fits(dataclasses.replace(manifest, model_bytes=1024), 1024))


def test_build_json(fake_pio: Path, minimal_project: Path, tmp_path: Path) -> None:
    proc = run_cli("build", str(minimal_project), "--json", "-")
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert figures["board"] == "esp32"
    assert figures["ram"]["used"] == 17032 and figures["flash"]["used"] == 399598
    assert (
        figures["ram"]["board_bytes"]
        == next(b for b in load_boards() if b.id == "esp32").ram_kb * 1024
    )
    assert "built" in proc.stderr
    out = tmp_path / "build.json"
    proc = run_cli("build", str(minimal_project), "--json", str(out))
    assert proc.returncode == 0 and "built" in proc.stdout
    assert json.loads(out.read_text()) == figures | {
        "seconds": json.loads(out.read_text())["seconds"]
    }


def test_train_json_targets_are_checked_before_training(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    shutil.copy(DEMO_CSV, data)
    proc = run_cli("train", str(data), "-o", str(tmp_path / "m"), "--json", str(data))
    assert_one_error_line(proc, "--json names the input")
    inside = tmp_path / "m" / "train.json"
    proc = run_cli("train", str(data), "-o", str(tmp_path / "m"), "--json", str(inside))
    assert_one_error_line(proc, "inside the model folder")
    assert "epoch" not in proc.stdout + proc.stderr
    assert data.read_bytes() == DEMO_CSV.read_bytes() and not (tmp_path / "m").exists()


def test_emulate_json_to_stdout(fixture_model: Path, esp32_project: Path) -> None:
    fixture_csv = fixture_model.parent / "fixture_commands.csv"
    proc = run_cli("emulate", str(esp32_project), "--data", str(fixture_csv), "--json", "-")
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)  # the JSON alone; the text went to stderr
    assert figures["split"] == "test" and "accuracy" in figures
    assert "escalation rate" in proc.stderr
