"""A project's required interfaces: a mock record without them is marked with the missing names, kept
current as exchanges and requirements change, and shown by the API."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from mock_records.har import ExchangeData, write_har
from mock_records.models import MockRecord
from tests import factories as f


def test_a_record_lists_the_required_interfaces_it_lacks(client_a, project_a):
    f.RequiredInterfaceFactory(project=project_a, name="A/B config", method="GET", path="/api/abtest/*")
    f.RequiredInterfaceFactory(project=project_a, name="Home feed", path="/api/home")
    items = [ExchangeData("GET", "https", "api.shop.test", 443, "/api/home", "", [], b"", 200, [], b"{}")]
    answer = client_a.post("/api/v1/mock-records/import/", {
        "project": project_a.pk, "file": SimpleUploadedFile("s.har", json.dumps(write_har(items)).encode())},
        format="multipart")
    assert answer.status_code == 201 and answer.json()["missing_interfaces"] == ["A/B config"]
    record = MockRecord.objects.get(pk=answer.json()["id"])

    exchange = f.ExchangeFactory(mock_record=record, method="GET", path="/api/abtest/v2")
    record.refresh_from_db()
    assert record.missing_interfaces == []
    exchange.enabled = False  # a disabled exchange is never served, so it does not count
    exchange.save()
    record.refresh_from_db()
    assert record.missing_interfaces == ["A/B config"]

    client_a.post("/api/v1/required-interfaces/", {"project": project_a.pk, "name": "Config", "method": "post",
                                                   "path": "/api/config"}, format="json")
    assert client_a.get(f"/api/v1/mock-records/{record.pk}/").json()["missing_interfaces"] == ["A/B config", "Config"]
