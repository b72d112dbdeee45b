"""The mock scope: on the web only API calls are recorded and replayed, the app's own code always comes live;
a task can name hosts and paths instead; phones mock everything."""

import pytest

from mock_records.scope import MockScope, ScopeError, is_api_call

FETCH = [("Sec-Fetch-Dest", "empty"), ("Accept", "*/*")]
DOCUMENT = [("Sec-Fetch-Dest", "document"), ("Accept", "text/html,application/xhtml+xml")]
SCRIPT = [("Sec-Fetch-Dest", "script"), ("Accept", "*/*")]


def test_the_web_default_takes_fetch_and_xhr_only():
    scope = MockScope.parse(None, default="api")
    assert scope.covers("127.0.0.1", "/api/home", FETCH)
    assert not scope.covers("127.0.0.1", "/", DOCUMENT)
    assert not scope.covers("127.0.0.1", "/app.js", SCRIPT)
    assert not scope.covers("cdn.shop.example", "/api/looks-like-api", [("Sec-Fetch-Dest", "image")])


def test_without_fetch_metadata_requests_are_judged_by_accept_and_extension():
    # Browsers send Sec-Fetch-* only to secure origins; a plain-http host gets none.
    assert is_api_call("/api/home", [("Accept", "application/json")])
    assert not is_api_call("/", [("Accept", "text/html,*/*")])
    assert not is_api_call("/static/app.js?v=3", [("Accept", "*/*")])
    assert not is_api_call("/logo.png", [])
    assert is_api_call("/v1/feed", [])


def test_named_hosts_and_paths_replace_the_default():
    scope = MockScope.parse(["*.shop.example", "/api/*"])
    assert scope.covers("api.shop.example", "/anything.js", SCRIPT)
    assert scope.covers("127.0.0.1", "/api/home", DOCUMENT)
    assert not scope.covers("127.0.0.1", "/feed", FETCH)
    assert str(scope) == "*.shop.example,/api/*"
    assert MockScope.parse("api.shop.example, /api/*") == MockScope("patterns", ("api.shop.example",), ("/api/*",))


def test_all_mocks_everything_and_bad_scopes_are_refused():
    assert MockScope.parse([]).covers("x", "/app.js", SCRIPT)
    with pytest.raises(ScopeError, match="stand alone"):
        MockScope.parse(["api", "/api/*"])
    with pytest.raises(ScopeError, match="neither a host pattern"):
        MockScope.parse(["http://shop/api"])
