"""Round 49: ``monitor < phrases.txt`` says the lines the board did not answer.

Against a board that never answered (a board left in its bootloader, the wrong port, a
keyword board's firmware gone), three piped lines went out, none was answered, and the
session ended with exit 0 and not a word. Now: not one byte back for lines with a ':'
command among them (every tinyslm board answers one) fails the session in one line
(exit 1), as ``monitor --wav`` does; lines unanswered otherwise get one note at the
end. A terminal session is left as it was.
"""

from __future__ import annotations

import io

import pytest
from fake_serial import FakePort, use_port

from tinyslm import monitor as monitor_mod
from tinyslm.errors import ToolchainError

ANSWER = b'{"intent":"lights_on","score":0.9,"route":"local","us":61}\n'
# A keyword board given a ':' command it does not know: an error line, which is an
# answer (it answers no phrase: see test_r49_monitor_end_note.py).
KEYWORD_ANSWER = b'{"error":"unknown_command"}\n'


class _Board(FakePort):
    """Answers each line it gets with ``answers[line]`` (nothing where it has none)."""

    def __init__(self, answers: dict[bytes, bytes], out: bytes = b"") -> None:
        super().__init__(out)
        self.answers = answers

    def write(self, data: bytes) -> int:
        super().write(data)
        for line in data.splitlines():
            self.answer(self.answers.get(line, b""))
        return len(data)


class _Terminal(io.BytesIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _quick(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each unanswered line holds the next one this long: the rule, not the wait, is tested.
    monkeypatch.setattr(monitor_mod, "ANSWER_WAIT_S", 0.2)


def _session(
    monkeypatch: pytest.MonkeyPatch, board: FakePort, typed: bytes | io.BytesIO
) -> list[str]:
    use_port(monkeypatch, board)
    rows: list[str] = []
    stdin = typed if isinstance(typed, io.BytesIO) else io.BytesIO(typed)
    status: list[str] = []  # the line naming the port
    monitor_mod.monitor("fake", stdin=stdin, echo=rows.append, linger=0.2, status=status.append)
    return rows


def test_a_silent_board_fails_the_piped_session(monkeypatch: pytest.MonkeyPatch) -> None:
    # A ':' command, which every tinyslm board answers (phrases alone: a note, see
    # test_r49_monitor_end_note.py, as a keyword board answers none).
    with pytest.raises(ToolchainError) as info:
        _session(monkeypatch, FakePort(), b"a\n:info\nc\n")
    assert str(info.value) == (
        "no byte came back from the board on fake for the 3 lines sent (every tinyslm "
        "project's firmware answers a ':' command: is it running one at 115200 baud, not "
        "held in its bootloader?)"
    )


def test_a_board_that_talks_but_answers_none_gets_a_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    board = _Board({}, out=b"ets Jul 29 2019 12:21:46\n")  # a boot log, then nothing
    rows = _session(monkeypatch, board, b"a\n:info\nc\n")
    assert rows[-1] == (
        "  monitor: the board did not answer any of the 3 lines sent, though it sent other "
        "lines (is it running a tinyslm project's firmware at 115200 baud?)"
    ), rows
    # Phrases alone: a keyword board answers none of them, a text board each one.
    rows = _session(monkeypatch, _Board({}, out=b"ets Jul 29 2019 12:21:46\n"), b"a\nb\n")
    assert rows[-1] == (
        "  monitor: the board did not answer any of the 2 phrases sent, though it sent other "
        "lines (a keyword board answers only ':' commands such as ':info'; a text board "
        "answers every line: is it running a tinyslm project's firmware at 115200 baud?)"
    ), rows


def test_the_lines_not_answered_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    board = _Board({b"a": ANSWER, b"c": ANSWER})
    rows = _session(monkeypatch, board, b"a\nb\nc\n")
    notes = [r for r in rows if r.startswith("  monitor:")]
    assert notes == [
        "  monitor: 1 of the 3 phrases sent got no answer from the board (a keyword board "
        "answers only ':' commands such as ':info'; a text board answers every line: it may "
        "have restarted, or been busy and dropped them)"
    ], rows


@pytest.mark.parametrize(
    ("answer", "a", "b"), [(ANSWER, b"a", b"b"), (KEYWORD_ANSWER, b":a", b":b")]
)
def test_a_board_answering_every_line_gets_no_note(
    monkeypatch: pytest.MonkeyPatch, answer: bytes, a: bytes, b: bytes
) -> None:
    board = _Board({a: answer, b: answer})
    rows = _session(monkeypatch, board, a + b"\n\n  \n" + b + b"\n")  # blank: no answer
    assert not [r for r in rows if "monitor:" in r], rows
    assert len(rows) == 2, rows


def test_a_terminal_session_is_left_as_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    # The user typing reads the answers (there are none) as they come.
    assert _session(monkeypatch, FakePort(), _Terminal(b"a\nb\n")) == []


def test_nothing_typed_is_nothing_to_say(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _session(monkeypatch, FakePort(), b"\n\n") == []
