"""Read captured traffic (HAR 1.2, mitmproxy flow files) into TrackingRequests, in request order."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from .wire import TrackingRequest


class CaptureFileError(ValueError):
    """The file cannot be read at all (not HAR, not a flow file, or corrupt)."""


def read_requests(path: str | Path) -> Iterator[TrackingRequest]:
    path = Path(path)
    try:
        head = path.open("rb").read(64)
    except OSError as exc:
        raise CaptureFileError(f"{path}: {exc.strerror or exc}") from None
    if head.lstrip()[:1] == b"{" or head[:2] == b"\x1f\x8b":  # HAR, or gzipped HAR (read bounded)
        return _har(path)
    return _flows(path)


def _iso_ms(text) -> int | None:
    try:
        return int(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def har_entries(path: Path) -> list:
    """log.entries of a HAR file; CaptureFileError when the file is unreadable or not HAR."""
    from trackreplay.uploads import UploadRefused, check_count, env_limits, parse_json, read_file

    limits = env_limits()  # the same bounds as an upload (TRACKREPLAY_UPLOAD_MAX_*), from the environment
    try:
        document = parse_json(read_file(path, limits), limits, what=str(path))
        entries = document["log"]["entries"]
        if isinstance(entries, list):
            check_count(len(entries), limits, f"entries in {path}")
    except OSError as exc:
        raise CaptureFileError(f"{path}: {exc.strerror or exc}") from None
    except UploadRefused as exc:
        raise CaptureFileError(exc.reason if exc.limit else f"{path}: not a HAR file ({exc.reason})") from None
    except (KeyError, TypeError) as exc:
        raise CaptureFileError(f"{path}: not a HAR file ({exc})") from None
    if not isinstance(entries, list):
        raise CaptureFileError(f"{path}: log.entries is not a list")
    return entries


def _har(path: Path) -> Iterator[TrackingRequest]:
    entries = har_entries(path)
    requests = []
    for index, entry in enumerate(entries):
        try:
            request = entry["request"]
            post = request.get("postData") or {}
            text = post.get("text") or ""
            if post.get("encoding") == "base64":
                body = base64.b64decode(text)
            else:
                body = text.encode("utf-8", "surrogateescape")
            requests.append(TrackingRequest(
                method=request["method"], url=request["url"],
                headers=[(h["name"], h["value"]) for h in request.get("headers") or []],
                body=body, received_at=_iso_ms(entry.get("startedDateTime")),
            ))
        except (KeyError, TypeError, AttributeError, binascii.Error, ValueError) as exc:
            raise CaptureFileError(f"{path}: entry {index} is malformed ({type(exc).__name__}: {exc})") from None
    return iter(requests)


def _flows(path: Path) -> Iterator[TrackingRequest]:
    # mitmproxy's own reader understands every flow-file version it wrote; imported here only, because
    # the rest of the decoders must stay importable without it.
    from mitmproxy import http
    from mitmproxy.exceptions import FlowReadException
    from mitmproxy.io import FlowReader

    from trackreplay.uploads import UploadRefused, check_count, check_size, env_limits

    limits = env_limits()
    requests = []
    try:
        with path.open("rb") as fh:
            check_size(path.stat().st_size, limits, what=str(path))  # before mitmproxy reads any of it
            for flow in FlowReader(fh).stream():
                if not isinstance(flow, http.HTTPFlow):
                    continue
                check_count(len(requests) + 1, limits, f"flows in {path}")
                request = flow.request
                requests.append(TrackingRequest(
                    method=request.method, url=request.pretty_url,
                    headers=[(k, v) for k, v in request.headers.items(multi=True)],
                    body=request.raw_content or b"",
                    received_at=int(request.timestamp_start * 1000) if request.timestamp_start else None,
                ))
    except FlowReadException as exc:
        raise CaptureFileError(f"{path}: not a readable mitmproxy flow file ({exc})") from None
    except UploadRefused as exc:
        raise CaptureFileError(exc.reason) from None
    except RecursionError:
        raise CaptureFileError(f"{path}: a flow nests deeper than the flow reader can follow") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise CaptureFileError(f"{path}: corrupt flow file ({type(exc).__name__}: {exc})") from None
    return iter(requests)
