import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.plans import plans_ensure
from tests.factories import PASSWORD, UserFactory


def pytest_collection_modifyitems(config, items):
    for name in settings.MISSING_SERVICES:
        reason = (
            f"{name} is not available (set {'DATABASE_URL' if name == 'postgres' else 'REDIS_URL'})"
        )
        for item in items:
            if item.get_closest_marker(name):
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_report_header(config):
    used = ", ".join(
        f"{name}={'yes' if up else 'MISSING'}" for name, up in settings.SERVICES.items()
    )
    return f"craftframe services: {used}; database engine {settings.DATABASES['default']['ENGINE']}"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if settings.MISSING_SERVICES:
        skipped = [r for r in terminalreporter.stats.get("skipped", [])]
        terminalreporter.write_sep(
            "!",
            f"services missing: {', '.join(settings.MISSING_SERVICES)}; "
            f"{len(skipped)} test(s) skipped because of it (CI=true turns this into a failure)",
        )


def clear_cache() -> None:
    """Empty this run's part of the cache. On Redis, only keys with this run's prefix: clear()
    would flush the whole database under any other test run sharing it."""
    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*"))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Rate-limit counters live in the cache; each test starts from zero.
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(autouse=True)
def _plans(request):
    # Transactional tests flush the database after each test, data migrations included.
    marker = request.node.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        request.getfixturevalue("transactional_db")
        plans_ensure()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def password():
    return PASSWORD


def login(client: APIClient, user) -> APIClient:
    """Authenticate `client` as `user` with a real JWT from the login endpoint."""
    response = client.post(
        "/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    return client


@pytest.fixture
def user_api(api, user):
    return login(api, user)
