"""The host's side of the gate (tinyslm.escalate): parsing device lines, a user's
program as the bigger model, and the monitor's worker that answers them."""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tinyslm.errors import ModelError, ToolchainError
from tinyslm.escalate import (
    MAX_ANSWER_BYTES,
    Escalated,
    HostCommand,
    HostModel,
    act_line,
    format_host_answer,
    from_options,
    host_line,
    parse_escalation,
    reply_to,
)
from tinyslm.monitor import MAX_PENDING_ESCALATIONS, _HostWorker
from tinyslm.text.dataset import MAX_LINE_LIMIT

REPO = Path(__file__).resolve().parents[2]
ESC = '{"intent":"lights_on","score":0.412,"route":"escalate","us":799,"text":"dim \\"it\\""}'


def py(code: str) -> list[str]:
    """argv running ``code`` with this interpreter (no shell)."""
    return [sys.executable, "-c", code]


def test_parse_escalation_takes_only_escalations() -> None:
    assert parse_escalation(ESC) == Escalated('dim "it"', "lights_on", 0.412)
    for other in (
        '{"intent":"lights_on","score":0.930,"route":"local","us":812}',
        '{"error":"line_too_long","max":256}',
        '{"keyword":"yes","score":0.9,"t_ms":990,"us":1}',
        '{"route":"escalate","intent":"x","score":0.1}',  # no text
        '{"route":"escalate","text":42}',
        '["route","escalate"]',
        "I (312) boot: ESP-IDF v5.3",
        "",
        "{",
    ):
        assert parse_escalation(other) is None, other
    # Odd but valid: missing or mistyped guess fields do not stop the phrase.
    assert parse_escalation('{"route":"escalate","text":"x","score":true}') == Escalated(
        "x", "", 0.0
    )


def test_parse_escalation_never_raises_on_garbage() -> None:
    rng = random.Random(7)
    alphabet = '{}[]":,\\ aeiouroutescalatext0123456789.-\x00\xff\u2028'
    for _ in range(3000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        if rng.random() < 0.3:
            line = '{"route":"escalate","text":' + line
        parse_escalation(line)  # any outcome but an exception


def test_parse_escalation_takes_valid_json_of_any_shape() -> None:
    """Valid JSON the firmware never writes still parses as an escalation or as nothing:
    nesting past Python's depth, a score no float holds, a lone surrogate (which UTF-8
    cannot carry: it once killed the host worker when printed)."""
    assert parse_escalation("[" * 5000) is None
    big = '{"route":"escalate","text":"x","score":' + "9" * 400 + "}"
    assert parse_escalation(big) == Escalated("x", "", 0.0)
    nan = '{"route":"escalate","text":"x","score":NaN}'
    assert parse_escalation(nan) == Escalated("x", "", 0.0)
    sur = parse_escalation('{"route":"escalate","text":"a\\ud800b","intent":"\\udfff"}')
    assert sur == Escalated("a\ufffdb", "\ufffd", 0.0)
    assert sur is not None and sur.text.encode("utf-8") == b"a\xef\xbf\xbdb"


def test_command_answer_env_and_first_line() -> None:
    cmd = HostCommand(
        py(
            "import os, sys\n"
            "phrase = sys.stdin.read()\n"
            "print()\n"
            "print('answer', repr(phrase), os.environ['TINYSLM_TEXT'], "
            "os.environ['TINYSLM_INTENT'], os.environ['TINYSLM_SCORE'])\n"
            "print('second line is not the answer')"
        )
    )
    got = cmd.answer(Escalated('dim "it"', "lights_on", 0.412))
    assert got == {
        "text": 'dim "it"',
        "answer": 'answer \'dim "it"\\n\' dim "it" lights_on 0.412',
    }


def test_command_gets_a_phrase_with_nul() -> None:
    # os.environ cannot hold NUL: the phrase's answer was "ValueError: embedded null byte".
    cmd = HostCommand(
        py(
            "import os, sys\n"
            "data = sys.stdin.buffer.read()\n"
            "print(data.hex(), os.environ['TINYSLM_TEXT'].encode().hex())"
        )
    )
    got = cmd.answer(Escalated("a\0b", "x\0", 0.5))
    assert got == {"text": "a\0b", "answer": "6100620a " + "a\ufffdb".encode().hex()}


def test_command_failures_are_answers_not_crashes(tmp_path: Path) -> None:
    esc = Escalated("hello", "x", 0.1)
    failing = HostCommand(py("import sys; print('bad key', file=sys.stderr); sys.exit(3)"))
    assert failing.answer(esc) == {"text": "hello", "error": "exit code 3: bad key"}
    silent = HostCommand(py("pass"))
    assert silent.answer(esc) == {"text": "hello", "error": "the program printed nothing"}
    slow = HostCommand(py("import time; time.sleep(30)"), timeout_s=0.5)
    start = time.monotonic()
    assert slow.answer(esc) == {"text": "hello", "error": "no answer within 0.5 s"}
    assert time.monotonic() - start < 10
    # A flood is read and dropped beyond the first bytes: the answer stays bounded, and
    # a first line cut there is no answer (round 46: its first 4096 bytes were one).
    flood = HostCommand(py("import sys; sys.stdout.write('y' * 5_000_000)"))
    error = flood.answer(esc)["error"]
    assert error.startswith(f"its first output line is longer than the {MAX_ANSWER_BYTES} ")
    assert len(error) < 200
    # Bytes that are not UTF-8 are replaced, never an exception.
    binary = HostCommand(py("import sys; sys.stdout.buffer.write(b'ok \\xff\\xfe')"))
    assert binary.answer(esc)["answer"] == "ok \ufffd\ufffd"


def test_a_background_child_holding_the_output_does_not_lose_the_answer() -> None:
    # Round 33: the program printed its answer and exited, leaving a child that held
    # stdout; the reader waited for the end of the pipe, and the answer was dropped
    # ("the program printed nothing") after a 5 s wait.
    child = "import time; time.sleep(20)"
    program = (
        "import subprocess, sys; "
        f"subprocess.Popen([sys.executable, '-c', {child!r}]); "
        "print('the answer', flush=True)"
    )
    start = time.monotonic()
    got = HostCommand(py(program)).answer(Escalated("hello", "x", 0.1))
    assert got == {"text": "hello", "answer": "the answer"}
    assert time.monotonic() - start < 4


def _state(pid: int) -> str:
    """The process's state letter (Z: a zombie, dead), or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _script(path: Path, body: str) -> Path:
    path.write_text(body)
    path.chmod(0o755)
    return path


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_what_an_exited_program_left_running_is_killed_at_once(tmp_path: Path) -> None:
    # A program that answered and exited, leaving 'sleep 1000 &': the sleep held its
    # output pipes (each phrase waited 2 s for the readers) and outlived tinyslm.
    pidfile = tmp_path / "child.pid"
    program = _script(
        tmp_path / "bg.sh",
        f'#!/bin/sh\necho ":do lights_on"\nsleep 1000 &\necho $! > "{pidfile}"\nexit 0\n',
    )
    cmd = HostCommand([str(program)])
    for _ in range(2):
        start = time.monotonic()
        got = cmd.answer(Escalated("hello", "x", 0.1))
        took = time.monotonic() - start
        child = int(pidfile.read_text())
        deadline = time.monotonic() + 5
        while _state(child) not in ("", "Z") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _state(child) in ("", "Z"), "the program's background child outlived it"
        assert got == {"text": "hello", "answer": ":do lights_on"}
        assert took < 0.9, f"a phrase took {took:.2f} s"


def test_a_program_keeps_tinyslms_session_and_group() -> None:
    # A session of its own (how leftovers were first killed) took the program's terminal
    # (a password prompt on /dev/tty failed) and made its own setsid() fail.
    probe = "import os; print(os.getsid(0), os.getpgid(0))"
    got = HostCommand([sys.executable, "-c", probe]).answer(Escalated("hello", "x", 0.1))
    assert got == {"text": "hello", "answer": f"{os.getsid(0)} {os.getpgid(0)}"}


def test_a_program_that_cannot_run_is_said_in_words(tmp_path: Path) -> None:
    # A file without the exec bit was "program '...' not found".
    noexec = tmp_path / "noexec"
    noexec.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(ToolchainError) as err:
        HostCommand([str(noexec)])
    assert str(err.value) == f"--host-cmd: program {str(noexec)!r} is not executable (chmod +x it)"
    with pytest.raises(ToolchainError) as err:
        HostCommand([str(tmp_path)])
    assert str(err.value) == f"--host-cmd: program {str(tmp_path)!r} is a folder, not a program"
    dangling = tmp_path / "gone"
    dangling.symlink_to(tmp_path / "nothing-here")
    with pytest.raises(ToolchainError) as err:
        HostCommand([str(dangling)])
    assert str(err.value) == f"--host-cmd: program {str(dangling)!r} is a link to nothing"


@pytest.mark.parametrize(
    ("script", "why"),
    [
        # It was "FileNotFoundError: [Errno 2] No such file or directory: '.../script'".
        ("#!/nonexistent/interp\necho hi\n", "its interpreter /nonexistent/interp is not found"),
        # That blamed /bin/sh, which is there: exec looked for '/bin/sh\r'.
        (
            "#!/bin/sh\r\necho hi\r\n",
            "its '#!' line ends in a carriage return (Windows line ends)",
        ),
        # exec refuses it (ENOEXEC): "OSError: [Errno 8] Exec format error".
        ("echo ':do lights_on'\n", "not a program this system runs (a script needs a '#!' line)"),
    ],
)
def test_a_script_that_cannot_start_is_said_in_words(tmp_path: Path, script: str, why: str) -> None:
    program = _script(tmp_path / "script", script)
    assert HostCommand([str(program)]).answer(Escalated("hello", "x", 0.1)) == {
        "text": "hello",
        "error": f"could not start {program}: {why}",
    }


def test_a_program_killed_by_a_signal_is_said_so() -> None:
    esc = Escalated("hello", "x", 0.1)  # it was "exit code -9"
    killed = HostCommand(py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    assert killed.answer(esc) == {"text": "hello", "error": "killed by signal 9 (SIGKILL)"}


@pytest.mark.parametrize("sep", ["\u2028", "\u0085", "\v", "\f", "\x1c", "\x1d", "\x1e"])
def test_the_answer_is_cut_at_a_newline_only(sep: str) -> None:
    # str.splitlines() cut ':do lights_<U+2028>on' into ':do lights_'.
    program = py(f"import sys; sys.stdout.buffer.write({(':do lights_' + sep + 'on').encode()!r}"
                 " + b'\\r\\nsecond\\n')")  # fmt: skip
    got = HostCommand(program).answer(Escalated("hello", "x", 0.1))
    assert got == {"text": "hello", "answer": f":do lights_{sep}on"}


def test_a_phrase_is_never_run_as_a_command(tmp_path: Path) -> None:
    # No shell: a phrase full of shell syntax is data on stdin, nothing more.
    marker = tmp_path / "pwned"
    phrase = f"$(touch {marker}); `touch {marker}` | touch {marker} && touch {marker}"
    echo = HostCommand(py("import sys; print(sys.stdin.read().strip())"))
    assert echo.answer(Escalated(phrase, "", 0.0)) == {"text": phrase, "answer": phrase}
    assert not marker.exists()


def test_from_options_refuses_in_one_line(tmp_path: Path) -> None:
    assert from_options(None, None) is None
    with pytest.raises(ValueError, match="one of --host-model and --host-cmd"):
        from_options(tmp_path, "cat")
    with pytest.raises(ToolchainError, match="empty"):
        from_options(None, "  ")
    with pytest.raises(ToolchainError, match="'no-such-program-xyz' not found"):
        from_options(None, "no-such-program-xyz --flag")
    with pytest.raises(ToolchainError, match="No closing quotation"):
        from_options(None, "cat 'open")
    with pytest.raises(ModelError, match="not found"):
        from_options(tmp_path / "none", None)
    cmd = from_options(None, f"{sys.executable} -c 'print(1)'", 2.5)
    assert isinstance(cmd, HostCommand) and cmd.timeout_s == 2.5


def test_a_keyword_model_cannot_answer_phrases(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "tests" / "fixtures"))
    from kws import keyword_model_dir

    with pytest.raises(ModelError, match="keyword model cannot answer escalated phrases"):
        HostModel(keyword_model_dir(tmp_path / "kws"))


def test_host_model_answers_with_its_own_gate() -> None:
    from tinyslm.decision import score_milli
    from tinyslm.manifest import load_model_dir
    from tinyslm.text.features import encode
    from tinyslm.tflm_runtime import tflm_scores

    model_dir = REPO / "tests" / "fixtures" / "model"
    host = HostModel(model_dir)
    manifest, model = load_model_dir(model_dir)
    phrases = ["turn on the lights", "zxq blorf wibble", "what's the weather tomorrow"]
    scores = tflm_scores(model, encode(phrases, manifest.features), manifest.arena_bytes)
    q = manifest.output_quant
    for phrase, row in zip(phrases, scores, strict=True):
        top = int(row.argmax())
        got = host.answer(Escalated(phrase, "", 0.0))
        assert got == {
            "text": phrase,
            "intent": manifest.labels[top],
            "score": score_milli(int(row[top]), q.scale, q.zero_point) / 1000,
            "route": "local" if int(row[top]) >= manifest.threshold_q else "escalate",
        }


class _Echo:
    """An escalation that answers with the phrase in capitals, after ``gate`` opens."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.entered = threading.Event()

    def answer(self, esc: Escalated) -> dict[str, Any]:
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        return {"text": esc.text, "answer": esc.text.upper()}


class _Broken:
    def answer(self, esc: Escalated) -> dict[str, Any]:
        raise RuntimeError("TFLM said no")


def test_reply_to_and_formats() -> None:
    assert reply_to(_Echo(), '{"intent":"a","score":0.9,"route":"local","us":1}') is None
    reply = reply_to(_Echo(), ESC)
    assert reply is not None and reply.act is None
    assert reply.line == host_line({"text": 'dim "it"', "answer": 'DIM "IT"'})
    assert json.loads(reply.line) == {"host": {"text": 'dim "it"', "answer": 'DIM "IT"'}}
    broken = reply_to(_Broken(), ESC)
    assert broken is not None and broken.act is None
    assert json.loads(broken.line)["host"]["error"] == "RuntimeError: TFLM said no"
    assert format_host_answer({"text": "t", "answer": "hi"}) == '  host: hi  ("t")'
    assert format_host_answer({"text": "t", "error": "exit code 1"}) == (
        '  host error: exit code 1  ("t")'
    )
    row = format_host_answer({"text": "t", "intent": "lights_on", "score": 0.5, "route": "local"})
    assert row.split() == ["host:", "lights_on", "0.500", "local", '("t")']


def test_worker_answers_in_order_and_bounds_its_queue() -> None:
    gate = threading.Event()
    rows: list[str] = []
    lock = threading.Lock()

    def show(row: str) -> None:
        with lock:
            rows.append(row)

    echo = _Echo(gate)
    worker = _HostWorker(echo, show, raw=True)
    worker.offer('{"intent":"a","score":0.9,"route":"local","us":1}')  # not escalated

    def offer(i: int) -> None:
        line = {"intent": "a", "score": 0.1, "route": "escalate", "text": f"p{i}"}
        worker.offer(json.dumps(line))

    offer(0)
    assert echo.entered.wait(10)  # p0 is being answered (blocked on the gate)
    total = MAX_PENDING_ESCALATIONS + 5
    for i in range(1, total):
        offer(i)
    with lock:
        skipped = [json.loads(r)["host"] for r in rows if "skipped" in r]
    # The queue holds p1..p16; p17 onwards are skipped, each said once (a JSON line).
    assert skipped == [
        {
            "text": f"p{i}",
            "error": f"skipped: {MAX_PENDING_ESCALATIONS} escalations already waiting for "
            "an answer",
        }
        for i in range(MAX_PENDING_ESCALATIONS + 1, total)
    ]
    gate.set()
    worker.finish()
    answered = [json.loads(r)["host"].get("answer") for r in rows if "skipped" not in r]
    assert answered == [f"P{i}" for i in range(MAX_PENDING_ESCALATIONS + 1)]


def test_act_line_only_for_sure_answers() -> None:
    sure = {"text": "t", "intent": "lights_on", "score": 0.5, "route": "local"}
    assert act_line(sure) == b":do lights_on\n"
    assert act_line({**sure, "route": "escalate"}) is None  # the host is not sure either
    assert act_line({"text": "t", "answer": ":do lights_off"}) == b":do lights_off\n"
    assert act_line({"text": "t", "answer": "it means lights_off"}) is None
    assert act_line({"text": "t", "answer": ":dolights_off"}) is None
    assert act_line({"text": "t", "error": "exit code 1"}) is None
    # One command, never two: a terminator inside the name sends nothing.
    assert act_line({**sure, "intent": "a\n:info"}) is None
    assert act_line({"text": "t", "answer": ":do a\rb"}) is None
    # No label holds a control byte, and no board takes a line over MAX_LINE_LIMIT: the
    # board could only refuse them (or lose bytes of a 4 KB line on the way).
    assert act_line({"text": "t", "answer": ":do lights\x1b[2J"}) is None
    assert act_line({"text": "t", "answer": ":do a\x00b"}) is None
    assert act_line({"text": "t", "answer": ":do a\x7f"}) is None
    longest = ":do " + "x" * (MAX_LINE_LIMIT - 4)
    assert act_line({"text": "t", "answer": longest}) == longest.encode() + b"\n"
    assert act_line({"text": "t", "answer": longest + "x"}) is None
    assert act_line({**sure, "intent": "caf\u00e9"}) == ":do caf\u00e9\n".encode()


def test_worker_sends_the_act_line_after_showing_the_answer() -> None:
    sent: list[bytes] = []
    rows: list[str] = []

    class _Sure:
        def answer(self, esc: Escalated) -> dict[str, Any]:
            return {"text": esc.text, "intent": "lights_on", "score": 0.9, "route": "local"}

    def send(line: bytes) -> None:
        rows.append("sent")
        sent.append(line)

    worker = _HostWorker(_Sure(), rows.append, raw=True, send=send)
    worker.offer(ESC)
    worker.finish()
    assert sent == [b":do lights_on\n"]
    assert json.loads(rows[0])["host"]["intent"] == "lights_on" and rows[1] == "sent"
