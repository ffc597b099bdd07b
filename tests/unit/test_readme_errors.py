"""A generated project's README says what its firmware does: the error lines it lists are
the ones the firmware prints, and its protocol examples route as the threshold does.

An engineer reads the README's table to handle every line the board can send; the
table is written by hand in the README templates, so this test ties it to the codes the
project's sources (the firmware core, the board's main.cc) can write, for both boards
and both modalities: a new error code that the README does not list fails here, and so
does a listed one that no source prints any more.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tinyslm.pipeline import run_generate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from kws import keyword_model_dir  # noqa: E402

# How the sources write an error line: a JSON literal, or a helper given the code.
_IN_SOURCE = (
    re.compile(r'\\"error\\":\\"([a-z_]+)\\"'),
    re.compile(r'(?:write_error|write_simple_error|fail_forever)\(\s*(?:[^"()]*,\s*)?"([a-z_]+)"'),
    # The STM32H7 keyword glue's lines said again every 3 s (error_say / error_repeat).
    re.compile(r'ErrorLine\s+\w+\s*=\s*\{\s*"([a-z_]+)"'),
)
_IN_README = re.compile(r'^\| `\{"error":"([a-z_]+)"', re.MULTILINE)


def _codes_in_sources(src: Path) -> set[str]:
    codes: set[str] = set()
    for path in sorted(src.iterdir()):
        if path.suffix in {".c", ".cc", ".h"}:
            text = path.read_text(encoding="utf-8")
            for pattern in _IN_SOURCE:
                codes |= set(pattern.findall(text))
    return codes


@pytest.fixture(
    scope="module",
    params=[(b, m) for b in ("esp32", "stm32h7") for m in ("text", "keywords")],
    ids=lambda p: "-".join(p),
)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project of each board and modality, generated from the committed fixtures."""
    board, modality = request.param
    root = tmp_path_factory.mktemp(f"{board}_{modality}")
    model = FIXTURES / "model" if modality == "text" else keyword_model_dir(root / "kw_model")
    run_generate(board, root / "project", model_dir=model)
    return root / "project"


def test_the_readme_lists_every_error_line_the_firmware_prints(project: Path) -> None:
    in_sources = _codes_in_sources(project / "src")
    listed = _IN_README.findall((project / "README.md").read_text(encoding="utf-8"))
    assert len(listed) == len(set(listed))  # each once
    assert "inference_failed" in in_sources and "tflm_init_failed" in in_sources
    assert set(listed) == in_sources


@pytest.mark.parametrize("threshold", ["0.001", "0.6", "0.99"])
def test_the_protocol_examples_route_as_the_threshold_does(threshold: str, tmp_path: Path) -> None:
    # A fixed 0.412 was shown escalating under a 0.351 gate; half of a 0.001 gate, rounded
    # half up, showed 0.001 escalating, which that gate keeps local.
    from tinyslm.manifest import load_model_dir
    from tinyslm.operating_point import with_threshold

    manifest, _ = load_model_dir(FIXTURES / "model")
    gate = with_threshold(manifest, float(threshold))
    project = tmp_path / "project"
    run_generate("esp32", project, model_dir=FIXTURES / "model", threshold=float(threshold))
    readme = (project / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r'"score":([0-9.]+),"route":"(local|escalate)"', readme)
    routes = {route: float(score) for score, route in shown}
    k = len(manifest.labels)
    if gate.threshold * k <= 1:
        # The top score of K intents is never below 1/K: a 0.001 gate of 20 intents
        # escalates nothing, and the README says so instead of showing an escalation.
        assert set(routes) == {"local"}, shown
        assert "none escalates" in " ".join(readme.split())
        return
    assert set(routes) == {"local", "escalate"}, shown
    assert routes["local"] >= gate.threshold > routes["escalate"] >= 1 / k


def test_the_readme_error_tables_numbers_are_the_firmwares(project: Path) -> None:
    # The table is hand-written: its numbers are read back from the project's sources.
    readme = (project / "README.md").read_text(encoding="utf-8")
    sources = "\n".join(p.read_text(encoding="utf-8") for p in sorted((project / "src").iterdir()))
    repeat = re.search(r"kErrorRepeat(?:Ms)? = (?:pdMS_TO_TICKS\()?(\d+)", sources)
    assert repeat is not None
    assert readme.count(f"(repeated every {int(repeat.group(1)) // 1000} s)") >= 2
    if "tinyslm_kws_app.h" in {p.name for p in (project / "src").iterdir()}:
        command = re.search(r"#define TINYSLM_KWS_MAX_COMMAND (\d+)", sources)
        timeout = re.search(r"#define TINYSLM_KWS_STREAM_TIMEOUT_SAMPLES (\d+)u", sources)
        assert command is not None and timeout is not None
        assert (
            f'"max":{command.group(1)}}}` | a `:` command over {command.group(1)} bytes' in readme
        )
        assert f"stopped for {int(timeout.group(1)) // 16000} s;" in readme
