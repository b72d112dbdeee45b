"""Decode throughput per wire format (events/s) against plain orjson parsing of the same events, in the
same run. Run with `make bench` (or pytest -m bench tests/bench -s)."""

import base64
import gzip
import json
import time
from urllib.parse import quote

import orjson

from sdk_bridge.registry import decode_request
from sdk_bridge.wire import TrackingRequest

EVENTS_PER_REQUEST = 500
REQUESTS = 60  # 30,000 events per format


def sample_events():
    return [{"event": f"product_exposure_{i % 7}", "time": 1732147200000 + i, "distinct_id": f"user-{i % 50}",
             "properties": {"product_id": f"P{i:05d}", "position": i % 20, "price": 12.5 + i % 9,
                            "tab_name": "Recommended", "is_ad": i % 5 == 0, "tags": ["tea", "green"],
                            "session_id": f"s-{i // 100}", "$os": "Android", "$app_version": "5.3.0"}}
            for i in range(EVENTS_PER_REQUEST)]


def requests_for(fmt, events):
    url = "http://t.test"
    if fmt == "segment":
        batch = [{"type": "track", "event": e["event"], "userId": e["distinct_id"], "properties": e["properties"],
                  "timestamp": "2026-11-21T05:00:00.000Z"} for e in events]
        return TrackingRequest("POST", f"{url}/v1/batch", body=orjson.dumps({"batch": batch}))
    if fmt == "amplitude":
        batch = [{"event_type": e["event"], "user_id": e["distinct_id"], "time": e["time"],
                  "event_properties": e["properties"]} for e in events]
        return TrackingRequest("POST", f"{url}/2/httpapi", body=orjson.dumps({"api_key": "k", "events": batch}))
    if fmt == "posthog":
        batch = [{"event": e["event"], "distinct_id": e["distinct_id"], "properties": e["properties"],
                  "timestamp": "2026-11-21T05:00:00.000Z"} for e in events]
        return TrackingRequest("POST", f"{url}/batch", body=orjson.dumps({"api_key": "k", "batch": batch}))
    if fmt == "mixpanel":
        batch = [{"event": e["event"], "properties": {**e["properties"], "distinct_id": e["distinct_id"],
                                                      "time": e["time"]}} for e in events]
        return TrackingRequest("POST", f"{url}/import", [("Content-Type", "application/json")], orjson.dumps(batch))
    if fmt == "snowplow":
        data = [{"e": "ue", "tv": "py-1.0", "uid": e["distinct_id"], "dtm": str(e["time"]),
                 "ue_pr": json.dumps({"schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                                      "data": {"schema": f"iglu:com.acme/{e['event']}/jsonschema/1-0-0",
                                               "data": e["properties"]}})} for e in events]
        return TrackingRequest("POST", f"{url}/com.snowplowanalytics.snowplow/tp2",
                               body=orjson.dumps({"schema": "payload_data", "data": data}))
    if fmt == "sensorsdata (base64+gzip)":
        batch = [{"type": "track", **e} for e in events]
        payload = base64.b64encode(gzip.compress(orjson.dumps(batch), compresslevel=6)).decode()
        return TrackingRequest("POST", f"{url}/sa", body=f"gzip=1&data_list={quote(payload)}".encode())
    if fmt == "ga4 (form lines)":
        lines = "\r\n".join(f"en={e['event']}&ep.product_id={e['properties']['product_id']}"
                            f"&epn.position={e['properties']['position']}&epn.price={e['properties']['price']}"
                            f"&ep.tab_name=Recommended&ep.session_id={e['properties']['session_id']}" for e in events)
        return TrackingRequest("POST", f"{url}/g/collect?v=2&tid=G-1&cid=1.2", body=lines.encode())
    raise ValueError(fmt)


JSON_FORMATS = ["segment", "amplitude", "posthog", "mixpanel", "snowplow"]
OTHER_FORMATS = ["sensorsdata (base64+gzip)", "ga4 (form lines)"]


def rate(function, payloads):
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for payload in payloads:
            function(payload)
        best = min(best, time.perf_counter() - started)
    return REQUESTS * EVENTS_PER_REQUEST / best


def orjson_only(fmt, body):
    """The least any decoder of this format must do: parse the request's JSON with orjson, and for Snowplow
    also the self-describing JSON inside every event (JSON inside JSON is its wire format)."""
    if fmt != "snowplow":
        return lambda payload: orjson.loads(payload)
    return lambda payload: [orjson.loads(item["ue_pr"]) for item in orjson.loads(payload)["data"]]


def test_decode_throughput_against_orjson():
    events = sample_events()
    flat_body = orjson.dumps(events)
    flat = rate(orjson.loads, [flat_body] * REQUESTS)
    print(f"\nbaseline A, orjson.loads of the same 500 events as one flat JSON array: {flat:,.0f} events/s")
    print("baseline B, orjson alone on the format's own request body (and Snowplow's inner JSON)")
    print(f"{'format':28s} {'events/s':>12s} {'vs A':>6s} {'B events/s':>12s} {'vs B':>6s}")
    ratios = {}
    for fmt in JSON_FORMATS + OTHER_FORMATS:
        request = requests_for(fmt, events)
        assert len(decode_request(request)) == EVENTS_PER_REQUEST
        # A fresh request object each time: cached URL parsing must not flatter the figures.
        payloads = [TrackingRequest(request.method, request.url, request.headers, request.body)
                    for _ in range(REQUESTS)]
        measured = rate(decode_request, payloads)
        if fmt in JSON_FORMATS:
            own = rate(orjson_only(fmt, request.body), [request.body] * REQUESTS)
            ratios[fmt] = measured / own
            print(f"{fmt:28s} {measured:12,.0f} {measured / flat:6.2f} {own:12,.0f} {ratios[fmt]:6.2f}")
        else:
            print(f"{fmt:28s} {measured:12,.0f} {measured / flat:6.2f} {'-':>12s} {'-':>6s}")
    slow = {fmt: round(ratio, 2) for fmt, ratio in ratios.items() if ratio < 1 / 3}
    assert not slow, f"JSON decoders below 1/3 of orjson's rate on the same request bodies: {slow}"
