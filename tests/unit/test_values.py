"""trackreplay.values: the first value no database can store is found and named by its path."""

import math

import pytest

from trackreplay.values import BadValue, check_value, first_bad_value, time_problem


@pytest.mark.parametrize("document,path,words", [
    ({"a": "x\x00y"}, "a", "NUL"),
    ({"a\x00b": 1}, '["a\\u0000b"]', "NUL"),
    ({"list": [1, "\ud800"]}, "list[1]", "lone surrogate (\\ud800)"),
    ({"\udfff": 1}, '["\\udfff"]', "lone surrogate"),
    ({"n": 2**63}, "n", "64-bit"),
    ({"n": -(2**63) - 1}, "n", "64-bit"),
    ({"f": math.nan}, "f", "finite"),
    ({"f": [math.inf]}, "f[0]", "finite"),
    ({"deep": [[[[1]]]]}, "deep[0][0]", "max_depth=3"),
    ({"odd key": {"x": b"bytes"}}, '["odd key"].x', "not a JSON value"),
])
def test_the_first_bad_value_is_named_by_its_path(document, path, words):
    bad = first_bad_value(document, max_depth=3)
    assert bad is not None and bad.path == path and words in bad.problem
    assert str(bad).encode("ascii")  # the message itself is printable and storable


def test_storable_values_pass_unchanged():
    document = {"s": "üñí©ødé 🎉", "n": [2**63 - 1, -(2**63), 0, 1.5, True, None], "nested": {"k": {}}}
    assert first_bad_value(document) is None
    assert check_value(document) is document


def test_the_root_path_prefixes_every_path_and_the_first_bad_value_in_document_order_wins():
    bad = first_bad_value({"a": [1, {"b": "\x00"}], "c": "\x00"}, "events[2]")
    assert bad.path == "events[2].a[1].b"
    with pytest.raises(BadValue, match=r"events\[2\]\.a\[1\]\.b: contains a NUL"):
        check_value({"a": [1, {"b": "\x00"}]}, "events[2]")


def test_deep_documents_do_not_exhaust_the_stack():
    document: list = []
    for _ in range(100_000):
        document = [document]
    assert "max_depth" in first_bad_value(document).problem


@pytest.mark.parametrize("value,ok", [(0, True), (1732147200000, True), (253_402_300_799_999, True),
                                      (253_402_300_800_000, False), (10**20, False), (-1, False),
                                      (1.5e12, False), (True, False), ("2026-13-45", False)])
def test_times_must_name_a_calendar_day(value, ok):
    assert (time_problem(value) is None) is ok
