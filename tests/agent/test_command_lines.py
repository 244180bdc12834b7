"""Which command lines run without bash: those a shell would only split into words."""

from __future__ import annotations

import pytest

from daybreak.agent.executor.processes import plain_words


@pytest.mark.parametrize(
    ("cmdline", "words"),
    [
        ("sleep 600", ["sleep", "600"]),
        ("python3 -m http.server 8080", ["python3", "-m", "http.server", "8080"]),
        ("  ./server\t--port=31000 --name=web-1 ", ["./server", "--port=31000", "--name=web-1"]),
        ("java -Xmx512m -cp a.jar:b.jar Main", ["java", "-Xmx512m", "-cp", "a.jar:b.jar", "Main"]),
    ],
)
def test_a_command_line_of_plain_words_is_run_as_its_words(cmdline: str, words: list[str]) -> None:
    assert plain_words(cmdline) == words


@pytest.mark.parametrize(
    "cmdline",
    [
        "",
        "sleep 1\nsleep 2",  # two commands
        "sleep 1; sleep 2",
        "server > out.log",
        "server | tee log",
        "echo $HOME",
        "ls *.txt",
        "ls ~",
        "echo 'quoted words'",
        "run \\$x",
        "PORT=80 server",  # an assignment for the command's environment
        "cd /tmp",  # bash's own: no program of that name does the same
        "exec server",
        "echo hello",
        "time server",
        "server &",
        "server # comment",
        "echo {a,b}",
    ],
)
def test_a_command_line_a_shell_would_act_on_goes_to_bash(cmdline: str) -> None:
    assert plain_words(cmdline) == []
