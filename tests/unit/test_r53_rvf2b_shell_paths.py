"""Review of round 53's F2b (``errors.shell_word`` and ``cli._path_checked``).

``shell_word`` wrote a character that is not printable and not an undecodable byte as
``\\uHHHH``/``\\UHHHHHHHH``. bash 5.2 reads those as the locale's character only in a
UTF-8 locale: under ``LC_ALL=C`` (a bare container, a CI job) ``$'\\u00a0'`` is the six
characters ``\\u00A0`` and ``$'\\U000e0001'`` nothing, so the pasted command named
another folder. ``_path_checked`` looked for click's name as it is, but click writes it
as its repr: a name that also held a backslash or a line break kept its U+FFFD.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import click
import pytest
from shell_paths import bash_words

from tinyslm.cli import _FileName, _PathName
from tinyslm.errors import one_line, quoted, shell_word

RAW = os.fsdecode(b"\xff")  # an undecodable byte, as Python lists it


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("locale", ["C", "POSIX", "C.UTF-8"])
@pytest.mark.parametrize(
    "text",
    [
        "/tmp/no\u00a0break",  # a no-break space: not printable to Python
        "/tmp/\u202eevil\u2028é" + RAW + "a",
        "/tmp/tag\U000e0001/p q",
        "/tmp/c1\x85\x9b1",
    ],
)
def test_shell_word_names_the_bytes_in_any_locale(text: str, locale: str) -> None:
    word = shell_word(text)
    assert one_line(word) == word
    assert bash_words(word, locale) == [os.fsencode(text)]


def _refusal(path_type: click.Path, value: str) -> str:
    with pytest.raises(click.BadParameter) as caught:
        path_type.convert(value, None, None)
    return caught.value.message


@pytest.mark.parametrize("name", ["a\\b" + RAW + ".csv", "nl\n" + RAW + ".csv", "it's" + RAW])
def test_click_refusal_names_the_byte_beside_a_backslash_or_line_break(
    tmp_path: Path, name: str
) -> None:
    (tmp_path / name).write_text("")
    value = str(tmp_path / name)
    message = _refusal(_PathName(file_okay=False), value)
    assert "\ufffd" not in message
    # Quoted as click quotes a decodable name (its repr: a backslash doubled, so that the
    # byte's \xff cannot be read as typed text), the byte as the shell shows it (round 54;
    # round 53 wrote the backslash single, unlike click's own 'a\\b.csv').
    assert quoted(value) in message and "\\udc" not in message
    assert message.endswith(" is a file.")
    message = _refusal(_FileName(dir_okay=False, exists=True), value + "x")
    assert "\ufffd" not in message
    assert quoted(value + "x") in message and "\\udc" not in message


@pytest.mark.parametrize("name", ["a\\b.csv", "nl\nx.csv", "it's", "plain.csv"])
def test_click_refusal_of_a_decodable_name_is_clicks(tmp_path: Path, name: str) -> None:
    # Only names click changed are mended: every other message is click's, byte for byte.
    (tmp_path / name).write_text("")
    value = str(tmp_path / name)
    assert _refusal(_PathName(file_okay=False), value) == _refusal(
        click.Path(file_okay=False), value
    )


@pytest.mark.parametrize("upload", [False, True])
def test_build_and_flash_log_name_the_project_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upload: bool
) -> None:
    # Before: "building .../proj\udcff\nx with PlatformIO ...": a lone surrogate (stderr
    # showed '\udcff', not the byte) and a line break splitting the log line.
    from tinyslm.toolchain import build as build_mod

    root = tmp_path / ("proj" + RAW + "\nx")
    root.mkdir()
    (root / "tinyslm.json").write_text(
        '{"board": "esp32", "model_sha256": "' + "0" * 64 + '", "tinyslm_version": "0.1.0"}'
    )
    (root / "platformio.ini").write_text("[env:esp32]\nplatform = espressif32@6.9.0\n")
    monkeypatch.setattr(build_mod, "find_pio", lambda: "pio")
    monkeypatch.setattr(build_mod, "check_registry", lambda project, what: None)
    monkeypatch.setattr(build_mod, "run_pio", lambda args, project, what, log=None: "")
    logged: list[str] = []
    if upload:
        build_mod.upload(root, log=logged.append)
    else:
        build_mod.build(root, log=logged.append)
    assert len(logged) == 1, logged
    assert "\n" not in logged[0]
    assert f" {one_line(str(root))} with PlatformIO" in logged[0]
    logged[0].encode("utf-8")  # no lone surrogate


def test_report_output_refusal_names_the_byte(tmp_path: Path) -> None:
    # Before: "File '.../rep\ufffd' is a directory.": report's -o was a bare click.Path.
    from tinyslm.cli import report_command

    (output,) = [p for p in report_command.params if p.name == "output"]
    folder = tmp_path / ("rep" + RAW)
    folder.mkdir()
    message = _refusal(output.type, str(folder))
    assert message == f"File '{one_line(str(folder))}' is a directory."
    plain = tmp_path / "plain"
    plain.mkdir()
    assert _refusal(output.type, str(plain)) == f"File '{plain}' is a directory."
