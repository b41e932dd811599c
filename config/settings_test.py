"""Test settings: the real services from DATABASE_URL / REDIS_URL when they answer.

`make test` points DATABASE_URL and REDIS_URL at this machine's PostgreSQL and Redis. When one
does not answer, the suite falls back to SQLite / the local-memory cache and skips the tests
marked `postgres` / `redis`, naming them in the summary. With CI=true a missing service stops
the run instead: CI must not pass by skipping.
"""

import atexit
import os
import shutil
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-use-0123456789")


def _answers(url: str | None, default_port: int) -> bool:
    if not url:
        return False
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), 2
        ):
            return True
    except OSError:
        return False


_database_url = os.environ.get("DATABASE_URL", "")
_redis_url = os.environ.get("REDIS_URL", "")
RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "")
SERVICES = {
    "postgres": _database_url.startswith("postgres") and _answers(_database_url, 5432),
    "redis": _answers(_redis_url, 6379),
    "rabbitmq": _answers(RABBITMQ_URL, 5672),
}
SERVICE_VARIABLES = {"postgres": "DATABASE_URL", "redis": "REDIS_URL", "rabbitmq": "RABBITMQ_URL"}
MISSING_SERVICES = [name for name, up in SERVICES.items() if not up]
if os.environ.get("CI", "").lower() in ("1", "true", "yes") and MISSING_SERVICES:
    raise ImproperlyConfigured(
        "CI=true but these services are missing or not answering: "
        + ", ".join(MISSING_SERVICES)
        + f" (DATABASE_URL={_database_url!r}, REDIS_URL={_redis_url!r}, "
        f"RABBITMQ_URL={RABBITMQ_URL!r})"
    )
if not SERVICES["postgres"]:
    os.environ["DATABASE_URL"] = "sqlite:///:memory:"
if not SERVICES["redis"]:
    os.environ.pop("REDIS_URL", None)
# S3 only where a test asks for it (the s3_storage fixture), never a developer's real bucket.
os.environ.pop("S3_BUCKET", None)
# Queues of this run only (Redis keys are shared by every run on the machine).
os.environ.setdefault("DRAMATIQ_NAMESPACE", f"dramatiq-test{os.getpid()}")
# Tests run actors explicitly (or start their own workers); no broker is shared between runs.
os.environ.setdefault("EMBEDDED_WORKER", "false")

from config.settings import *  # noqa: E402,F403

if SERVICES["postgres"]:
    # One test database per run, so two runs on one machine (CI and a developer, or parallel
    # sessions) never drop each other's database.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}  # noqa: F405
if SERVICES["redis"]:
    # Likewise a key prefix per run: tests clear only their own keys (tests/conftest.py).
    CACHES["default"]["KEY_PREFIX"] = f"test{os.getpid()}"  # noqa: F405
    EVENTS_PREFIX = f"test{os.getpid()}"
if not SERVICES["redis"]:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

# In-process tests run on local files and no database pool (their own processes — servers,
# workers — use production settings, pool included).
if DATABASES["default"].get("OPTIONS", {}).pop("pool", None):  # noqa: F405
    DATABASES["default"]["CONN_MAX_AGE"] = 60  # noqa: F405

# Media of this run in a scratch folder, removed at exit.
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="craftframe-test-media-"))
atexit.register(shutil.rmtree, MEDIA_ROOT, ignore_errors=True)
STORAGES["default"] = {  # noqa: F405
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},  # noqa: F405
}

# Fast hashing: the suite creates hundreds of users. Production keeps Django's default.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Serve static files straight from the apps (no collectstatic before tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
