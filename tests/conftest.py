import pytest
from rest_framework.test import APIClient

from accounts.models import Role

from .factories import MembershipFactory, ProjectFactory, UserFactory


@pytest.fixture
def project_a(db):
    return ProjectFactory(name="Alpha", slug="alpha")


@pytest.fixture
def project_b(db):
    return ProjectFactory(name="Beta", slug="beta")


def _member(project, role=Role.QA):
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=role)
    return user


@pytest.fixture
def member_a(project_a):
    return _member(project_a, Role.ADMIN)


@pytest.fixture
def member_b(project_b):
    return _member(project_b, Role.ADMIN)


@pytest.fixture
def make_member():
    return _member


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_a(member_a):
    client = APIClient()
    client.force_authenticate(member_a)
    return client


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    # Exchange bodies written by tests go to a throwaway folder, not var/media.
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    # Persistent connections opened by the live server's threads would keep the PostgreSQL test
    # database busy at teardown; tests close every connection at the end of each request.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
