"""Validation errors name the field and the problem; bad writes store nothing."""

import base64

import pytest

from mock_records.models import Exchange

from .. import factories as f


@pytest.mark.django_db
def test_bad_cron_names_the_field_and_the_expression(client_a, project_a):
    response = client_a.post("/api/v1/task-groups/", {"project": project_a.pk, "name": "n", "cron": "61 * * * *"},
                             format="json")
    assert response.status_code == 400
    assert "61 * * * *" in response.json()["cron"][0]


@pytest.mark.django_db
def test_cron_needs_five_fields(client_a, project_a):
    response = client_a.post("/api/v1/task-groups/", {"project": project_a.pk, "name": "n", "cron": "* * *"},
                             format="json")
    assert "five fields" in response.json()["cron"][0]


@pytest.mark.django_db
def test_bad_time_zone_is_named(client_a, project_a):
    response = client_a.post("/api/v1/task-groups/", {"project": project_a.pk, "name": "n", "cron": "0 2 * * *",
                                                      "time_zone": "Mars/Olympus"}, format="json")
    assert response.status_code == 400
    assert "Mars/Olympus" in response.json()["time_zone"][0]


@pytest.mark.django_db
def test_exchange_body_must_be_base64_and_nothing_is_stored(client_a, project_a):
    record = f.MockRecordFactory(project=project_a)
    response = client_a.post("/api/v1/exchanges/", {"mock_record": record.pk, "method": "GET", "host": "h",
                                                    "path": "/", "response_body_b64": "%%%"}, format="json")
    assert response.status_code == 400
    assert "base64" in response.json()["response_body_b64"][0]
    assert not Exchange.objects.exists()


@pytest.mark.django_db
def test_exchange_headers_must_be_pairs(client_a, project_a):
    record = f.MockRecordFactory(project=project_a)
    response = client_a.post("/api/v1/exchanges/", {"mock_record": record.pk, "method": "GET", "host": "h",
                                                    "path": "/", "request_headers": {"a": "b"}}, format="json")
    assert "[name, value]" in response.json()["request_headers"][0]


@pytest.mark.django_db
def test_exchange_bodies_round_trip_byte_exact_through_the_api(client_a, project_a, settings):
    settings.TRACKREPLAY_INLINE_BODY_MAX = 16
    record = f.MockRecordFactory(project=project_a)
    small, large = b"\x00\xff\x10binary", bytes(range(256)) * 40
    response = client_a.post("/api/v1/exchanges/", {
        "mock_record": record.pk, "method": "post", "host": "h", "path": "/upload",
        "request_body_b64": base64.b64encode(small).decode(),
        "response_body_b64": base64.b64encode(large).decode(),
    }, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["method"] == "POST"
    fetched = client_a.get(f"/api/v1/exchanges/{response.json()['id']}/").json()
    assert base64.b64decode(fetched["request_body_b64"]) == small
    assert base64.b64decode(fetched["response_body_b64"]) == large
    exchange = Exchange.objects.get()
    assert exchange.request_body_inline is not None and exchange.response_body_file.name


@pytest.mark.django_db
def test_unknown_health_flag_is_named(client_a, project_a):
    response = client_a.post("/api/v1/test-records/", {"project": project_a.pk, "name": "r",
                                                       "health_flags": ["sparkles"]}, format="json")
    assert "sparkles" in response.json()["health_flags"][0]


@pytest.mark.django_db
def test_email_channel_checks_each_address(client_a, project_a):
    response = client_a.post("/api/v1/notification-channels/", {
        "project": project_a.pk, "name": "m", "kind": "email", "target": "qa@example.test, nope",
    }, format="json")
    assert response.status_code == 400
    assert "'nope'" in response.json()["target"][0]


@pytest.mark.django_db
def test_second_global_scenario_is_refused(client_a, project_a):
    first = client_a.post("/api/v1/scenarios/", {"project": project_a.pk, "name": "G1", "is_global": True},
                          format="json")
    assert first.status_code == 201
    second = client_a.post("/api/v1/scenarios/", {"project": project_a.pk, "name": "G2", "is_global": True},
                           format="json")
    assert second.status_code == 400
    assert second.json()["non_field_errors"] == ["The project already has a global scenario."]


@pytest.mark.django_db
def test_channel_secret_is_write_only(client_a, project_a):
    response = client_a.post("/api/v1/notification-channels/", {
        "project": project_a.pk, "name": "hook", "kind": "webhook", "target": "https://h.test/x", "secret": "s3cr3t",
    }, format="json")
    assert response.status_code == 201
    assert "secret" not in response.json()


@pytest.mark.django_db
def test_lists_paginate_and_filter(client_a, project_a):
    for _ in range(3):
        f.DeviceFactory(project=project_a, platform="ios")
    f.DeviceFactory(project=project_a, platform="web")
    page = client_a.get("/api/v1/devices/?page_size=2").json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]
    assert client_a.get("/api/v1/devices/?platform=web").json()["count"] == 1
