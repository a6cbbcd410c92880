"""A plain HTTP/1.1 server that is not ours: the standard library's ``http.server`` behind ``ssl``.

The engine's HTTP/1.1 path is tested against it rather than against the sandbox (whose HTTP/1.1 side
we wrote ourselves), so both sides of each test were written by different people. It runs in a thread
on 127.0.0.1, answers by path, and records every request with the client port that carried it (one
port per connection, so the tests can count connections and reuse).

Paths: ``/echo/<x>`` 200 with the request body; ``/close/<x>`` the same with ``Connection: close``;
``/chunked/<x>`` a chunked 200; ``/until-close`` a body delimited by the close; ``/big`` a body over
the engine's limit; ``/slow/<seconds>`` answers late; ``/drop`` closes the connection without
answering; ``/status/<n>`` answers ``n``; anything else goes to ``routes`` (a path prefix →
handler), e.g. a Web Push endpoint or a plugin's API.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["Http1Server", "Received", "Reply", "http1_server"]


@dataclass(frozen=True)
class Received:
    """One request as the server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int
    version: str


@dataclass(frozen=True)
class Reply:
    """What a route answers."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


Route = Callable[[Received], Reply]


class Http1Server:
    """The running server: its base URL, what it received, and the routes it serves."""

    def __init__(self) -> None:
        self.base_url = ""  # set once the server has its port
        self.received: list[Received] = []
        self.routes: dict[str, Route] = {}
        self._lock = threading.Lock()

    def record(self, received: Received) -> None:
        """Keep ``received`` (called from handler threads)."""
        with self._lock:
            self.received.append(received)

    def connections(self) -> set[int]:
        """The client ports seen: one per connection."""
        with self._lock:
            return {received.client_port for received in self.received}


def _handler(state: Http1Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive unless a response says otherwise

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            received = Received(
                method=self.command,
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                client_port=self.client_address[1],
                version=self.request_version,
            )
            state.record(received)
            path = self.path
            if path.startswith("/echo/"):
                self._send(Reply(200, body, {"x-echo": path[6:]}))
            elif path.startswith("/close/"):
                self._send(Reply(200, body, {"connection": "close"}))
                self.close_connection = True
            elif path.startswith("/chunked/"):
                self.send_response(200)
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for part in (b"chunk-one,", b"chunk-two"):
                    self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            elif path == "/until-close":
                # RFC 9112 §6.3: no length, so the body ends when the server closes the connection.
                self.send_response(200)
                self.send_header("connection", "close")
                self.end_headers()
                self.wfile.write(b"read until the close")
                self.close_connection = True
            elif path == "/big":
                self._send(Reply(200, b"x" * (300 * 1024)))
            elif path.startswith("/slow/"):
                time.sleep(float(path[6:]))
                self._send(Reply(200, b"late"))
            elif path == "/drop":
                self._send(Reply(0, drop=True))
            elif path.startswith("/status/"):
                self._send(Reply(int(path[8:]), b'{"error": "scripted"}', {"content-type": "application/json"}))
            else:
                for prefix, route in state.routes.items():
                    if path.startswith(prefix):
                        self._send(route(received))
                        return
                self._send(Reply(404, b"no route"))

        def _send(self, reply: Reply) -> None:
            if reply.drop:
                self.close_connection = True
                self.connection.shutdown(2)  # SHUT_RDWR: no answer at all
                return
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_POST = do_GET = do_PUT = do_DELETE = _answer

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients the tests disconnect on purpose (timeouts, limits) are not the server's errors


@contextlib.contextmanager
def http1_server(cert_path: Path | None, key_path: Path | None) -> Iterator[Http1Server]:
    """Serve on a free port of 127.0.0.1 (HTTPS with ALPN ``http/1.1`` when a certificate is given)."""
    state = Http1Server()
    server = _QuietServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    scheme = "http"
    if cert_path is not None and key_path is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        context.set_alpn_protocols(["http/1.1"])  # RFC 7301: this server speaks HTTP/1.1 only
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    state.base_url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
