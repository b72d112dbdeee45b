"""Encodings that browser and mobile SDKs use and the Python SDKs do not: checked against hand-built
requests in the documented shapes (the browser SDKs themselves are driven in tests/e2e)."""

import base64
import gzip
import json
from urllib.parse import quote

import pytest

from sdk_bridge.registry import decode_request, find_decoder
from sdk_bridge.wire import TrackingRequest, to_ms


def b64(value, urlsafe=False, pad=True) -> str:
    raw = json.dumps(value, ensure_ascii=False).encode()
    text = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode()
    return text if pad else text.rstrip("=")


def only(request):
    module, _ = find_decoder(request)
    return module.NAME, decode_request(request)


def test_sensors_js_image_get_with_crc():
    event = {"type": "track", "event": "$pageview", "distinct_id": "d1", "time": 1732147200123,
             "properties": {"$url": "https://shop.test/?a=1&b=2", "标题": "首页"}}
    name, events = only(TrackingRequest("GET", f"https://sa.shop.test/sa.gif?project=default&data={quote(b64(event))}"
                                               f"&ext={quote('crc=12345')}"))
    assert name == "sensorsdata"
    assert events[0].event == "$pageview" and events[0].properties["标题"] == "首页"
    assert events[0].time == 1732147200123 and events[0].distinct_id == "d1"


def test_sensors_android_data_list_gzip_flag_ignored_when_plain():
    batch = [{"type": "track", "event": "a", "properties": {}}, {"type": "profile_set", "properties": {"x": 1}}]
    body = f"crc=1&gzip=1&data_list={quote(b64(batch))}".encode()  # says gzip, is not: read the bytes
    name, events = only(TrackingRequest("POST", "https://sa.shop.test/sa?project=p", [], body))
    assert name == "sensorsdata" and [e.event for e in events] == ["a", "profile_set"]


def test_sensors_gzipped_data_list():
    batch = [{"type": "track", "event": "a", "properties": {"k": "v"}}]
    payload = base64.b64encode(gzip.compress(json.dumps(batch).encode())).decode()
    _, events = only(TrackingRequest("POST", "https://x.test/sa", [], f"gzip=1&data_list={quote(payload)}".encode()))
    assert events[0].properties == {"k": "v"}


def test_ga4_batch_lines_shared_params_items_and_user_properties():
    url = ("https://region1.google-analytics.com/g/collect?v=2&tid=G-ABC123&cid=111.222&_p=1732147200000"
           "&dl=https%3A%2F%2Fshop.test%2Fp%2F1&dt=Tea&uid=u-9")
    body = ("en=view_item&ep.currency=CNY&epn.value=12.5&pr1=idP1001~nmGreen%20tea~pr12.5~qt1~caTea~k0color~v0green"
            "\r\nen=add_to_cart&epn.value=25&pr1=idP1001~qt2&pr2=idP1002~nmOolong~qt1&up.plan=pro&upn.level=3\r\n")
    name, events = only(TrackingRequest("POST", url, [("Content-Type", "text/plain")], body.encode()))
    assert name == "ga4"
    assert [e.event for e in events] == ["view_item", "add_to_cart"]
    view, cart = events
    assert view.properties["currency"] == "CNY" and view.properties["value"] == 12.5
    assert view.properties["items"] == [{"item_id": "P1001", "item_name": "Green tea", "price": 12.5, "quantity": 1,
                                         "item_category": "Tea", "color": "green"}]
    assert view.properties["page_location"] == "https://shop.test/p/1" and view.properties["user_id"] == "u-9"
    assert [item["item_id"] for item in cart.properties["items"]] == ["P1001", "P1002"]
    assert cart.properties["user_properties"] == {"plan": "pro", "level": 3}
    assert view.distinct_id == "111.222"


def test_ga4_single_event_in_the_url_and_lf_only_bodies():
    _, events = only(TrackingRequest("POST", "https://www.google-analytics.com/g/collect?v=2&tid=G-1&cid=1&en=page_view"))
    assert [e.event for e in events] == ["page_view"]
    _, events = only(TrackingRequest("POST", "https://x.test/g/collect?v=2&tid=G-1&cid=1", body=b"en=a\nen=b"))
    assert [e.event for e in events] == ["a", "b"]


def test_mixpanel_js_base64_data_in_query_and_form():
    events = [{"event": "Signed up", "properties": {"distinct_id": "d", "time": 1732147200.5, "plan": "pro"}}]
    _, decoded = only(TrackingRequest("GET", f"https://api-js.mixpanel.com/track/?data={quote(b64(events))}&ip=1"))
    assert decoded[0].event == "Signed up" and decoded[0].time == 1732147200500
    _, decoded = only(TrackingRequest("POST", "https://api-js.mixpanel.com/track/?ip=1", [],
                                      f"data={quote(b64(events))}".encode()))
    assert decoded[0].properties["plan"] == "pro"


def test_mixpanel_engage_profile_operations():
    update = {"$token": "t", "$distinct_id": "d", "$set_once": {"first_seen": "2026-11-21"}}
    _, decoded = only(TrackingRequest("POST", "https://api.mixpanel.com/engage", [],
                                      f"data={quote(json.dumps(update))}".encode()))
    assert decoded[0].event == "$set_once" and decoded[0].distinct_id == "d"


def test_amplitude_legacy_form_upload():
    events = [{"event_type": "play", "device_id": "dev", "time": 1732147200000, "event_properties": {"song": "x"}}]
    body = f"v=2&client=key&e={quote(json.dumps(events))}&upload_time=1&checksum=abc".encode()
    name, decoded = only(TrackingRequest("POST", "https://api.amplitude.com/", [], body))
    assert name == "amplitude" and decoded[0].properties == {"song": "x"} and decoded[0].distinct_id == "dev"


def test_posthog_js_base64_form_and_gzip_js():
    batch = [{"event": "$pageview", "properties": {"distinct_id": "d", "$current_url": "https://s.test/"},
              "timestamp": "2026-11-21T05:00:00.000Z"}]
    _, decoded = only(TrackingRequest("POST", "https://us.i.posthog.com/e/?compression=base64", [],
                                      f"data={quote(b64(batch))}".encode()))
    assert decoded[0].event == "$pageview" and decoded[0].distinct_id == "d"
    assert decoded[0].time == to_ms("2026-11-21T05:00:00.000Z")
    zipped = gzip.compress(json.dumps(batch).encode())
    _, decoded = only(TrackingRequest("POST", "https://eu.i.posthog.com/e/?compression=gzip-js", [], zipped))
    assert decoded[0].properties["$current_url"] == "https://s.test/"


def test_snowplow_get_with_urlsafe_unpadded_base64():
    sde = {"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
           "data": {"schema": "iglu:com.acme/link_click/jsonschema/1-0-1", "data": {"target": "https://a.test/?x=ÿ"}}}
    contexts = {"schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-0",
                "data": [{"schema": "iglu:com.acme/user/jsonschema/1-0-0", "data": {"tier": "gold"}}]}
    url = (f"https://c.test/i?e=ue&tv=js-3.0.0&aid=shop&duid=du-1&dtm=1732147200123"
           f"&ue_px={b64(sde, urlsafe=True, pad=False)}&cx={b64(contexts, urlsafe=True, pad=False)}")
    name, events = only(TrackingRequest("GET", url))
    assert name == "snowplow"
    assert events[0].event == "link_click" and events[0].properties["target"] == "https://a.test/?x=ÿ"
    assert events[0].properties["$contexts"][0]["data"] == {"tier": "gold"}
    assert events[0].distinct_id == "du-1" and events[0].time == 1732147200123


def test_segment_analytics_js_single_track_with_text_plain():
    message = {"type": "track", "event": "Clicked", "properties": {"a": 1}, "anonymousId": "anon",
               "timestamp": "2026-11-21T05:00:00Z", "writeKey": "wk"}
    name, events = only(TrackingRequest("POST", "https://api.segment.io/v1/t", [("Content-Type", "text/plain")],
                                        json.dumps(message).encode()))
    assert name == "segment" and events[0].distinct_id == "anon" and events[0].properties == {"a": 1}


def test_to_ms_reads_seconds_milliseconds_microseconds_and_iso():
    assert to_ms(1732147200) == 1732147200000
    assert to_ms(1732147200123) == 1732147200123
    assert to_ms(1732147200123456) == 1732147200123
    assert to_ms("1732147200.5") == 1732147200500
    assert to_ms("2026-11-21T05:00:00+08:00") == to_ms("2026-11-20T21:00:00Z")
    assert to_ms("yesterday") is None and to_ms(True) is None and to_ms(float("nan")) is None


@pytest.mark.parametrize("value", [-1, -1.5, 10**30, 1e30, "1e30", "1899-12-31T00:00:00Z", 2**70])
def test_times_outside_the_calendar_decode_as_no_time(value):
    # Ingestion refuses them; a decoder drops them so one odd event does not sink its whole batch.
    assert to_ms(value) is None
