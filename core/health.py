"""Health of the parts the app needs: database, cache, broker."""

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)


def _timed(check: Callable[[], str | None]) -> dict:
    started = time.perf_counter()
    try:
        detail = check()
    except Exception as exc:  # any failure is "down"; the details go to the log, not the public
        logger.warning("health check %s failed: %s", check.__name__.strip("_"), exc)
        return {"ok": False, "error": type(exc).__name__}
    result = {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
    if detail:
        result["backend"] = detail
    return result


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _cache() -> str:
    key = "health:probe"
    cache.set(key, "1", 10)
    if cache.get(key) != "1":
        raise RuntimeError("value written to the cache could not be read back")
    return settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]


def _broker() -> str:
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    broker = dramatiq.get_broker()
    name = type(broker).__name__
    if isinstance(broker, RedisBroker):
        broker.client.ping()
    elif name == "RabbitmqBroker":
        import pika

        params = pika.URLParameters(settings.DRAMATIQ_BROKER_URL)
        params.socket_timeout = 2
        params.blocked_connection_timeout = 2
        pika.BlockingConnection(params).close()
    return name


def health_report() -> tuple[bool, dict]:
    checks = {"database": _timed(_database), "cache": _timed(_cache), "broker": _timed(_broker)}
    healthy = all(check["ok"] for check in checks.values())
    return healthy, {"status": "ok" if healthy else "degraded", "checks": checks}
