"""Report, info and eval figures that said one thing and meant another (round 41).

- ``generate --threshold 0.6`` on a text model recorded 0.6 while the firmware gates at
  its int8 level q=26 (0.6016): info, ``:info`` and the report said 0.600 beside the
  report's own 'at 0.602' (a keyword project records the level: 0.8 -> 0.801).
- A format-1 manifest (no train_config, no threshold rule) gave an empty ``recipe`` row,
  an empty ``threshold rule`` row and ``dim ?, hidden ?``.
- ``report --help`` described the text report only, and offered ``--data`` to any model.
- Keyword ``eval --json`` had ``threshold_q`` but no ``threshold``.
- Text ``eval --split val`` tagged train's test figures as a bare ``(train: ...)``.
- A dataset of blank lines was refused for 'missing column(s)', an empty one as empty.
- The report page repeated matplotlib's element ids (figure_1, axes_1...) in every SVG.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.boards import load_boards
from tinyslm.cli import cli
from tinyslm.decision import dequantize, threshold_to_q
from tinyslm.errors import DatasetError
from tinyslm.info import format_info, model_info
from tinyslm.manifest import MANIFEST_NAME, Manifest, load_model_dir, threshold_text
from tinyslm.operating_point import with_label_thresholds, with_threshold
from tinyslm.pipeline import run_generate
from tinyslm.report import render_report
from tinyslm.report_data import ReportData, report_data_from_dataset
from tinyslm.text.dataset import check_has_rows, load_dataset

REPO = Path(__file__).resolve().parents[2]
FIXTURE_MODEL = REPO / "tests" / "fixtures" / "model"
FIXTURE_CSV = REPO / "tests" / "fixtures" / "fixture_commands.csv"
sys.path.insert(0, str(REPO / "tests" / "fixtures"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from kws import keyword_manifest, keyword_model_dir  # noqa: E402
from test_keyword_eval_output import _list  # noqa: E402


@pytest.fixture(scope="module")
def text_model() -> tuple[Manifest, bytes, ReportData]:
    manifest, model = load_model_dir(FIXTURE_MODEL, probe_arena=False)
    return manifest, model, report_data_from_dataset(model, manifest, FIXTURE_CSV)


def _summary(page: str) -> dict[str, str]:
    table = page.split("<h2>Summary</h2>")[1].split("</table>")[0]
    return dict(re.findall(r"<tr><td>(.*?)</td><td[^>]*>(.*?)</td></tr>", table))


# --- 1: the threshold shown is the level the firmware gates at ---------------------


def test_text_generate_threshold_records_the_level_the_firmware_gates_at(
    text_model: tuple[Manifest, bytes, ReportData],
) -> None:
    """0.6 selects q=26 (0.6015625): recorded, printed and compiled as 0.601, a value that
    typed again selects the same level (as train records its calibrated one)."""
    m, _, _ = text_model
    out = m.output_quant
    moved = with_label_thresholds(with_threshold(m, 0.6), {"door_unlock": 0.9})
    assert moved.threshold_q == threshold_to_q(0.6, out.scale, out.zero_point) == 26
    assert moved.threshold == 0.601
    level = dequantize(moved.threshold_q, out.scale, out.zero_point)
    assert moved.threshold == math.floor(level * 1000) / 1000
    own = moved.label_thresholds[0]
    assert (own.label, own.threshold, own.threshold_q) == ("door_unlock", 0.902, 103)
    # The printed values select the same levels again (regenerating reproduces the bytes).
    again = with_label_thresholds(with_threshold(m, 0.601), {"door_unlock": 0.902})
    assert again.to_dict() == moved.to_dict()
    assert moved.metrics["threshold_rule"].startswith(
        "set with generate --threshold 0.601 --label-threshold door_unlock=0.902 (trained: "
    )
    # Recorded as train records its calibrated level (tinyslm.verify): the trained level
    # selected again reads back as the trained threshold.
    trained_level = dequantize(m.threshold_q, out.scale, out.zero_point)
    assert with_threshold(m, trained_level).threshold == m.threshold == 0.402
    # A keyword model already recorded its level: unchanged.
    kw = with_threshold(keyword_manifest(), 0.8)
    assert (kw.threshold_q, kw.threshold) == (77, (77 + 128) / 256)


def test_a_text_project_and_its_report_say_the_threshold_it_gates_at(
    text_model: tuple[Manifest, bytes, ReportData], tmp_path: Path
) -> None:
    _, _, data = text_model
    said: list[str] = []
    project = tmp_path / "p"
    run_generate(
        "esp32",
        project,
        model_dir=FIXTURE_MODEL,
        threshold=0.6,
        label_thresholds={"door_unlock": 0.9},
        log=said.append,
    )
    # The firmware's ':info' prints threshold_milli: the level's, not the value typed.
    settings = (project / "src" / "tinyslm_settings.c").read_text()
    assert ".threshold_milli = 601," in settings and "902u," in settings
    assert "600u" not in settings and "900u" not in settings
    # generate says the value typed beside the level it selected.
    assert any(
        line.startswith("threshold 0.601 (q=26, the level --threshold 0.6 selects) instead")
        for line in said
    ), said
    assert any("door_unlock 0.902 (q=103) (the levels door_unlock=0.9 select)" in s for s in said)
    info = format_info(model_info(project))
    assert re.search(r"^threshold +0\.601 \(q=26\)$", info, re.M), info
    manifest = Manifest.from_dict(json.loads((project / "tinyslm.json").read_text())["manifest"])
    rows = _summary(render_report(manifest, data, load_boards()))
    assert rows["threshold"] == "0.601 (q=26)"
    # The curve's row at the threshold in force names it as the threshold row does.
    assert "at 0.601 (test split, the model-wide gate)" in rows, rows
    assert not any(key.startswith("at 0.602") for key in rows)


# --- 2: an old manifest's rows ------------------------------------------------------


def _format_1(folder: Path) -> Path:
    """The fixture model as a format-1 folder: no train_config, no threshold rule."""
    folder.mkdir()
    (folder / "model.tflite").write_bytes((FIXTURE_MODEL / "model.tflite").read_bytes())
    raw = json.loads((FIXTURE_MODEL / MANIFEST_NAME).read_text())
    for key in ("content_sha256", "max_line", "train_config"):
        raw.pop(key, None)
    for key in ("threshold_rule", "threshold_calibrated_on", "threshold_objective_val"):
        raw["metrics"].pop(key, None)
    raw["format_version"] = 1
    (folder / MANIFEST_NAME).write_text(json.dumps(raw))
    return folder


def test_an_old_manifest_shows_no_empty_rows(
    text_model: tuple[Manifest, bytes, ReportData], tmp_path: Path
) -> None:
    folder = _format_1(tmp_path / "old")
    info = format_info(model_info(folder))
    recipe = next(ln for ln in info.splitlines() if ln.startswith("recipe"))
    assert recipe.split(None, 1)[1] == "not recorded"
    manifest, _ = load_model_dir(folder, probe_arena=False)
    assert manifest.format_version == 1 and not manifest.train_config
    rows = _summary(render_report(manifest, text_model[2], load_boards()))
    assert rows["threshold rule"] == "not recorded"
    # dim and hidden read from the model's tensors (embedding 512x8, hidden 16x8).
    assert rows["model"] == "buckets 512, seq_len 32, dim 8, hidden 16, seed 0"
    assert all(value.strip() for value in rows.values()), rows


# --- 3: report --help ---------------------------------------------------------------


def test_report_help_is_true_for_both_modalities() -> None:
    result = CliRunner().invoke(cli, ["report", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Keywords: per-keyword accuracy" in text
    assert "--data FILE Text models only:" in text
    assert "a keyword model takes no --data" in text


# --- 4: keyword eval --json ---------------------------------------------------------


def test_keyword_eval_json_gives_the_threshold_beside_its_level(tmp_path: Path) -> None:
    model = keyword_model_dir(tmp_path / "kw", keyword_manifest(threshold_q=77))
    data = _list(tmp_path / "data", [("yes", "test"), ("no", "test")])
    result = CliRunner().invoke(cli, ["eval", str(model), str(data), "--json", "-"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["threshold_q"] == 77
    assert summary["threshold"] == (77 + 128) / 256
    assert threshold_text(summary["threshold"]) == "0.801"


# --- 5: text eval on another split than train's -------------------------------------


def _text_eval(split: str) -> tuple[str, dict]:
    result = CliRunner().invoke(
        cli, ["eval", str(FIXTURE_MODEL), str(FIXTURE_CSV), "--split", split, "--json", "-"]
    )
    assert result.exit_code == 0, result.stderr
    return result.stderr, json.loads(result.stdout)


def test_text_eval_names_the_split_of_trains_figures() -> None:
    table, summary = _text_eval("val")
    assert "(train: " not in table
    assert re.search(
        r"^int8 accuracy \(TFLM\) +[0-9.]+%  \(train, test split: 75\.00%\)$", table, re.M
    )
    assert re.search(
        r"^train figures from +fixture_commands\.csv, split test \(not the val split scored "
        r"here\)$",
        table,
        re.M,
    ), table
    assert summary["trained_same_split"] is False
    table, summary = _text_eval("test")
    assert "(train, test split" not in table and "(train: 75.00%)" in table
    assert "not the test split" not in table
    assert summary["trained_same_split"] is True
    table, summary = _text_eval("all")
    assert "split test (not every phrase, all splits, scored here)" in table, table


# --- 6: a dataset of blank lines ----------------------------------------------------


@pytest.mark.parametrize("name", ["blank.tsv", "blank.csv", "spaces.tsv"])
def test_a_dataset_of_blank_lines_is_empty(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("\n\n" if name.startswith("blank") else "  \n\t\n \n", encoding="utf-8")
    for read in (load_dataset, check_has_rows):
        with pytest.raises(DatasetError) as err:
            read(path)
        assert str(err.value) == f"{path}: no rows (the dataset is empty)"
    # The same words as a file of nothing.
    empty = tmp_path / f"empty{path.suffix}"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DatasetError, match=r": no rows \(the dataset is empty\)$"):
        load_dataset(empty)


def test_a_blank_line_before_the_header_is_still_refused_for_its_header(tmp_path: Path) -> None:
    path = tmp_path / "lead.csv"
    path.write_text("\ntext,label\nhello,greet\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="line 1: missing column"):
        load_dataset(path)


# --- 7: unique SVG ids --------------------------------------------------------------

_ID = re.compile(r'<[^>]*?\sid="([^"]+)"')
_REF = re.compile(r'url\(#([^)]+)\)|href="#([^"]+)"')


def test_the_report_pages_element_ids_are_unique_and_every_reference_resolves(
    text_model: tuple[Manifest, bytes, ReportData],
) -> None:
    manifest, _, data = text_model
    page = render_report(manifest, data, load_boards())
    ids = [m.group(1) for m in re.finditer(r'\sid="([^"]+)"', page)]
    assert page.count("<svg") >= 4 and len(ids) > 100
    dup = [name for name, n in Counter(ids).items() if n > 1]
    assert not dup, dup[:5]
    refs = [a or b for a, b in _REF.findall(page)]
    assert len(refs) > 50
    assert not [r for r in refs if r not in set(ids)]
    # Each reference stays inside its own figure (a clip path of another plot is wrong).
    for svg in re.findall(r"<svg.*?</svg>", page, re.S):
        own = set(re.findall(r'\sid="([^"]+)"', svg))
        assert all((a or b) in own for a, b in _REF.findall(svg))
    # Still deterministic, colours untouched.
    assert render_report(manifest, data, load_boards()) == page
    assert "fill: #ffffff" in page
