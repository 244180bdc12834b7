"""`python -m daybreak.supervise -- COMMAND...`: run COMMAND, and start it again whenever it
stops itself to protect its state (exit status 70, the scheduler's fail-stop), as systemd's
`Restart=on-failure` would. Any other exit ends the supervisor with the same status; SIGTERM
and SIGINT are passed on, and the supervisor ends when its child does.

`daybreak up` runs its scheduler under it, so that a scheduler that stopped on a failed write
comes back on its own and loads what the store holds.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

RESTARTED_STATUS = 70  # daybreak.server.EXIT_STOPPED
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 10.0
# A child that lived this long was healthy: the delay starts over.
HEALTHY_AFTER_S = 60.0


def supervise(command: list[str]) -> int:
    child: subprocess.Popen[bytes] | None = None
    stopping = False

    def pass_on(number: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(number)

    signal.signal(signal.SIGTERM, pass_on)
    signal.signal(signal.SIGINT, pass_on)
    delay = FIRST_DELAY_S
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)
        status = child.wait()
        if stopping or status != RESTARTED_STATUS:
            return status
        if time.monotonic() - started > HEALTHY_AFTER_S:
            delay = FIRST_DELAY_S
        print(
            f"daybreak.supervise: {command[:4]} stopped itself (status {status}); "
            f"starting it again in {delay:g} s",
            file=sys.stderr,
            flush=True,
        )
        time.sleep(delay)
        if stopping:
            return status
        delay = min(MAX_DELAY_S, delay * 2)


def main() -> None:
    arguments = sys.argv[1:]
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    if not arguments:
        sys.exit("usage: python -m daybreak.supervise -- COMMAND [ARGUMENT...]")
    sys.exit(supervise(arguments))


if __name__ == "__main__":
    main()
