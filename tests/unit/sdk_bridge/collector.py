"""A local collector: a real HTTP server that answers every request like an analytics backend would and
keeps the request (method, URL, headers, body bytes) for the decoders."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sdk_bridge.wire import TrackingRequest


class Collector:
    """`pages` maps paths (query ignored, any method) to (body, content type): served, not recorded (a test
    page, its scripts, an SDK's configuration endpoint)."""

    def __init__(self, pages: dict[str, tuple[bytes, str]] | None = None) -> None:
        self.requests: list[TrackingRequest] = []
        self.pages = pages or {}
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                page = collector.pages.get(self.path.split("?")[0])
                if page is not None:
                    body, content_type = page
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    self.send_response(200)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                host = self.headers.get("Host") or "127.0.0.1"
                collector.requests.append(TrackingRequest(
                    method=self.command, url=f"http://{host}{self.path}", headers=list(self.headers.items()),
                    body=body, received_at=int(time.time() * 1000),
                ))
                if self.path.startswith("/favicon"):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                payload = b'{"status": 1, "code": 200, "events_ingested": 1}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.end_headers()
                self.wfile.write(payload)

            def do_OPTIONS(self):  # CORS preflight from browser SDKs
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
                self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", self.headers.get("Access-Control-Request-Headers") or "*")
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.end_headers()

            do_GET = do_POST = _handle

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
