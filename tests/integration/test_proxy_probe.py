"""A device proves it goes through the run's proxy (and, over HTTPS, that it trusts the proxy's CA) by opening
trackreplay.control/probe/<nonce>; the agent asks the proxy whether it arrived. A client that refuses the
proxy's certificate is listed in the proxy's report (tls_failures), which flags the test record. Real proxy
process, real HTTP clients."""

import json
import secrets

import pytest
import requests

from device_agent.proxy import ProxyProcess
from mock_records.ca import ca_certificate


@pytest.fixture
def proxy(tmp_path):
    confdir = tmp_path / "ca"
    ca_certificate(confdir)
    process = ProxyProcess("capture", tmp_path, stats=tmp_path / "proxy.json", confdir=confdir)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def through(proxy):
    session = requests.Session()
    session.proxies = {"http": proxy.url, "https": proxy.url}
    session.trust_env = False
    return session


def test_a_probe_over_http_and_https_is_seen_with_its_scheme(proxy, tmp_path):
    nonce = secrets.token_hex(8)
    assert proxy.probe_seen(nonce) is None
    answer = through(proxy).get(f"http://trackreplay.control/probe/{nonce}", timeout=10)
    assert answer.status_code == 200 and "goes through the proxy" in answer.text
    assert proxy.probe_seen(nonce) == "http"
    secure = secrets.token_hex(8)
    ca = tmp_path / "ca" / "mitmproxy-ca-cert.pem"
    answer = through(proxy).get(f"https://trackreplay.control/probe/{secure}", timeout=10, verify=str(ca))
    assert answer.status_code == 200 and proxy.probe_seen(secure) == "https"


def test_bad_nonces_are_refused_not_remembered(proxy):
    answer = through(proxy).get("http://trackreplay.control/probe/short", timeout=10)
    assert answer.status_code == 404
    assert proxy.probe_seen("short-but-ok") is None


def test_a_client_that_does_not_trust_the_ca_is_reported(proxy, tmp_path):
    with pytest.raises(requests.exceptions.SSLError):
        through(proxy).get("https://api.shop.example/api/home", timeout=10)  # default trust store: refused
    assert [item["host"] for item in proxy.stats()["tls_failures"]] == ["api.shop.example"]
    proxy.stop()
    report = json.loads((tmp_path / "proxy.json").read_text())
    assert report["tls_failures"][0]["host"] == "api.shop.example" and report["tls_failures"][0]["error"]
