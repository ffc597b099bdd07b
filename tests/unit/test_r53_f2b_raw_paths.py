"""Paths holding a byte that is not UTF-8 (``t\\xff``) in what train prints and in the
commands build and flash suggest.

Python holds such a byte as a lone surrogate (``'\\udcff'``). ``train``'s summary table
printed it raw (a UnicodeEncodeError on a UTF-8 stdout, after the model was written)
and its ``--json`` document as JSON's ``"\\udcff"`` (refused by strict parsers). The
offline refusal of ``build``/``flash`` suggested ``'tinyslm build '/tmp/t\\xff''``:
``shlex.quote`` of the path, which the error line shows with ``\\xff``, four characters
that single quotes keep, so the pasted command named a folder that does not exist.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
import shell_paths
from shell_paths import bash_words

from tinyslm.errors import ToolchainError, one_line, shell_word
from tinyslm.manifest import load_model_dir
from tinyslm.pipeline import TrainRunResult, format_train_table
from tinyslm.toolchain import build as build_mod

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
sys.path.insert(0, str(FIXTURES))
from kws import keyword_manifest  # noqa: E402

RAW = os.fsdecode(b"t\xff")  # 't\udcff'


@pytest.mark.parametrize(
    "text",
    [
        "/plain/path",
        "/a b/p'q",
        RAW + "/proj" + os.fsdecode(b"\xfe1"),  # a hex digit after the byte stays text
        "two\nlines",
        "back\\slash 'quoted' \x01\x7f",
        "\u202eevil\u2028é\U000e0001",
    ],
)
def test_shell_word_is_one_word_naming_the_very_bytes(text: str) -> None:
    word = shell_word(text)
    assert one_line(word) == word  # the error line shows it as it is
    assert bash_words(word) == [os.fsencode(text)]


def test_shell_word_is_shlex_quote_for_printable_text() -> None:
    # Unchanged where it worked: round 44's pinned form.
    assert shell_word("/a b/p'q") == "'/a b/p'\"'\"'q'"
    assert shell_word("/plain") == "/plain"


@pytest.fixture()
def offline_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ESP32 project in a folder ``t\\xff/p q``, PlatformIO's platform not installed
    and its registry unreachable (shell_paths.offline_project)."""
    return shell_paths.offline_project(tmp_path / RAW / "p q", tmp_path, monkeypatch)


def _suggested(exc: pytest.ExceptionInfo[ToolchainError]) -> list[bytes]:
    # As the CLI prints it: one line, the path's byte as '\xff'.
    message = one_line(str(exc.value))
    found = re.search(r"run '(.*)' on a networked machine", message)
    assert found is not None, message
    return bash_words(found.group(1))


def test_offline_build_suggests_a_command_naming_the_project(offline_project: Path) -> None:
    # Before: b"/.../t\\xff/p q" (the four characters), not the byte 0xff.
    with pytest.raises(ToolchainError) as info:
        build_mod.build(offline_project)
    assert _suggested(info) == [b"tinyslm", b"build", os.fsencode(offline_project)]


def test_offline_flash_suggests_the_project_and_port_given(offline_project: Path) -> None:
    port = os.fsdecode(b"/dev/tty\xff")
    with pytest.raises(ToolchainError) as info:
        build_mod.upload(offline_project, port=port)
    assert _suggested(info) == [
        b"tinyslm", b"flash", os.fsencode(offline_project), b"--port", b"/dev/tty\xff",
    ]  # fmt: skip


@pytest.mark.parametrize("kind", ["text", "keyword"])
def test_train_table_and_json_hold_utf8_text(kind: str) -> None:
    # Before: the table held '\udcff' (a UnicodeEncodeError on a UTF-8 stdout) and the
    # --json document "\udcff".
    if kind == "text":
        manifest, _ = load_model_dir(FIXTURES / "model", probe_arena=False)
    else:
        manifest = keyword_manifest()
    out = Path("/tmp") / RAW / "m"
    result = TrainRunResult(
        out=out,
        manifest=manifest,
        train_seconds=1.0,
        convert_seconds=1.0,
        verify_seconds=1.0,
        total_seconds=4.0,
        report=out / "report.html",
    )
    table = format_train_table(result)
    table.encode("utf-8")
    assert re.search(r"^output +/tmp/t\\xff/m$", table, re.M), table
    assert re.search(r"^report +/tmp/t\\xff/m/report\.html$", table, re.M), table
    summary = result.summary()
    assert summary["out"] == "/tmp/t\\xff/m"
    assert summary["report"] == "/tmp/t\\xff/m/report.html"
