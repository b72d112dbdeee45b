"""The OpenAPI schema validates with no warnings, and the models match their migrations."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_openapi_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "/api/v1/mock-records/" in text and "bearerToken" in text


@pytest.mark.django_db
def test_migrations_are_up_to_date():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_writable_fields_explain_themselves_in_the_schema(client_a):
    schema = client_a.get("/api/schema/?format=json").json()
    task_group = schema["components"]["schemas"]["TaskGroupRequest"]["properties"]
    assert "cron" in task_group and "Five-field cron" in task_group["cron"]["description"]


@pytest.mark.django_db
def test_swagger_ui_is_served_without_a_cdn(client_a):
    page = client_a.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/" in page and "cdn" not in page.lower()


@pytest.mark.django_db
def test_every_writable_field_has_a_description(client_a):
    schema = client_a.get("/api/schema/?format=json").json()
    missing = []
    for name, component in schema["components"]["schemas"].items():
        if not name.endswith("Request"):
            continue  # request components hold exactly the writable fields
        for field, spec in component.get("properties", {}).items():
            if not spec.get("description"):
                missing.append(f"{name}.{field}")
    assert not missing, f"writable fields without help_text: {missing}"
