"""Every event the official Python SDKs are told to send decodes with its name and properties intact.

Each SDK from PyPI sends to a local collector (a real HTTP server); the recorded requests go through
auto-detection and the decoders exactly as captured traffic would."""

import pytest

from sdk_bridge.registry import EndpointRule, decode_request, find_decoder

from .collector import Collector

TOLD = [
    ("product_click", {"product_id": "P1001", "price": 12.5, "position": 3, "tags": ["tea", "green"],
                       "in_stock": True, "coupon": None, "title": "绿茶 Green tea"}),
    ("add_to_cart", {"product_id": "P1002", "quantity": 2, "items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 1}]}),
    ("checkout", {"total": 99.9, "currency": "CNY"}),
]
# Sensors Data accepts only strings, numbers, booleans, dates, null and lists of strings as values.
TOLD_FLAT = [(name, {k: v for k, v in props.items() if k != "items"}) for name, props in TOLD]
TOLD_FLAT[1][1]["skus"] = ["A", "B"]


@pytest.fixture
def collector():
    with Collector() as running:
        yield running


def decoded(collector, expected_decoder, rules=()):
    events = []
    for request in collector.requests:
        module, _ = find_decoder(request, rules)
        assert module.NAME == expected_decoder, f"{request.url} detected as {module.NAME}"
        events.extend(decode_request(request, rules))
    return events


def assert_told_events_arrive(events, distinct_id, sdk, told=TOLD):
    tracked = [event for event in events if event.event in {name for name, _ in told}]
    assert [event.event for event in tracked] == [name for name, _ in told]
    for event, (name, properties) in zip(tracked, told):
        for key, value in properties.items():
            assert key in event.properties, f"{sdk}: {name}.{key} missing from {event.properties}"
            assert event.properties[key] == value, f"{sdk}: {name}.{key}"
        assert event.distinct_id == distinct_id
        assert event.sdk == sdk
        assert event.raw is not None
        assert event.time is None or event.time > 1_600_000_000_000


@pytest.mark.parametrize("batch", [False, True], ids=["default-consumer", "batch-consumer"])
def test_sensorsdata_python_sdk(collector, batch):
    import sensorsanalytics

    url = f"{collector.url}/sa?project=default"
    consumer = sensorsanalytics.BatchConsumer(url, max_size=50) if batch else sensorsanalytics.DefaultConsumer(url)
    sa = sensorsanalytics.SensorsAnalytics(consumer)
    for name, properties in TOLD_FLAT:
        sa.track("user-42", name, dict(properties))
    sa.profile_set("user-42", {"plan": "pro"})
    sa.flush()
    sa.close()
    assert len(collector.requests) == (1 if batch else 4)
    events = decoded(collector, "sensorsdata")
    assert_told_events_arrive(events, "user-42", "sensorsdata", TOLD_FLAT)
    assert events[-1].event == "profile_set" and events[-1].properties["plan"] == "pro"


@pytest.mark.parametrize("gzip", [False, True])
def test_segment_python_sdk(collector, gzip):
    from segment.analytics.client import Client

    client = Client(write_key="wk", host=collector.url, sync_mode=True, gzip=gzip)
    for name, properties in TOLD:
        client.track(user_id="user-42", event=name, properties=dict(properties))
    client.page(user_id="user-42", name="Home", properties={"url": "https://shop.example/"})
    client.identify(user_id="user-42", traits={"plan": "pro"})
    client.flush()  # sync mode sends at once; its shutdown() would fail joining consumer threads it never made
    events = decoded(collector, "segment")
    assert_told_events_arrive(events, "user-42", "segment")
    page = next(e for e in events if e.event == "page")
    assert page.properties == {"url": "https://shop.example/", "name": "Home"}
    assert next(e for e in events if e.event == "identify").properties == {"plan": "pro"}


def test_rudderstack_python_sdk(collector):
    from rudderstack.analytics.client import Client

    client = Client(write_key="wk", host=collector.url, sync_mode=True)
    for name, properties in TOLD:
        client.track(user_id="user-42", event=name, properties=dict(properties))
    client.flush()
    # Same bytes as Segment's SDK: auto-detection reads them as Segment...
    assert_told_events_arrive(decoded(collector, "segment"), "user-42", "segment")
    # ...and the project's endpoint rule for its data plane labels them RudderStack.
    rule = EndpointRule(decoder="segment", host="127.0.0.1", path="/v1/*", options={"sdk": "rudderstack"})
    assert_told_events_arrive(decoded(collector, "segment", [rule]), "user-42", "rudderstack")


@pytest.mark.parametrize("buffered", [False, True])
def test_mixpanel_python_sdk(collector, buffered):
    from mixpanel import BufferedConsumer, Consumer, Mixpanel

    urls = {"events_url": f"{collector.url}/track", "people_url": f"{collector.url}/engage"}
    consumer = BufferedConsumer(**urls) if buffered else Consumer(**urls)
    mp = Mixpanel("token-1", consumer=consumer)
    for name, properties in TOLD:
        mp.track("user-42", name, dict(properties))
    mp.people_set("user-42", {"plan": "pro"})
    if buffered:
        consumer.flush()
    events = decoded(collector, "mixpanel")
    assert_told_events_arrive(events, "user-42", "mixpanel")
    profile = next(e for e in events if e.event == "$set")
    assert profile.properties == {"plan": "pro"} and profile.distinct_id == "user-42"


@pytest.mark.parametrize("gzip", [False, True])
def test_posthog_python_sdk(collector, gzip):
    from posthog import Posthog

    client = Posthog("phc_key", host=collector.url, sync_mode=True, gzip=gzip, disable_geoip=True)
    for name, properties in TOLD:
        client.capture(name, distinct_id="user-42", properties=dict(properties))
    client.flush()
    client.shutdown()
    assert_told_events_arrive(decoded(collector, "posthog"), "user-42", "posthog")


@pytest.mark.parametrize("method,encode_base64", [("post", True), ("post", False), ("get", True), ("get", False)])
def test_snowplow_python_tracker(collector, method, encode_base64):
    from snowplow_tracker import Emitter, PageView, SelfDescribing, SelfDescribingJson, StructuredEvent, Subject, Tracker

    emitter = Emitter(collector.url.removeprefix("http://"), protocol="http", method=method, batch_size=1)
    subject = Subject().set_user_id("user-42")
    tracker = Tracker("ns", emitter, subject=subject, app_id="shop", encode_base64=encode_base64)
    context = SelfDescribingJson("iglu:com.acme/screen/jsonschema/1-0-0", {"name": "home"})
    for name, properties in TOLD:
        tracker.track(SelfDescribing(SelfDescribingJson(f"iglu:com.acme/{name}/jsonschema/1-0-0", dict(properties)),
                                     context=[context]))
    tracker.track(StructuredEvent("shop", "share", label="wechat", value=2))
    tracker.track(PageView("https://shop.example/p/1", page_title="Tea"))
    tracker.flush()
    events = decoded(collector, "snowplow")
    assert_told_events_arrive(events, "user-42", "snowplow")
    first = events[0]
    assert first.properties["$schema"] == "iglu:com.acme/product_click/jsonschema/1-0-0"
    assert first.properties["$contexts"] == [{"schema": "iglu:com.acme/screen/jsonschema/1-0-0",
                                              "data": {"name": "home"}}]
    share = next(e for e in events if e.event == "share")
    assert share.properties == {"category": "shop", "action": "share", "label": "wechat", "value": 2.0}
    view = next(e for e in events if e.event == "page_view")
    assert view.properties["url"] == "https://shop.example/p/1" and view.properties["page_title"] == "Tea"


@pytest.mark.parametrize("use_batch", [False, True])
def test_amplitude_python_sdk(collector, use_batch):
    from amplitude import Amplitude, BaseEvent, Config

    path = "/batch" if use_batch else "/2/httpapi"
    client = Amplitude("api-key", Config(server_url=f"{collector.url}{path}", use_batch=use_batch,
                                         flush_queue_size=100))
    for name, properties in TOLD:
        client.track(BaseEvent(event_type=name, user_id="user-42", event_properties=dict(properties)))
    client.flush()
    client.shutdown()
    # The Amplitude SDK drops null-valued properties before sending; everything else must arrive.
    told = [(name, {k: v for k, v in props.items() if v is not None}) for name, props in TOLD]
    assert_told_events_arrive(decoded(collector, "amplitude"), "user-42", "amplitude", told)
