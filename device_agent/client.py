"""The agent's HTTP client for the platform's REST API (standard library only)."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request

from .outbox import Refused


class PlatformError(Exception):
    """The platform could not be reached (status None) or failed (5xx, 408, 429): worth retrying."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Client:
    def __init__(self, url: str, token: str, *, timeout: float = 30.0):
        self.base = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        # The agent talks to the platform directly, whatever proxy the environment names for browsers.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json",
                *, timeout: float | None = None) -> bytes:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
            if content_type == "application/json" and len(body) > 64 * 1024:
                body = gzip.compress(body, compresslevel=5)  # the platform gunzips JSON bodies, bounded
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=timeout or self.timeout) as answer:
                return answer.read()
        except urllib.error.HTTPError as exc:
            text = exc.read()[:2000].decode(errors="replace")
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise Refused(exc.code, text) from None
            raise PlatformError(f"HTTP {exc.code} from {path}: {text[:300]}", exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            raise PlatformError(f"{self.base} is unreachable: {getattr(exc, 'reason', exc)}") from None

    def post_json(self, path: str, payload: dict | None = None, **options) -> dict:
        body = json.dumps(payload or {}, ensure_ascii=False).encode()
        return json.loads(self.request("POST", path, body, **options) or b"{}")

    def get(self, path: str, **options) -> bytes:
        return self.request("GET", path, **options)

    def send(self, method: str, path: str, body: bytes, content_type: str) -> None:
        """The outbox's way out."""
        self.request(method, path, body, content_type)
