"""The embedded mode's in-process Dramatiq worker (StubBroker: nothing else would consume)."""

import logging
import threading

from django.conf import settings

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_worker = None


def start_embedded_worker():
    """Start worker threads in this process once, when EMBEDDED_WORKER is on."""
    global _worker
    if not settings.EMBEDDED_WORKER:
        return None
    with _lock:
        if _worker is not None:
            return _worker
        import dramatiq
        from dramatiq import Worker

        broker = dramatiq.get_broker()
        _worker = Worker(
            broker, worker_threads=settings.EMBEDDED_WORKER_THREADS, worker_timeout=100
        )
        _worker.start()
        logger.info(
            "embedded worker started: %s threads on %s",
            settings.EMBEDDED_WORKER_THREADS,
            type(broker).__name__,
        )
        return _worker
