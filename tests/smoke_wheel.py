"""`make test`'s smoke test of the package as a user installs it: build the wheel, install it in
a fresh virtualenv (its dependencies from the registry, nothing from this checkout), and from a
directory that holds no source run what a newcomer runs: `daybreak up`, create the example job
and wait until it runs, fetch a page and its script (templates and static files are package
data), `daybreak down`. Any step that fails stops it with that step's output."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOB = "devcluster/www-data/devel/hello_world"
STEP_S = 300  # the longest step, an install from the registry, takes about a minute


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    shown = " ".join(str(part) for part in command)
    print(f"$ {shown}", flush=True)
    try:
        done = subprocess.run(
            [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
            check=False, timeout=STEP_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise SystemExit(f"not done after {STEP_S} s: {shown}") from None
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {shown}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as answer:
        text: str = answer.read().decode()
        return text


def main() -> None:
    build = Path(tempfile.mkdtemp(prefix="daybreak-wheel-"))
    build.chmod(0o755)  # the example's tasks run as www-data, on their way to their sandboxes
    try:
        smoke(build)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    print("The wheel installs and runs.")


def smoke(build: Path) -> None:
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
        build / "dist", ROOT)  # fmt: skip
    [wheel] = (build / "dist").glob("daybreak-*.whl")
    venv = build / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel)

    work = build / "work"
    work.mkdir()
    shutil.copy(ROOT / "examples" / "hello_world.aurora", work)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(HOME=str(build), DAYBREAK_CONFIG_ROOT=str(build / "config"))
    daybreak = venv / "bin" / "daybreak"
    located = run(venv / "bin" / "python", "-c", "import daybreak; print(daybreak.__file__)",
                  cwd=work, env=env)  # fmt: skip
    if not located.startswith(str(venv)):
        raise SystemExit(f"daybreak was imported from {located.strip()}, not the new virtualenv")
    print(run(daybreak, "--version", cwd=work, env=env).strip())
    port = free_port()
    data = build / "data"
    run(daybreak, "up", "--detach", "--agents", "1", "--port", str(port), "--data", data,
        cwd=work, env=env)  # fmt: skip
    try:
        run(daybreak, "job", "create", JOB, "hello_world.aurora", "--wait-until", "RUNNING",
            cwd=work, env=env)  # fmt: skip
        status = run(daybreak, "job", "status", JOB, cwd=work, env=env)
        if "RUNNING" not in status:
            raise SystemExit(f"the example job is not running:\n{status}")
        page = fetch(f"http://127.0.0.1:{port}/scheduler/www-data/devel/hello_world")
        if "hello_world" not in page:
            raise SystemExit("the job's page does not name the job")
        fetch(f"http://127.0.0.1:{port}/static/live.js")
    finally:
        # Its tasks first: stopping a cluster never stops them (as stopping an agent does not).
        try:
            run(daybreak, "job", "killall", JOB, cwd=work, env=env)
        finally:
            run(daybreak, "down", "--data", data, cwd=work, env=env)


if __name__ == "__main__":
    main()
