"""A service to run as a task's process: health and lifecycle endpoints, steered by files.

It listens on $DAYBREAK_PORT_HEALTH and works in its sandbox (the current directory):
- GET /health answers the text of `health_body` (default "ok"), after sleeping `hang`
  seconds if that file exists;
- POST /quitquitquit and /abortabortabort are logged to `lifecycle.log` and make the service
  exit when `obey` names them;
- SIGTERM is logged too, then the service exits.
`listening` appears once it accepts connections.
"""

import http.server
import os
import signal
import sys
import threading
import time
from pathlib import Path


def log(event: str) -> None:
    with open("lifecycle.log", "a") as out:
        out.write(event + "\n")


def read(name: str, default: str) -> str:
    path = Path(name)
    return path.read_text().strip() if path.exists() else default


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if Path("hang").exists():
            time.sleep(float(read("hang", "5")))
        self._answer(read("health_body", "ok"))

    def do_POST(self) -> None:
        name = self.path.strip("/")
        log(name)
        self._answer("bye")
        if name in read("obey", "").split():
            threading.Thread(target=server.shutdown).start()

    def _answer(self, body: str) -> None:
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def on_term(*_: object) -> None:
    log("SIGTERM")
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
port = int(os.environ["DAYBREAK_PORT_HEALTH"])
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
Path("listening").write_text(str(time.time()))
server.serve_forever()
