"""The console side of running tests: flows written in an editor whose errors name the line, tasks set up in
forms (variables and device selector as a person writes them), Record and Replay buttons, a run's live page
(steps, screens, events per step, logs, health, report), agents' tokens issued once and revocable. Roles are
enforced on every door."""

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from accounts.models import Membership, Role
from automation.models import AgentToken, Run, RunScreenshot, Script, Task

from .. import factories as f

FLOW = "app: http://127.0.0.1:8765/\nsteps:\n  - launch\n  - tap: {id: tab-2, label: Fresh tab}\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


@pytest.fixture
def setup(db):
    project = f.ProjectFactory(name="Shop", slug="shop")
    people = {}
    for role in (Role.ADMIN, Role.QA, Role.RD, Role.VIEWER):
        user = f.UserFactory(username=f"{role}-1")
        Membership.objects.create(project=project, user=user, role=role)
        client = Client()
        client.force_login(user)
        people[role] = client
    return project, people


def test_a_flow_with_a_mistake_is_refused_naming_the_line_and_nothing_is_saved(setup):
    project, people = setup
    qa = people[Role.QA]
    bad = FLOW + "  - tap: {txt: Fresh}\n"
    response = qa.post("/p/shop/scripts/new/", {"name": "Browse", "path": "browse.yaml", "platform": "web",
                                                 "source": bad})
    assert response.status_code == 200
    assert "line 5: tap: unknown key &#x27;txt&#x27;" in response.content.decode()
    assert 'class="code"' in response.content.decode()  # the editor with line numbers
    assert not Script.objects.exists()

    response = qa.post("/p/shop/scripts/new/", {"name": "Browse", "path": "browse.yaml", "platform": "web",
                                                 "source": FLOW})
    script = Script.objects.get()
    assert response["Location"] == f"/p/shop/scripts/{script.pk}/"
    page = qa.get(response["Location"]).content.decode()
    assert "3 │   - launch" in page and "Fresh tab" in page and "id=tab-2" in page
    again = qa.post("/p/shop/scripts/new/", {"name": "Other", "path": "browse.yaml", "platform": "web",
                                             "source": FLOW})
    assert "already has a script with this file name" in again.content.decode()


def test_flows_include_each_other_and_a_missing_include_is_named(setup):
    project, people = setup
    qa = people[Role.QA]
    main = "app: x\nsteps:\n  - run_flow: login.yaml\n"
    response = qa.post("/p/shop/scripts/new/", {"name": "Main", "path": "main.yaml", "platform": "web",
                                                 "source": main})
    assert "line 3: run_flow: no flow &#x27;login.yaml&#x27; in this project" in response.content.decode()
    f.ScriptFactory(project=project, path="login.yaml", platform="web", source="steps:\n  - tap: {id: login}\n")
    response = qa.post("/p/shop/scripts/new/", {"name": "Main", "path": "main.yaml", "platform": "web",
                                                 "source": main})
    assert response.status_code == 302


def test_a_task_is_set_up_in_a_form_without_json(setup):
    project, people = setup
    script = f.ScriptFactory(project=project, platform="web", path="browse.yaml", source=FLOW)
    other_project_script = f.ScriptFactory(platform="web")
    qa = people[Role.QA]
    form = qa.get("/p/shop/tasks/new/").content.decode()
    assert "Variables" in form and "Device platform" in form and str(other_project_script) not in form
    response = qa.post("/p/shop/tasks/new/", {"name": "Browse on web", "script": script.pk, "env_text": "KEYWORD\n",
                                              "platform": "web", "labels": "", "time_cap": 300, "enabled": "on"})
    assert "Line 1: write NAME=value" in response.content.decode() and not Task.objects.exists()
    response = qa.post("/p/shop/tasks/new/", {
        "name": "Browse on web", "script": script.pk,
        "env_text": "KEYWORD=green tea\n\nCITY = Hangzhou\nLOGIN_PASSWORD=hunter2",
        "platform": "web", "labels": "local, cn", "mock_scope": "", "time_cap": 300, "enabled": "on"})
    task = Task.objects.get()
    assert task.env == {"KEYWORD": "green tea", "CITY": "Hangzhou", "LOGIN_PASSWORD": "hunter2"}
    assert task.device_selector == {"platform": "web", "labels": ["local", "cn"]}
    page = qa.get(response["Location"]).content.decode()
    # (PostgreSQL keeps JSON objects in its own key order: each pair is looked for on its own.)
    assert all(pair in page for pair in ("KEYWORD=green tea", "CITY=Hangzhou", "LOGIN_PASSWORD=••••••"))
    assert "hunter2" not in page and "web labelled local, cn" in qa.get("/p/shop/tasks/").content.decode()
    bad_scope = qa.post(f"/p/shop/tasks/{task.pk}/edit/", {"name": "x", "script": script.pk, "time_cap": 300,
                                                          "mock_scope": "http://x/api"})
    assert "neither a host pattern" in bad_scope.content.decode()


def test_record_and_replay_buttons_queue_runs_and_open_the_run_page(setup):
    project, people = setup
    task = f.TaskFactory(project=project, script=f.ScriptFactory(project=project, platform="web", source=FLOW))
    qa = people[Role.QA]
    page = qa.get(f"/p/shop/tasks/{task.pk}/").content.decode()
    assert 'data-action="record"' in page and 'data-action="replay"' in page
    response = qa.post(f"/p/shop/tasks/{task.pk}/do/record/")
    run = Run.objects.get()
    assert run.mode == "record" and run.status == "queued"
    assert response["Location"] == f"/p/shop/runs/{run.pk}/"
    assert "Waiting for a device" in qa.get(response["Location"]).content.decode()
    refused = qa.post(f"/p/shop/tasks/{task.pk}/do/replay/", follow=True)
    assert "has no mock record to replay: record it first" in refused.content.decode()
    assert Run.objects.count() == 1
    for role in (Role.RD, Role.VIEWER):
        assert 'data-action="record"' not in people[role].get(f"/p/shop/tasks/{task.pk}/").content.decode()
        assert people[role].post(f"/p/shop/tasks/{task.pk}/do/record/").status_code == 404
    outsider = Client()
    outsider.force_login(f.UserFactory())
    assert outsider.post(f"/p/shop/tasks/{task.pk}/do/record/").status_code == 404
    assert qa.post(f"/p/shop/tasks/{task.pk}/do/explode/").status_code == 404
    assert qa.get(f"/p/shop/tasks/{task.pk}/do/record/").status_code == 405


def test_the_run_page_shows_steps_screens_events_logs_health_and_the_report(setup):
    project, people = setup
    run = f.RunFactory(project=project, status="failed", mode="replay", step_count=3, error="step 2 failed",
                       timeline=[
                           {"index": 1, "action": "launch", "label": "launch", "outcome": "passed",
                            "started_at": "2026-12-01T10:00:00.000Z", "finished_at": "2026-12-01T10:00:01.500Z",
                            "error": "", "screenshot": "screenshots/001.png"},
                           {"index": 2, "action": "tap", "label": "Fresh tab", "outcome": "failed",
                            "started_at": "2026-12-01T10:00:01.500Z", "finished_at": "2026-12-01T10:00:03.000Z",
                            "error": "no visible element matches id=tab-2 after 10 s", "screenshot": None,
                            "attempts": 3, "notes": [
                                "the app crashed: process 4101 is gone; restarted the app; the step is tried again"]}],
                       logs=[{"at": 1796119200000, "level": "pageerror", "text": "TypeError: x is undefined"}])
    record = f.TestRecordFactory(project=project, run=run, health_flags=["mock_not_enabled", "too_few_events"])
    for seq, (name, step) in enumerate([("page_view", 1), ("ab_exposure", 1), ("page_view", 1)]):
        f.EventFactory(test_record=record, seq=seq, name=name, step=step)
    report = f.ReportFactory(project=project, test_record=record, run=run)
    shot = RunScreenshot(run=run, step=1)
    shot.image.save("s.png", ContentFile(PNG), save=True)
    viewer = people[Role.VIEWER]
    page = viewer.get(f"/p/shop/runs/{run.pk}/").content.decode()
    assert "page_view ×2" in page and "ab_exposure" in page and "1.5 s" in page
    assert "no visible element matches id=tab-2 after 10 s" in page and "TypeError: x is undefined" in page
    assert 'class="flag red">The mock record never served a response' in page
    assert 'class="flag yellow">Fewer events than seconds of run time' in page
    assert f'/p/shop/reports/{report.pk}/' in page and 'hx-trigger="every 2s"' not in page  # final: no polling
    assert "2026-12-01 10:00:00" in page  # one readable time format
    assert "the app crashed: process 4101 is gone; restarted the app; the step is tried again" in page
    assert "3 tries" in page
    image = viewer.get(f"/p/shop/runs/{run.pk}/screenshots/1.png")
    assert image.status_code == 200 and b"".join(image.streaming_content) == PNG
    assert viewer.get(f"/p/shop/runs/{run.pk}/screenshots/2.png").status_code == 404
    listing = viewer.get("/p/shop/runs/").content.decode()
    assert "2/3 steps" in listing and "flag red" in listing
    outsider = Client()
    outsider.force_login(f.UserFactory())
    assert outsider.get(f"/p/shop/runs/{run.pk}/").status_code == 404
    assert outsider.get(f"/p/shop/runs/{run.pk}/screenshots/1.png").status_code == 404


def test_a_running_run_page_polls_and_htmx_gets_only_the_progress(setup):
    project, people = setup
    run = f.RunFactory(project=project, status="running", step_count=2)
    client = people[Role.VIEWER]
    assert 'hx-trigger="every 2s"' in client.get(f"/p/shop/runs/{run.pk}/").content.decode()
    partial = client.get(f"/p/shop/runs/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('<div id="progress"') and "<nav" not in partial


def test_admins_create_agents_and_issue_and_revoke_tokens(setup):
    project, people = setup
    admin, qa = people[Role.ADMIN], people[Role.QA]
    assert qa.get("/p/shop/agents/new/").status_code == 404
    response = admin.post("/p/shop/agents/new/", {"name": "lab-1"})
    agent = project.agents.get()
    assert response["Location"] == f"/p/shop/agents/{agent.pk}/"
    assert "already has an agent with this name" in admin.post("/p/shop/agents/new/", {"name": "lab-1"}).content.decode()
    assert qa.post(f"/p/shop/agents/{agent.pk}/do/issue-token/").status_code == 404
    issued = admin.post(f"/p/shop/agents/{agent.pk}/do/issue-token/").content.decode()
    token = AgentToken.objects.get(agent=agent)
    plaintext = issued.split('data-testid="token">')[1].split("<")[0]
    assert plaintext.startswith("tra_") and token.hint == plaintext[:10] and plaintext not in str(token.token_hash)
    assert "trackreplay agent --url http://testserver --name lab-1" in issued
    assert plaintext not in admin.get(f"/p/shop/agents/{agent.pk}/").content.decode()  # never shown again
    assert qa.post(f"/p/shop/agents/{agent.pk}/tokens/{token.pk}/revoke/").status_code == 404
    admin.post(f"/p/shop/agents/{agent.pk}/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_device_labels_are_edited_as_a_list(setup):
    project, people = setup
    device = f.DeviceFactory(project=project, labels=["local"])
    qa = people[Role.QA]
    assert 'value="local"' in qa.get(f"/p/shop/devices/{device.pk}/edit/").content.decode()
    qa.post(f"/p/shop/devices/{device.pk}/edit/", {"name": "Pixel 7 #2", "labels_text": "cn, android-14 , "})
    device.refresh_from_db()
    assert device.name == "Pixel 7 #2" and device.labels == ["cn", "android-14"]
    assert people[Role.VIEWER].get(f"/p/shop/devices/{device.pk}/edit/").status_code == 404


def test_the_api_refuses_a_broken_flow_the_same_way(setup):
    from rest_framework.test import APIClient

    project, _ = setup
    client = APIClient()
    client.force_authenticate(project.memberships.get(role=Role.QA).user)
    payload = {"project": project.pk, "name": "Browse", "path": "browse.yaml", "platform": "web",
               "source": FLOW + "  - tap: {txt: Fresh}\n"}
    answer = client.post("/api/v1/scripts/", payload, format="json")
    assert answer.status_code == 400
    assert answer.json()["source"] == ["line 5: tap: unknown key 'txt'; known: optional, timeout, retry, label, "
                                       "target, id, text, accessibility_id, xpath, css, point"]
    traversal = client.post("/api/v1/scripts/", {**payload, "source": FLOW, "path": "../../etc/x.yaml"}, format="json")
    assert traversal.status_code == 400 and "path" in traversal.json()
    assert client.post("/api/v1/scripts/", {**payload, "source": FLOW}, format="json").status_code == 201


def test_a_queued_run_is_cancelled_from_its_page(setup):
    project, people = setup
    run = f.RunFactory(project=project, status="queued")
    qa = people[Role.QA]
    assert 'data-action="cancel"' in qa.get(f"/p/shop/runs/{run.pk}/").content.decode()
    assert people[Role.VIEWER].post(f"/p/shop/runs/{run.pk}/cancel/").status_code == 404
    page = qa.post(f"/p/shop/runs/{run.pk}/cancel/", follow=True).content.decode()
    run.refresh_from_db()
    assert run.status == "cancelled" and "cancelled by qa-1" in run.error and "its device is free" in page


def test_task_groups_are_set_up_in_a_form(setup):
    project, people = setup
    task = f.TaskFactory(project=project, name="Browse")
    qa = people[Role.QA]
    bad = qa.post("/p/shop/task-groups/new/", {"name": "Nightly", "tasks": [task.pk], "cron": "0 25 * * *",
                                                "time_zone": "Asia/Shanghai", "enabled": "on"})
    assert "Invalid cron expression" in bad.content.decode()
    response = qa.post("/p/shop/task-groups/new/", {"name": "Nightly", "tasks": [task.pk], "cron": "0 2 * * *",
                                                     "time_zone": "Asia/Shanghai", "enabled": "on"})
    group = project.task_groups.get()
    assert response.status_code == 302 and list(group.tasks.all()) == [task] and group.periodic_task is not None


def test_a_test_records_health_and_steps_read_as_badges_and_a_table(setup):
    project, people = setup
    record = f.TestRecordFactory(project=project, health_flags=["count_mismatch"],
                                 steps=[{"step": 1, "action": "Fresh tab", "at": 1796119200000}])
    page = people[Role.VIEWER].get(f"/p/shop/test-records/{record.pk}/").content.decode()
    assert 'class="flag red">The device sent a different number of events' in page
    assert "Fresh tab" in page and "2026-12-01 10:00:00" in page and '"at"' not in page


def test_a_flow_others_include_cannot_be_broken_or_deleted_under_them(setup):
    from rest_framework.test import APIClient

    project, people = setup
    login = f.ScriptFactory(project=project, path="login.yaml", platform="web", source="steps:\n  - tap: {id: login}\n")
    f.ScriptFactory(project=project, path="main.yaml", platform="web", source="app: x\nsteps:\n  - run_flow: login.yaml\n")
    qa = people[Role.QA]
    broken = qa.post(f"/p/shop/scripts/{login.pk}/edit/", {"name": login.name, "path": "login.yaml", "platform": "web",
                                                           "source": "steps:\n  - tapp: {id: login}\n"})
    assert "line 2: unknown action" in broken.content.decode()
    renamed = qa.post(f"/p/shop/scripts/{login.pk}/edit/", {"name": login.name, "path": "signin.yaml",
                                                            "platform": "web", "source": login.source})
    assert "would no longer run: main.yaml:3: run_flow: no flow &#x27;login.yaml&#x27;" in renamed.content.decode()
    client = APIClient()
    client.force_authenticate(project.memberships.get(role=Role.QA).user)
    refused = client.delete(f"/api/v1/scripts/{login.pk}/")
    assert refused.status_code == 400 and "main.yaml" in refused.json()["path"][0]
    assert Script.objects.filter(pk=login.pk).exists()
