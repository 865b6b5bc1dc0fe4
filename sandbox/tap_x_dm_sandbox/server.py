"""The HTTP transport: X API routes served by a stdlib ThreadingHTTPServer on a thread.

It only moves bytes between sockets and `app.SandboxApp`. Keep-alive and TCP_NODELAY
matter: a benchmark pages through a million events in ~10,000 requests.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from requests.structures import CaseInsensitiveDict
from typing_extensions import override

from tap_x_dm_sandbox.app import Request, SandboxApp


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading server that can be stopped quickly, open keep-alive connections included."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        self.stopping = False
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    @override
    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup, which can stall for seconds."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def track(self, conn: socket.socket, *, open_: bool) -> None:
        """Remember open connections so `close_connections` can end idle keep-alives."""
        with self._connections_lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        """Shut every open connection, waking handler threads blocked on a read."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Moves bytes between a socket and `SandboxApp.handle`."""

    server: SandboxHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "tap-x-dm-sandbox"
    disable_nagle_algorithm = True
    wbufsize = 1 << 16  # headers and body leave in one write
    timeout = 120.0  # idle keep-alive connections end eventually

    @override
    def setup(self) -> None:
        """Register the connection."""
        super().setup()
        self.server.track(self.connection, open_=True)

    @override
    def finish(self) -> None:
        """Unregister the connection."""
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.track(self.connection, open_=False)

    @override
    def version_string(self) -> str:
        """Name the server without Python's version."""
        return self.server_version

    @override
    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the request log records every request."""

    @override
    def date_time_string(self, timestamp: float | None = None) -> str:
        """Use the sandbox clock for the Date header, like every other time it reports."""
        when = self.server.app.clock.time() if timestamp is None else timestamp
        return formatdate(when, usegmt=True)

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve()

    def do_POST(self) -> None:
        """Serve a POST."""
        self._serve()

    def do_PUT(self) -> None:
        """Serve a PUT (no such route: X's 404)."""
        self._serve()

    def do_DELETE(self) -> None:
        """Serve a DELETE (no such route: X's 404)."""
        self._serve()

    def do_PATCH(self) -> None:
        """Serve a PATCH (no such route: X's 404)."""
        self._serve()

    def _abort(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.send_error(400, "bad Content-Length")
            return
        body = self.rfile.read(length) if length else b""
        host = self.headers.get("Host") or f"{self.server.server_name}:{self.server.server_port}"
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(self.headers.items())
        request = Request(self.command, self.path, headers, body, f"http://{host}{self.path}")
        response = self.server.app.handle(request)
        if response.drop:
            self._abort()
            return
        payload = response.body if response.cut is None else response.body[: response.cut]
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.server.stopping or response.cut is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)
        if response.cut is not None:
            self._abort()


class ServerThread:
    """Run a `SandboxHTTPServer` on a daemon thread; `stop` returns within ~0.1 s."""

    def __init__(self, app: SandboxApp, host: str, port: int) -> None:
        self.server = SandboxHTTPServer((host, port), app)
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"x-sandbox-{self.server.server_port}",
            daemon=True,
        )

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        return self.server.server_name, self.server.server_port

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, end open connections and release the port."""
        self.server.stopping = True
        if self._thread.is_alive():
            self.server.shutdown()  # blocks forever if serve_forever never ran
        self.server.close_connections()
        self.server.server_close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
