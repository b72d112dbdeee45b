"""Adding members cannot be used to pull in, or find out about, people the admin does not already work with:
by username only among people who share a project with the admin (the refusal is the same whether the name
exists or not); a site administrator adds anyone; there is no add-by-e-mail. E-mail addresses are shown only
to admins of a project the user belongs to, in the API and the console."""

import pytest
from rest_framework.test import APIClient

from accounts.models import Membership, Role

from .. import factories as f


def as_user(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def colleague(member_a, make_member):
    """Shares another project (not project A) with member_a."""
    other = f.ProjectFactory()
    f.MembershipFactory(project=other, user=member_a, role=Role.QA)
    return make_member(other, Role.VIEWER)


def add(client, project, **who):
    return client.post("/api/v1/memberships/", {"project": project.pk, "role": "viewer", **who}, format="json")


@pytest.mark.django_db
def test_an_admin_adds_a_colleague_by_username(client_a, project_a, colleague):
    response = add(client_a, project_a, user=colleague.username)
    assert response.status_code == 201, response.content
    assert response.json()["user"] == colleague.username
    assert Membership.objects.get(project=project_a, user=colleague).role == "viewer"


@pytest.mark.django_db
def test_a_strangers_username_is_refused_exactly_like_a_name_nobody_has(client_a, project_a):
    stranger = f.UserFactory(username="stranger")
    exists = add(client_a, project_a, user="stranger")
    missing = add(client_a, project_a, user="nobody-at-all")
    assert exists.status_code == missing.status_code == 400
    assert exists.json()["user"][0].replace("stranger", "X") == missing.json()["user"][0].replace("nobody-at-all", "X")
    assert not Membership.objects.filter(user=stranger).exists()


@pytest.mark.django_db
def test_a_site_administrator_adds_anyone_and_e_mail_is_not_a_way_in(client_a, project_a):
    stranger = f.UserFactory(username="stranger", email="stranger@example.test")
    refused = add(client_a, project_a, email="stranger@example.test")
    assert refused.status_code == 400 and "email" in refused.json()  # unknown field, named
    assert not Membership.objects.filter(user=stranger).exists()
    root = f.UserFactory(is_superuser=True)
    f.MembershipFactory(project=project_a, user=root, role=Role.ADMIN)
    assert add(as_user(root), project_a, user="stranger").status_code == 201
    assert Membership.objects.get(project=project_a, user=stranger).role == "viewer"


@pytest.mark.django_db
@pytest.mark.parametrize("who,field", [({}, "user"), ({"user": "a", "email": "a@example.test"}, "email"),
                                       ({"email": "not-an-address"}, "email"), ({"usr": "a"}, "usr")])
def test_bad_requests_name_the_field(client_a, project_a, who, field):
    response = add(client_a, project_a, **who)
    assert response.status_code == 400 and field in response.json(), response.content
    assert project_a.memberships.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.QA, Role.RD, Role.VIEWER])
def test_non_admins_are_refused_before_anything_is_looked_up(project_a, make_member, role, colleague):
    client = as_user(make_member(project_a, role))
    f.UserFactory(email="known@example.test")
    answers = [add(client, project_a, user=colleague.username), add(client, project_a, user="nobody")]
    assert {a.status_code for a in answers} == {403}
    assert len({a.json()["detail"] for a in answers}) == 1
    assert project_a.memberships.count() == 2


@pytest.mark.django_db
def test_an_agent_token_cannot_add_members(project_a, colleague):
    from automation.models import AgentToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + AgentToken.issue(agent=f.AgentFactory(project=project_a),
                                                                       name="t").token)
    assert add(client, project_a, user=colleague.username).status_code == 403


@pytest.mark.django_db
def test_a_membership_changes_role_but_not_person(client_a, project_a, make_member, colleague):
    membership = Membership.objects.get(user=make_member(project_a, Role.QA))
    assert client_a.patch(f"/api/v1/memberships/{membership.pk}/", {"role": "rd"},
                          format="json").json()["role"] == "rd"
    response = client_a.patch(f"/api/v1/memberships/{membership.pk}/", {"user": colleague.username}, format="json")
    assert response.status_code == 400 and "user" in response.json()
    membership.refresh_from_db()
    assert membership.user != colleague


# -- who sees e-mail addresses -----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_emails_are_shown_only_to_admins_of_a_shared_project(project_a, member_a, make_member):
    qa = make_member(project_a, Role.QA)
    viewer = make_member(project_a, Role.VIEWER)

    def emails(user):
        rows = as_user(user).get("/api/v1/users/").json()["results"]
        return {row["username"]: row["email"] for row in rows}

    assert emails(member_a) == {u.username: u.email for u in (member_a, qa, viewer)}
    assert emails(qa) == {member_a.username: None, qa.username: qa.email, viewer.username: None}
    assert emails(viewer)[qa.username] is None
    # Searching by address finds nothing for a non-admin (it would tell them who has which address).
    assert as_user(qa).get("/api/v1/users/", {"search": member_a.email}).json()["count"] == 0


@pytest.mark.django_db
def test_an_admin_of_another_project_does_not_see_emails_of_people_they_only_meet_elsewhere(member_a, make_member):
    shared = f.ProjectFactory()
    f.MembershipFactory(project=shared, user=member_a, role=Role.QA)
    colleague = make_member(shared, Role.QA)
    row = next(r for r in as_user(member_a).get("/api/v1/users/").json()["results"]
               if r["username"] == colleague.username)
    assert row["email"] is None


@pytest.mark.django_db
def test_memberships_show_usernames_only(project_a, make_member, member_a):
    qa = make_member(project_a, Role.QA)
    body = as_user(qa).get("/api/v1/memberships/").content.decode()
    assert member_a.username in body and member_a.email not in body


@pytest.mark.django_db
def test_an_agent_token_sees_no_emails(project_a, member_a):
    from automation.models import AgentToken

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer " + AgentToken.issue(agent=f.AgentFactory(project=project_a),
                                                                       name="t").token)
    body = client.get("/api/v1/users/").content.decode()
    assert member_a.username in body and member_a.email not in body


# -- the console's members page ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_members_page_shows_emails_to_admins_only(client, project_a, member_a, make_member):
    qa = make_member(project_a, Role.QA)
    client.force_login(member_a)
    page = client.get(f"/p/{project_a.slug}/members/").content.decode()
    assert qa.email in page and qa.username in page
    client.force_login(qa)
    page = client.get(f"/p/{project_a.slug}/members/").content.decode()
    assert qa.username in page and member_a.username in page
    assert member_a.email not in page and 'data-action="add-member"' not in page


@pytest.mark.django_db
def test_the_members_page_follows_the_same_rules(client, project_a, member_a, colleague):
    client.force_login(member_a)
    url = f"/p/{project_a.slug}/members/add/"
    f.UserFactory(username="stranger", email="stranger@example.test")
    stranger = client.post(url, {"username": "stranger", "role": "qa"}, follow=True).content.decode()
    nobody = client.post(url, {"username": "nobody", "role": "qa"}, follow=True).content.decode()
    assert "No one named &#x27;stranger&#x27; shares a project with you" in stranger
    assert "No one named &#x27;nobody&#x27; shares a project with you" in nobody
    client.post(url, {"username": colleague.username, "role": "rd"})
    assert Membership.objects.get(project=project_a, user=colleague).role == "rd"
    assert set(project_a.memberships.values_list("user__username", flat=True)) == {
        member_a.username, colleague.username}
    membership = Membership.objects.get(project=project_a, user=colleague)
    client.post(f"/p/{project_a.slug}/members/{membership.pk}/", {"role": "viewer"})
    assert Membership.objects.get(pk=membership.pk).role == "viewer"
    client.post(f"/p/{project_a.slug}/members/{membership.pk}/", {"remove": "1"})
    assert not Membership.objects.filter(pk=membership.pk).exists()


@pytest.mark.django_db
def test_only_admins_change_members_in_the_console(client, project_a, make_member, colleague, member_b):
    for user in (make_member(project_a, Role.QA), member_b):
        client.force_login(user)
        assert client.post(f"/p/{project_a.slug}/members/add/", {"username": colleague.username}).status_code == 404
        own = Membership.objects.filter(project=project_a).first()
        assert client.post(f"/p/{project_a.slug}/members/{own.pk}/", {"remove": "1"}).status_code == 404
    assert not Membership.objects.filter(project=project_a, user=colleague).exists()
