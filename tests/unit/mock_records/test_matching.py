"""Request matching for replay: parameters as data, volatile fields ignored, repeats in recorded order, misses
explained."""

import json

import pytest

from mock_records.matching import IgnoreRules, Matcher, Recorded, Request


def req(path="/api/feed", query="", body=b"", method="GET", headers=None, host="api.shop.test"):
    return Request(method, "https", host, 443, path, query, headers or [], body)


def test_query_parameters_match_in_any_order_and_ignored_ones_do_not_count():
    matcher = Matcher([Recorded(1, req(query="tab=2&page=1&ts=100&sign=ab"))], IgnoreRules.from_dict({"query": ["ts", "sign"]}))
    assert matcher.match(req(query="page=1&sign=zz&tab=2&ts=999")).id == 1
    assert matcher.match(req(query="page=2&tab=2")) is None


def test_json_bodies_compare_canonically_with_ignored_paths():
    recorded = json.dumps({"cart": [{"sku": "a", "nonce": 1}], "user": "u1", "ts": 5}).encode()
    sent = b'{ "ts": 9, "user": "u1", "cart": [ {"nonce": 7, "sku": "a"} ] }'
    matcher = Matcher([Recorded(1, req(method="POST", body=recorded, headers=[("Content-Type", "application/json")]))],
                      IgnoreRules.from_dict({"json": ["ts", "$.cart[].nonce"]}))
    assert matcher.match(req(method="POST", body=sent, headers=[("Content-Type", "application/json")])).id == 1
    other = json.dumps({"cart": [{"sku": "b"}], "user": "u1"}).encode()
    assert matcher.match(req(method="POST", body=other)) is None


def test_form_bodies_compare_by_field():
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    matcher = Matcher([Recorded(1, req(method="POST", body=b"a=1&b=2&t=5", headers=form))],
                      IgnoreRules.from_dict({"form": ["t"]}))
    assert matcher.match(req(method="POST", body=b"b=2&t=9&a=1", headers=form)).id == 1


def test_repeated_requests_get_recorded_answers_in_order_then_the_last_again():
    exchanges = [Recorded(n, req(query="poll=1")) for n in (1, 2, 3)]
    matcher = Matcher(exchanges)
    assert [matcher.match(req(query="poll=1")).id for _ in range(5)] == [1, 2, 3, 3, 3]
    cycling = Matcher(exchanges, repeat="cycle")
    assert [cycling.match(req(query="poll=1")).id for _ in range(5)] == [1, 2, 3, 1, 2]
    once = Matcher(exchanges, repeat="once")
    assert [getattr(once.match(req(query="poll=1")), "id", None) for _ in range(4)] == [1, 2, 3, None]


def test_disabled_exchanges_are_never_served():
    matcher = Matcher([Recorded(1, req(), enabled=False), Recorded(2, req())])
    assert [matcher.match(req()).id for _ in range(2)] == [2, 2]


def test_headers_take_part_only_when_asked():
    recorded = Recorded(1, req(headers=[("X-Ab", "B"), ("Date", "x")]))
    assert Matcher([recorded]).match(req(headers=[("X-Ab", "A")])).id == 1
    strict = Matcher([recorded], IgnoreRules.from_dict({"match_headers": ["X-Ab"]}))
    assert strict.match(req(headers=[("x-ab", "A")])) is None
    assert strict.match(req(headers=[("x-ab", "B")])).id == 1


def test_a_miss_names_the_closest_candidate_and_what_differs():
    matcher = Matcher([Recorded("home", req("/api/home")), Recorded("feed", req(query="tab=2&page=1"))])
    miss = matcher.explain(req(query="tab=3&page=1"))
    assert miss.candidate == "feed" and miss.reasons == ["query parameter tab differs: recorded '2', got '3'"]
    miss = matcher.explain(req(method="POST", query="tab=2&page=1&extra=1"))
    assert miss.candidate == "feed"
    assert "method differs: recorded 'GET', got 'POST'" in miss.reasons
    assert "query parameter extra='1' was not recorded" in miss.reasons
    assert matcher.explain(req(host="cdn.test")).reasons == ["nothing was recorded for host cdn.test"]


def test_a_bad_ignore_path_is_refused_by_name():
    with pytest.raises(ValueError, match="ignore.json"):
        IgnoreRules.from_dict({"json": ["a..b"]})
