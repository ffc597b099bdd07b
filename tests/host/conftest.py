"""Fixtures for the host tests of firmware/common/ and text/: builds shared by the session."""

from __future__ import annotations

from pathlib import Path

import pytest
from core_harness import (
    CoreLib,
    Driver,
    build_core_lib,
    build_driver,
    have_host_cc,
    sanitizers_work,
)
from shared_paths import missing


@pytest.fixture(scope="session")
def host_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not have_host_cc():
        missing("no host C compiler (cc or $CC) on PATH")
    return tmp_path_factory.mktemp("tinyslm_host")


@pytest.fixture(scope="session")
def core_lib(host_build_dir: Path) -> CoreLib:
    return build_core_lib(host_build_dir)


@pytest.fixture(scope="session")
def plain_driver(host_build_dir: Path) -> Driver:
    return build_driver(host_build_dir, "plain")


@pytest.fixture(scope="session")
def asan_driver(host_build_dir: Path) -> Driver:
    reason = sanitizers_work(host_build_dir)
    if reason is not None:
        missing(reason)
    return build_driver(host_build_dir, "asan")


@pytest.fixture(scope="session", params=["plain", "asan"])
def driver(request: pytest.FixtureRequest) -> Driver:
    """The protocol cases run against the plain build and the ASan+UBSan build."""
    name = "plain_driver" if request.param == "plain" else "asan_driver"
    drv: Driver = request.getfixturevalue(name)
    return drv
