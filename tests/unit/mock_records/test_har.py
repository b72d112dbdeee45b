"""HAR 1.2 in and out, byte-exact for binary bodies; corrupt files rejected with the entry and the reason."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_records.har import ExchangeData, HarError, read_har, write_har


def exchange(body=b'{"ok":true}', request_body=b"", query="a=1&b=2"):
    return ExchangeData("POST", "https", "api.shop.test", 8443, "/api/cart", query,
                        [["Content-Type", "application/octet-stream"]], request_body, 200,
                        [["Content-Type", "image/png"]], body, duration_ms=42)


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=300), request_body=st.binary(max_size=300))
def test_bodies_survive_export_and_import_byte_for_byte(body, request_body):
    text = json.dumps(write_har([exchange(body, request_body)]))
    [back] = read_har(text.encode())
    assert back.response_body == body and back.request_body == request_body
    assert (back.method, back.host, back.port, back.path, back.query) == ("POST", "api.shop.test", 8443, "/api/cart",
                                                                          "a=1&b=2")
    assert back.url == "https://api.shop.test:8443/api/cart?a=1&b=2" and back.duration_ms == 42


def har(entries):
    return json.dumps({"log": {"version": "1.2", "entries": entries}}).encode()


GOOD = {"request": {"method": "GET", "url": "https://a.test/x"}, "response": {"status": 200, "content": {"text": "ok"}}}


@pytest.mark.parametrize("data,message", [
    (har([GOOD])[:-9], "not valid JSON, truncated or corrupt"),
    (b'{"log": {}}', "no log.entries list"),
    (har([GOOD, {"request": {"method": "GET", "url": "/relative"}, "response": {"status": 200}}]),
     r"entry 1: request.url '/relative' is not an absolute"),
    (har([{**GOOD, "response": {"status": "200"}}]), "entry 0: response.status '200' is not an HTTP status"),
    (har([{**GOOD, "response": {"status": 200, "content": {"text": "!!", "encoding": "base64"}}}]),
     "entry 0: response.content.text is not valid base64"),
    (har([{**GOOD, "response": {"status": 200, "content": {"text": "aGk=", "encoding": "base64", "size": 9}}}]),
     "size says 9 bytes, the base64 text holds 2"),
    (har([{**GOOD, "request": {"method": "GET", "url": "https://a.test/", "headers": [{"name": 1}]}}]),
     r"entry 0: request.headers\[0\]"),
])
def test_a_corrupt_file_names_the_entry_and_the_reason(data, message):
    with pytest.raises(HarError, match=message):
        read_har(data, "upload.har")
