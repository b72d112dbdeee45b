"""The official browser SDKs (npm), running in headless Chromium, send to a local collector; every event
they were told to send decodes with its name and properties intact. They send differently from the Python
SDKs (image GETs, base64 in query and form fields, sendBeacon, URL-safe base64), which is the point."""

import json
import time
from pathlib import Path

import pytest

from sdk_bridge.limits import DecodeError
from sdk_bridge.registry import decode_request, find_decoder
from tests.unit.sdk_bridge.collector import Collector

from .test_console_browser import browser  # noqa: F401  (the Chromium fixture)

pytestmark = pytest.mark.browser

SDKS = Path(__file__).parent / "browser_sdks" / "node_modules"
TOLD = [
    ("product_click", {"product_id": "P1001", "price": 12.5, "position": 3, "tags": ["tea", "green"],
                       "in_stock": True, "title": "绿茶 Green tea & \"more\""}),
    ("add_to_cart", {"product_id": "P1002", "quantity": 2}),
    ("checkout", {"total": 99.9, "currency": "CNY"}),
]


def page_with(script_path: str, body_js: str) -> dict:
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<script src="/sdk.js"></script></head><body><h1>Shop</h1><script>
const TOLD = {json.dumps(TOLD, ensure_ascii=False)};
{body_js}
</script></body></html>"""
    return {"/page.html": (html.encode(), "text/html; charset=utf-8"),
            "/sdk.js": ((SDKS / script_path).read_bytes(), "application/javascript")}


def run_in_chromium(browser, pages, expect_names, timeout=15):  # noqa: F811
    with Collector(pages) as collector:
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{collector.url}/page.html")
        deadline = time.monotonic() + timeout
        events = []
        while time.monotonic() < deadline:
            events = []
            for request in list(collector.requests):
                if find_decoder(request) is None:
                    continue
                try:
                    events.extend(decode_request(request))
                except DecodeError as exc:
                    raise AssertionError(f"{request.method} {request.url} failed to decode: {exc}") from None
            if set(expect_names) <= {e.event for e in events}:
                break
            time.sleep(0.2)
        page.close()
        assert not errors, errors
        return events, list(collector.requests)


def assert_told(events, sdk, distinct_id=None):
    by_name = {}
    for event in events:
        by_name.setdefault(event.event, event)
    for name, properties in TOLD:
        assert name in by_name, f"{sdk}: {name} never arrived; got {sorted(by_name)}"
        event = by_name[name]
        for key, value in properties.items():
            assert event.properties.get(key) == value, f"{sdk}: {name}.{key} = {event.properties.get(key)!r}"
        assert event.sdk == sdk
        if distinct_id:
            assert event.distinct_id == distinct_id
    assert sum(1 for e in events if e.event == "product_click") == 1, "an event arrived twice"


@pytest.mark.parametrize("send_type", ["image", "ajax", "beacon"])
def test_sensors_data_web_sdk(browser, send_type):  # noqa: F811
    pages = page_with("sa-sdk-javascript/sensorsdata.min.js", f"""
const sensors = window.sensorsDataAnalytic201505;
sensors.init({{server_url: location.origin + '/sa?project=default', send_type: '{send_type}', show_log: false,
              is_track_single_page: false, heatmap: {{clickmap: 'not_collect', scroll_notice_map: 'not_collect'}}}});
sensors.login('user-42');
for (const [name, props] of TOLD) sensors.track(name, props);
""")
    events, requests = run_in_chromium(browser, pages, [name for name, _ in TOLD])
    assert_told(events, "sensorsdata", "user-42")
    methods = {r.method for r in requests if "/sa" in r.url}
    assert methods == ({"GET"} if send_type == "image" else {"POST"})


@pytest.mark.parametrize("batch", [False, True], ids=["per-event", "batched"])
def test_mixpanel_browser_sdk(browser, batch):  # noqa: F811
    pages = page_with("mixpanel-browser/dist/mixpanel.umd.js", f"""
mixpanel.init('token-1', {{api_host: location.origin, batch_requests: {str(batch).lower()}, batch_flush_interval_ms: 200,
                          track_pageview: false, ignore_dnt: true, persistence: 'localStorage', debug: false}});
mixpanel.identify('user-42');
for (const [name, props] of TOLD) mixpanel.track(name, props);
""")
    events, _ = run_in_chromium(browser, pages, [name for name, _ in TOLD])
    assert_told(events, "mixpanel", "user-42")


@pytest.mark.parametrize("method,base64", [("post", True), ("get", True), ("get", False)])
def test_snowplow_browser_tracker(browser, method, base64):  # noqa: F811
    pages = page_with("@snowplow/browser-tracker/dist/index.umd.min.js", f"""
const sp = window.snowplowBrowserTracking;
sp.newTracker('sp1', location.origin, {{appId: 'shop', eventMethod: '{method}', bufferSize: 1,
              encodeBase64: {str(base64).lower()}, stateStorageStrategy: 'none', contexts: {{webPage: true}}}});
sp.setUserId('user-42');
for (const [name, props] of TOLD)
  sp.trackSelfDescribingEvent({{event: {{schema: 'iglu:com.acme/' + name + '/jsonschema/1-0-0', data: props}}}});
sp.trackStructEvent({{category: 'shop', action: 'share', label: 'wechat', value: 2}});
""")
    events, _ = run_in_chromium(browser, pages, [name for name, _ in TOLD] + ["share"])
    assert_told(events, "snowplow", "user-42")
    click = next(e for e in events if e.event == "product_click")
    assert click.properties["$schema"] == "iglu:com.acme/product_click/jsonschema/1-0-0"
    assert any(c["schema"].startswith("iglu:com.snowplowanalytics.snowplow/web_page/")
               for c in click.properties["$contexts"])


@pytest.mark.parametrize("compression", [None, "base64", "gzip-js"], ids=["json", "base64", "gzip"])
def test_posthog_js(browser, compression):  # noqa: F811
    # posthog-js learns which compression to use from the server's /decide answer, as in production.
    pages = page_with("posthog-js/dist/array.full.no-external.js", """
posthog.init('phc_key', {api_host: location.origin, autocapture: false, capture_pageview: false,
             capture_pageleave: false, disable_session_recording: true, persistence: 'memory',
             opt_out_useragent_filter: true});  // else it drops every event from HeadlessChrome as a bot
posthog.identify('user-42');
setTimeout(() => { for (const [name, props] of TOLD) posthog.capture(name, props); }, 300);
""")
    decide = {"config": {"enable_collect_everything": False}, "featureFlags": {}, "sessionRecording": False,
              "supportedCompression": [compression] if compression else []}
    pages["/decide/"] = (json.dumps(decide).encode(), "application/json")
    events, requests = run_in_chromium(browser, pages, [name for name, _ in TOLD])
    assert_told(events, "posthog", "user-42")
    sent = [r for r in requests if r.path.startswith("/e")]
    assert sent, "posthog-js sent nothing to /e/"
    last = sent[-1]
    if compression == "gzip-js":
        assert last.query.get("compression") == "gzip-js" and last.body[:2] == b"\x1f\x8b"
    elif compression == "base64":
        assert last.query.get("compression") == "base64" and last.body.startswith(b"data=")
    else:
        assert last.body.lstrip()[:1] in (b"{", b"[")


def test_segment_analytics_next(browser):  # noqa: F811
    # Loaded as the npm UMD build with its lazily loaded chunks and CDN settings served locally; the
    # Segment.io destination pointed at the collector the way customers point it at their own proxy.
    # (Its "batching" delivery strategy always posts to https://, which this plain-HTTP collector is not;
    # the /v1/b and /v1/batch shapes it sends are what the Python SDK test covers.)
    umd = SDKS / "@segment/analytics-next/dist/umd"
    pages = page_with("@segment/analytics-next/dist/umd/index.js", f"""
AnalyticsNext.AnalyticsBrowser.load({{writeKey: 'wk1', cdnURL: location.origin}},
  {{integrations: {{'Segment.io': {{apiHost: location.host + '/v1', protocol: 'http'}}}}}})
  .then(([analytics]) => {{
    analytics.identify('user-42', {{plan: 'pro'}});
    for (const [name, props] of TOLD) analytics.track(name, props);
    analytics.page('Shop', 'Home', {{section: 'tea'}});
  }});
""")
    for chunk in umd.glob("*.js"):
        pages[f"/analytics-next/bundles/{chunk.name}"] = (chunk.read_bytes(), "application/javascript")
    settings = {"integrations": {"Segment.io": {"apiKey": "wk1", "apiHost": "api.segment.io/v1"}}, "plan": {},
                "edgeFunction": {}, "analyticsNextEnabled": True}
    pages["/v1/projects/wk1/settings"] = (json.dumps(settings).encode(), "application/json")
    events, requests = run_in_chromium(browser, pages, [name for name, _ in TOLD] + ["identify", "page"])
    assert_told(events, "segment", "user-42")
    identify = next(e for e in events if e.event == "identify")
    assert identify.properties == {"plan": "pro"}
    page_event = next(e for e in events if e.event == "page")
    assert page_event.properties["section"] == "tea" and page_event.properties["name"] == "Home"
    paths = {r.path for r in requests if r.path.startswith("/v1/") and "projects" not in r.path}
    assert paths == {"/v1/t", "/v1/i", "/v1/p"}, paths


@pytest.mark.parametrize("endpoint", ["/2/httpapi", "/batch"])
def test_amplitude_analytics_browser(browser, endpoint):  # noqa: F811
    pages = page_with("@amplitude/analytics-browser/lib/scripts/amplitude-min.umd.js", f"""
amplitude.init('amp-key', 'user-42', {{serverUrl: location.origin + '{endpoint}', useBatch: {str(endpoint == "/batch").lower()},
               flushIntervalMillis: 200, defaultTracking: false, logLevel: 0}});
for (const [name, props] of TOLD) amplitude.track(name, props);
""")
    events, requests = run_in_chromium(browser, pages, [name for name, _ in TOLD])
    assert_told(events, "amplitude", "user-42")
    assert {r.path for r in requests if not r.path.startswith("/favicon")} == {endpoint}
