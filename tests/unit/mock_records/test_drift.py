"""API change detection by structure: added, removed and retyped keys; values and order are no change."""

from mock_records.drift import compare, suggest

RECORDED = {"code": 0, "data": {"items": [{"id": "P1", "price": 12.5, "tags": ["a"]}, {"id": "P2", "price": 3}],
                                "banner": {"url": "https://x"}, "coupon": None}}


def test_new_values_and_reordered_lists_are_no_change():
    live = {"code": 0, "data": {"items": [{"id": "P9", "price": 99, "tags": []}], "banner": {"url": "https://y"},
                                "coupon": "SAVE5"}}
    assert compare(RECORDED, live) == []


def test_added_removed_and_retyped_keys_are_found():
    live = {"code": "0", "data": {"items": [{"id": "P1", "price": 12.5, "tags": ["a"], "stock": 4}], "coupon": None}}
    changes = {(c.path, c.kind) for c in compare(RECORDED, live)}
    assert changes == {("code", "retyped"), ("data.items[].stock", "added"), ("data.banner", "removed")}
    retyped = next(c for c in compare(RECORDED, live) if c.kind == "retyped")
    assert retyped.recorded == ("number",) and retyped.live == ("string",)


def test_the_suggested_update_keeps_recorded_values_in_the_live_structure():
    live = {"code": 0, "data": {"items": [{"id": "P7", "price": 1.0, "tags": ["z"], "stock": 4}], "coupon": None}}
    suggested = suggest(RECORDED, live)
    assert suggested["data"]["items"][0] == {"id": "P1", "price": 12.5, "tags": ["a"], "stock": 4}
    assert "banner" not in suggested["data"]
    assert compare(suggested, live) == []
