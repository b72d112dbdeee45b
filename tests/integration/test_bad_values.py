"""Values no database column can store (NUL, lone surrogates, integers past 64 bits, times outside the
calendar, NaN, over-long text) get a 400 naming the event and the field, never a 500, and a batch or an
import with one bad value stores nothing. Run on PostgreSQL too (DATABASE_URL): it refuses NUL in text
and jsonb, and its integer columns are 32 or 64 bits."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from automation.models import AgentToken, RunToken
from mock_records.har import ExchangeData, write_har
from mock_records.models import Exchange, MockRecord
from sdk_bridge.models import IngestBatch
from test_records.models import Event, TestRecord
from tracking_plan.models import EventDefinition

from .. import factories as f

GOOD = {"event": "app_start", "properties": {"i": 1}, "time": 1732147200000, "step": 1}


def raw_post(client, url, text: str, **headers):
    """POST JSON text as written (escapes such as \\u0000 and \\ud800 reach the server as sent)."""
    return client.generic("POST", url, text.encode(), content_type="application/json", **headers)


@pytest.fixture
def run(project_a):
    return f.RunFactory(project=project_a, mode="replay", status="running")


@pytest.fixture
def bridge(run):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RunToken.issue(run=run, name='bridge').token}")
    return client


def _bad_event_bodies():
    """(second event as JSON text, the path the error names). The first event of each batch is good."""
    return [
        ('{"event": "buy", "properties": {"sku": "a\\u0000b"}}', "events[1].properties.sku", "NUL"),
        ('{"event": "buy", "properties": {"a\\u0000": 1}}', 'events[1].properties["a\\u0000"]', "NUL"),
        ('{"event": "buy", "properties": {"n": 18446744073709551615}}', "events[1].properties.n", "64-bit"),
        ('{"event": "buy", "properties": {"n": 9223372036854775808}}', "events[1].properties.n", "64-bit"),
        ('{"event": "buy", "raw": [1, {"x": -9223372036854775808, "y": 9223372036854775809}]}', "events[1].raw[1].y",
         "64-bit"),
        ('{"event": "buy", "time": 100000000000000000000}', "events[1].time", "integer"),
        ('{"event": "buy", "time": -1}', "events[1].time", "calendar"),
        ('{"event": "buy", "time": 253402300800000}', "events[1].time", "calendar"),
        ('{"event": "buy", "time": "2026-13-45"}', "events[1].time", "integer"),
        ('{"event": "buy", "step": 4294967296}', "events[1].step", "outside"),
        ('{"event": "buy", "distinct_id": "' + "d" * 201 + '"}', "events[1].distinct_id", "200"),
        ('{"event": "' + "e" * 201 + '"}', "events[1].event", "200"),
        ('{"event": "bu\\u0000y"}', "events[1].event", "NUL"),
        ('{"event": "buy", "sdk": "s\\u0000"}', "events[1].sdk", "NUL"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("second,path,words", _bad_event_bodies())
def test_a_bad_event_is_named_and_its_batch_stores_nothing(bridge, second, path, words):
    text = '{"batch_id": "b1", "events": [' + json.dumps(GOOD) + ", " + second + "]}"
    response = raw_post(bridge, "/api/v1/ingest/events", text)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error.startswith(path + ":") and words in error, error
    if '"event": "buy"' in second:
        assert '(event "buy")' in error  # the event's name, besides its index
    assert not Event.objects.exists() and not IngestBatch.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("text", [
    '{"batch_id": "b", "events": [{"event": "a", "properties": {"x": NaN}}]}',
    '{"batch_id": "b", "events": [{"event": "a", "properties": {"x": Infinity}}]}',
    '{"batch_id": "b", "events": [{"event": "a", "properties": {"x": 1e400}}]}',
    '{"batch_id": "b", "events": [{"event": "a", "properties": {"x": "\\ud800"}}]}',
    '{"batch_id": "b\\u0000", "events": []}',
])
def test_non_json_numbers_lone_surrogates_and_bad_batch_ids_are_refused(bridge, text):
    response = raw_post(bridge, "/api/v1/ingest/events", text)
    assert response.status_code == 400, response.content
    assert not Event.objects.exists() and not IngestBatch.objects.exists()


@pytest.mark.django_db
def test_the_agents_event_upload_and_proxy_report_refuse_bad_values_by_name(project_a, run):
    agent = f.AgentFactory(project=project_a)
    run.device = f.DeviceFactory(project=project_a, agent=agent)
    run.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AgentToken.issue(agent=agent, name='t').token}")
    text = '{"batch_id": "b1", "events": [' + json.dumps(GOOD) + ', {"event": "buy", "properties": {"p": "\\u0000"}}]}'
    response = raw_post(client, f"/api/v1/agent/runs/{run.pk}/events", text)
    assert response.status_code == 400
    assert response.json()["error"].startswith("events[1].properties.p: contains a NUL")
    report = raw_post(client, f"/api/v1/agent/runs/{run.pk}/proxy-report",
                      '{"mode": "replay", "misses": ["GET /a\\u0000"]}')
    assert report.status_code == 400 and report.json()["error"].startswith("misses[0]: contains a NUL")
    assert not Event.objects.exists() and not TestRecord.objects.filter(proxy_report__mode="replay").exists()


# -- the general API: every serializer, through the JSON parser and the model's columns -------------------------

DEEP = "[" * 70 + "1" + "]" * 70


@pytest.mark.django_db
@pytest.mark.parametrize("fragment,field,words", [
    ('"properties": {"k": "\\u0000"}', "properties", "properties.k contains a NUL"),
    ('"properties": {"k": "\\ud800"}', "properties", "properties.k contains a lone surrogate"),
    ('"properties": {"k": 99999999999999999999999}', "properties", "properties.k is an integer outside"),
    ('"properties": {"k": 1e400}', "properties", "properties.k is not a finite number"),
    ('"name": "b\\udfffy"', "name", "lone surrogate"),
    ('"raw": ' + DEEP, "raw", "max_depth"),
    ('"client_time": 9223372036854775808', "client_time", ""),
    ('"client_time": -5', "client_time", "outside the calendar"),
    ('"client_time": 100000000000000000', "client_time", "outside the calendar"),
    ('"step": 2147483648', "step", "2147483647"),
    ('"sdk": "' + "s" * 31 + '"', "sdk", "30"),
])
def test_the_api_refuses_unstorable_values_naming_the_field_and_path(client_a, project_a, fragment, field, words):
    record = f.TestRecordFactory(project=project_a)
    text = '{"test_record": %d, "seq": 0, "name": "buy", %s}' % (record.pk, fragment)
    response = raw_post(client_a, "/api/v1/events/", text)
    assert response.status_code == 400, response.content
    body = response.json()
    message = body["detail"] if "detail" in body else body[field][0]
    assert field in message or field in body, body
    assert words in message, body
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_an_update_that_upper_cases_past_max_length_is_refused_by_field(client_a, project_a):
    exchange = f.ExchangeFactory(mock_record=f.MockRecordFactory(project=project_a))
    # "ﬃ".upper() is "FFI": four characters become twelve, past the column's ten.
    response = client_a.patch(f"/api/v1/exchanges/{exchange.pk}/", {"method": "ﬃ" * 4}, format="json")
    assert response.status_code == 400 and "at most 10" in response.json()["method"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("url,body", [
    ("/api/v1/global-mocks/", '{"name": "n", "path": "/x", "response_headers": [["a\\u0000", "b"]]}'),
    ("/api/v1/mock-records/", '{"name": "n", "ignore": {"json": [18446744073709551616]}}'),
    ("/api/v1/scenarios/", '{"name": "n\\u0000"}'),
    ("/api/v1/event-definitions/", '{"name": "e", "tags": ["\\ud800"]}'),
])
def test_every_serializer_refuses_unstorable_values(client_a, project_a, url, body):
    text = '{"project": %d, %s' % (project_a.pk, body[1:])
    response = raw_post(client_a, url, text)
    assert response.status_code == 400, response.content


# -- HAR import, through the API, the agent's recording upload and the run-token upload --------------------------

def har(*entries_changes, big_body=False) -> bytes:
    exchanges = [ExchangeData("GET", "https", "api.example.test", 443, f"/p/{i}", "", [["accept", "*/*"]], b"",
                              200, [], (b"x" * 5000 if big_body else b"{}")) for i in range(len(entries_changes))]
    document = write_har(exchanges)
    for entry, change in zip(document["log"]["entries"], entries_changes):
        change(entry)
    return json.dumps(document).encode()


def _set(path, value):
    def change(entry):
        holder = entry
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = value
    return change


def _keep(entry):
    return None


BAD_ENTRIES = [
    (_set(("request", "method"), "PROPPATCHXY"), "entry 1: request.method is 11 characters"),
    (_set(("request", "url"), "https://" + "h" * 250 + ".example.test/"), "entry 1: request.url host is 263 characters"),
    (_set(("request", "url"), "https://api.example.test/" + "p" * 2000), "entry 1: request.url path is 2001 characters"),
    (_set(("request", "url"), "https://api.example.test/a\x00b"), "entry 1: request.url contains a NUL"),
    (_set(("request", "headers"), [{"name": "x\x00", "value": "1"}]), "entry 1: request.headers[0].name contains a NUL"),
    (_set(("response", "headers"), [{"name": "n" * 257, "value": "1"}]), "response.headers[0].name is 257 characters"),
    (_set(("startedDateTime",), "9999-12-31T23:00:00-05:00"), "entry 1.startedDateTime '9999-12-31T23:00:00-05:00' is "
                                                              "outside the calendar"),
    (_set(("startedDateTime",), "2026-13-45T00:00:00Z"), "not an ISO 8601 time"),
    (_set(("time",), 1e12), "entry 1: time 1000000000000.0 is over 2147483647 ms"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("change,words", BAD_ENTRIES)
def test_a_har_with_one_bad_entry_imports_nothing_not_even_body_files(client_a, project_a, settings, change, words):
    settings.TRACKREPLAY_INLINE_BODY_MAX = 100  # entry 0's body would go to a file
    response = client_a.post("/api/v1/mock-records/import/", {
        "project": project_a.pk, "file": SimpleUploadedFile("s.har", har(_keep, change, big_body=True))},
        format="multipart")
    assert response.status_code == 400, response.content
    assert words in response.json()["file"][0], response.json()
    assert not MockRecord.objects.exists() and not Exchange.objects.exists()
    media = settings.MEDIA_ROOT
    assert not media.exists() or not any(path.is_file() for path in media.rglob("*"))


@pytest.mark.django_db
def test_the_recording_uploads_refuse_bad_entries_by_name(project_a):
    agent = f.AgentFactory(project=project_a)
    run = f.RunFactory(project=project_a, mode="record", status="running",
                       device=f.DeviceFactory(project=project_a, agent=agent))
    body = har(_keep, _set(("request", "method"), "X" * 11))
    agent_client = APIClient()
    agent_client.credentials(HTTP_AUTHORIZATION=f"Bearer {AgentToken.issue(agent=agent, name='t').token}")
    response = agent_client.generic("POST", f"/api/v1/agent/runs/{run.pk}/recording", body,
                                    content_type="application/json")
    assert response.status_code == 400 and "entry 1: request.method" in response.json()["error"]
    bridge = APIClient()
    bridge.credentials(HTTP_AUTHORIZATION=f"Bearer {RunToken.issue(run=run, name='b').token}")
    response = bridge.generic("POST", "/api/v1/ingest/recording", body, content_type="application/json")
    assert response.status_code == 400 and "entry 1: request.method" in response.json()["error"]
    assert not MockRecord.objects.exists()


# -- tracking plan import ----------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_plan_with_an_over_long_event_name_imports_nothing(client_a, project_a):
    plan = {"events": [{"name": "ok", "schema": {}}, {"name": "e" * 201, "schema": {}}]}
    response = client_a.post("/api/v1/event-definitions/import/", {"project": project_a.pk, "plan": plan},
                             format="json")
    assert response.status_code == 400, response.content
    assert "events[1].name: is 201 characters long; at most 200" in response.json()["plan"][0]
    assert not EventDefinition.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("events,words", [
    ([{"name": "ok", "schema": {}}, {"name": "buy", "schema": {}, "description": "a\x00"}], "plan.events[1].description: contains a NUL"),
    ([{"name": "ok", "schema": {}}, {"name": "buy", "schema": {"type": "object", "properties": {"p": {"enum": [2**64]}}}}],
     "plan.events[1].schema.properties.p.enum[0]: is an integer outside"),
])
def test_the_plan_reader_refuses_unstorable_values_by_path(project_a, events, words):
    from tracking_plan.plan_io import import_plan
    from tracking_plan.schemas import PlanError

    with pytest.raises(PlanError) as caught:
        import_plan(project_a, {"events": events})
    assert words in str(caught.value)
    assert not EventDefinition.objects.exists()


# -- the console's forms ---------------------------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("headers,words", [
    ('[["X-A", "a\\u0000b"]]', "NUL"),
    ('[["X-A", NaN]]', "finite"),
    ('[["X-A", 18446744073709551616]]', "64-bit"),
])
def test_console_forms_show_unstorable_json_as_a_field_error(project_a, member_a, headers, words):
    from django.test import Client

    from mock_records.models import GlobalMock

    client = Client()
    client.force_login(member_a)
    answer = client.post(f"/p/{project_a.slug}/global-mocks/new/", {
        "name": "n", "order": 0, "method": "GET", "host": "*", "path": "/x", "status_code": 200,
        "response_headers": headers, "response_body": ""})
    assert answer.status_code == 200 and words in answer.content.decode()
    assert not GlobalMock.objects.exists()


@pytest.mark.django_db
def test_the_rule_editor_refuses_unstorable_parameters(project_a, member_a):
    from django.test import Client

    from scenarios.models import Rule

    rule = f.RuleFactory(version=f.ScenarioFactory(project=project_a).current_version)
    client = Client()
    client.force_login(member_a)
    answer = client.post(f"/p/{project_a.slug}/scenarios/{rule.version.scenario_id}/rules/{rule.pk}/",
                         {"params": '{"value": NaN}', "strength": "strong", "enabled": "on"}, follow=True)
    assert answer.status_code == 200 and "parameters.value: is not a finite number" in answer.content.decode()
    assert Rule.objects.count() == 1


# -- ids in the actions' own requests ----------------------------------------------------------------------------

HUGE = "99999999999999999999"  # past 64 bits; form-encoded, so it reaches the serializer rather than the JSON parser


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url,data,field", [
    ("/api/v1/scenarios/{scenario}/infer/", {"test_records": [HUGE]}, "test_records"),
    ("/api/v1/reports/verify/", {"test_record": HUGE, "scenario": HUGE}, "test_record"),
    ("/api/v1/mock-records/{mock}/check-live/", {"capture": HUGE}, "capture"),
    ("/api/v1/runs/{run}/token/", {"name": "n" * 101}, "name"),
    ("/api/v1/runs/{run}/token/", {"colour": "red"}, "colour"),
])
def test_action_requests_bound_their_ids_and_names(client_a, project_a, url, data, field):
    scenario = f.ScenarioFactory(project=project_a)
    mock = f.MockRecordFactory(project=project_a)
    run = f.RunFactory(project=project_a)
    response = client_a.post(url.format(scenario=scenario.pk, mock=mock.pk, run=run.pk), data, format="multipart")
    assert response.status_code == 400, response.content
    assert field in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("value", ['{"json": [NaN]}', '{"json": ["\\ud800"]}', '{"json": [18446744073709551616]}'])
def test_json_fields_sent_as_form_text_are_checked_too(client_a, project_a, value):
    # Form and multipart bodies skip the JSON parser: DRF's JSONField reads their text with json.loads, which
    # takes NaN and lone surrogates.
    response = client_a.patch(f"/api/v1/projects/{project_a.pk}/", {"mock_ignore": value}, format="multipart")
    assert response.status_code == 400, response.content
    assert "mock_ignore" in response.json()
    record = f.MockRecordFactory(project=project_a)
    response = client_a.patch(f"/api/v1/mock-records/{record.pk}/", {"ignore": value}, format="multipart")
    assert response.status_code == 400 and "ignore" in response.json()


@pytest.mark.django_db
def test_json_fields_nested_past_the_limit_as_form_text_are_refused_not_a_500(client_a, project_a):
    # DRF's JSONField would hand this text to json.loads, which recurses until Python gives up (500).
    deep = "[" * 5000 + "]" * 5000
    response = client_a.patch(f"/api/v1/projects/{project_a.pk}/", {"mock_ignore": deep}, format="multipart")
    assert response.status_code == 400 and "mock_ignore" in response.json(), response.content
    response = client_a.post("/api/v1/event-definitions/import/", {"project": project_a.pk, "plan": deep},
                             format="multipart")
    assert response.status_code == 400 and "plan" in response.json(), response.content


@pytest.mark.django_db
@pytest.mark.parametrize("start,end", [(1e20, 1e20 + 1), (1.0, float("inf"))])
def test_a_flow_file_with_times_outside_the_calendar_is_refused_by_entry(client_a, project_a, start, end):
    import io

    from mitmproxy.io import FlowWriter
    from mitmproxy.test import tflow

    buffer = io.BytesIO()
    flow = tflow.tflow(resp=True)
    flow.request.timestamp_start, flow.response.timestamp_end = start, end
    FlowWriter(buffer).add(flow)
    response = client_a.post("/api/v1/mock-records/import/", {
        "project": project_a.pk, "file": SimpleUploadedFile("capture.mitm", buffer.getvalue())}, format="multipart")
    assert response.status_code == 400, response.content
    assert not MockRecord.objects.filter(project=project_a).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("step", [0, 2**31, 2**63 + 5])
def test_a_screenshot_step_outside_the_column_is_refused(project_a, step):
    from automation.models import RunScreenshot

    agent = f.AgentFactory(project=project_a)
    run = f.RunFactory(project=project_a, status="running",
                       device=f.DeviceFactory(project=project_a, agent=agent, platform="web"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AgentToken.issue(agent=agent, name='t').token}")
    response = client.generic("PUT", f"/api/v1/agent/runs/{run.pk}/screenshots/{step}",
                              b"\x89PNG\r\n\x1a\n" + b"\0" * 32, content_type="image/png")
    assert response.status_code == 400 and "step" in response.json()["error"], response.content
    assert not RunScreenshot.objects.exists()
