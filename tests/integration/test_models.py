"""The data model's own behaviour: docstrings, byte-exact bodies, scenario versions, beat schedules."""

import json
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django_celery_beat.models import PeriodicTask

from automation.models import TaskGroup
from mock_records.models import Exchange
from scenarios.models import Rule

from .. import factories as f

OUR_APPS = ["accounts", "tracking_plan", "scenarios", "mock_records", "test_records", "reports", "automation",
            "notifications"]


def test_every_model_has_a_docstring_of_its_own():
    for label in OUR_APPS:
        for model in apps.get_app_config(label).get_models():
            doc = model.__doc__ or ""
            # Django generates "Model(field, ...)" when a model has none.
            assert doc and not doc.startswith(f"{model.__name__}("), f"{model.__name__} has no docstring"


@pytest.mark.django_db
@pytest.mark.parametrize("size", [0, 10, 300_000])
def test_exchange_bodies_are_byte_exact_inline_or_in_files(size, settings):
    settings.TRACKREPLAY_INLINE_BODY_MAX = 1024
    body = bytes((i * 7) % 256 for i in range(size))
    exchange = f.ExchangeFactory(response_body_inline=None)
    exchange.request_body = body
    exchange.response_body = body[::-1]
    exchange.save()
    fresh = Exchange.objects.get(pk=exchange.pk)
    assert fresh.request_body == body
    assert fresh.response_body == body[::-1]
    assert isinstance(fresh.request_body, bytes)
    assert bool(fresh.request_body_file.name) == (size > 1024)
    assert fresh.response_size == size


@pytest.mark.django_db
def test_identical_large_bodies_share_one_file(settings):
    settings.TRACKREPLAY_INLINE_BODY_MAX = 8
    first, second = f.ExchangeFactory(), f.ExchangeFactory()
    for exchange in (first, second):
        exchange.response_body = b"x" * 100
        exchange.save()
    assert first.response_body_file.name == second.response_body_file.name


@pytest.mark.django_db
def test_exchange_url_hides_default_ports():
    assert f.ExchangeFactory(scheme="https", port=443, path="/a", query="b=1").url == "https://api.example.test/a?b=1"
    assert f.ExchangeFactory(scheme="http", port=8080, path="/").url == "http://api.example.test:8080/"


@pytest.mark.django_db
def test_new_scenario_version_copies_rules_and_becomes_current():
    scenario = f.ScenarioFactory()
    v1 = scenario.current_version
    f.RuleFactory(version=v1, kind="enum", property_path="tab", params={"values": ["a"]})
    v2 = scenario.new_version(note="repair: add 'b' to enum")
    scenario.refresh_from_db()
    assert scenario.current_version == v2 and v2.number == 2
    assert list(v2.rules.values_list("kind", "params")) == [("enum", {"values": ["a"]})]
    Rule.objects.filter(version=v2).update(params={"values": ["a", "b"]})
    assert v1.rules.get().params == {"values": ["a"]}  # the old version is untouched


@pytest.mark.django_db
def test_task_group_schedule_is_mirrored_into_celery_beat_in_its_time_zone():
    group = f.TaskGroupFactory(cron="30 2 * * 1-5", time_zone="Asia/Shanghai")
    periodic = PeriodicTask.objects.get(pk=group.periodic_task_id)
    assert periodic.task == "automation.tasks.run_task_group"
    assert json.loads(periodic.args) == [group.pk]
    crontab = periodic.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("30", "2", "1-5")
    assert crontab.timezone == ZoneInfo("Asia/Shanghai")

    group.enabled = False
    group.save()
    assert not PeriodicTask.objects.get(pk=periodic.pk).enabled

    group.cron = ""
    group.save()
    assert not PeriodicTask.objects.filter(pk=periodic.pk).exists()

    group.cron = "0 3 * * *"
    group.save()
    group.refresh_from_db()
    pk = group.periodic_task_id
    group.delete()
    assert not PeriodicTask.objects.filter(pk=pk).exists()


@pytest.mark.django_db
def test_task_group_clean_rejects_bad_cron_and_zone():
    group = TaskGroup(project=f.ProjectFactory(), name="g", cron="0 25 * * *", time_zone="Nowhere/City")
    with pytest.raises(ValidationError) as info:
        group.clean()
    assert set(info.value.message_dict) == {"cron", "time_zone"}


@pytest.mark.django_db
def test_firing_a_task_group_queues_one_run_per_enabled_task():
    from automation.scheduling import enqueue_task_group
    from automation.tasks import run_task_group

    project = f.ProjectFactory()
    group = f.TaskGroupFactory(project=project)
    on, off = f.TaskFactory(project=project), f.TaskFactory(project=project, enabled=False)
    group.tasks.add(on, off)
    run_task_group.apply(args=[group.pk], task_id="tick-1")  # the Celery task body, in this process
    assert list(group.runs.values_list("task", "status", "trigger")) == [(on.pk, "queued", "schedule")]
    # The same message delivered again (its worker died before acknowledging it) queues nothing more...
    run_task_group.apply(args=[group.pk], task_id="tick-1")
    assert group.runs.count() == 1
    # ...while the next tick does.
    run_task_group.apply(args=[group.pk], task_id="tick-2")
    assert group.runs.count() == 2

    group.enabled = False
    group.save()
    assert enqueue_task_group(group.pk) == []  # paused groups do not fire on schedule
    assert enqueue_task_group(999_999) == []  # deleted groups are ignored quietly


@pytest.mark.django_db
def test_revoking_a_token_twice_keeps_the_first_time():
    token = f.PersonalTokenFactory()
    token.revoke()
    first = token.revoked_at
    token.revoke()
    assert token.revoked_at == first
