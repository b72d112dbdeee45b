"""One flow for web, Android and iOS on the platform: saving checks every platform's locators against its own
platform; a task checks its flow reads for its devices' platform; a run's bundle is read for the platform of
the device it got."""

import pytest

from automation.lifecycle import bundle
from automation.models import Device, Run, Script

from .. import factories as f

FLOW = """\
app: {web: "http://127.0.0.1:8765/", android: com.trackreplay.shop}
steps:
  - launch
  - tap: {target: {web: [{id: tab-2}], android: [{id: tab_2}]}}
"""


def script(client, project, source, platform="web", path="shop.yaml"):
    return client.post("/api/v1/scripts/", {"project": project.pk, "name": "Shop", "path": path,
                                            "platform": platform, "source": source}, format="json")


@pytest.mark.django_db
def test_saving_checks_each_platform_against_its_own_locators(client_a, project_a):
    answer = script(client_a, project_a, FLOW.replace("android: [{id: tab_2}]", "android: [{css: '#t'}]"))
    assert answer.status_code == 400
    assert "line 4: css is not a locator on Android" in answer.json()["source"][0]
    answer = script(client_a, project_a, "app: com.shop\nsteps:\n  - tap: {css: '#buy'}\n", platform="android")
    assert answer.status_code == 400 and "css is not a locator on Android" in answer.json()["source"][0]
    assert script(client_a, project_a, FLOW).status_code == 201


@pytest.mark.django_db
def test_a_task_on_a_platform_the_flow_does_not_cover_is_refused(client_a, project_a):
    flow = Script.objects.get(pk=script(client_a, project_a, FLOW).json()["id"])
    task = {"project": project_a.pk, "name": "t", "script": flow.pk}
    answer = client_a.post("/api/v1/tasks/", {**task, "device_selector": {"platform": "ios"}}, format="json")
    assert answer.status_code == 400
    assert "the flow cannot run on ios" in answer.json()["script"][0] and "no app for iOS" in answer.json()["script"][0]
    assert client_a.post("/api/v1/tasks/", {**task, "device_selector": {"platform": "android"}},
                         format="json").status_code == 201


@pytest.mark.django_db
def test_the_bundle_is_read_for_the_device_the_run_got(project_a):
    flow = Script.objects.create(project=project_a, name="Shop", path="shop.yaml", platform="web", source=FLOW)
    task = f.TaskFactory(project=project_a, script=flow, device_selector={"platform": "android"})
    phone = Device.objects.create(project=project_a, name="Pixel 7", platform="android", serial="emulator-5554")
    run = Run.objects.create(project=project_a, task=task, mode="record", device=phone)
    payload = bundle(run)
    assert payload["platform"] == "android" and payload["serial"] == "emulator-5554"
    ios = Device.objects.create(project=project_a, name="iPhone", platform="ios", serial="00008110-0001")
    Run.objects.filter(pk=run.pk).update(device=ios)
    run.refresh_from_db()
    from automation.lifecycle import RunConflict

    with pytest.raises(RunConflict, match="no app for iOS"):
        bundle(run)
