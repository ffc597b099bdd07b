"""The serial protocol of firmware/tinyslm_core.c (docs/architecture.md), plain and ASan+UBSan.

Each case feeds bytes to tinyslm_app_feed through tests/host/core_driver.c with a
fake model that returns chosen int8 scores, and parses every output line with
json.loads; see core_harness.PROTOCOL_CASES for what each case checks.
"""

from __future__ import annotations

import pytest
from core_harness import PROTOCOL_CASES, Driver


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(PROTOCOL_CASES))
def test_protocol(driver: Driver, case: str) -> None:
    PROTOCOL_CASES[case](driver)


@pytest.mark.slow
def test_defensive_paths(driver: Driver) -> None:
    """NULL pointers, zero sizes and odd quantization (asserted inside the C driver)."""
    assert driver.run(["selftest"], b"") == b"selftest ok\n"
