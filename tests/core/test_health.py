"""GET /api/v1/health: database, cache and broker, 503 when one of them is down."""

import dramatiq
import pytest
import redis
from django.db import OperationalError

import core.health

pytestmark = pytest.mark.django_db

HEALTH = "/api/v1/health"
BROKEN_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_health_is_200_when_database_cache_and_broker_answer(api):
    response = api.get(HEALTH)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    for name, check in body["checks"].items():
        assert check["ok"] is True, name
        assert check["latency_ms"] >= 0
    assert response["X-Request-ID"].startswith("req_")


def test_health_needs_no_authentication_and_ignores_a_bad_token(api):
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert api.get(HEALTH).status_code == 200


@pytest.mark.postgres
def test_health_names_the_database_backend(api):
    assert api.get(HEALTH).json()["checks"]["database"]["backend"] == "postgresql"


@pytest.mark.redis
def test_health_names_the_redis_cache_and_broker(api):
    checks = api.get(HEALTH).json()["checks"]

    assert checks["cache"]["backend"] == "RedisCache"
    assert checks["broker"]["backend"] == "WakingRedisBroker"


def test_broken_cache_returns_503_naming_the_cache(api, settings):
    # Changing CACHES resets django.core.cache.caches, so the next request connects anew.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": BROKEN_REDIS,
        }
    }

    response = api.get(HEALTH)

    assert response.status_code == 503, response.content
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["cache"]["ok"] is False
    assert "ConnectionError" in body["checks"]["cache"]["error"]
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True


def test_broken_database_returns_503_naming_the_database(api, monkeypatch):
    def database_down() -> str:
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed")

    monkeypatch.setattr(core.health, "_database", database_down)

    response = api.get(HEALTH)

    assert response.status_code == 503
    checks = response.json()["checks"]
    # The public report names the failure, not hosts or ports (those go to the log).
    assert checks["database"] == {"ok": False, "error": "OperationalError"}
    assert checks["cache"]["ok"] is True


@pytest.mark.redis
def test_broken_broker_returns_503_naming_the_broker(api, monkeypatch):
    broker = dramatiq.get_broker()

    def refuse():
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(broker.client, "ping", refuse)

    response = api.get(HEALTH)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"] == "ConnectionError"
    assert body["checks"]["cache"]["ok"] is True
