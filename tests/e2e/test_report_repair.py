"""From a red report to a repaired rule in one click, in headless Chromium: the report groups anomalies by
event with the raw event, the repair button creates a new scenario version, re-verifies without a device
and lands on the new report, which says what changed."""

import pytest

from accounts.models import Membership, User
from reports.verification import verify_record
from scenarios.learning import infer_version
from tests.integration.test_verification_api import store

from .. import factories as f
from ..bench.rule_quality.simapp import api_responses, clean_run
from .test_console_browser import browser, console_url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


@pytest.fixture
def red_report(console_url):  # noqa: F811
    # Seeded before the browser starts (see test_console_browser.demo_targets for why).
    import json

    project = f.ProjectFactory(name="Shop", slug="shop")
    user = User.objects.create_user("qa1", password="qa-pass-1")
    Membership.objects.create(project=project, user=user, role="qa")
    mock = f.MockRecordFactory(project=project)
    for order, response in enumerate(api_responses()):
        f.ExchangeFactory(mock_record=mock, order=order, method=response.method, host=response.host,
                          path=response.path, response_body_inline=json.dumps(response.body).encode())
    baselines = [store(project, f"baseline {seed}", clean_run(seed), mock) for seed in (1, 2, 3)]
    scenario = f.ScenarioFactory(project=project, name="Browse and buy")
    version = infer_version(scenario, baselines)
    run = clean_run(90)
    events = [dict(e, properties=dict(e["properties"])) for e in run.events]
    next(e for e in events if e["event"] == "checkout")["properties"]["payment_method"] = "alipay"
    replay = store(project, "replay with alipay", run, mock, events)
    report = verify_record(replay, version, baseline=baselines[0])
    assert report.strong_anomalies >= 1
    return report


def test_repair_an_anomaly_from_the_report_page(red_report, console_url, browser):  # noqa: F811
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{console_url}/login/")
    page.fill("#id_username", "qa1")
    page.fill("#id_password", "qa-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{console_url}/p/shop/")
    page.goto(f"{console_url}/p/shop/reports/{red_report.pk}/")
    assert page.inner_text("[data-testid=pass-rate]").startswith("86%")  # 6 of 7 events
    group = page.locator("section.event-group[data-event=checkout]")
    assert "1 strong" in group.locator("h3").inner_text()
    row = group.locator("tr.anomaly.strong", has_text="payment_method")
    row.locator("summary").click()
    assert '"payment_method": "alipay"' in row.inner_text()  # the raw event
    # The recorded-vs-replayed diff shows the value that changed.
    assert "payment_method" in " ".join(page.locator("section.diff").all_inner_texts())

    row.locator("button[data-action=add_to_enum]").click()
    page.wait_for_url(lambda url: f"/reports/{red_report.pk}/" not in url)
    assert "Repaired: added 'alipay'" in page.inner_text(".messages")
    assert page.inner_text("[data-testid=pass-rate]").startswith("100%")
    assert "added 'alipay'" in page.inner_text("[data-testid=what-changed]")
    assert page.locator("section.event-group[data-event=checkout]").count() == 0 or \
        "weak only" in page.inner_text("section.event-group[data-event=checkout] h3")

    page.goto(f"{console_url}/p/shop/reports/{red_report.pk}/")
    assert "A repair superseded this report" in page.inner_text(".notice")
    assert page.locator("button[data-action]").count() == 0  # nothing left to repair on a superseded report
    assert not errors, errors
