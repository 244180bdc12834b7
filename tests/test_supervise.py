"""The supervisor `daybreak up` runs its scheduler under: a child that stops itself with the
fail-stop status is started again; any other end, or SIGTERM, ends the supervisor."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

WAIT_S = 20


def supervised(script: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "daybreak.supervise", "--", sys.executable, "-c", script],
        stderr=subprocess.PIPE,
    )


def test_a_child_that_stops_itself_is_started_again_and_sigterm_reaches_it(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    script = (
        "import pathlib, signal, sys, time\n"
        f"runs = pathlib.Path({str(runs)!r})\n"
        "count = len(runs.read_text()) if runs.exists() else 0\n"
        "runs.write_text('x' * (count + 1))\n"
        "if count == 0: sys.exit(70)\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "time.sleep(60)\n"
    )
    process = supervised(script)
    deadline = time.monotonic() + WAIT_S
    while (not runs.exists() or runs.read_text() != "xx") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runs.read_text() == "xx"
    process.send_signal(signal.SIGTERM)
    assert process.wait(WAIT_S) == 0
    assert process.stderr is not None
    with process.stderr:
        assert b"stopped itself (status 70); starting it again" in process.stderr.read()


def test_any_other_exit_ends_the_supervisor_with_its_status() -> None:
    process = supervised("import sys; sys.exit(3)")
    assert process.wait(WAIT_S) == 3
    assert process.stderr is not None
    with process.stderr:
        assert process.stderr.read() == b""
