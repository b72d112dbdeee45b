"""Every path that takes a body or a file is bounded while it streams: a gzip bomb, an over-long body, too many
entries and too deep a nesting each answer 413 or 400 naming the limit's setting, and store nothing (rows and
files under MEDIA_ROOT). The recording endpoint is also bombed through a real server process whose peak memory
is measured."""

import io
import json
import os
import socket
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from automation.models import AgentToken, RunScreenshot, RunToken
from mock_records.har import ExchangeData, write_har
from mock_records.har_io import import_har
from mock_records.models import Exchange, MockRecord
from sdk_bridge.models import IngestBatch
from test_records.models import Event, TestRecord
from tracking_plan.models import EventDefinition
from trackreplay.stored_files import atomic_files

from .. import factories as f

ROOT = Path(__file__).resolve().parents[2]

# Small limits for the in-process tests (the real server process below runs on the defaults).
SMALL = {
    "TRACKREPLAY_INGEST_MAX_BODY_BYTES": 64 * 1024, "TRACKREPLAY_INGEST_MAX_DECOMPRESSED_BYTES": 256 * 1024,
    "TRACKREPLAY_INGEST_MAX_DEPTH": 32, "TRACKREPLAY_INGEST_MAX_EVENTS": 50,
    "TRACKREPLAY_UPLOAD_MAX_BYTES": 256 * 1024, "TRACKREPLAY_RECORDING_MAX_BYTES": 256 * 1024,
    "TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES": 1024 * 1024, "TRACKREPLAY_UPLOAD_MAX_DEPTH": 32,
    "TRACKREPLAY_UPLOAD_MAX_ENTRIES": 50, "TRACKREPLAY_API_MAX_BODY_BYTES": 64 * 1024,
    "DATA_UPLOAD_MAX_MEMORY_SIZE": 64 * 1024, "TRACKREPLAY_SCREENSHOT_MAX_BYTES": 64 * 1024,
}


def gzip_bomb(expanded: int, head: bytes = b"", tail: bytes = b"", filler: bytes = b" ") -> bytes:
    """A gzip stream that expands to about `expanded` bytes, compressed slice by slice: the huge text never
    exists in this process either."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    slab = filler * (1024 * 1024)
    parts = [packer.compress(head)]
    for _ in range(expanded // len(slab)):
        parts.append(packer.compress(slab))
    parts.append(packer.compress(tail))
    parts.append(packer.flush())
    return b"".join(parts)


NEST = "@@nested@@"  # stands for the nested JSON text, put in after dumping (json.dumps would recurse on it)


def nest(document: bytes, nested: str) -> bytes:
    return document.replace(json.dumps(NEST).encode(), nested.encode())


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def har(entries: list[dict] | None = None, **extra) -> bytes:
    return json.dumps({"log": {"version": "1.2", "entries": entries or [], **extra}}).encode()


def har_entry(path="/api/x", body=b"{}", **overrides):
    [entry] = write_har([ExchangeData("GET", "https", "api.shop.example", 443, path, "", [], b"", 200,
                                      [["Content-Type", "application/json"]], body)])["log"]["entries"]
    entry.update(overrides)
    return entry


def media_files() -> list[Path]:
    root = Path(django_settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def nothing_stored():
    return (not MockRecord.objects.exists() and not Exchange.objects.exists() and not Event.objects.exists()
            and not IngestBatch.objects.exists() and not EventDefinition.objects.exists()
            and not RunScreenshot.objects.exists() and not media_files()
            and not TestRecord.objects.exists())


# -- the paths -------------------------------------------------------------------------------------------

class Path_:
    """One upload path: how to post a body to it, what its documents look like, which settings bound it."""

    body_limit = "TRACKREPLAY_UPLOAD_MAX_BYTES"
    decompressed_limit = "TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES"
    depth_limit = "TRACKREPLAY_UPLOAD_MAX_DEPTH"
    entries_limit = "TRACKREPLAY_UPLOAD_MAX_ENTRIES"

    def __init__(self, ctx):
        self.ctx = ctx

    def document(self, entries: int = 1, nested: str = "[]", pad: int = 0) -> bytes:
        raise NotImplementedError

    def post(self, body: bytes, gzipped: bool = False):
        raise NotImplementedError


class IngestEvents(Path_):
    body_limit, decompressed_limit = "TRACKREPLAY_INGEST_MAX_BODY_BYTES", "TRACKREPLAY_INGEST_MAX_DECOMPRESSED_BYTES"
    depth_limit, entries_limit = "TRACKREPLAY_INGEST_MAX_DEPTH", "TRACKREPLAY_INGEST_MAX_EVENTS"
    url = "/api/v1/ingest/events"

    def document(self, entries=1, nested="[]", pad=0):
        events = [{"event": "e", "properties": {"n": NEST, "pad": " " * pad}}] * entries
        return nest(json.dumps({"batch_id": "b1", "events": events}).encode(), nested)

    def post(self, body, gzipped=False):
        headers = {"HTTP_CONTENT_ENCODING": "gzip"} if gzipped else {}
        return self.ctx.run_client.generic("POST", self.url, body, content_type="application/json", **headers)


class AgentEvents(IngestEvents):
    def post(self, body, gzipped=False):
        headers = {"HTTP_CONTENT_ENCODING": "gzip"} if gzipped else {}
        return self.ctx.agent_client.generic("POST", f"/api/v1/agent/runs/{self.ctx.run.pk}/events", body,
                                             content_type="application/json", **headers)


class ProxyReport(IngestEvents):
    url = "/api/v1/ingest/proxy-report"
    entries_limit = None  # its lists are cut to 200 items when stored

    def document(self, entries=1, nested="[]", pad=0):
        return nest(json.dumps({"mode": "record", "misses": [NEST], "scope": " " * pad}).encode(), nested)


class AgentProxyReport(ProxyReport):
    def post(self, body, gzipped=False):
        return self.ctx.agent_client.generic("POST", f"/api/v1/agent/runs/{self.ctx.run.pk}/proxy-report", body,
                                             content_type="application/json",
                                             **({"HTTP_CONTENT_ENCODING": "gzip"} if gzipped else {}))


class AgentSteps(ProxyReport):
    """The agent's JSON bodies (heartbeat, steps, logs, finish share one reader)."""

    def document(self, entries=1, nested="[]", pad=0):
        line = {"at": 1, "level": "log", "text": " " * pad}
        if nested != "[]":  # refused for its depth before its fields are looked at
            line["extra"] = NEST
        return nest(json.dumps({"start": 0, "lines": [line]}).encode(), nested)

    def post(self, body, gzipped=False):
        return self.ctx.agent_client.generic("POST", f"/api/v1/agent/runs/{self.ctx.run.pk}/logs", body,
                                             content_type="application/json",
                                             **({"HTTP_CONTENT_ENCODING": "gzip"} if gzipped else {}))


class Recording(Path_):
    body_limit = "TRACKREPLAY_RECORDING_MAX_BYTES"
    url = "/api/v1/ingest/recording"

    def document(self, entries=1, nested="[]", pad=0):
        return nest(har([har_entry(body=b" " * pad)] * entries, _nested=NEST), nested)

    def post(self, body, gzipped=False):
        return self.ctx.run_client.generic("POST", self.url, body, content_type="application/json")


class AgentRecording(Recording):
    """The agent uploads its proxy's mock.har here."""

    def post(self, body, gzipped=False):
        return self.ctx.agent_client.generic("POST", f"/api/v1/agent/runs/{self.ctx.run.pk}/recording", body,
                                             content_type="application/json")


class HarImport(Recording):
    body_limit = "TRACKREPLAY_UPLOAD_MAX_BYTES"

    def post(self, body, gzipped=False):
        upload = io.BytesIO(body)
        upload.name = "upload.har.gz" if gzipped else "upload.har"
        return self.ctx.user_client.post("/api/v1/mock-records/import/",
                                         {"project": self.ctx.project.pk, "file": upload}, format="multipart")


class PlanImport(Path_):
    body_limit = decompressed_limit = "TRACKREPLAY_API_MAX_BODY_BYTES"

    def document(self, entries=1, nested="[]", pad=0):
        events = [{"name": f"event_{i}", "description": " " * pad,
                   "schema": {"type": "object", "properties": {"n": {"type": "array", "x": NEST}}}}
                  for i in range(entries)]
        return nest(json.dumps({"project": self.ctx.project.pk, "plan": {"events": events}}).encode(), nested)

    def post(self, body, gzipped=False):
        return self.ctx.user_client.generic("POST", "/api/v1/event-definitions/import/", body,
                                            content_type="application/json",
                                            **({"HTTP_CONTENT_ENCODING": "gzip"} if gzipped else {}))


PATHS = [IngestEvents, AgentEvents, ProxyReport, AgentProxyReport, AgentSteps, Recording, AgentRecording, HarImport,
         PlanImport]


class Context:
    def __init__(self, project, user):
        self.project = project
        agent = f.AgentFactory(project=project)
        device = f.DeviceFactory(project=project, agent=agent, platform="web")
        self.run = f.RunFactory(project=project, mode="record", device=device, status="running")
        self.run_client = APIClient()
        self.run_client.credentials(HTTP_AUTHORIZATION=f"Bearer {RunToken.issue(run=self.run, name='app').token}")
        self.agent_client = APIClient()
        self.agent_client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {AgentToken.issue(agent=agent, name='lab').token}")
        self.user_client = APIClient()
        self.user_client.force_authenticate(user)


@pytest.fixture
def ctx(db, project_a, member_a, settings):
    for name, value in SMALL.items():
        setattr(settings, name, value)
    return Context(project_a, member_a)


def refused(response, status, setting, value=None):
    assert response.status_code == status, response.content[:500]
    answer = response.json()
    assert answer["limit"] == setting, answer
    assert setting in answer["error"], answer
    assert answer["max"] == (value if value is not None else getattr(django_settings, setting)), answer
    return answer


@pytest.fixture(params=PATHS, ids=lambda p: p.__name__)
def path(request, ctx):
    return request.param(ctx)


def test_each_path_accepts_a_good_upload_so_the_refusals_below_mean_something(path):
    response = path.post(path.document(entries=2))
    assert response.status_code in (200, 201), response.content[:500]


def test_a_gzip_bomb_is_refused_while_it_decompresses(path):
    # As large as fits under the path's body limit (about 1000:1 for gzip), and always far past the
    # decompressed limit: sized from the limits, never skipped.
    body_limit = getattr(django_settings, path.body_limit)
    decompressed_limit = getattr(django_settings, path.decompressed_limit)
    good = path.document()
    expanded = (body_limit - len(good) - 1024) * 500
    bomb = gzip_bomb(expanded, head=good[:-1], tail=b"}")
    assert len(bomb) <= body_limit and expanded > 4 * decompressed_limit, (len(bomb), expanded)
    refused(path.post(bomb, gzipped=True), 413, path.decompressed_limit)
    assert nothing_stored()


def test_an_over_long_body_is_refused(path):
    limit = getattr(django_settings, path.body_limit)
    refused(path.post(path.document(pad=limit)), 413, path.body_limit)
    assert nothing_stored()


def test_too_many_entries_are_refused(path):
    if path.entries_limit is None:
        pytest.skip("no entry count on this path")
    limit = getattr(django_settings, path.entries_limit)
    answer = refused(path.post(path.document(entries=limit + 1)), 400, path.entries_limit)
    assert str(limit + 1) in answer["error"]
    assert nothing_stored()


def test_too_deep_a_nesting_is_refused(path):
    limit = getattr(django_settings, path.depth_limit)
    refused(path.post(path.document(nested=deep(limit + 5))), 400, path.depth_limit)
    refused(path.post(path.document(nested=deep(30_000))), 400, path.depth_limit)  # past Python's recursion
    assert nothing_stored()


def test_the_screenshot_upload_is_bounded(ctx):
    limit = django_settings.TRACKREPLAY_SCREENSHOT_MAX_BYTES
    response = ctx.agent_client.put(f"/api/v1/agent/runs/{ctx.run.pk}/screenshots/1",
                                    b"\x89PNG\r\n\x1a\n" + b"\0" * limit, content_type="image/png")
    refused(response, 413, "TRACKREPLAY_SCREENSHOT_MAX_BYTES")
    assert nothing_stored()


def test_a_replaced_screenshot_loses_its_old_file_only_once_the_new_one_is_committed(
        ctx, django_capture_on_commit_callbacks):
    url = f"/api/v1/agent/runs/{ctx.run.pk}/screenshots/1"
    png = b"\x89PNG\r\n\x1a\n"
    with django_capture_on_commit_callbacks(execute=True):
        assert ctx.agent_client.put(url, png + b"1", content_type="image/png").status_code == 200
    [first] = media_files()
    with django_capture_on_commit_callbacks(execute=False) as pending:
        assert ctx.agent_client.put(url, png + b"2", content_type="image/png").status_code == 200
    assert first.exists() and len(media_files()) == 2  # not committed yet: the old file is still there
    for callback in pending:
        callback()
    assert not first.exists() and RunScreenshot.objects.get().image.read() == png + b"2"
    assert len(media_files()) == 1


def test_any_json_api_body_is_bounded_and_deep_nesting_is_a_400_not_a_500(ctx):
    url = "/api/v1/global-mocks/"
    body = {"project": ctx.project.pk, "name": "n", "path": "/x", "response_body": " " * (70 * 1024)}
    refused(ctx.user_client.post(url, body, format="json"), 413, "TRACKREPLAY_API_MAX_BODY_BYTES")
    deep_body = b'{"project": 1, "name": ' + deep(30_000).encode() + b"}"
    refused(ctx.user_client.generic("POST", url, deep_body, content_type="application/json"), 400,
            "TRACKREPLAY_UPLOAD_MAX_DEPTH")
    bad = ctx.user_client.generic("POST", url, b'{"project": ', content_type="application/json")
    assert bad.status_code == 400 and "JSON parse error" in bad.json()["detail"]


@pytest.mark.parametrize("via", [Recording, AgentRecording, HarImport], ids=lambda p: p.__name__)
def test_an_empty_recording_or_har_is_refused_not_stored_as_an_empty_mock_record(ctx, via):
    response = via(ctx).post(b"")
    assert response.status_code == 400 and "empty" in json.dumps(response.json())
    assert nothing_stored()


def test_unknown_content_encodings_and_unknown_batch_fields_are_refused_by_name(ctx):
    response = ctx.run_client.generic("POST", "/api/v1/ingest/events", b"{}", content_type="application/json",
                                      HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 400 and "'br'" in response.json()["error"]
    response = ctx.run_client.generic("POST", "/api/v1/ingest/events",
                                      json.dumps({"batch_id": "b", "events": [], "evnts": []}).encode(),
                                      content_type="application/json")
    assert response.status_code == 400 and "evnts" in response.json()["error"]


def test_a_multipart_upload_over_the_limit_is_refused_before_it_is_spooled(ctx, member_a):
    """Console forms and the API's file fields alike: Django's parser meets the bounded upload handler."""
    limit = django_settings.TRACKREPLAY_UPLOAD_MAX_BYTES
    big = io.BytesIO(b"x" * (limit + 1))
    big.name = "big.har"
    response = ctx.user_client.post("/api/v1/mock-records/import/", {"project": ctx.project.pk, "file": big},
                                    format="multipart")
    refused(response, 413, "TRACKREPLAY_UPLOAD_MAX_BYTES")
    client = Client(enforce_csrf_checks=True)  # the CSRF check reads the form, as it does for every console post
    client.force_login(member_a)
    client.get("/login/")  # the CSRF cookie
    big.seek(0)
    console = client.post(f"/p/{ctx.project.slug}/", {"file": big})
    refused(console, 413, "TRACKREPLAY_UPLOAD_MAX_BYTES")
    assert nothing_stored()


def test_a_flow_file_import_is_bounded_in_size_and_flows_too(ctx):
    from ..integration.test_har_api import flow_file

    limit = django_settings.TRACKREPLAY_UPLOAD_MAX_ENTRIES
    path = HarImport(ctx)
    assert path.post(flow_file(2)).status_code == 201
    MockRecord.objects.all().delete()
    answer = refused(path.post(flow_file(limit + 1)), 400, "TRACKREPLAY_UPLOAD_MAX_ENTRIES")
    assert "flows in upload.har" in answer["error"]
    bomb = gzip_bomb(64 * 1024 * 1024, head=flow_file(1))
    refused(path.post(bomb, gzipped=True), 413, "TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES")
    assert nothing_stored()


# -- console forms ----------------------------------------------------------------------------------------

def console_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_console_json_fields_refuse_deep_nesting_with_a_form_error_not_a_500(ctx, member_a):
    client = console_client(member_a)
    mock = f.GlobalMockFactory(project=ctx.project)
    form = {"name": "n", "order": 0, "method": "GET", "host": "*", "path": "/x", "status_code": 200,
            "response_body": ""}
    for nested in (deep(40), deep(30_000)):  # over TRACKREPLAY_UPLOAD_MAX_DEPTH=32; past Python's recursion
        answer = client.post(f"/p/{ctx.project.slug}/global-mocks/{mock.pk}/edit/",
                             {**form, "response_headers": nested})
        assert answer.status_code == 200 and "TRACKREPLAY_UPLOAD_MAX_DEPTH=32" in answer.content.decode()
    mock.refresh_from_db()
    assert mock.path != "/x"  # not saved


def test_a_rule_edit_with_deeply_nested_parameters_is_refused_by_name(ctx, member_a):
    client = console_client(member_a)
    scenario = f.ScenarioFactory(project=ctx.project)
    rule = f.RuleFactory(version=scenario.current_version) if scenario.current_version else None
    if rule is None:
        pytest.skip("no scenario version to edit")
    before = scenario.current_version_id
    answer = client.post(f"/p/{ctx.project.slug}/scenarios/{scenario.pk}/rules/{rule.pk}/",
                         {"params": '{"value": ' + deep(30_000) + "}", "strength": "weak", "enabled": "on"},
                         follow=True)
    assert answer.status_code == 200 and "TRACKREPLAY_UPLOAD_MAX_DEPTH=32" in answer.content.decode()
    scenario.refresh_from_db()
    assert scenario.current_version_id == before


def test_an_exchange_whose_recorded_body_nests_past_pythons_recursion_still_shows(ctx, member_a):
    body = ('{"a": ' + deep(30_000) + "}").encode()
    exchange = f.ExchangeFactory(mock_record=f.MockRecordFactory(project=ctx.project))
    exchange.response_body = body
    exchange.save()
    answer = console_client(member_a).get(f"/p/{ctx.project.slug}/exchanges/{exchange.pk}/")
    assert answer.status_code == 200


# -- nothing half-written, files included ----------------------------------------------------------------

def big_body(n: int) -> bytes:
    return (f"body {n} " * 50_000).encode()  # over TRACKREPLAY_INLINE_BODY_MAX: stored as a file


@pytest.mark.parametrize("third", [
    {"request": {"method": "GET", "url": "not a url", "headers": []}},
    {"time": 1e30},  # once an overflow in the database, half-way through the import
    {"request": {"method": "GET", "url": "https://api.shop.example/" + "p" * 3000, "headers": []}},
], ids=["bad url", "time out of range", "path too long"])
@pytest.mark.parametrize("via", [HarImport, Recording, AgentRecording], ids=lambda p: p.__name__)
def test_a_har_whose_third_entry_is_invalid_stores_nothing_not_even_the_first_two_bodies(ctx, settings, via, third):
    settings.TRACKREPLAY_UPLOAD_MAX_BYTES = settings.TRACKREPLAY_RECORDING_MAX_BYTES = 8 * 1024 * 1024
    settings.TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES = 8 * 1024 * 1024
    bad = har_entry()
    for key, value in third.items():
        bad[key] = {**bad[key], **value} if isinstance(value, dict) else value
    body = har([har_entry(body=big_body(1)), har_entry(body=big_body(2)), bad])
    response = via(ctx).post(body)
    assert response.status_code == 400 and "entry 2" in json.dumps(response.json()), response.content[:300]
    assert nothing_stored()


def test_body_files_written_by_a_rolled_back_import_are_deleted(project_a):
    data = har([har_entry(body=big_body(1)), har_entry(body=big_body(2))])
    with pytest.raises(RuntimeError), atomic_files():
        import_har(project_a, data, name="half")
        assert len(media_files()) == 2  # written, then the transaction fails after the import
        raise RuntimeError("a later step of the same transaction failed")
    assert not media_files() and not MockRecord.objects.exists()


def test_a_rolled_back_import_keeps_a_body_file_that_a_stored_record_shares(project_a):
    import_har(project_a, har([har_entry(body=big_body(1))]), name="kept")
    [kept] = media_files()
    with pytest.raises(RuntimeError), atomic_files():
        import_har(project_a, har([har_entry(body=big_body(1)), har_entry(body=big_body(2))]), name="half")
        raise RuntimeError("fails")
    assert media_files() == [kept] and MockRecord.objects.get().name == "kept"
    assert Exchange.objects.get().response_body == big_body(1)


# -- the command line ------------------------------------------------------------------------------------

def test_the_decode_command_refuses_files_over_the_limits_naming_them(tmp_path):
    trackreplay = str(Path(sys.executable).parent / "trackreplay")
    many = tmp_path / "many.har"
    many.write_bytes(har([har_entry()] * 3))
    env = {**os.environ, "TRACKREPLAY_UPLOAD_MAX_ENTRIES": "2"}
    result = subprocess.run([trackreplay, "decode", str(many)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and "TRACKREPLAY_UPLOAD_MAX_ENTRIES=2" in result.stderr
    bomb = tmp_path / "bomb.har"
    bomb.write_bytes(gzip_bomb(64 * 1024 * 1024, head=b'{"log": {"entries": []', tail=b"}}"))
    env = {**os.environ, "TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES": str(1024 * 1024)}
    result = subprocess.run([trackreplay, "decode", str(bomb)], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and "TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES" in result.stderr
    deep_file = tmp_path / "deep.har"
    deep_file.write_text('{"log": {"entries": [], "x": ' + deep(5000) + "}}")
    result = subprocess.run([trackreplay, "decode", str(deep_file)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "TRACKREPLAY_UPLOAD_MAX_DEPTH" in result.stderr


# -- a real server process, bombed ------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.django_db(transaction=True)
def test_a_gzip_bomb_on_the_recording_endpoint_leaves_the_server_process_small(project_a, tmp_path):
    run = f.RunFactory(project=project_a, mode="record")
    token = RunToken.issue(run=run, name="app").token
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": _database_url(), "MEDIA_ROOT": str(tmp_path / "media"), "DEBUG": "0",
           "SECRET_KEY": "x" * 40, "ALLOWED_HOSTS": "127.0.0.1"}
    for name in [n for n in env if n.startswith("TRACKREPLAY_") and "MAX" in n]:
        del env[name]  # the defaults
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                requests.get(f"{url}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        before = _peak_rss_mb(server.pid)
        bomb = gzip_bomb(1536 * 1024 * 1024, head=b'{"log": {"entries": [], "x": "', tail=b'"}}')
        assert len(bomb) < 2 * 1024 * 1024  # 1.5 GiB from about 1.5 MB
        response = requests.post(f"{url}/api/v1/ingest/recording", data=io.BytesIO(bomb),  # streamed from a file
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                                 timeout=120)
        assert response.status_code == 413, response.text[:300]
        assert response.json()["limit"] == "TRACKREPLAY_UPLOAD_MAX_DECOMPRESSED_BYTES"
        growth = _peak_rss_mb(server.pid) - before
        print(f"peak memory {before:.0f} MB before the bomb, grew by {growth:.0f} MB")
        assert growth < 200, f"the server's peak memory grew by {growth:.0f} MB"
        # A chunked body has no Content-Length: Django's WSGI request would read it as empty, so it is refused.
        chunked = requests.post(f"{url}/api/v1/ingest/recording", data=iter([bomb[:65536]] * 4),
                                headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert chunked.status_code == 411 and "Content-Length" in chunked.json()["error"], chunked.text[:300]
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert not MockRecord.objects.exists() and not list((tmp_path / "media").rglob("*.*"))
