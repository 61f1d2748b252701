"""A partner's webhook receiver for tests: a real HTTP server on a free local port, in a thread, that
records every request (time, headers, raw body) and answers the status the test sets."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tdu_dev.testing.processes import free_port


@dataclass
class Hit:
    at: float
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def delivery(self) -> str:
        return self.headers["x-tdu-delivery"]


@dataclass
class Receiver:
    """A partner's HTTP server: records every request, answers ``status``."""

    status: int = 204
    hits: list[Hit] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # a connection that sends nothing never holds a thread (nor stop()) for long

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    status = receiver.status
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.hits.append(Hit(time.time(), headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self._server.block_on_close = False  # stop() does not wait for requests under way
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/tdu"

    def answer(self, status: int) -> None:
        with self._lock:
            self.status = status

    def delivered(self) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if 200 <= h.status < 300]

    def all(self) -> list[Hit]:
        with self._lock:
            return list(self.hits)
