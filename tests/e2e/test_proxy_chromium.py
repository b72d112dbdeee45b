"""Headless Chromium through the real proxy process: record a page that calls its API and sends a tracking
event, then replay it with the API server gone; the page sees the same data and the event is captured
again, tagged with the step."""

import json
import os

import pytest

from tests.integration.test_proxy_process import Api, Proxy

from .test_console_browser import CHROMIUM_ARGS, chromium_path

pytestmark = pytest.mark.browser

PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head><body><h1 id="title">...</h1>
<script>
fetch('/api/feed?tab=2&ts=' + Date.now()).then(r => r.json()).then(data => {
  document.getElementById('title').textContent = data.items[0].name;
  // Like analytics.js: text/plain, so no CORS preflight.
  return fetch('http://api.segment.io/v1/t', {method: 'POST', headers: {'Content-Type': 'text/plain'},
    body: JSON.stringify({type: 'track', event: 'page_ready', properties: {first: data.items[0].id}, userId: 'u1'})});
}).then(() => { document.body.dataset.sent = 'yes'; });
</script></body></html>"""


def run_page(proxy, api_url):
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), proxy={"server": proxy.url},
                                             args=[*CHROMIUM_ARGS, "--proxy-bypass-list=<-loopback>"])
        page = browser.new_page()
        page.goto(f"{api_url}/page.html")
        page.wait_for_selector("body[data-sent=yes]", timeout=15_000)
        title = page.inner_text("#title")
        browser.close()
    return title


def test_chromium_records_then_replays_through_the_proxy(tmp_path):
    api = Api()
    original = api.server.RequestHandlerClass.do_GET

    def do_get(handler):
        if handler.path == "/page.html":
            handler._answer(200, PAGE, "text/html; charset=utf-8")
        else:
            original(handler)
    api.server.RequestHandlerClass.do_GET = do_get

    har, events = tmp_path / "web.har", tmp_path / "events.jsonl"
    proxy = Proxy(tmp_path, "--mode", "record", "--out", har, "--events", events)
    proxy.session().get("http://trackreplay.control/step/1")
    assert run_page(proxy, api.url) == "Green tea"
    proxy.stop()
    api.stop()
    urls = [e["request"]["url"] for e in json.loads(har.read_text())["log"]["entries"]]
    assert any(u.endswith("/page.html") for u in urls) and any("/api/feed?tab=2" in u for u in urls)

    replay = Proxy(tmp_path, "--mode", "replay", "--har", har, "--events", events, "--ignore",
                   json.dumps({"query": ["ts"]}), "--unmatched", "502")
    replay.session().get("http://trackreplay.control/step/2")
    assert run_page(replay, api.url) == "Green tea"  # the API server is gone: every answer came from the record
    stats = replay.session().get("http://trackreplay.control/stats").json()
    replay.stop()
    # Chromium's own background calls (update checks) miss, as they should; nothing of the shop does.
    shop_misses = [m for m in stats["misses"] if m["url"].startswith(api.url) and "favicon" not in m["url"]]
    assert shop_misses == [] and stats["served"] >= 2
    captured = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(e["event"], e["step"], e["properties"]) for e in captured] == [
        ("page_ready", 1, {"first": "P1"}), ("page_ready", 2, {"first": "P1"})]
