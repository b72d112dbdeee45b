"""mitmproxy flow files into mock-record exchanges. Bodies are kept as they went over the wire (still
content-encoded, with their Content-Encoding header), so replay answers byte for byte. Every flow is read
before anything is returned: a corrupt or truncated file imports nothing."""

from __future__ import annotations

import io
from datetime import datetime, timezone

from .har import ExchangeData, HarError


def exchange_from_flow(flow) -> ExchangeData:
    """A completed mitmproxy HTTP flow as exchange data (used for flow files and by the recording proxy)."""
    request, response = flow.request, flow.response
    path, _, query = request.path.partition("?")
    started = datetime.fromtimestamp(request.timestamp_start, tz=timezone.utc) if request.timestamp_start else None
    duration = (int((response.timestamp_end - request.timestamp_start) * 1000)
                if response.timestamp_end and request.timestamp_start else None)
    return ExchangeData(
        method=request.method.upper(), scheme=request.scheme, host=request.pretty_host.lower(), port=request.port,
        path=path or "/", query=query, request_headers=[[k, v] for k, v in request.headers.items(multi=True)],
        request_body=request.raw_content or b"", status_code=response.status_code,
        response_headers=[[k, v] for k, v in response.headers.items(multi=True)],
        response_body=response.raw_content or b"", started_at=started,
        duration_ms=duration if duration is None or duration >= 0 else None,
    )


def read_flows(data: bytes, name: str = "flow file", limits=None) -> list[ExchangeData]:
    """Every HTTP flow of a mitmproxy flow file. With limits (an upload), the number of flows is bounded while
    they are read, and nesting deeper than the reader can follow is refused rather than crashing."""
    # mitmproxy reads every flow-file version it wrote; imported here only, so the rest stays importable
    # without it.
    from mitmproxy import http
    from mitmproxy.exceptions import FlowReadException
    from mitmproxy.io import FlowReader

    exchanges = []
    index = -1
    try:
        for index, flow in enumerate(FlowReader(io.BytesIO(data)).stream()):
            if not isinstance(flow, http.HTTPFlow):
                continue
            if flow.response is None:
                raise HarError(f"{name}: flow {index} ({flow.request.method} {flow.request.pretty_url[:120]}) "
                               "has no response")
            exchanges.append(exchange_from_flow(flow))
            if limits is not None:
                from trackreplay.uploads import check_count

                check_count(len(exchanges), limits, f"flows in {name}")
    except FlowReadException as exc:
        raise HarError(f"{name}: flow {index + 1} is unreadable, truncated or corrupt ({exc})") from None
    except RecursionError:
        from trackreplay.uploads import UploadRefused

        raise UploadRefused(f"{name}: flow {index + 1} nests deeper than the flow reader can follow",
                            limits.depth if limits is not None else None) from None
    except (ValueError, TypeError, KeyError, OverflowError) as exc:  # OverflowError: times outside the calendar
        from trackreplay.uploads import UploadRefused

        if isinstance(exc, UploadRefused):
            raise
        raise HarError(f"{name}: flow {index + 1} is corrupt ({type(exc).__name__}: {exc})") from None
    if index == -1 and data.strip():
        raise HarError(f"{name}: no flows found: not a mitmproxy flow file")
    return exchanges
