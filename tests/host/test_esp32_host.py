"""The esp32 project's firmware built on Espressif's own TFLM copy and run on the host.

``shared/sdk/esp-tflite-micro`` (the ``espressif/esp-tflite-micro`` 1.4.0 component the
esp32 project depends on) is used as the TFLM tree of ``tinyslm.toolchain.host``: the
project's core, TFLM adapter, op resolver header, settings and model array are
compiled against Espressif's headers and linked with its TFLM sources, reference
kernels only (its ESP-NN kernels need the Xtensa esp-nn component; host.py leaves
them out). So a TFLM API the adapter or the generated op resolver uses that
Espressif's copy lacks or changed fails to compile or link here, and a behaviour
change shows up as a different answer.

Every answer must equal, line for line, the one of the shared-library emulator
(``tinyslm emulate``: the same C core with TFLM's Python runtime), ignoring ``us``:
the bundled demo set's test split (in-scope and out-of-scope phrases) plus protocol
edge cases. The first run compiles TFLM's core into ~/.cache/tinyslm/native (about a
minute); later runs reuse it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from shared_paths import require_path, require_tool, sdk_path

from tinyslm.emulate import native
from tinyslm.emulate.emulator import Emulator
from tinyslm.emulate.phrases import dataset_phrases
from tinyslm.manifest import load_model_dir
from tinyslm.pipeline import run_generate
from tinyslm.text.dataset import load_dataset
from tinyslm.toolchain import host

pytestmark = [pytest.mark.toolchain, pytest.mark.slow]

FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"
# Lines the protocol treats specially, each one answer (or none, for the empty ones).
EDGE_LINES = (
    b":info",
    b":nope",
    b"x" * 300,  # over the 256-byte line: one line_too_long, the rest dropped
    b"",
    b"   ",
    b"lights\ron",  # CR ends a line too
    b"turn \xff\xfe the lights on",  # invalid UTF-8
    b'zzzz "quoted" \\ back\tslash',
    "zzzz \u0085 qqqq \u2028 \u2029 \x1c".encode(),  # line separators inside a phrase
    "éèà ünïcödé lights".encode(),
    b"?!. -- !!",  # no word: no_tokens, no inference
)


@pytest.fixture(scope="module")
def esp_tree() -> Path:
    tree = require_path(sdk_path("esp-tflite-micro"), "esp-tflite-micro")
    require_tool(os.environ.get("CXX", "c++").split()[0])
    return host.check_host_tree(tree)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("esp32-host") / "proj"
    run_generate("esp32", out, model_dir=FIXTURE_MODEL)
    return out


def parity_lines() -> list[bytes]:
    """The demo set's test split (with the fixture model's seed), then the edge cases."""
    manifest, _ = load_model_dir(FIXTURE_MODEL)
    dataset = load_dataset(None, seed=manifest.seed)
    texts = [text for text, _, _ in dataset_phrases(dataset, "test")]
    lines = [t.replace("\r", " ").replace("\n", " ").encode() for t in texts]
    return lines + list(EDGE_LINES)


def without_us(line: str) -> tuple[tuple[str, object], ...]:
    obj = json.loads(line)
    assert isinstance(obj, dict), line
    obj.pop("us", None)
    return tuple(obj.items())  # key order is part of the protocol


def emulator_lines(project: Path, lines: list[bytes]) -> list[str]:
    emu = Emulator(project)
    out: list[str] = []
    for line in lines:
        out += emu.feed(line + b"\n")
    return out


def test_esp_tflite_micro_build_answers_like_the_emulator(esp_tree: Path, project: Path) -> None:
    lines = parity_lines()
    device = native.run_native(project, esp_tree, lines)
    reference = emulator_lines(project, lines)

    assert len(reference) >= 150, "the parity set shrank"
    assert len(device) == len(reference)
    for i, (got, want) in enumerate(zip(device, reference, strict=True)):
        assert without_us(got) == without_us(want), f"line {i}: {got} != {want}"
    answers = [json.loads(x) for x in device]
    # Not a trivial agreement: many intents, both routes, every error kind sent.
    assert len({a["intent"] for a in answers if "intent" in a}) > 5
    assert {a.get("route") for a in answers} >= {"local", "escalate"}
    assert {a.get("error") for a in answers} >= {"unknown_command", "line_too_long", "no_tokens"}
    assert [a["info"]["board"] for a in answers if "info" in a] == ["esp32"]
    print(f"esp-tflite-micro host parity: {len(device)}/{len(reference)} lines")


def test_native_leaves_out_espressifs_xtensa_only_sources(esp_tree: Path) -> None:
    sources = {p.as_posix() for p in host.tree_sources(esp_tree)}
    assert "tensorflow/lite/micro/kernels/fully_connected.cc" in sources  # reference kernel
    assert "tensorflow/lite/micro/micro_time.cc" in sources
    assert not [s for s in sources if "/esp_nn/" in s or "/micro/esp/" in s]
