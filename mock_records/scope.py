"""Which requests a proxy records and replays (the mock scope). Pure: no mitmproxy, no Django.

A mobile app's every request is data, so mobile runs mock everything ("all"). A web app's own code (the
document, scripts, styles, images, fonts) also arrives over HTTP; replaying it from a record would test
yesterday's build. So the web default ("api") takes only API calls: what the browser marks as fetch or
XHR (`Sec-Fetch-Dest: empty`). Browsers send Sec-Fetch-* only to secure origins (https, localhost); for a
plain-http host without them, the request is judged by what it accepts and by its file extension.
A task can instead name hosts (`api.shop.example`, `*.shop.example`) and path patterns (`/api/*`): then
exactly the requests matching one of them are in scope. Tracking requests are taken in every scope."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from sdk_bridge.wire import find_header

STATIC_EXTENSIONS = (".html", ".htm", ".js", ".mjs", ".css", ".map", ".png", ".jpg", ".jpeg", ".gif", ".webp",
                     ".svg", ".ico", ".avif", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".mp4", ".webm", ".mp3",
                     ".wasm")
NOT_API_ACCEPT = ("text/html", "text/css", "image/", "font/", "video/", "audio/")


class ScopeError(ValueError):
    pass


@dataclass(frozen=True)
class MockScope:
    mode: str  # "all", "api" or "patterns"
    hosts: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    @classmethod
    def parse(cls, values: list[str] | str | None, *, default: str = "all") -> MockScope:
        """From --mock-scope values (or one comma-separated string): 'all', 'api', or host and path patterns."""
        if isinstance(values, str):
            values = [part for part in values.split(",")]
        items = [value.strip() for value in values or [] if value and value.strip()]
        if not items:
            items = [default]
        if items in (["all"], ["api"]):
            return cls(items[0])
        if "all" in items or "api" in items:
            raise ScopeError("'all' and 'api' stand alone; do not mix them with host or path patterns")
        hosts, paths = [], []
        for item in items:
            if item.startswith("/"):
                paths.append(item)
            elif "/" in item or " " in item:
                raise ScopeError(f"{item!r} is neither a host pattern (api.shop.example, *.shop.example) nor a "
                                 f"path pattern starting with / (/api/*)")
            elif ":" in item and not item.startswith("["):
                raise ScopeError(f"{item!r}: name the host without its port ({item.rsplit(':', 1)[0]}); "
                                 f"every port of the host is in scope")
            else:
                hosts.append(item.lower())
        return cls("patterns", tuple(hosts), tuple(paths))

    def __str__(self) -> str:
        return self.mode if self.mode != "patterns" else ",".join((*self.hosts, *self.paths))

    def covers(self, host: str, path: str, headers) -> bool:
        if self.mode == "all":
            return True
        if self.mode == "api":
            return is_api_call(path, headers)
        host = host.lower()
        return (any(fnmatchcase(host, pattern) for pattern in self.hosts)
                or any(fnmatchcase(path, pattern) for pattern in self.paths))


def is_api_call(path: str, headers) -> bool:
    destination = find_header(headers, "sec-fetch-dest")
    if destination:
        return destination.lower() == "empty"
    accept = (find_header(headers, "accept") or "").lower()
    if accept.startswith(NOT_API_ACCEPT):
        return False
    return not path.lower().split("?", 1)[0].endswith(STATIC_EXTENSIONS)
