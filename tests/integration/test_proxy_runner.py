"""`trackreplay proxy --mock-record ID`: the stored record, the project's global mocks, the merged ignore lists
and the project's TLS choice become the proxy process's inputs, so the proxy needs no database."""

import json
from argparse import Namespace

from mock_records.har import read_har
from mock_records.proxy.runner import _from_database, command
from tests import factories as f


def args(record_id, **extra):
    values = dict(mode="replay", mock_record=record_id, har=None, out=None, events=None, stats=None, ignore=None,
                  global_mocks=None, unmatched=None, repeat="last", host="127.0.0.1", port=9999, insecure=False,
                  forward_tracking=False, upstream_ca=None, confdir=None, platform=None, run_token=None, scope=None)
    values.update(extra)
    return Namespace(**values)


def test_a_stored_record_becomes_the_proxy_inputs(project_a, tmp_path):
    project_a.mock_ignore = {"query": ["ts"], "headers": ["x-request-id"]}
    project_a.verify_upstream_tls = False
    project_a.save()
    record = f.MockRecordFactory(project=project_a, ignore={"query": ["sign", "ts"], "json": ["nonce"]},
                                 unmatched_policy="502")
    f.ExchangeFactory(mock_record=record, path="/api/home", response_body_inline=b"\x00\x01binary")
    f.GlobalMockFactory(project=project_a, name="No popups", path="/api/popup/*")
    f.GlobalMockFactory(project=project_a, name="Off", enabled=False)
    parsed = args(record.pk)
    _from_database(parsed, tmp_path)
    [exchange] = read_har(open(parsed.har, "rb").read())
    assert exchange.path == "/api/home" and exchange.response_body == b"\x00\x01binary"
    assert [m["path"] for m in json.load(open(parsed.global_mocks))] == ["/api/popup/*"]
    assert json.loads(parsed.ignore) == {"query": ["ts", "sign"], "headers": ["x-request-id"], "json": ["nonce"]}
    assert parsed.unmatched == "502" and parsed.insecure is True
    argv = command(parsed, tmp_path)
    assert "ssl_insecure=true" in argv and "connection_strategy=lazy" in argv
    assert f"trackreplay_har={parsed.har}" in argv
