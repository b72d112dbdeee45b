"""Mock records to and from HAR files (the pure reader and writer in har.py), all or nothing."""

from __future__ import annotations

from trackreplay.stored_files import atomic_files

from trackreplay.values import BadValue, check_instance

from .flows import read_flows
from .har import ExchangeData, HarError, read_har, write_har
from .models import Exchange, MockRecord, MockRecordSource
from .signals import refresh_once


def import_har(project, data: bytes, *, name: str, description: str = "", limits=None) -> MockRecord:
    """A HAR file, or a mitmproxy flow file (told apart by the first byte). HarError or UploadRefused (nothing
    stored, body files under MEDIA_ROOT included) when any entry is unusable or the file passes a limit
    (`limits`: trackreplay.uploads.UploadLimits; the settings' upload limits when not given)."""
    from trackreplay.upload_http import upload_limits

    limits = limits or upload_limits()
    if not data.strip():
        raise HarError(f"{name}: the file is empty")
    is_har = data.lstrip()[:1] == b"{"
    exchanges = read_har(data, name, limits) if is_har else read_flows(data, name, limits)
    record = MockRecord(project=project, name=name[:200], description=description,
                        source=MockRecordSource.HAR if is_har else MockRecordSource.FLOW)
    try:
        check_instance(record)
    except BadValue as exc:
        raise HarError(f"the mock record's {exc}") from None
    with atomic_files():
        with refresh_once(record):
            record.save()
            _add_exchanges(record, exchanges, name)
    return record


# Exchange fields by the HAR field they come from, for error messages.
_HAR_NAMES = {"method": "request.method", "host": "request.url's host", "path": "request.url's path",
              "query": "request.url's query", "request_headers": "request.headers",
              "response_headers": "response.headers", "duration_ms": "time", "started_at": "startedDateTime",
              "status_code": "response.status"}


def _add_exchanges(record: MockRecord, exchanges: list[ExchangeData], name: str = "HAR file") -> None:
    rows = []
    for order, item in enumerate(exchanges):
        exchange = Exchange(mock_record=record, order=order, method=item.method, scheme=item.scheme, host=item.host,
                            port=item.port, path=item.path, query=item.query, request_headers=item.request_headers,
                            status_code=item.status_code, response_headers=item.response_headers,
                            started_at=item.started_at, duration_ms=item.duration_ms)
        # Every entry is checked before any body file is written: a refused import leaves nothing behind.
        try:
            check_instance(exchange)
        except BadValue as exc:
            raise HarError(f"{name}: entry {order}: {_HAR_NAMES.get(exc.path, exc.path)} {exc.problem}") from None
        rows.append((exchange, item))
    for exchange, item in rows:
        exchange.request_body = item.request_body
        exchange.response_body = item.response_body
        exchange.save()


def export_har(record: MockRecord) -> dict:
    items = [ExchangeData(e.method, e.scheme, e.host, e.port, e.path, e.query, e.request_headers, e.request_body,
                          e.status_code, e.response_headers, e.response_body, e.started_at, e.duration_ms)
             for e in record.exchanges.order_by("order", "pk")]
    from trackreplay import __version__

    return write_har(items, version=__version__)
