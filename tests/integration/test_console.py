"""Console pages: every list and detail page renders the project's real data for its members and answers 404
to everyone else."""

import pytest
from django.test import Client

from accounts.models import Project
from trackreplay.console.pages import PAGES
from trackreplay.demo import ensure_admin, seed_demo

from ..console_data import recorded_demo

from .. import factories as f


@pytest.fixture
def demo(db):
    admin, _ = ensure_admin("admin", "demo-pass-123")
    project = recorded_demo(admin)
    report = f.ReportFactory(project=project, test_record=project.test_records.first())
    f.AnomalyFactory(report=report, message="tab_name 'Fresh ' is not one of ['Recommended', 'Fresh']")
    client = Client()
    client.force_login(admin)
    return project, client


def _one_object(page, project):
    from accounts.scoping import project_path

    return page.model.objects.filter(**{project_path(page.model): project}).first()


def test_login_is_required(db):
    response = Client().get("/p/demo-shop/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_home_opens_the_first_project(demo):
    project, client = demo
    assert client.get("/")["Location"] == f"/p/{project.slug}/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.slug)
def test_every_page_lists_and_details_real_data(demo, page):
    project, client = demo
    obj = _one_object(page, project)
    assert obj is not None, f"the demo has no {page.title}"
    listing = client.get(f"/p/{project.slug}/{page.slug}/")
    assert listing.status_code == 200
    assert f'href="/p/{project.slug}/{page.slug}/{obj.pk}/"' in listing.content.decode()
    detail = client.get(f"/p/{project.slug}/{page.slug}/{obj.pk}/")
    assert detail.status_code == 200
    from django.utils.html import escape

    assert escape(str(obj)) in detail.content.decode()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.slug)
def test_other_projects_members_get_404_on_every_page(demo, page, make_member):
    project, _ = demo
    outsider = make_member(f.ProjectFactory())
    client = Client()
    client.force_login(outsider)
    obj = _one_object(page, project)
    assert client.get(f"/p/{project.slug}/{page.slug}/").status_code == 404
    assert client.get(f"/p/{project.slug}/{page.slug}/{obj.pk}/").status_code == 404
    assert client.get(f"/p/{project.slug}/").status_code == 404
    # Nor can they reach it through their own project's URL.
    own = Project.objects.filter(memberships__user=outsider).get()
    assert client.get(f"/p/{own.slug}/{page.slug}/{obj.pk}/").status_code == 404


def test_exchange_page_pretty_prints_json_and_shows_binary_as_hex(demo):
    project, client = demo
    record = project.mock_records.get()
    feed = record.exchanges.get(path="/api/home")
    text = client.get(f"/p/{project.slug}/exchanges/{feed.pk}/").content.decode()
    assert "&quot;tab_name&quot;: &quot;Recommended&quot;" in text
    image = record.exchanges.get(path="/static/banner.png")
    text = client.get(f"/p/{project.slug}/exchanges/{image.pk}/").content.decode()
    assert "bytes of binary data" in text and "89 50 4e 47" in text


def test_search_filters_the_list_and_htmx_gets_only_the_results(demo):
    project, client = demo
    full = client.get(f"/p/{project.slug}/tracking-plan/?q=cart").content.decode()
    assert "add_to_cart" in full and "tab_click" not in full
    partial = client.get(f"/p/{project.slug}/tracking-plan/?q=tab", HTTP_HX_REQUEST="true").content.decode()
    assert "tab_click" in partial and "<nav" not in partial


def test_project_switcher_goes_to_the_same_page_of_the_other_project(demo, make_member):
    project, client = demo
    other = f.ProjectFactory(name="Other", slug="other")
    from accounts.models import Membership, User

    Membership.objects.create(project=other, user=User.objects.get(username="admin"), role="viewer")
    response = client.post("/switch-project/", {"project": "other", "page": "devices"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Redirect"] == "/p/other/devices/"
    response = client.post("/switch-project/", {"project": f.ProjectFactory().slug})
    assert response.status_code == 404


def test_a_user_without_projects_can_create_one(make_member, db):
    user = f.UserFactory()
    client = Client()
    client.force_login(user)
    assert "Create your first project" in client.get("/").content.decode()
    response = client.post("/projects/new/", {"name": "Shop iOS"})
    assert response["Location"] == "/p/shop-ios/"
    assert Project.objects.get(slug="shop-ios").memberships.get().role == "admin"
    again = client.post("/projects/new/", {"name": "Shop iOS"})
    assert again.status_code == 400 and "already exists" in again.content.decode()


def test_demo_seed_is_idempotent(demo):
    project, _ = demo
    admin, password = ensure_admin("admin")
    assert password is None
    counts = (project.event_definitions.count(), project.mock_records.count())
    assert seed_demo(admin) == project
    assert (project.event_definitions.count(), project.mock_records.count()) == counts


def test_django_admin_is_available_to_staff(demo):
    _, client = demo
    assert client.get("/admin/mock_records/exchange/").status_code == 200
