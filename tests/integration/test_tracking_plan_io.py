"""Tracking plans in and out as JSON Schema: trackreplay's own shape, plain titled schemas, Snowplow Iglu and
Segment Protocols; checked against the meta-schema; all or nothing; feeding inference."""

import pytest
from jsonschema import Draft202012Validator

from accounts.models import Role
from scenarios.learning import project_plan
from tracking_plan.models import EventDefinition
from tracking_plan.schemas import PlanError, parse_plan

CHECKOUT = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "required": ["order_id", "total"],
            "properties": {"order_id": {"type": "string", "description": "ORD-######"},
                           "total": {"type": "number"}, "coupon": {"type": ["string", "null"]},
                           "currency": {"enum": ["CNY", "USD"]},
                           "items": {"type": "array", "items": {"type": "object", "required": ["sku"],
                                                                "properties": {"sku": {"type": "string"}}}}}}
IGLU = {"$schema": "http://iglucentral.com/schemas/com.snowplowanalytics.self-desc/schema/jsonschema/1-0-0#",
        "self": {"vendor": "com.acme", "name": "product_click", "format": "jsonschema", "version": "1-0-0"},
        "type": "object", "properties": {"product_id": {"type": "string"}}, "required": ["product_id"]}
SEGMENT = {"tracking_plan": {"display_name": "Shop", "rules": {"events": [{
    "name": "Order Completed", "version": 1, "description": "An order went through",
    "rules": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {
        "properties": {"type": "object", "properties": {"revenue": {"type": "number"}}, "required": ["revenue"]}}}}]}}}


def test_the_four_plan_shapes_parse():
    own = parse_plan({"events": [{"name": "checkout", "owner": "alice", "schema": CHECKOUT}]})
    assert own[0].name == "checkout" and own[0].owner == "alice" and own[0].required == ["order_id", "total"]
    assert parse_plan([dict(CHECKOUT, title="checkout")])[0].required == ["order_id", "total"]
    iglu = parse_plan(IGLU)[0]
    assert iglu.name == "product_click" and iglu.required == ["product_id"]
    assert iglu.extra["iglu"] == "iglu:com.acme/product_click/jsonschema/1-0-0"
    segment = parse_plan(SEGMENT)[0]
    assert segment.name == "Order Completed" and segment.required == ["revenue"]


@pytest.mark.parametrize("document,message", [
    ({"events": [{"name": "a", "schema": {"type": "objekt"}}]}, r"events\[0\] \(a\): not a valid JSON Schema at type"),
    ({"events": [{"name": "a", "schema": {"type": "object"}}, {"name": "a", "schema": {}}]}, "defined twice"),
    ({"events": [{"nope": 1}]}, r"events\[0\]: not a plan entry"),
    ("text", "expected a list"),
])
def test_a_bad_plan_names_the_event_and_the_problem(document, message):
    with pytest.raises(PlanError, match=message):
        parse_plan(document)


def test_import_export_round_trip_through_the_api(client_a, project_a, member_a):
    plan = {"events": [{"name": "checkout", "owner": member_a.username, "description": "Order placed",
                        "schema": CHECKOUT}, {"name": "ghost", "owner": "nobody", "schema": {"type": "object"}}]}
    answer = client_a.post("/api/v1/event-definitions/import/", {"project": project_a.pk, "plan": plan}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"events": 2, "created": 2, "updated": 0, "unknown_owners": ["nobody"]}
    checkout = EventDefinition.objects.get(project=project_a, name="checkout")
    assert checkout.owner_rd == member_a and checkout.description == "Order placed"
    props = {p.name: p for p in checkout.properties.all()}
    assert props["order_id"].required and props["order_id"].type == "string"
    assert props["coupon"].nullable and not props["coupon"].required
    assert props["currency"].enum == ["CNY", "USD"] and props["items[].sku"].required

    exported = client_a.get(f"/api/v1/event-definitions/export/?project={project_a.pk}").json()
    schema = next(e for e in exported["events"] if e["name"] == "checkout")["schema"]
    Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["order_id", "total"]
    assert schema["properties"]["coupon"]["type"] == ["string", "null"]
    assert Draft202012Validator(schema).is_valid({"order_id": "ORD-1", "total": 3.5, "currency": "CNY"})
    assert not Draft202012Validator(schema).is_valid({"order_id": "ORD-1"})

    # The plan's required flags and owner feed inference.
    assert project_plan(project_a.pk)["checkout"].required == {"order_id", "total", "items[].sku"}
    assert project_plan(project_a.pk)["checkout"].owner == member_a.username


def test_a_rejected_import_writes_nothing(client_a, project_a):
    plan = {"events": [{"name": "fine", "schema": {"type": "object"}}, {"name": "bad", "schema": {"type": 5}}]}
    answer = client_a.post("/api/v1/event-definitions/import/", {"project": project_a.pk, "plan": plan}, format="json")
    assert answer.status_code == 400 and "(bad): not a valid JSON Schema" in answer.json()["plan"][0]
    assert not EventDefinition.objects.filter(project=project_a).exists()


def test_import_needs_a_write_role_and_membership(project_a, project_b, make_member, api_client):
    viewer = make_member(project_a, Role.VIEWER)
    api_client.force_authenticate(viewer)
    plan = {"events": [{"name": "x", "schema": {"type": "object"}}]}
    assert api_client.post("/api/v1/event-definitions/import/", {"project": project_a.pk, "plan": plan},
                           format="json").status_code == 403
    assert api_client.post("/api/v1/event-definitions/import/", {"project": project_b.pk, "plan": plan},
                           format="json").status_code == 404
    assert api_client.get(f"/api/v1/event-definitions/export/?project={project_b.pk}").status_code == 404
    assert api_client.get(f"/api/v1/event-definitions/export/?project={project_a.pk}").status_code == 200
