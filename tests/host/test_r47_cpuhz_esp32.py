"""The ESP32 text board's ``:info`` says the CPU clock it runs at (round 47).

The glue reads the CPU clock from ESP-IDF's clock tree after its start-up
(``esp_clk_tree_src_get_freq_hz(SOC_MOD_CLK_CPU, ...)``, public in 5.3.1: the header
compile is test_esp32_idf's) and gives it to the core (``tinyslm_app_set_cpu_hz``).
Run on test_esp32_rx_events' model of the driver (the generated main.cc whole, with the
real core); esp32_fakes' clock tree says the sdkconfig's 240 MHz.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import test_esp32_rx_events as rx
from esp32_fakes import build_generated, require_host_compilers, run_firmware
from esp32_sim import CORE_SOURCES, FIXTURE_MODEL

pytestmark = pytest.mark.toolchain


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_host_compilers()
    root = tmp_path_factory.mktemp("r47_cpuhz_esp32")
    needles = ("uart_read_bytes(", "tinyslm_app_set_cpu_hz(")
    return build_generated(root, FIXTURE_MODEL, CORE_SOURCES, rx.HARNESS, "cpuhz", needles)


def test_info_says_the_cpu_clock(firmware: Path, tmp_path: Path) -> None:
    script = rx.Script(lines=[(1, ":info")], spacing=[1])
    path = tmp_path / "script.txt"
    path.write_text(script.render(), encoding="utf-8")
    lines, _ = run_firmware([str(firmware), str(path)])
    infos = [json.loads(w)["info"] for w in lines.get("W", []) if w.startswith('{"info"')]
    assert len(infos) == 1, lines
    assert infos[0]["board"] == "esp32" and infos[0]["cpu_hz"] == 240_000_000
