"""Mock records in and out as HAR through the API: byte-exact bodies, all-or-nothing imports."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role
from mock_records.har import ExchangeData, write_har
from mock_records.models import MockRecord

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452") + bytes(range(256))


def har_bytes():
    items = [ExchangeData("GET", "https", "api.shop.test", 443, "/api/home", "tab=2", [["Accept", "application/json"]],
                          b"", 200, [["Content-Type", "application/json"]], '{"title":"首页"}'.encode(), duration_ms=30),
             ExchangeData("POST", "http", "cdn.shop.test", 8080, "/img", "", [["Content-Type", "image/png"]], PNG,
                          201, [["Content-Type", "image/png"]], PNG[::-1])]
    return json.dumps(write_har(items)).encode()


def upload(client, project, data, name="session.har"):
    return client.post("/api/v1/mock-records/import/",
                       {"project": project.pk, "file": SimpleUploadedFile(name, data)}, format="multipart")


def test_import_then_export_is_byte_exact(client_a, project_a):
    answer = upload(client_a, project_a, har_bytes())
    assert answer.status_code == 201, answer.content
    record = MockRecord.objects.get(pk=answer.json()["id"])
    assert record.name == "session.har" and record.source == "har" and record.exchanges.count() == 2
    image = record.exchanges.get(path="/img")
    assert image.request_body == PNG and image.response_body == PNG[::-1] and image.port == 8080
    exported = client_a.get(f"/api/v1/mock-records/{record.pk}/har/")
    assert exported.status_code == 200 and "attachment" in exported["Content-Disposition"]
    again = upload(client_a, project_a, exported.content, "again.har")
    copy = MockRecord.objects.get(pk=again.json()["id"])
    for original, reimported in zip(record.exchanges.order_by("order"), copy.exchanges.order_by("order")):
        assert reimported.url == original.url
        assert reimported.request_body == original.request_body and reimported.response_body == original.response_body
        assert reimported.response_headers == original.response_headers


def test_a_truncated_file_imports_nothing_and_says_why(client_a, project_a):
    answer = upload(client_a, project_a, har_bytes()[:-40])
    assert answer.status_code == 400 and "truncated or corrupt" in answer.json()["file"][0]
    document = json.loads(har_bytes())
    document["log"]["entries"][1]["response"]["content"]["text"] = "%%%"
    document["log"]["entries"][1]["response"]["content"]["encoding"] = "base64"
    answer = upload(client_a, project_a, json.dumps(document).encode())
    assert answer.status_code == 400 and "entry 1: response.content.text is not valid base64" in answer.json()["file"][0]
    assert not MockRecord.objects.filter(project=project_a).exists()


def test_import_needs_membership_and_a_write_role(project_a, project_b, make_member, api_client):
    viewer = make_member(project_a, Role.VIEWER)
    api_client.force_authenticate(viewer)
    assert upload(api_client, project_a, har_bytes()).status_code == 403
    assert upload(api_client, project_b, har_bytes()).status_code == 404


def flow_file(count=2) -> bytes:
    import io

    from mitmproxy.io import FlowWriter
    from mitmproxy.test import tflow

    buffer = io.BytesIO()
    writer = FlowWriter(buffer)
    for n in range(count):
        flow = tflow.tflow(resp=True)
        flow.request.path = f"/api/item/{n}?x=1"
        flow.response.headers["Content-Type"] = "image/png"
        flow.response.content = PNG + bytes([n])
        writer.add(flow)
    return buffer.getvalue()


def test_mitmproxy_flow_files_import_byte_exact_and_truncated_ones_not_at_all(client_a, project_a):
    answer = upload(client_a, project_a, flow_file(), "capture.mitm")
    assert answer.status_code == 201, answer.content
    record = MockRecord.objects.get(pk=answer.json()["id"])
    assert record.source == "flow" and record.exchanges.count() == 2
    second = record.exchanges.get(path="/api/item/1")
    assert second.query == "x=1" and second.response_body == PNG + bytes([1])
    broken = upload(client_a, project_a, flow_file(3)[:-25], "broken.mitm")
    assert broken.status_code == 400 and "flow" in broken.json()["file"][0]
    assert MockRecord.objects.filter(project=project_a).count() == 1
