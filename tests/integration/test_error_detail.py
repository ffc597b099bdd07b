"""PlatformIO's failure is an ordinary TinySlmError: its last lines are the error's detail.

The CLI streams pio's output, so the detail is empty there (nothing repeated);
a library caller that did not see the output gets its end in ``detail``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tinyslm.errors import ToolchainError
from tinyslm.toolchain import build


def test_pio_failure_detail_unless_streamed(
    fake_pio: Path, minimal_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PIO_MODE", "fail")
    with pytest.raises(ToolchainError, match="PlatformIO failed") as quiet:
        build.build(minimal_project)
    assert len(quiet.value.detail) == build.TAIL_LINES
    assert quiet.value.detail[-1].startswith("========== [FAILED]")
    assert "error: 'frobnicate' was not declared" in "\n".join(quiet.value.detail)

    seen: list[str] = []
    with pytest.raises(ToolchainError, match="PlatformIO failed") as streamed:
        build.build(minimal_project, log=seen.append)
    assert streamed.value.detail == ()
    assert "compile step 0" in seen
