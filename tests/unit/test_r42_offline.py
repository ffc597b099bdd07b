"""Offline failures of ``tinyslm build`` and ``tinyslm tflm fetch`` name the right thing.

No network: a fake ``pio`` shell script on PATH prints what PlatformIO, or the ESP-IDF
component manager it runs, prints offline; urlopen is replaced for the TFLM download.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tinyslm.cli import cli
from tinyslm.errors import ToolchainError
from tinyslm.toolchain import build as build_mod
from tinyslm.toolchain import tflm

# idf-component-manager's fatal offline error (core.py general_error_handler), as pio's
# ESP-IDF build shows it, then the CMake failure that follows.
COMPONENT_OFFLINE = (
    "ERROR: Cannot establish a connection to the component registry. "
    "Are you connected to the internet?"
)
# Its component archive download failing (web_service.py), requests' text after it.
COMPONENT_DOWNLOAD = (
    "ERROR: Cannot download component espressif/esp-tflite-micro@1.4.0. "
    "HTTPSConnectionPool(host='components-file.espressif.com', port=443): Max retries "
    "exceeded with url: /releases/components/espressif/esp-tflite-micro.tgz (Caused by "
    "NewConnectionError('Failed to establish a new connection: [Errno -3] Temporary "
    "failure in name resolution'))"
)
SIZES = (
    "RAM:   [=         ]   5.2% (used 17032 bytes from 327680 bytes)\n"
    "Flash: [==        ]  25.4% (used 399598 bytes from 1572864 bytes)\n"
)


def _pio(bindir: Path, body: str) -> None:
    script = bindir / "pio"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)


@pytest.fixture()
def esp32(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ESP32 project whose platform and packages look installed; PATH has fakebin/."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "tinyslm.json").write_text(
        json.dumps({"board": "esp32", "model_sha256": "0" * 64, "tinyslm_version": "0.1.0"})
    )
    (root / "platformio.ini").write_text(
        "[env:esp32]\nplatform = espressif32@6.9.0\nframework = espidf\n"
    )
    core = tmp_path / "core"
    (core / "platforms" / "espressif32").mkdir(parents=True)
    for package in ("tool-scons", "toolchain-xtensa-esp32", "framework-espidf"):
        (core / "packages" / package).mkdir(parents=True)
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(core))
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    # Port 9 on localhost refuses at once: an unreachable registry, without a network.
    monkeypatch.setenv(build_mod.REGISTRY_ENV, "127.0.0.1:9")
    return root


@pytest.fixture()
def listening_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A registry that answers: a local socket that accepts connections."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        monkeypatch.setenv(build_mod.REGISTRY_ENV, f"127.0.0.1:{server.getsockname()[1]}")
        yield


# --- 1. the ESP-IDF component registry --------------------------------------


@pytest.mark.parametrize("error", [COMPONENT_OFFLINE, COMPONENT_DOWNLOAD])
def test_component_registry_offline_names_that_registry_at_once(esp32: Path, error: str) -> None:
    # It matched none of the offline patterns (or was blamed on PlatformIO's registry):
    # the user got "PlatformIO failed ... its output is above". The sleep stands for
    # the rest of a CMake run: stopped at the first sign.
    _pio(
        esp32.parent / "fakebin",
        'echo "Processing esp32 (platform: espressif32@6.9.0; board: esp32dev)"\n'
        'echo "NOTICE: Dependencies lock doesn\'t exist, solving dependencies."\n'
        f'echo "{error}"\n'
        "echo 'URL: https://components-file.espressif.com/components/espressif/"
        "esp-tflite-micro.json'\n"
        "sleep 60\nexit 1\n",
    )
    start = time.monotonic()
    with pytest.raises(ToolchainError) as info:
        build_mod.build(esp32)
    assert time.monotonic() - start < 30
    text = str(info.value)
    assert "\n" not in text
    assert "component registry (components.espressif.com)" in text, text
    assert str(esp32 / "src" / "idf_component.yml") in text
    assert f"run 'tinyslm build {esp32}' on a networked machine once" in text
    assert "PlatformIO could not reach its registry" not in text


def test_component_manager_notice_on_an_offline_build_is_no_error(esp32: Path) -> None:
    # With the components already in the project the component manager only notes that
    # it skipped its check, and the build goes on: not to be stopped as offline.
    _pio(
        esp32.parent / "fakebin",
        "echo 'NOTICE: Cannot establish a connection to the component registry. "
        "Skipping checks of dependency changes.'\n"
        f"cat <<'EOF'\n{SIZES}EOF\n",
    )
    result = build_mod.build(esp32)
    assert result.ram is not None and result.ram.used == 17032


def test_pio_registry_offline_still_names_platformio(esp32: Path) -> None:
    _pio(esp32.parent / "fakebin", "echo 'HTTPClientError: '\nexit 1\n")
    with pytest.raises(ToolchainError, match="PlatformIO could not reach its registry"):
        build_mod.build(esp32)


# --- 1b. a platform folder that is there but broken --------------------------


def test_installing_with_an_unreachable_registry_is_stopped_at_once(esp32: Path) -> None:
    # The platform folder exists (so no check before pio starts), but pio installs it
    # again: real pio 6.2 printed its "Installing" line, then nothing for 60 s, then
    # "HTTPClientError:". The registry is asked at the "Installing" line.
    _pio(
        esp32.parent / "fakebin",
        "echo 'Platform Manager: Installing espressif32 @ 6.9.0'\n"
        "sleep 60\necho 'HTTPClientError: '\nexit 1\n",
    )
    start = time.monotonic()
    with pytest.raises(ToolchainError, match="PlatformIO could not reach its registry"):
        build_mod.build(esp32)
    assert time.monotonic() - start < 30


def test_installing_with_a_reachable_registry_goes_on(
    esp32: Path, listening_registry: None
) -> None:
    _pio(
        esp32.parent / "fakebin",
        "echo 'Platform Manager: Installing espressif32 @ 6.9.0'\n"
        "echo 'Tool Manager: Installing platformio/toolchain-xtensa-esp32'\n"
        f"cat <<'EOF'\n{SIZES}EOF\n",
    )
    result = build_mod.build(esp32)
    assert result.flash is not None and result.flash.used == 399598


# --- 2. local write errors are no network errors ------------------------------


@pytest.fixture()
def archive_bytes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """urlopen answers with 200 KB of archive; records the URLs asked for."""
    asked: list[str] = []

    def answer(url: str, *args: object, **kwargs: object) -> io.BytesIO:
        asked.append(url)
        return io.BytesIO(b"\x1f\x8b" + bytes(200_000))

    monkeypatch.setattr(urllib.request, "urlopen", answer)
    return asked


def test_download_into_an_unwritable_place_names_the_file(archive_bytes: list[str]) -> None:
    # The hunter's repro: "cannot reach github.com" for a file that cannot be created.
    dest = Path("/proc/x.tar.gz")
    with pytest.raises(ToolchainError) as info:
        tflm._download("https://example.invalid/a.tar.gz", dest, 5)
    text = str(info.value)
    assert text.startswith(f"cannot write the tflite-micro archive {dest}: "), text
    assert "github" not in text and "\n" not in text


def test_download_onto_a_full_disk_names_the_file(archive_bytes: list[str]) -> None:
    # /dev/full: every write fails with ENOSPC, as on a full disk.
    with pytest.raises(ToolchainError) as info:
        tflm._download("https://example.invalid/a.tar.gz", Path("/dev/full"), 5)
    assert str(info.value) == (
        "cannot write the tflite-micro archive /dev/full: No space left on device"
    )


def test_download_cut_short_is_a_network_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class Truncated(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise http.client.IncompleteRead(b"partial", 100)

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Truncated())
    with pytest.raises(ToolchainError, match=r"^cannot reach github\.com"):
        tflm._download("https://example.invalid/a.tar.gz", Path(os.devnull), 5)


# --- 3. the advice names the target --------------------------------------------


@pytest.fixture()
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(url: str, *args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)


def test_host_fetch_offline_advises_the_host_fetch(tmp_path: Path, offline: None) -> None:
    # It advised 'tinyslm tflm fetch', which builds the Cortex-M7 tree instead.
    result = CliRunner().invoke(
        cli, ["tflm", "fetch", "--target", "host", "--cache-dir", str(tmp_path / "t")]
    )
    assert result.exit_code != 0
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "run 'tinyslm tflm fetch --target host' on a networked machine" in errors[0]
    assert "give 'tinyslm emulate --native' a tree with --tflm-dir PATH" in errors[0]


def test_cortex_m_fetch_offline_advice_is_unchanged(tmp_path: Path, offline: None) -> None:
    with pytest.raises(ToolchainError) as info:
        tflm.fetch(tmp_path / "t")
    assert "run 'tinyslm tflm fetch' on a networked machine" in str(info.value)


def test_behind_a_proxy_the_registry_is_not_judged_by_a_direct_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pio goes through HTTPS_PROXY; a direct connection failing said "no network" and
    stopped builds pio would have done (review of round 42)."""

    def direct(*args: object, **kwargs: object) -> socket.socket:
        raise OSError("no route: only the proxy reaches out")

    monkeypatch.setattr(socket, "create_connection", direct)
    monkeypatch.delenv(build_mod.REGISTRY_ENV, raising=False)
    for var in build_mod._PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    assert build_mod._reachable(build_mod.PIO_REGISTRY) is False
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert build_mod._reachable(build_mod.PIO_REGISTRY) is True
    # A registry named to check (a mirror, or the proxy itself) is tried all the same.
    monkeypatch.setenv(build_mod.REGISTRY_ENV, "127.0.0.1:9")
    assert build_mod._reachable(("127.0.0.1", 9)) is False
