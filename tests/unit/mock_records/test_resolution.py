"""Replay answers in order: a global mock, then an enabled exchange, then the unmatched policy."""

import pytest

from mock_records.matching import Matcher, Recorded, Request
from mock_records.resolution import CannedAnswer, Resolver


def req(path, method="GET", host="api.shop.example"):
    return Request(method, "https", host, 443, path)


def test_global_mocks_win_then_exchanges_then_the_policy():
    matcher = Matcher([Recorded("popup", req("/api/popup/home")), Recorded("feed", req("/api/feed"))])
    mocks = [CannedAnswer("off", "/api/feed", enabled=False),
             CannedAnswer("no-popups", "/api/popup/*", host="*.shop.example", body=b'{"popups": []}')]
    resolver = Resolver(mocks, matcher, "502")
    popup = resolver.resolve(req("/api/popup/home"))
    assert popup.kind == "global" and popup.global_mock.id == "no-popups"
    assert resolver.resolve(req("/api/feed")).kind == "exchange"
    miss = resolver.resolve(req("/api/cart"))
    assert miss.kind == "unmatched" and miss.policy == "502" and miss.miss.candidate is not None


def test_method_and_host_globs_narrow_a_global_mock():
    mock = CannedAnswer("m", "/api/*", host="api.*", method="POST")
    assert mock.matches(req("/api/x", "POST")) and not mock.matches(req("/api/x", "GET"))
    assert not mock.matches(req("/api/x", "POST", host="cdn.shop.example"))


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unmatched policy"):
        Resolver([], Matcher([]), "teapot")
