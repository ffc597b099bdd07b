"""The TFLM adapter's generic entry point (firmware/common/tinyslm_tflm.cc) on real TFLM.

tinyslm_tflm_invoke(input, bytes, scores) is what every modality's loop calls;
tinyslm_tflm_infer is the text core's callback over it. tests/host/
tflm_adapter_driver.cc is linked with a text project generated from the fixture
model (its own sources, not main.cc) and the host TFLM tree: the two entry points
must give the same int8 scores, those must be TFLM's Python runtime's, and a wrong
input size, a NULL pointer or a call before init must be refused with a reason.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from shared_paths import require_path, require_tool, sdk_path

from tinyslm.manifest import load_model_dir
from tinyslm.pipeline import run_generate
from tinyslm.text.features import encode
from tinyslm.tflm_runtime import tflm_scores
from tinyslm.toolchain import host

pytestmark = [pytest.mark.toolchain, pytest.mark.slow]

DRIVER = Path(__file__).resolve().parent / "tflm_adapter_driver.cc"
FIXTURE_MODEL = Path(__file__).resolve().parents[1] / "fixtures" / "model"
PHRASES = ("turn on the kitchen lights", "what's the weather", "", "zzzz qqqq", "set a timer")
ERR_ARGS, ERR_NOT_READY = 11, 10  # firmware/common/tinyslm_tflm.h


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = require_path(sdk_path("tflm", "host"), "host TFLM tree")
    require_tool(os.environ.get("CXX", "c++").split()[0])
    tree = host.check_host_tree(tree)
    work = tmp_path_factory.mktemp("adapter")
    run_generate("esp32", work / "proj", model_dir=FIXTURE_MODEL)
    sources = host.project_sources(work / "proj")
    toolchain = dataclasses.replace(
        host.host_toolchain(), name="adapter-check", board_sources=(DRIVER,)
    )
    return host.build_firmware(sources, tree, work / "adapter_driver", toolchain)


def test_invoke_and_infer_agree_with_the_python_runtime(driver: Path) -> None:
    manifest, model = load_model_dir(FIXTURE_MODEL)
    ids = encode(list(PHRASES), manifest.features).astype("<i4")
    out = subprocess.run(
        [str(driver)], input=ids.tobytes(), capture_output=True, check=True, timeout=120
    ).stdout.decode()
    lines = out.splitlines()
    steps = {line.split(" ", 1)[0]: line for line in lines if not line.startswith("scores ")}
    assert steps["before_init"].startswith(f"before_init {ERR_NOT_READY} inference before")
    assert steps["init"] == "init 0 "
    assert steps["null_input"] == f"null_input {ERR_ARGS} NULL input or scores"
    assert steps["null_scores"] == f"null_scores {ERR_ARGS} NULL input or scores"
    size = 4 * manifest.features.seq_len
    assert steps["short"] == f"short {ERR_ARGS} input of {size - 1} bytes; the model takes {size}"
    assert steps["long"] == f"long {ERR_ARGS} input of {size + 4} bytes; the model takes {size}"
    assert steps["infer_null"] == f"infer_null {ERR_ARGS} NULL input or scores"

    rows = [line.split() for line in lines if line.startswith("scores ")]
    assert len(rows) == len(PHRASES)
    expected = tflm_scores(model, ids)
    for row, want, phrase in zip(rows, expected, PHRASES, strict=True):
        rc_invoke, rc_infer, same, canary = map(int, row[1:5])
        assert (rc_invoke, rc_infer, same, canary) == (0, 0, 1, 1), (phrase, row)
        np.testing.assert_array_equal(np.array(row[5:], dtype=np.int8), want, err_msg=phrase)
