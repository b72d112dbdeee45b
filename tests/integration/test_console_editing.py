"""Declared pages with editable fields: QA and admins edit and create from the console (global mocks,
required interfaces, an exchange's switch); validation errors are shown; others get 404."""

from django.test import Client

from accounts.models import Role
from mock_records.models import GlobalMock, RequiredInterface
from tests import factories as f


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_qa_creates_and_edits_a_global_mock(project_a, member_a):
    client = client_for(member_a)
    assert 'href="/p/%s/global-mocks/new/"' % project_a.slug in client.get(f"/p/{project_a.slug}/global-mocks/").content.decode()
    answer = client.post(f"/p/{project_a.slug}/global-mocks/new/", {
        "name": "No popups", "enabled": "on", "order": 0, "method": "GET", "host": "*", "path": "/api/popup/*",
        "status_code": 200, "response_headers": '[["Content-Type", "application/json"]]',
        "response_body": '{"popups": []}'})
    assert answer.status_code == 302
    mock = GlobalMock.objects.get(project=project_a)
    assert mock.response_headers == [["Content-Type", "application/json"]]
    answer = client.post(f"/p/{project_a.slug}/global-mocks/{mock.pk}/edit/", {
        "name": "No popups", "order": 1, "method": "GET", "host": "*", "path": "/api/popup/*", "status_code": 204,
        "response_headers": "[]", "response_body": ""})
    mock.refresh_from_db()
    assert answer.status_code == 302 and mock.status_code == 204 and not mock.enabled
    bad = client.post(f"/p/{project_a.slug}/global-mocks/{mock.pk}/edit/", {"name": "", "path": "/x",
                                                                            "status_code": 200, "host": "*",
                                                                            "order": 0, "response_headers": "not json"})
    assert bad.status_code == 200 and "Enter a valid JSON" in bad.content.decode()


def test_the_exchange_switch_and_required_interfaces(project_a, member_a):
    client = client_for(member_a)
    exchange = f.ExchangeFactory(mock_record=f.MockRecordFactory(project=project_a), path="/api/abtest/1")
    client.post(f"/p/{project_a.slug}/exchanges/{exchange.pk}/edit/", {})  # unchecked box: disabled
    exchange.refresh_from_db()
    assert not exchange.enabled
    client.post(f"/p/{project_a.slug}/required-interfaces/new/", {"name": "A/B", "method": "", "host": "*",
                                                                  "path": "/api/abtest/*"})
    assert RequiredInterface.objects.filter(project=project_a, name="A/B").exists()
    exchange.mock_record.refresh_from_db()
    assert exchange.mock_record.missing_interfaces == ["A/B"]  # its only match is disabled


def test_viewers_and_other_projects_cannot_edit(project_a, make_member):
    mock = f.GlobalMockFactory(project=project_a)
    viewer = client_for(make_member(project_a, Role.VIEWER))
    assert "/edit/" not in viewer.get(f"/p/{project_a.slug}/global-mocks/{mock.pk}/").content.decode()
    assert viewer.post(f"/p/{project_a.slug}/global-mocks/{mock.pk}/edit/", {"name": "x"}).status_code == 404
    outsider = client_for(make_member(f.ProjectFactory(), Role.QA))
    assert outsider.get(f"/p/{project_a.slug}/global-mocks/{mock.pk}/edit/").status_code == 404
    assert client_for(make_member(project_a, Role.QA)).get(f"/p/{project_a.slug}/reports/new/").status_code == 404
