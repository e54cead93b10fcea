"""``lakeforge run`` starts its producer, transforms and upkeep again when one exits."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lakeforge.children import Supervisor, stop_process
from tests.lakeforge_cli import start
from tests.waiting import wait_until


def python(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def test_a_child_that_exits_is_reported_and_started_again_after_a_growing_pause() -> None:
    said: list[str] = []
    launched: list[subprocess.Popen[bytes]] = []

    def failing() -> subprocess.Popen[bytes]:
        launched.append(python("import sys; sys.exit(3)"))
        return launched[-1]

    children = Supervisor(said.append, first_pause=0.2, max_pause=0.4, check_every=0.05)
    try:
        children.start("maintain", failing)
        wait_until(lambda: len(said) >= 3, 30, "three exits to be reported", lambda: str(said))
    finally:
        children.stop(timeout=10)
    assert said[:3] == [
        "the maintain process exited with code 3; starting it again in 0.2s",
        "the maintain process exited with code 3; starting it again in 0.4s",
        "the maintain process exited with code 3; starting it again in 0.4s",  # at most
    ]
    assert len(launched) >= 3
    assert len({p.pid for p in launched}) == len(launched), "each restart is a new process"


def test_stopping_ends_the_children_and_starts_none_again() -> None:
    said: list[str] = []
    children = Supervisor(said.append, first_pause=0.1, check_every=0.05)
    children.start("producer", lambda: python("import time; time.sleep(600)"))
    first = children.process("producer")
    time.sleep(0.3)
    children.stop(timeout=10)
    assert first.poll() is not None, "stop left the child running"
    time.sleep(0.3)
    assert children.process("producer") is first
    assert said == [], "a child stopped by us is no failure"


def _child_running(parent: int, command: str) -> int | None:
    """The pid of a child of ``parent`` whose command line holds ``command``."""
    # Per thread: a child started again comes from the supervisor's thread.
    children: list[str] = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            children += (task / "children").read_text().split()
    for pid in children:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue  # it exited meanwhile
        if command.encode() in cmdline:
            return int(pid)
    return None


def test_run_starts_its_upkeep_again_after_it_was_killed(stocks: Path, tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    run = start("run", "--rate", "1000", "--registry-port", "0", pipeline=stocks, output=log)
    try:
        wait_until(
            lambda: _child_running(run.pid, "maintain") is not None,
            60,
            "run to start lakeforge maintain",
            log.read_text,
        )
        upkeep = _child_running(run.pid, "maintain")
        assert upkeep is not None
        os.kill(upkeep, signal.SIGKILL)  # ours: the run this test started started it
        wait_until(
            lambda: (
                "the maintain process exited with code -9; starting it again in 5s"
                in log.read_text()
            ),
            30,
            "run to report the killed upkeep process",
            log.read_text,
        )
        wait_until(
            lambda: _child_running(run.pid, "maintain") not in (None, upkeep),
            30,
            "run to start lakeforge maintain again",
            log.read_text,
        )
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=120) == 0, log.read_text()
        assert "stopped cleanly" in log.read_text()
    finally:
        # SIGTERM first: run then stops its children, which a SIGKILL would orphan.
        stop_process(run, timeout=60)
