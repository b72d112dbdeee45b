"""Hostile input never crashes a decoder and never hangs it: every failure is a DecodeError, and one over a
limit names the limit."""

import base64
import gzip
import json
import time
import zlib

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdk_bridge.limits import DecodeError, Limits
from sdk_bridge.registry import DECODERS, EndpointRule, decode_request
from sdk_bridge.wire import TrackingRequest, json_depth

from .collector import Collector

ALL = sorted(name for name in DECODERS)
SMALL = Limits(max_body_bytes=2_000_000, max_decompressed_bytes=4_000_000, max_depth=32, max_events=100)


def forced(decoder: str, request: TrackingRequest, limits=SMALL):
    return decode_request(request, [EndpointRule(decoder=decoder)], limits)


def sensors(payload: bytes, field="data_list") -> TrackingRequest:
    body = f"{field}={base64.b64encode(payload).decode()}&gzip=1".encode()
    return TrackingRequest("POST", "http://t.test/sa", [("Content-Type", "application/x-www-form-urlencoded")], body)


def test_truncated_base64_is_a_decode_error():
    good = base64.b64encode(gzip.compress(b'[{"event":"a","properties":{}}]')).decode()
    with pytest.raises(DecodeError, match="base64"):
        forced("sensorsdata", TrackingRequest("POST", "http://t.test/sa", body=f"data_list={good[:-3]}".encode()))


def test_bad_gzip_is_a_decode_error():
    broken = gzip.compress(b'[{"event":"a"}]')[:-12] + b"\x00" * 4
    with pytest.raises(DecodeError, match="gzip"):
        forced("sensorsdata", sensors(broken))


def test_gzip_bomb_stops_at_the_decompressed_limit_quickly():
    bomb = gzip.compress(b"[" + b" " * 200_000_000 + b"]", compresslevel=9)  # ~200 KB that inflates to 200 MB
    started = time.perf_counter()
    with pytest.raises(DecodeError) as info:
        forced("segment", TrackingRequest("POST", "http://t.test/v1/batch", body=bomb))
    assert info.value.limit == "max_decompressed_bytes"
    assert "max_decompressed_bytes=4000000" in str(info.value)
    assert time.perf_counter() - started < 2


def test_invalid_utf8_is_a_decode_error():
    with pytest.raises(DecodeError):
        forced("segment", TrackingRequest("POST", "http://t.test/v1/t", body=b'{"event":"\xff\xfe","type":"track"}'))
    with pytest.raises(DecodeError, match="UTF-8"):
        forced("ga4", TrackingRequest("POST", "http://t.test/g/collect?v=2&tid=G-1", body=b"en=\xff\xfe"))


@pytest.mark.parametrize("depth", [33, 10_000])
def test_deeply_nested_json_names_the_depth_limit(depth):
    nested = b'{"event":"e","type":"track","properties":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    with pytest.raises(DecodeError) as info:
        forced("segment", TrackingRequest("POST", "http://t.test/v1/t", body=nested))
    assert info.value.limit == "max_depth"


def test_nesting_within_the_limit_decodes():
    nested = b'{"event":"e","type":"track","properties":' + b'{"a":' * 20 + b"1" + b"}" * 20 + b"}"
    assert forced("segment", TrackingRequest("POST", "http://t.test/v1/t", body=nested))[0].event == "e"


def test_a_100_mb_body_is_refused_by_size_before_any_parsing():
    body = b"x" * (100 * 1024 * 1024)
    started = time.perf_counter()
    with pytest.raises(DecodeError) as info:
        forced("mixpanel", TrackingRequest("POST", "http://t.test/track", body=body), Limits())
    assert info.value.limit == "max_body_bytes"
    assert time.perf_counter() - started < 1


def test_too_many_events_names_the_event_limit():
    batch = orjson.dumps({"batch": [{"type": "track", "event": "e"}] * 101})
    with pytest.raises(DecodeError) as info:
        forced("segment", TrackingRequest("POST", "http://t.test/v1/batch", body=batch))
    assert info.value.limit == "max_events"


def test_base64_over_the_decompressed_limit_is_refused_before_decoding():
    text = "QUFB" * 1_100_000  # 4.4 MB of base64 -> 3.3 MB decoded, over a 3 MB limit
    limits = Limits(max_decompressed_bytes=3_000_000)
    with pytest.raises(DecodeError) as info:
        forced("sensorsdata", TrackingRequest("GET", f"http://t.test/sa?data={text}"), limits)
    assert info.value.limit == "max_decompressed_bytes"


def test_a_request_of_no_known_sdk_is_named_as_such():
    with pytest.raises(DecodeError, match="not a tracking request"):
        decode_request(TrackingRequest("GET", "http://api.shop.test/home"))


# -- property-based ---------------------------------------------------------------------------------------

URLS = {
    "sensorsdata": "http://t.test/sa", "segment": "http://t.test/v1/batch", "mixpanel": "http://t.test/track",
    "amplitude": "http://t.test/2/httpapi", "ga4": "http://t.test/g/collect?v=2&tid=G-1",
    "snowplow": "http://t.test/com.snowplowanalytics.snowplow/tp2", "posthog": "http://t.test/batch",
    "generic": "http://t.test/events",
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(decoder=st.sampled_from(ALL), body=st.binary(max_size=2048), method=st.sampled_from(["GET", "POST"]))
def test_random_bytes_never_crash_a_decoder(decoder, body, method):
    request = TrackingRequest(method, URLS[decoder], [("Content-Type", "application/x-www-form-urlencoded")], body)
    try:
        events = forced(decoder, request)
    except DecodeError:
        return
    assert all(isinstance(event.event, str) and isinstance(event.properties, dict) for event in events)


@pytest.fixture(scope="module")
def real_requests():
    """Requests captured from the official SDKs, the seeds that mutation starts from."""
    import sensorsanalytics
    from amplitude import Amplitude, BaseEvent, Config
    from mixpanel import Consumer, Mixpanel
    from posthog import Posthog
    from segment.analytics.client import Client
    from snowplow_tracker import Emitter, SelfDescribing, SelfDescribingJson, Tracker

    with Collector() as collector:
        sa = sensorsanalytics.SensorsAnalytics(sensorsanalytics.BatchConsumer(f"{collector.url}/sa", max_size=5))
        sa.track("u", "view", {"pid": "P1", "n": 3})
        sa.flush()
        Client(write_key="k", host=collector.url, sync_mode=True, gzip=True).track(user_id="u", event="e",
                                                                                   properties={"a": [1, {"b": 2}]})
        Mixpanel("t", consumer=Consumer(events_url=f"{collector.url}/track")).track("u", "e", {"a": 1})
        Posthog("k", host=collector.url, sync_mode=True).capture("e", distinct_id="u", properties={"a": 1})
        tracker = Tracker("ns", Emitter(collector.url.removeprefix("http://"), protocol="http", batch_size=1))
        tracker.track(SelfDescribing(SelfDescribingJson("iglu:com.a/e/jsonschema/1-0-0", {"a": 1})))
        tracker.flush()
        amp = Amplitude("k", Config(server_url=f"{collector.url}/2/httpapi"))
        amp.track(BaseEvent(event_type="e", user_id="u", event_properties={"a": 1}))
        amp.flush()
        amp.shutdown()
    assert len(collector.requests) >= 6
    return collector.requests


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_real_payloads_never_crash_a_decoder(real_requests, data):
    seed = data.draw(st.sampled_from(real_requests))
    body = bytearray(seed.body)
    for _ in range(data.draw(st.integers(1, 8))):
        if not body:
            break
        at = data.draw(st.integers(0, len(body) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        if action == "flip":
            body[at] ^= data.draw(st.integers(1, 255))
        elif action == "delete":
            del body[at]
        elif action == "insert":
            body[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del body[at:]
    request = TrackingRequest(seed.method, seed.url, seed.headers, bytes(body))
    try:
        decode_request(request, limits=SMALL)
    except DecodeError:
        pass


def test_zlib_deflate_bodies_are_inflated_when_declared():
    body = zlib.compress(orjson.dumps({"type": "track", "event": "e", "properties": {"a": 1}}))
    request = TrackingRequest("POST", "http://t.test/v1/t", [("Content-Encoding", "deflate")], body)
    assert forced("segment", request)[0].properties == {"a": 1}


def walked_depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(walked_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(walked_depth, value), default=0)
    return 0


# Strings full of what the byte-level depth count must not be fooled by: brackets, quotes, backslashes.
tricky_text = st.text(alphabet='[]{}"\\/ u005cabc\u00e9\u4e2d', max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(tricky_text, children, max_size=3),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(value=json_values, escape_unicode=st.booleans())
def test_byte_level_depth_agrees_with_walking_the_parsed_value(value, escape_unicode):
    text = json.dumps(value, ensure_ascii=escape_unicode).encode()
    expected = walked_depth(value)
    assert json_depth(text, 64) == expected
    # Counting stops one past the limit, which is all the check needs.
    assert json_depth(text, 1) == min(expected, 2)


@pytest.mark.parametrize("escapes", ["", '"note":"say \\"hi\\" \\u4e2d",'])
@pytest.mark.parametrize("depth,refused", [(30, False), (31, False), (32, True), (200, True)])
def test_the_depth_limit_is_exact_with_and_without_escapes(escapes, depth, refused):
    # Both ways of checking depth (byte skeleton; walk when the text has escapes) stop at the same place:
    # the envelope adds one level to the nested ones, so 31 nested levels is the most SMALL allows.
    body = ('{"type":"track","event":"e",' + escapes + '"properties":' + '{"a":' * depth + "1" + "}" * depth
            + "}").encode()
    request = TrackingRequest("POST", "http://t.test/v1/t", body=body)
    if refused:
        with pytest.raises(DecodeError) as info:
            forced("segment", request)
        assert info.value.limit == "max_depth"
    else:
        assert forced("segment", request)[0].event == "e"
