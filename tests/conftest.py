import pytest
from rest_framework.test import APIClient

from accounts.models import Role

from .factories import MembershipFactory, ProjectFactory, UserFactory


def _fast_password_hashing():
    # Django's default PBKDF2 costs a third of a second per password on this machine, and the suite creates
    # hundreds of users: the tests check who may sign in, not how hard a hash is to crack.
    from django.conf import settings
    from django.contrib.auth import hashers

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    hashers.get_hashers.cache_clear()
    hashers.get_hashers_by_algorithm.cache_clear()


_fast_password_hashing()


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
def _fresh_cache():
    # API throttle counts live in the (local-memory) cache: each test starts from zero, as ids are reused.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    # Exchange bodies written by tests go to a throwaway folder, not var/media.
    settings.MEDIA_ROOT = tmp_path / "media"


def _no_nagle_on_the_live_server():
    """Django's development server writes a response's headers and body in separate sends; with Nagle's
    algorithm on, the body waits for the client's delayed ACK (40 ms), which made every live-server request
    take 50 ms instead of 7 (the schema fuzz test makes thousands)."""
    import socket

    from django.core.servers import basehttp

    accept = basehttp.WSGIServer.get_request

    def get_request(self):
        connection, address = accept(self)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address

    basehttp.WSGIServer.get_request = get_request


_no_nagle_on_the_live_server()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    # Persistent connections opened by the live server's threads would keep the PostgreSQL test
    # database busy at teardown; tests close every connection at the end of each request.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        # A file, not memory: the end-to-end tests' Celery worker is a process of its own and must open the
        # same test database (PostgreSQL's test database is reachable by name anyway).
        import os

        path = settings.VAR_DIR / f"test-db-{os.getpid()}.sqlite3"
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = str(path)


# -- no test leaves a browser, proxy, worker or platform process running -----------------------------------------------------------

def pytest_sessionstart(session):
    from .process_audit import long_running_pids

    session.config._trackreplay_processes = long_running_pids()


def pytest_sessionfinish(session, exitstatus):
    import time

    from .process_audit import long_running_pids, describe

    before = getattr(session.config, "_trackreplay_processes", set())
    left = long_running_pids() - before
    for _ in range(20):  # processes being stopped right now get a moment to go
        if not left:
            return
        time.sleep(0.25)
        left = long_running_pids() - before
    print(f"\nThe tests left browser, proxy, worker or platform processes running:\n{describe(left)}")
    session.exitstatus = 1
