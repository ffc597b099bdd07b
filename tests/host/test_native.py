"""The whole generated firmware built natively against real TFLM C++ (tinyslm.emulate.native).

Needs a host (reference-kernel) TFLM tree made by tflite-micro's
create_tflm_tree.py: point ``TINYSLM_TFLM_DIR`` at it (``tinyslm tflm fetch
--target host`` makes one on a networked machine). The first run compiles
TFLM's core and the model's kernels into ~/.cache/tinyslm/native (minutes); later
runs reuse them.

The expected answers are computed independently in Python: the tokenizer spec
(features.py), TFLM's Python runtime (tflm_runtime.tflm_scores, the golden reference)
and the gate (decision.py). The C++ build must agree to the int8 score.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from firmware_checks import ARENA_CASES, copy_with_tiny_arena
from shared_paths import require_path, require_tool, sdk_path

from tinyslm.decision import decide, score_milli
from tinyslm.emulate import native
from tinyslm.errors import ToolchainError
from tinyslm.manifest import Manifest, load_model_dir
from tinyslm.pipeline import run_generate
from tinyslm.resources import data_dir
from tinyslm.text.features import encode
from tinyslm.tflm_runtime import tflm_scores
from tinyslm.toolchain import host

pytestmark = [pytest.mark.toolchain, pytest.mark.slow]

TFLM_ENV = "TINYSLM_TFLM_DIR"
FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"
PHRASES_PER_LABEL = 2


@pytest.fixture(scope="module")
def host_tree() -> Path:
    raw = os.environ.get(TFLM_ENV, "").strip()
    tree = Path(raw) if raw else require_path(sdk_path("tflm", "host"), "host TFLM tree")
    require_tool(os.environ.get("CXX", "c++").split()[0])
    # Set but unusable is a mistake worth failing on, not a reason to skip.
    return host.check_host_tree(tree)


@pytest.fixture(scope="module")
def model() -> tuple[Manifest, bytes]:
    return load_model_dir(FIXTURE_MODEL)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # esp32: its TFLM comes from a package manager, so no lib/tflm copy is made.
    out = tmp_path_factory.mktemp("native") / "proj"
    run_generate("esp32", out, model_dir=FIXTURE_MODEL)
    return out


def demo_phrases() -> list[tuple[str, str]]:
    """The first PHRASES_PER_LABEL phrases of each label in the bundled demo set."""
    seen: dict[str, int] = {}
    rows = []
    with (data_dir() / "demo_commands.csv").open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if seen.get(row["label"], 0) < PHRASES_PER_LABEL:
                seen[row["label"]] = seen.get(row["label"], 0) + 1
                rows.append((row["text"], row["label"]))
    return rows


def expected_answer(manifest: Manifest, model_bytes: bytes, text: str) -> dict[str, object]:
    scores = tflm_scores(model_bytes, encode([text], manifest.features))[0]
    q = manifest.output_quant
    d = decide(scores, q.scale, q.zero_point, manifest.threshold_q)
    milli = score_milli(d.score_q, q.scale, q.zero_point)
    answer: dict[str, object] = {
        "intent": manifest.labels[d.index],
        "score": round(milli / 1000, 3),
        "route": d.route,
    }
    if d.route == "escalate":
        answer["text"] = text
    return answer


def test_native_answers_like_the_python_tflm_runtime(
    host_tree: Path, project: Path, model: tuple[Manifest, bytes]
) -> None:
    manifest, model_bytes = model
    phrases = [text for text, _ in demo_phrases()]
    phrases += ["", "turn the lights on please", "zzzz qqqq", "what's the weather in Paris?"]
    lines = native.run_native(project, host_tree, [p.encode() for p in phrases] + [b":info"])

    answered = [p for p in phrases if p]  # an empty line gets no answer
    assert len(lines) == len(answered) + 1
    for text, line in zip(answered, lines, strict=False):
        got = json.loads(line)
        assert list(got)[:4] == ["intent", "score", "route", "us"], line
        assert isinstance(got.pop("us"), int)
        assert got == expected_answer(manifest, model_bytes, text), text

    info = json.loads(lines[-1])["info"]
    assert info["model_sha256"] == manifest.model_sha256
    assert info["model_bytes"] == manifest.model_bytes == len(model_bytes)
    assert info["labels"] == len(manifest.labels)
    assert info["ops"] == sorted(manifest.ops)
    assert info["board"] == "esp32"


def test_native_protocol_edges(host_tree: Path, project: Path) -> None:
    lines = native.run_native(project, host_tree, [b":nope", b"x" * 300, b"lights\r"])
    assert lines[0] == '{"error":"unknown_command"}'
    assert lines[1] == '{"error":"line_too_long","max":256}'
    assert json.loads(lines[2])["intent"]  # CR ends the line; the LF after it is an empty line
    assert len(lines) == 3


def test_native_acts_on_the_hosts_answer(host_tree: Path, project: Path) -> None:
    # The whole firmware, not only the emulated core: an escalated phrase, the host
    # program's ":do lights_on" sent back (tinyslm emulate --host-cmd), and the board's
    # answer to it; ":do" with a name the model lacks is the device's error.
    import sys

    from click.testing import CliRunner

    from tinyslm.cli import cli

    lines = native.run_native(project, host_tree, [b":do lights_on", b":do nope"])
    assert lines == ['{"intent":"lights_on","route":"host"}', '{"error":"unknown_intent"}']
    program = f"{sys.executable} -c 'print(\":do lights_on\")'"
    args = ["emulate", str(project), "--native", "--tflm-dir", str(host_tree)]
    result = CliRunner().invoke(cli, [*args, "--text", "qqq zzz", "--host-cmd", program])
    assert result.exit_code == 0, result.output
    rows = [json.loads(r) for r in result.stdout.splitlines()]
    assert rows[0]["route"] == "escalate" and rows[0]["text"] == "qqq zzz"
    assert rows[1:] == [
        {"host": {"text": "qqq zzz", "answer": ":do lights_on"}},
        {"intent": "lights_on", "route": "host"},
    ]


@ARENA_CASES
def test_native_handles_a_too_small_arena(
    host_tree: Path,
    project: Path,
    tmp_path: Path,
    arena: int,
    check: Callable[[ToolchainError], None],
) -> None:
    broken = copy_with_tiny_arena(project, tmp_path / "proj", arena)
    with pytest.raises(ToolchainError) as info:
        native.run_native(broken, host_tree, [b"lights on"])
    check(info.value)


def test_native_leaves_out_board_sources_the_user_added(
    host_tree: Path, project: Path, tmp_path: Path
) -> None:
    # Every src/*.c but main.cc and tinyslm_actions.c was compiled: a user's board file
    # (HAL calls) failed every --native and --qemu run of a valid project.
    copy = tmp_path / "proj"
    shutil.copytree(project, copy)
    (copy / "src" / "leds.c").write_text('#include "stm32h7xx_hal.h"\nvoid led_on(void) {}\n')
    (copy / "src" / "driver.cc").write_text("#error board only\n")
    names = [p.name for p in host.project_sources(copy)]
    assert "leds.c" not in names and "driver.cc" not in names
    assert {"tinyslm_settings.c", "tinyslm_model_data.cc", "tinyslm_core.c"} <= set(names)
    lines = native.run_native(copy, host_tree, [b"turn on the lights"])
    assert json.loads(lines[0])["route"] in ("local", "escalate")


def test_expected_answers_are_not_trivial(model: tuple[Manifest, bytes]) -> None:
    """Guards the oracle: the demo phrases must reach more than one intent and both routes."""
    manifest, model_bytes = model
    rows = demo_phrases()
    answers = [expected_answer(manifest, model_bytes, t) for t, _ in rows]
    assert len({a["intent"] for a in answers}) > 5
    assert {a["route"] for a in answers} == {"local", "escalate"}
    assert np.mean([a["intent"] == lbl for a, (_, lbl) in zip(answers, rows, strict=True)]) > 0.5


def test_device_lines_split_on_lf_only() -> None:
    out = '{"text":"a\u0085b\u2028c\u2029d\x1ce\x0bf\x0cg"}\n{"x":1}\n'.encode()
    assert native.device_lines(out) == [
        '{"text":"a\u0085b\u2028c\u2029d\x1ce\x0bf\x0cg"}',
        '{"x":1}',
    ]
    assert native.device_lines(b"") == []
    assert native.device_lines(b"\n") == [""]
    assert native.device_lines(b"partial") == ["partial"]


def test_native_keeps_an_escalated_nel_inside_its_line(
    host_tree: Path, project: Path, model: tuple[Manifest, bytes]
) -> None:
    """U+0085 is valid UTF-8 the firmware passes through; str.splitlines() would cut there."""
    candidates = [f"{word} \u0085 {word}" for word in ("zzzz", "qqqq", "xyzzy", "blorp", "hmm")]
    escalated = [t for t in candidates if expected_answer(*model, t)["route"] == "escalate"]
    assert escalated, "no candidate phrase escalates with this model"
    text = escalated[0]
    lines = native.run_native(project, host_tree, [text.encode(), b":info"])
    assert len(lines) == 2
    answer = json.loads(lines[0])
    assert answer["route"] == "escalate"
    assert answer["text"] == text
