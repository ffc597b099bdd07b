"""The host's side of the confidence gate: answer what the device escalates.

A text device answers a phrase locally when its top score reaches the threshold and
otherwise escalates it: ``{"intent":...,"route":"escalate","text":"<the line>"}``
(docs/architecture.md, "Serial protocol"). The escalated phrase is meant for a bigger
model on the host. This module is that forwarder, shared by ``tinyslm monitor``
(a board) and ``tinyslm emulate`` (its firmware on this machine):

- :class:`HostModel`: a bigger tinyslm text model (``tinyslm train --max-model-kb
  2000``, ``--distill``, ...) run on TFLM here, with its own threshold;
- :class:`HostCommand`: any program of the user's (an LLM client, a rules engine):
  the phrase on its stdin and in ``TINYSLM_TEXT``, the device's guess in
  ``TINYSLM_INTENT`` and ``TINYSLM_SCORE``; its first non-blank output line is the answer.

Each answer is one JSON line, ``{"host":{...}}``, carrying the phrase it answers
(a board may have answered other lines meanwhile). Nothing the device or the
program sends can crash the forwarder: a line that is not an escalation is left
alone, and a program that fails, hangs or floods gets an ``error`` answer.
"""

from __future__ import annotations

import atexit
import errno
import json
import math
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tinyslm.errors import ModelError, ToolchainError
from tinyslm.processes import pipe_holders, signal_tree, start_time
from tinyslm.text.dataset import MAX_LINE_LIMIT

# A program's answer is one line; what it prints beyond this is read and dropped, so
# a program that floods its output cannot fill the host's memory.
MAX_ANSWER_BYTES = 4096
# Its standard error, quoted in the error answer when it fails.
MAX_STDERR_BYTES = 4096
DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Escalated:
    """An escalation line from the device: the phrase and the device's best guess."""

    text: str
    intent: str
    score: float


def parse_escalation(line: str) -> Escalated | None:
    """The escalation a device line carries, or ``None`` for any other line.

    Only a JSON object with ``"route":"escalate"`` and a string ``text`` counts; boot
    logs, local answers, errors, keyword lines and malformed JSON are ``None``.
    """
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: brackets nested thousands deep
        return None
    if not isinstance(obj, dict) or obj.get("route") != "escalate":
        return None
    text, intent, score = obj.get("text"), obj.get("intent"), obj.get("score")
    if not isinstance(text, str):
        return None
    return Escalated(
        _no_surrogates(text),
        _no_surrogates(intent) if isinstance(intent, str) else "",
        _finite(score),
    )


def _no_surrogates(text: str) -> str:
    """``text`` with lone surrogates (JSON ``\\ud800``; no UTF-8 can carry one) as U+FFFD,
    so the phrase can be tokenized, passed to a program and printed."""
    return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def _finite(score: object) -> float:
    """A device's score as a float; 0.0 for anything else (a bool, NaN, an integer of
    hundreds of digits that no float holds)."""
    if not isinstance(score, (int, float)) or isinstance(score, bool):
        return 0.0
    try:
        value = float(score)
    except OverflowError:
        return 0.0
    return value if math.isfinite(value) else 0.0


class Escalation(Protocol):
    """Something on the host that answers escalated phrases."""

    def answer(self, esc: Escalated) -> dict[str, Any]:
        """The ``host`` object for ``esc``: never raises for a phrase or a failed answer."""
        ...


def host_line(answer: Mapping[str, Any]) -> str:
    """One answer as the JSON line the forwarder prints."""
    return json.dumps({"host": dict(answer)}, ensure_ascii=False, separators=(",", ":"))


class HostModel:
    """A tinyslm text model on this machine's TFLM, answering with its own gate.

    Raises:
        ModelError: the folder is not a tinyslm model, or is a keyword model.
    """

    def __init__(self, model_dir: Path) -> None:
        from tinyslm.manifest import load_model_dir
        from tinyslm.modality import AUDIO

        self.manifest, self.model = load_model_dir(model_dir)
        if self.manifest.modality == AUDIO:
            raise ModelError(
                f"{model_dir}: a keyword model cannot answer escalated phrases; "
                "give a text model (tinyslm train on phrases)"
            )

    def answer(self, esc: Escalated) -> dict[str, Any]:
        from tinyslm.decision import decide, score_milli
        from tinyslm.text.features import encode
        from tinyslm.tflm_runtime import tflm_scores

        m = self.manifest
        # One caller at a time: emulate's loop, or the monitor's single worker thread.
        scores = tflm_scores(self.model, encode([esc.text], m.features), m.arena_bytes)
        q = m.output_quant
        d = decide(np.asarray(scores[0]), q.scale, q.zero_point, m.thresholds_q())
        return {
            "text": esc.text,
            "intent": m.labels[d.index],
            "score": score_milli(d.score_q, q.scale, q.zero_point) / 1000,
            "route": d.route,
        }


class HostCommand:
    """A program of the user's, run once per escalated phrase (no shell).

    Raises:
        ToolchainError: the program is not found, or is not one this user may run.
    """

    def __init__(self, argv: Sequence[str], timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        if not argv:
            raise ToolchainError("--host-cmd is empty; give a program to run")
        if shutil.which(argv[0]) is None:
            raise ToolchainError(f"--host-cmd: program {argv[0]!r} {_why_not_runnable(argv[0])}")
        self.argv = list(argv)
        self.timeout_s = timeout_s

    def answer(self, esc: Escalated) -> dict[str, Any]:
        env = dict(os.environ)
        # An environment value cannot hold NUL (a phrase of raw serial bytes can): it was
        # "ValueError: embedded null byte" for the phrase. Standard input has it as sent.
        env.update(
            TINYSLM_TEXT=esc.text.replace("\0", "\ufffd"),
            TINYSLM_INTENT=esc.intent.replace("\0", "\ufffd"),
            TINYSLM_SCORE=f"{esc.score:.3f}",
        )
        try:
            out, err, code, cut = _run_bounded(
                self.argv, (esc.text + "\n").encode(), env, self.timeout_s
            )
        except OSError as exc:  # exec failed: the answer says why, not the exception's class
            return {"text": esc.text, "error": _start_failure(self.argv[0], exc)}
        if code is None:
            # A line already printed is no answer (the program must exit to give one):
            # "no answer" for it sent the user looking for missing output.
            if any(ln.strip() for ln in _lines(out)):
                why = f"printed a line but did not exit within {self.timeout_s:g} s (killed)"
                return {"text": esc.text, "error": f"{why}; an answer counts once it exits"}
            return {"text": esc.text, "error": f"no answer within {self.timeout_s:g} s"}
        if code != 0:
            last = next((ln for ln in reversed(_lines(err)) if ln.strip()), "")
            why = _exit_status(code) + (f": {last.strip()}" if last else "")
            return {"text": esc.text, "error": why}
        lines = _lines(out)
        at = next((i for i, ln in enumerate(lines) if ln.strip()), -1)
        if at < 0 and cut:
            why = f"its first {MAX_ANSWER_BYTES} bytes of output (all that is kept) are blank"
            return {"text": esc.text, "error": why}
        if at < 0:
            return {"text": esc.text, "error": "the program printed nothing"}
        first = lines[at].strip()
        if cut and at == len(lines) - 1:
            # No line end came within the bytes kept: this is the start of a longer line,
            # which is not the program's answer (a ':do' cut short would act).
            return {"text": esc.text, "error": _cut_answer(first)}
        return {"text": esc.text, "answer": first}


def _cut_answer(start: str) -> str:
    """The error for a first output line longer than the bytes kept of the output."""
    return (
        f"its first output line is longer than the {MAX_ANSWER_BYTES} bytes kept "
        f"(starts {json.dumps(start[:40], ensure_ascii=False)}...): not an answer, nothing sent"
    )


def _lines(text: str) -> list[str]:
    """``text``'s lines as a program means them: split at ``\\n`` alone (a ``\\r`` before
    it dropped). ``str.splitlines`` also splits at U+2028, U+0085, ``\\v``, ``\\f`` and
    ``\\x1c``-``\\x1e``, so an answer holding one was cut there (':do lights_')."""
    return [ln.removesuffix("\r") for ln in text.split("\n")]


def _exit_status(code: int) -> str:
    """A failed program's status in words: Popen's negative code is a signal's number."""
    if code >= 0:
        return f"exit code {code}"
    try:
        name = f" ({signal.Signals(-code).name})"
    except ValueError:  # a real-time signal has no name
        name = ""
    return f"killed by signal {-code}{name}"


def _why_not_runnable(program: str) -> str:
    """Why ``shutil.which`` did not take ``program``: a file without the exec bit was
    "not found", which sent the user looking for a file that is there."""
    found = program if os.sep in program else shutil.which(program, mode=os.F_OK)
    if found is None or not os.path.lexists(found):
        return "not found"
    if os.path.isdir(found):
        return "is a folder, not a program"
    if not os.path.exists(found):
        return "is a link to nothing"
    return "is not executable (chmod +x it)"


def _start_failure(program: str, exc: OSError) -> str:
    """One readable reason why ``program`` could not be started (``exc`` from exec)."""
    why = exc.strerror or str(exc)
    path = program if os.sep in program else (shutil.which(program) or program)
    if exc.errno == errno.ENOENT and os.path.isfile(path):
        # The file is there, so what exec did not find is its script's interpreter.
        interpreter = _shebang_interpreter(path)
        if interpreter.endswith("\r"):
            # '#!/bin/sh\r': exec looks for '/bin/sh\r', which /bin/sh is not.
            return (
                f"could not start {program}: its '#!' line ends in a carriage return "
                "(Windows line ends)"
            )
        if interpreter and not os.path.exists(interpreter):
            return f"could not start {program}: its interpreter {interpreter} is not found"
    elif exc.errno == errno.ENOEXEC:
        why = "not a program this system runs (a script needs a '#!' line)"
    return f"could not start {program}: {why}"


def _shebang_interpreter(program: str) -> str:
    """The interpreter a script's ``#!`` line names, or "" for none."""
    try:
        with open(program, "rb") as f:
            head = f.readline(256)
    except OSError:
        return ""
    if not head.startswith(b"#!"):
        return ""
    # Split at spaces and tabs only, as the kernel does: a '\r' stays in the name.
    words = head[2:].decode("utf-8", "replace").rstrip("\n").replace("\t", " ").split(" ")
    return next((w for w in words if w), "")


# The --host-cmd programs running now (monitor runs them on a worker thread), so that
# tinyslm's exit stops them and what they started: a SIGTERM to tinyslm, or a board
# unplugged, left a slow program running after tinyslm had gone.
_RUNNING: set[int] = set()
_RUNNING_LOCK = threading.Lock()


def stop_host_programs() -> None:
    """Kill every ``--host-cmd`` program still running, and its children (at exit)."""
    with _RUNNING_LOCK:
        running = sorted(_RUNNING)
    for pid in running:
        signal_tree(pid, signal.SIGKILL)


atexit.register(stop_host_programs)


def _run_bounded(
    argv: Sequence[str], stdin: bytes, env: Mapping[str, str], timeout_s: float
) -> tuple[str, str, int | None, bool]:
    """Run ``argv``; keep the first bytes of its output; ``None`` as the code on timeout;
    last, whether its output went on past the bytes kept."""
    # The user's own program, as argv: no shell, so a phrase is never a command. It stays
    # in tinyslm's process group and session (tinyslm.processes): a session of its own
    # took its terminal (a password prompt on /dev/tty failed) and made its own setsid()
    # fail.
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
    )
    since = start_time(proc.pid)
    with _RUNNING_LOCK:
        _RUNNING.add(proc.pid)
    try:
        return _answer_of(proc, stdin, timeout_s, since)
    except BaseException:
        signal_tree(proc.pid, signal.SIGKILL)  # interrupted while it ran: not left behind
        proc.wait()
        raise
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc.pid)


def _answer_of(
    proc: subprocess.Popen[bytes], stdin: bytes, timeout_s: float, since: int | None = None
) -> tuple[str, str, int | None, bool]:
    """The program's output, error text and exit code (``None``: timed out), and whether
    its output went on past :data:`MAX_ANSWER_BYTES` (a first line without a line end
    in the bytes kept, or right after them, is then cut); ``since`` is its start time
    (:func:`tinyslm.processes.start_time`), which what it left running is found after
    (``None``: such leftovers are not looked for)."""
    kept: dict[str, bytearray] = {"out": bytearray(), "err": bytearray()}

    def drain(name: str, pipe: Any, limit: int) -> None:
        # read1 returns what has arrived; read(n) would wait for n bytes or the end, and
        # the end never comes while a background child of the program holds the pipe:
        # the answer the program printed before it exited was then lost.
        head = kept[name]
        while chunk := pipe.read1(65536):
            if len(head) < limit:
                head += chunk[: limit - len(head)]

    # Two bytes past those kept: a line end ('\n', '\r\n') right after them ends the
    # line they hold, a whole line of MAX_ANSWER_BYTES bytes, not one cut there.
    out_limit = MAX_ANSWER_BYTES + 2
    readers = [
        threading.Thread(target=drain, args=("out", proc.stdout, out_limit), daemon=True),
        threading.Thread(target=drain, args=("err", proc.stderr, MAX_STDERR_BYTES), daemon=True),
    ]
    for t in readers:
        t.start()
    try:
        assert proc.stdin is not None
        proc.stdin.write(stdin)
        proc.stdin.close()
    except BrokenPipeError:  # a program that does not read its input is fine
        pass
    try:
        code: int | None = proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        # The program and what it started (a shell script's sleep ran on after the
        # script was killed, one more each time a phrase timed out).
        signal_tree(proc.pid, signal.SIGKILL)
        proc.wait()
        code = None
    # Its answer is complete once it has exited. What it left running and still holding
    # its output pipes ('sleep 1000 &') kept each phrase waiting for the readers (2.2 s)
    # and outlived tinyslm: found by the pipes it holds, it goes with what it started.
    for t in readers:
        t.join(timeout=0.05)
    if since is not None and any(t.is_alive() for t in readers):
        assert proc.stdout is not None and proc.stderr is not None
        for holder in pipe_holders([proc.stdout.fileno(), proc.stderr.fileno()], since):
            signal_tree(holder, signal.SIGKILL)
    # One deadline for both readers: the output as it stands after a second at most.
    deadline = time.monotonic() + 1.0
    for t in readers:
        t.join(timeout=max(0.0, deadline - time.monotonic()))

    out, more = bytes(kept["out"][:MAX_ANSWER_BYTES]), bytes(kept["out"][MAX_ANSWER_BYTES:])
    if more.startswith((b"\n", b"\r\n")) or (out.endswith(b"\r") and more.startswith(b"\n")):
        out += b"\n"  # the line the kept bytes end in ended there
    return (
        out.decode("utf-8", "replace"),
        bytes(kept["err"]).decode("utf-8", "replace"),
        code,
        bool(more),
    )


def from_options(
    model_dir: Path | None, command: str | None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Escalation | None:
    """The CLI's ``--host-model`` / ``--host-cmd`` (at most one) as an :class:`Escalation`.

    Raises:
        ValueError: both are given.
        ModelError: ``model_dir`` is missing or not a text model (the message names
            ``--host-model``, as both commands that take it show it).
        ToolchainError: the command is empty, unparsable or not found.
    """
    import shlex

    if model_dir is not None and command is not None:
        raise ValueError("give one of --host-model and --host-cmd")
    if model_dir is not None:
        return _host_model(model_dir)
    if command is not None:
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise ToolchainError(f"--host-cmd {command!r}: {exc}") from None
        return HostCommand(argv, timeout_s)
    return None


def _host_model(model_dir: Path) -> HostModel:
    """``--host-model``'s folder as a :class:`HostModel`; every refusal names the option
    (a missing folder was "PATH/manifest.json not found", which named neither)."""
    if not model_dir.is_dir():
        what = "not a folder" if model_dir.exists() else "folder not found"
        raise ModelError(
            f"--host-model {model_dir}: {what} (give a text model folder from 'tinyslm train')"
        )
    try:
        return HostModel(model_dir)
    except ModelError as exc:
        raise ModelError(f"--host-model: {exc}", detail=exc.detail) from None


def foreign_intents_warning(
    escalation: Escalation | None, device_labels: Sequence[str]
) -> str | None:
    """The warning for a ``--host-model`` with intents the device lacks, else ``None``.

    The host acts on its sure answer with ``:do <intent>``, which the device answers
    ``{"error":"unknown_intent"}`` for an intent it was not generated with (a host model
    trained on other data): said once, before the first phrase, rather than discovered
    phrase by phrase. A ``--host-cmd`` program's answers are not known in advance.
    """
    if not isinstance(escalation, HostModel):
        return None
    known = set(device_labels)
    foreign = [label for label in escalation.manifest.labels if label not in known]
    if not foreign:
        return None
    shown = ", ".join(repr(f) for f in foreign[:5]) + (" ..." if len(foreign) > 5 else "")
    return (
        f"{len(foreign)} of the --host-model's {len(escalation.manifest.labels)} intents are "
        f"not the device's ({shown}): the device answers ':do' for them with unknown_intent "
        "and takes no action"
    )


def format_host_answer(answer: Mapping[str, Any]) -> str:
    """One answer as the monitor's readable row (indented), ending in the phrase it
    answers: under load other rows come between an escalation and its answer."""
    phrase = f"  ({_quoted(str(answer.get('text', '')))})"
    if "error" in answer:
        return f"  host error: {answer['error']}{phrase}"
    if "intent" in answer:
        return (
            f"  host: {answer['intent']!s:<24} {answer.get('score', 0):.3f}  "
            f"{answer.get('route')!s}{phrase}"
        )
    return f"  host: {answer.get('answer', '')}{phrase}"


def _quoted(text: str) -> str:
    """``text`` as a JSON string, its control characters (DEL and C1 ones too, which
    ``json.dumps`` leaves as they are) as ``\\u00NN`` escapes: safe on a terminal."""
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(f"\\u{ord(ch):04x}" if 0x7F <= ord(ch) <= 0x9F else ch for ch in quoted)


# The device's command for the host's answer (firmware/text/tinyslm_core.c): it prints
# {"intent":...,"route":"host"} and runs the user's action as for a local answer.
DO_COMMAND = ":do "


def act_line(answer: Mapping[str, Any]) -> bytes | None:
    """The line that makes the device act on ``answer``, or ``None`` when it should not:
    a host model's sure answer (its own ``route`` local) becomes ``:do <intent>``, and a
    program acts by printing a ``:do <intent>`` line itself."""
    if "error" in answer:
        return None
    if "intent" in answer:
        if answer.get("route") != "local":
            return None
        line = DO_COMMAND + str(answer["intent"])
    else:
        line = str(answer.get("answer", ""))
        if not line.startswith(DO_COMMAND):
            return None
    # One line the board can take: a terminator inside would split it into two commands,
    # no label holds another control byte (datasets refuse them), and no board's line
    # buffer is longer than MAX_LINE_LIMIT, so such a line could only be refused by the
    # board (or overrun its receive buffer on the way).
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in line):
        return None
    data = line.encode("utf-8", errors="replace")
    if len(data) > MAX_LINE_LIMIT:
        return None
    return data + b"\n"


@dataclass(frozen=True)
class HostReply:
    """The host's answer to one escalation line, as printed, and what goes back to the
    device (``None``: nothing)."""

    answer: dict[str, Any]
    act: bytes | None

    @property
    def line(self) -> str:
        return host_line(self.answer)


def reply_to(escalation: Escalation, device_line: str) -> HostReply | None:
    """The host's reply to ``device_line``, or ``None`` when it is no escalation."""
    esc = parse_escalation(device_line)
    if esc is None:
        return None
    answer = answer_of(escalation, esc)
    return HostReply(answer, act_line(answer))


def answer_of(escalation: Escalation, esc: Escalated) -> dict[str, Any]:
    """``escalation``'s answer to ``esc``; a failure inside it becomes an error answer."""
    try:
        return escalation.answer(esc)
    except Exception as exc:  # a model that fails on TFLM: said, never fatal
        return {"text": esc.text, "error": f"{type(exc).__name__}: {exc}"}
