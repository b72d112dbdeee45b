"""A QA engineer's first visit, in headless Chromium (Debian's) driven by Playwright: log in, switch project,
open every section and a detail page of each."""

import os
import shutil

import pytest

from accounts.models import Membership, User
from trackreplay.console.pages import PAGES
from trackreplay.demo import ensure_admin, seed_demo

from ..console_data import recorded_demo

from .. import factories as f

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync", "--disable-gpu"]

pytestmark = pytest.mark.browser


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is not installed: `make test` installs Debian's chromium package")
    return path


@pytest.fixture
def console_url(live_server, transactional_db):
    return live_server.url


@pytest.fixture
def browser():
    # Playwright's sync API runs an event loop in this thread; the live server's ORM work is in its own thread.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def demo_targets(console_url):
    """The demo project plus a second project; returns (page, pk) for one object of every console page.
    Runs before the browser starts: ORM calls made while Playwright's event loop runs would open a
    connection in another async context that nothing closes."""
    admin, _ = ensure_admin("admin", "browser-pass-1")
    project = recorded_demo(admin)
    report = f.ReportFactory(project=project, test_record=project.test_records.first())
    f.AnomalyFactory(report=report)
    other = f.ProjectFactory(name="Shop iOS", slug="shop-ios")
    f.DeviceFactory(project=other, name="iPhone 15 #1", platform="ios")
    Membership.objects.create(project=other, user=User.objects.get(username="admin"), role="qa")
    from accounts.scoping import project_path

    targets = []
    for page in PAGES:
        obj = page.model.objects.filter(**{project_path(page.model): project}).first()
        targets.append((page, obj.pk))

    return targets


def test_log_in_switch_project_and_visit_every_page(demo_targets, console_url, browser, tmp_path):
    targets = demo_targets
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{console_url}/")
    assert "/login/" in page.url
    page.fill("#id_username", "admin")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert "didn't match" in page.inner_text("main")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "browser-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{console_url}/p/demo-shop/")
    assert page.inner_text("h1") == "Demo shop"

    for console_page, pk in targets:
        if console_page.in_nav:
            page.click(f"nav.sidebar >> text='{console_page.title}'")
            page.wait_for_url(f"**/p/demo-shop/{console_page.slug}/")
            assert page.inner_text("h1") == console_page.title
            assert page.locator("tbody tr").count() >= 1
            page.click(f"tbody a[href='/p/demo-shop/{console_page.slug}/{pk}/']")
        else:
            page.goto(f"{console_url}/p/demo-shop/{console_page.slug}/{pk}/")
        page.wait_for_url(f"**/p/demo-shop/{console_page.slug}/{pk}/")
        assert page.locator("dl.fields dt").count() >= 3, console_page.slug

    # Live search (htmx) narrows the tracking plan without a page load.
    page.click("nav.sidebar >> text='Tracking plan'")
    page.wait_for_function("() => window.htmx !== undefined")  # deferred: typing earlier would go unheard
    page.fill("input[name=q]", "cart")
    page.wait_for_function("() => !document.querySelector('#results').innerText.includes('tab_click')")
    assert "add_to_cart" in page.inner_text("#results")

    # The project switcher (htmx) keeps the section and changes the project.
    page.click("nav.sidebar >> text='Devices'")
    page.wait_for_function("() => window.htmx !== undefined")
    page.select_option("#project-switcher", "shop-ios")
    page.wait_for_url("**/p/shop-ios/devices/")
    assert "iPhone 15 #1" in page.inner_text("#results")
    page.screenshot(path=str(tmp_path / "devices.png"), full_page=True)
    assert not errors, errors
