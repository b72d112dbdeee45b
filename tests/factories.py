"""factory-boy factories for every model, so any test can build a realistic object graph in one line."""

import factory
from django.utils import timezone

from accounts.models import Membership, PersonalToken, Project, Role, User
from automation.models import Agent, AgentToken, Device, Run, Script, Task, TaskGroup
from mock_records.models import Exchange, GlobalMock, MockRecord, RequiredInterface
from notifications.models import NotificationChannel
from reports.models import Anomaly, Report
from scenarios.models import Rule, Scenario
from test_records.models import Event, TestRecord
from tracking_plan.models import EventDefinition, Fault, PropertyDefinition


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-1")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.QA


class EventDefinitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EventDefinition

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"event_{n}")


class PropertyDefinitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PropertyDefinition

    event = factory.SubFactory(EventDefinitionFactory)
    name = factory.Sequence(lambda n: f"prop_{n}")


class ScenarioFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scenario
        skip_postgeneration_save = True

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Scenario {n}")

    @factory.post_generation
    def with_version(obj, create, extracted, **kwargs):
        if create:
            obj.new_version(note="created")


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rule

    version = factory.LazyFunction(lambda: ScenarioFactory().current_version)
    kind = "required"
    event = "product_click"
    property_path = "product_id"


class MockRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MockRecord

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Mock record {n}")


class ExchangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Exchange

    mock_record = factory.SubFactory(MockRecordFactory)
    method = "GET"
    host = "api.example.test"
    path = factory.Sequence(lambda n: f"/api/item/{n}")
    response_body_inline = b'{"ok": true}'


class GlobalMockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GlobalMock

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Canned {n}")
    path = "/api/popup/*"
    response_body = '{"popups": []}'


class RequiredInterfaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RequiredInterface

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Interface {n}")
    path = "/api/abtest/*"


class TestRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TestRecord

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Record {n}")


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    test_record = factory.SubFactory(TestRecordFactory)
    seq = factory.Sequence(lambda n: n)
    name = "product_click"
    properties = factory.LazyFunction(lambda: {"product_id": "P1"})


class ReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Report

    project = factory.SubFactory(ProjectFactory)
    test_record = factory.SubFactory(TestRecordFactory, project=factory.SelfAttribute("..project"))
    scenario_version = factory.LazyAttribute(lambda o: ScenarioFactory(project=o.project).current_version)
    status = "done"
    pass_rate = 0.5
    events_total = 2
    events_passed = 1
    strong_anomalies = 1


class AnomalyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Anomaly

    report = factory.SubFactory(ReportFactory)
    event_name = "product_click"
    event_index = 0
    rule_kind = "required"
    property_path = "product_id"
    strength = "strong"
    message = "product_id is missing"


class FaultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Fault

    project = factory.SubFactory(ProjectFactory)
    title = factory.Sequence(lambda n: f"Fault {n}")


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"agent-{n}")


class AgentTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AgentToken

    agent = factory.SubFactory(AgentFactory)
    name = "lab"
    token_hash = factory.Sequence(lambda n: f"{n:064x}")
    hint = "tra_xxxxxx"


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Device {n}")
    platform = "android"


class ScriptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Script

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Script {n}")
    path = factory.Sequence(lambda n: f"flow-{n}.yaml")
    platform = "android"
    source = "app: com.shop.lite\nsteps:\n  - launch\n"


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Task {n}")
    script = factory.SubFactory(ScriptFactory, project=factory.SelfAttribute("..project"))


class TaskGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaskGroup

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Group {n}")


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    project = factory.SubFactory(ProjectFactory)
    task = factory.SubFactory(TaskFactory, project=factory.SelfAttribute("..project"))
    started_at = factory.LazyFunction(timezone.now)


class NotificationChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationChannel

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Channel {n}")
    kind = "webhook"
    target = "https://hooks.example.test/trackreplay"


class PersonalTokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PersonalToken

    user = factory.SubFactory(UserFactory)
    name = "ci"
    token_hash = factory.Sequence(lambda n: f"{n:064x}")
    hint = "trp_xxxxxx"
