"""``--host-model`` / ``--host-cmd`` on ``tinyslm emulate`` and ``tinyslm monitor``: every
phrase the firmware escalates is answered on the host, right after the device's line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from shared_paths import require_tool

from tinyslm.cli import cli
from tinyslm.text.dataset import load_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from kws import keyword_model_dir


def _invoke(args: list[str], stdin: str | None = None) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(cli, args, input=stdin)
    return result.exit_code, result.stdout.splitlines(), result.stderr


def test_emulate_host_model_answers_each_escalation_after_its_line(
    esp32_project: Path, fixture_model: Path
) -> None:
    require_tool("cc")
    dataset = load_dataset(None)
    phrases = [*[ex.text for ex in dataset.test][:120], "zxq blorf wibble", "qqq zzz"]
    code, rows, err = _invoke(
        ["emulate", str(esp32_project), "--host-model", str(fixture_model)],
        "\n".join(phrases) + "\n",
    )
    assert code == 0, err
    device = [json.loads(r) for r in rows if not r.startswith('{"host"')]
    assert len(device) == len(phrases)  # one device line per phrase, none lost
    escalated = 0
    for i, row in enumerate(rows):
        obj = json.loads(row)
        if "host" in obj:
            before = json.loads(rows[i - 1])  # a host line follows its escalation line
            assert before["route"] == "escalate"
            host = obj["host"]
            # The same model on the host: the firmware's C tokenizer and gate and the
            # host's Python path give the same intent, score and route.
            assert host == {
                "text": before["text"],
                "intent": before["intent"],
                "score": before["score"],
                "route": "escalate",
            }
            escalated += 1
        elif obj.get("route") == "escalate":
            assert json.loads(rows[i + 1]).get("host", {}).get("text") == obj["text"]
    assert escalated == sum(d["route"] == "escalate" for d in device) >= 2


def _lenient_copy(fixture_model: Path, out: Path, threshold: float) -> Path:
    """The fixture model with a lower threshold: a host sure of what the device is not."""
    from tinyslm.manifest import MODEL_NAME, load_model_dir
    from tinyslm.operating_point import with_threshold

    manifest, model = load_model_dir(fixture_model)
    out.mkdir()
    (out / MODEL_NAME).write_bytes(model)
    with_threshold(manifest, threshold).write(out)
    return out


@pytest.mark.parametrize("act", [True, False])
def test_emulate_device_acts_on_the_hosts_sure_answers(
    esp32_project: Path, fixture_model: Path, tmp_path: Path, act: bool
) -> None:
    # The host model is sure from 0.25 on, the device from 0.402: phrases the device
    # escalates with a top score in between come back as ":do <intent>", and the
    # firmware answers {"intent":...,"route":"host"} (its actions hook runs: the
    # emulator checks every hook call against these lines).
    require_tool("cc")
    host = _lenient_copy(fixture_model, tmp_path / "host", 0.25)
    phrases = [*[ex.text for ex in load_dataset(None).test][:120], "qqq zzz"]
    flag = "--host-act" if act else "--no-host-act"
    code, rows, err = _invoke(
        ["emulate", str(esp32_project), "--host-model", str(host), flag],
        "\n".join(phrases) + "\n",
    )
    assert code == 0, err
    objs = [json.loads(r) for r in rows]
    sure = 0
    for i, obj in enumerate(objs):
        if "host" in obj and obj["host"]["route"] == "local":
            sure += 1
            assert obj["host"]["score"] >= 0.25 and objs[i - 1]["route"] == "escalate"
            if act:
                assert objs[i + 1] == {"intent": obj["host"]["intent"], "route": "host"}
    assert sure >= 1  # "qqq zzz": volume_up at 0.313
    host_routed = [o for o in objs if o.get("route") == "host"]
    assert len(host_routed) == (sure if act else 0)


def test_emulate_host_cmd_and_text(esp32_project: Path) -> None:
    require_tool("cc")
    program = f'{sys.executable} -c \'import os; print("big model:", os.environ["TINYSLM_TEXT"])\''
    code, rows, err = _invoke(
        ["emulate", str(esp32_project), "--text", "qqq zzz", "--host-cmd", program]
    )
    assert code == 0, err
    assert json.loads(rows[0])["route"] == "escalate"
    assert json.loads(rows[1]) == {"host": {"text": "qqq zzz", "answer": "big model: qqq zzz"}}
    assert len(rows) == 2
    # A program makes the device act by printing ":do <intent>"; a name the device does
    # not know is its error, not the monitor's.
    for said, then in (("lights_on", {"intent": "lights_on", "route": "host"}),
                       ("nope", {"error": "unknown_intent"})):  # fmt: skip
        act = f"{sys.executable} -c 'print(\":do {said}\")'"
        code, rows, err = _invoke(
            ["emulate", str(esp32_project), "--text", "qqq zzz", "--host-cmd", act]
        )
        assert code == 0, err
        assert [json.loads(r) for r in rows[1:]] == [
            {"host": {"text": "qqq zzz", "answer": f":do {said}"}},
            then,
        ]
    # A local answer gets no host line.
    code, rows, err = _invoke(
        ["emulate", str(esp32_project), "--text", "turn on the lights", "--host-cmd", program]
    )
    assert code == 0, err
    assert [json.loads(r)["route"] for r in rows] == ["local"]


def test_emulate_sends_the_hosts_act_between_lines_of_stdin(esp32_project: Path) -> None:
    """stdin reaches the emulator in 4 KB chunks; a ':do' line fed while a chunk's last
    line was half read was glued to it: 'turn o:do lights_on' was answered locally as
    lights_on, and 'ff the kitchen lights' on its own."""
    require_tool("cc")
    program = f"{sys.executable} -c 'print(\":do lights_on\")'"
    first = "qqq zzz\n" + "lights on\n" * 100
    head = first + "turn o"
    padded = head.replace("lights on\n", "lights on" + " " * (4096 - len(head)) + "\n", 1)
    assert len(padded) == 4096  # the first chunk ends inside "turn off ..."
    code, rows, err = _invoke(
        ["emulate", str(esp32_project), "--host-cmd", program],
        padded + "ff the kitchen lights\n",
    )
    assert code == 0, err
    objs = [json.loads(r) for r in rows]
    assert objs[0]["route"] == "escalate" and objs[1]["host"]["answer"] == ":do lights_on"
    device = [o for o in objs if "host" not in o]
    assert len(device) == 1 + 101 + 1  # one answer per line, and the act's
    assert [o["intent"] for o in device[-2:]] == ["lights_off", "lights_on"]
    assert device[-2]["route"] == "local" and device[-1] == {"intent": "lights_on", "route": "host"}


def test_host_options_refused_in_one_line(
    esp32_project: Path, fixture_model: Path, tmp_path: Path
) -> None:
    both = ["--host-model", str(fixture_model), "--host-cmd", "cat"]
    code, _, err = _invoke(["emulate", str(esp32_project), "--text", "x", *both])
    assert code == 1 and "give one of --host-model and --host-cmd" in err
    code, _, err = _invoke(["monitor", "--port", "loop://", *both], "")
    assert code == 1 and "give one of --host-model and --host-cmd" in err
    code, _, err = _invoke(["emulate", str(esp32_project), "--data", "x.csv", "--host-cmd", "cat"])
    assert code == 1 and "work with --text or the interactive loop" in err
    code, _, err = _invoke(
        ["monitor", "--port", "loop://", "--wav", "x.wav", "--host-cmd", "cat"], ""
    )
    assert code == 1 and "not --wav" in err
    code, _, err = _invoke(["monitor", "--port", "loop://", "--host-cmd", "no-such-prog-q"], "")
    assert code == 1 and err.strip().splitlines()[-1] == (
        "error: --host-cmd: program 'no-such-prog-q' not found"
    )
    kws_dir = keyword_model_dir(tmp_path / "kws")
    code, _, err = _invoke(["monitor", "--port", "loop://", "--host-model", str(kws_dir)], "")
    assert code == 1 and "keyword model cannot answer escalated phrases" in err
    assert len(err.strip().splitlines()) == 1
    project = tmp_path / "kws_project"
    code, _, err = _invoke(
        ["generate", "--board", "esp32", "--model", str(kws_dir), "-o", str(project)]
    )
    assert code == 0, err
    code, _, err = _invoke(["emulate", str(project), "--text", ":info", "--host-cmd", "cat"])
    assert code == 1 and "a keyword project never escalates" in err


ESCALATED = '{"intent":"volume_up","score":0.313,"route":"escalate","us":21,"text":"qqq zzz"}'
LOCAL = '{"intent":"fan_on","score":0.875,"route":"local","us":90}'


def test_monitor_answers_escalations_from_the_board(fixture_model: Path) -> None:
    # loop:// sends the typed device lines back as the board's: an escalation among them
    # gets the host model's answer, formatted under it; a local answer gets none.
    code, rows, err = _invoke(
        ["monitor", "--port", "loop://", "--host-model", str(fixture_model)],
        f"{LOCAL}\n{ESCALATED}\n",
    )
    assert code == 0, err
    assert rows[0].split()[:3] == ["fan_on", "0.875", "local"]
    assert rows[1].split()[:3] == ["volume_up", "0.313", "escalate"]
    host = [r for r in rows if r.startswith("  host:")]
    assert len(host) == 1 and len(rows) == 3
    assert (
        host[0].split()[1]
        in json.loads((fixture_model / "manifest.json").read_text(encoding="utf-8"))["labels"]
    )


@pytest.mark.parametrize("act", [True, False])
def test_monitor_sends_the_hosts_sure_answer_back(
    fixture_model: Path, tmp_path: Path, act: bool
) -> None:
    # loop:// echoes what the monitor sends: the host's ":do volume_up" comes back as a
    # row of its own, proving it went out on the port (and not with --no-host-act).
    host = _lenient_copy(fixture_model, tmp_path / "host", 0.25)
    flag = "--host-act" if act else "--no-host-act"
    code, rows, err = _invoke(
        ["monitor", "--port", "loop://", "--raw", "--host-model", str(host), flag],
        f"{ESCALATED}\n",
    )
    assert code == 0, err
    assert rows[0] == ESCALATED
    assert json.loads(rows[1])["host"]["route"] == "local"
    assert rows[2:] == ([":do " + json.loads(rows[1])["host"]["intent"]] if act else [])


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        ("print('ask the cloud')", {"text": "qqq zzz", "answer": "ask the cloud"}),
        ("import sys; sys.exit(4)", {"text": "qqq zzz", "error": "exit code 4"}),
    ],
)
def test_monitor_raw_host_lines(program: str, expected: dict[str, str]) -> None:
    cmd = f'{sys.executable} -c "{program}"'
    code, rows, err = _invoke(
        ["monitor", "--port", "loop://", "--raw", "--host-cmd", cmd], f"{ESCALATED}\n"
    )
    assert code == 0, err
    assert rows[0] == ESCALATED
    assert [json.loads(r) for r in rows[1:]] == [{"host": expected}]


def test_monitor_host_timeout_reaches_the_program() -> None:
    # --host-timeout is the program's limit: a program that sleeps past it is killed and
    # answered with an error, and the monitor ends normally.
    cmd = f"{sys.executable} -c 'import time; time.sleep(30)'"
    code, rows, err = _invoke(
        ["monitor", "--port", "loop://", "--raw", "--host-cmd", cmd, "--host-timeout", "0.5"],
        f"{ESCALATED}\n",
    )
    assert code == 0, err
    assert [json.loads(r) for r in rows[1:]] == [
        {"host": {"text": "qqq zzz", "error": "no answer within 0.5 s"}}
    ]


def _state(pid: int) -> str:
    """The process's state letter (Z: a zombie, dead), or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _gone(pid: int, within_s: float = 10) -> bool:
    import time

    deadline = time.monotonic() + within_s
    while _state(pid) not in ("", "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    return _state(pid) in ("", "Z")


def _slow_program(tmp_path: Path) -> tuple[Path, Path]:
    """A shell script that starts a long sleep, writes its pid, and waits for it."""
    pidfile = tmp_path / "child.pid"
    script = tmp_path / "slow.sh"
    script.write_text(f'#!/bin/sh\nsleep 120 &\necho $! > "{pidfile}"\nwait\n')
    script.chmod(0o755)
    return script, pidfile


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_a_host_program_past_its_timeout_is_stopped_with_what_it_started(
    esp32_project: Path, tmp_path: Path
) -> None:
    # The program alone was killed: its sleep ran on (one more for every phrase).
    require_tool("cc")
    script, pidfile = _slow_program(tmp_path)
    code, rows, err = _invoke(
        ["emulate", str(esp32_project), "--text", "qqq zzz", "--host-cmd", str(script),
         "--host-timeout", "1"],
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(rows[1]) == {"host": {"text": "qqq zzz", "error": "no answer within 1 s"}}
    assert _gone(int(pidfile.read_text())), "the program's child outlived its timeout"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
def test_sigterm_to_tinyslm_stops_the_running_host_program(
    esp32_project: Path, tmp_path: Path
) -> None:
    # A signal to tinyslm alone (a supervisor's SIGTERM) left the program running.
    import os
    import signal
    import subprocess
    import time

    require_tool("cc")
    script, pidfile = _slow_program(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tinyslm", "emulate", str(esp32_project), "--host-cmd",
         str(script), "--host-timeout", "60"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        restore_signals=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert proc.stdin is not None
        proc.stdin.write(b"qqq zzz\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 120
        while not (pidfile.is_file() and pidfile.read_text().strip()):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        child = int(pidfile.read_text())
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert _gone(child), "the host program's child outlived tinyslm"
