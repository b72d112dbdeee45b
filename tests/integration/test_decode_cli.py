"""`trackreplay decode` on traffic captured by a real mitmproxy process: the official SDKs send through
mitmdump to a local collector; the flow file, and mitmproxy's own HAR export of it, decode to the events."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.unit.sdk_bridge.collector import Collector

BIN = Path(sys.executable).parent
TRACKREPLAY = str(BIN / "trackreplay")

SENDER = r'''
import base64, sys, requests, sensorsanalytics
from segment.analytics.client import Client
collector = sys.argv[1]
sa = sensorsanalytics.SensorsAnalytics(sensorsanalytics.BatchConsumer(collector + "/sa?project=p", max_size=10))
sa.track("u1", "view_product", {"product_id": "P1", "price": 9.5})
sa.track("u1", "add_to_cart", {"product_id": "P1"})
sa.flush()
requests.get(collector + "/api/home?ts=1")                        # an API call, not tracking
Client(write_key="wk", host=collector, sync_mode=True).track(user_id="u1", event="checkout", properties={"total": 9.5})
requests.post(collector + "/g/collect?v=2&tid=G-1&cid=c1", data="en=page_view&ep.page=home\r\nen=scroll&epn.percent=90")
requests.post(collector + "/sa?project=p", data={"data_list": "H4sIAAAA", "gzip": "1"})  # broken tracking request
'''


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    folder = tmp_path_factory.mktemp("capture")
    flows = folder / "flows.mitm"
    port = _free_port()
    proxy = subprocess.Popen([str(BIN / "mitmdump"), "--listen-host", "127.0.0.1", "--listen-port", str(port),
                              "-w", str(flows), "--set", "confdir=" + str(folder / "mitm")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        with Collector() as collector:
            env = {**os.environ, "HTTP_PROXY": f"http://127.0.0.1:{port}", "http_proxy": f"http://127.0.0.1:{port}",
                   "NO_PROXY": "", "no_proxy": ""}
            subprocess.run([sys.executable, "-c", SENDER, collector.url], env=env, check=True, timeout=60)
            assert len(collector.requests) == 5  # everything went through the proxy and arrived
    finally:
        proxy.terminate()
        proxy.wait(timeout=20)
    har = folder / "flows.har"
    subprocess.run([str(BIN / "mitmdump"), "-nr", str(flows), "--set", f"hardump={har}",
                    "--set", "confdir=" + str(folder / "mitm")], check=True, timeout=60,
                   stdout=subprocess.DEVNULL)
    return flows, har


def decode(*args):
    return subprocess.run([TRACKREPLAY, "decode", *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("which", ["flows", "har"])
def test_decode_prints_events_in_request_order_and_reports_failures(capture, which):
    path = capture[0] if which == "flows" else capture[1]
    result = decode(path)
    assert result.returncode == 1, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event"] for e in events] == ["view_product", "add_to_cart", "checkout", "page_view", "scroll"]
    assert [e["seq"] for e in events] == [0, 1, 2, 3, 4]
    assert events[0]["properties"]["price"] == 9.5 and events[0]["sdk"] == "sensorsdata"
    assert events[2]["sdk"] == "segment" and events[4]["properties"] == {"percent": 90}
    assert all(e["received_at"] for e in events)
    assert "raw" not in events[0]
    failures = result.stderr.strip().splitlines()
    assert len(failures) == 1
    assert failures[0].startswith("request 5 POST http://127.0.0.1:") and "gzip" in failures[0]


def test_decode_summary_counts_per_sdk_and_event(capture):
    result = decode(capture[0], "--summary")
    assert "sensorsdata: 2 events" in result.stdout and "ga4: 2 events" in result.stdout
    assert "total: 5 events, 1 tracking requests failed to decode" in result.stdout


def test_decode_with_raw_keeps_the_wire_fragment(capture):
    first = json.loads(decode(capture[0], "--raw").stdout.splitlines()[0])
    assert first["raw"]["event"] == "view_product" and first["raw"]["type"] == "track"


def test_decode_exits_0_when_everything_decodes(tmp_path):
    har = {"log": {"version": "1.2", "entries": [{
        "startedDateTime": "2026-11-21T05:00:00.000Z",
        "request": {"method": "POST", "url": "https://api.segment.io/v1/t", "headers": [],
                    "postData": {"mimeType": "text/plain", "text": json.dumps(
                        {"type": "track", "event": "e", "userId": "u", "properties": {"a": 1}})}},
    }]}}
    path = tmp_path / "ok.har"
    path.write_text(json.dumps(har))
    result = decode(path)
    assert result.returncode == 0 and json.loads(result.stdout)["received_at"] == 1795237200000


def test_decode_exits_2_on_unreadable_input(tmp_path):
    missing = decode(tmp_path / "nope.har")
    assert missing.returncode == 2 and "No such file" in missing.stderr
    garbage = tmp_path / "garbage.mitm"
    garbage.write_bytes(b"\x00\x01not a flow file at all")
    result = decode(garbage)
    assert result.returncode == 2 and "flow file" in result.stderr
    bad_entry = tmp_path / "bad.har"
    bad_entry.write_text(json.dumps({"log": {"entries": [{"request": {"url": "x"}}]}}))
    result = decode(bad_entry)
    assert result.returncode == 2 and "entry 0 is malformed" in result.stderr
