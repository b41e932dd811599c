"""The embedded mode's in-process Dramatiq worker (StubBroker: nothing else would consume),
and its sweeper: at start-up (messages of the last run died with it) and then periodically."""

import logging
import threading

from django.conf import settings

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_worker = None
SWEEP_EVERY = 30  # seconds


def start_embedded_worker():
    """Start worker threads and the sweeper in this process once, when EMBEDDED_WORKER is on."""
    global _worker
    if not settings.EMBEDDED_WORKER:
        return None
    with _lock:
        if _worker is not None:
            return _worker
        import dramatiq
        from django.utils.module_loading import autodiscover_modules
        from dramatiq import Worker

        autodiscover_modules("tasks")  # declares the actors and their queues
        broker = dramatiq.get_broker()
        _worker = Worker(
            broker, worker_threads=settings.EMBEDDED_WORKER_THREADS, worker_timeout=100
        )
        _worker.start()
        threading.Thread(target=_sweep_forever, name="sweeper", daemon=True).start()
        logger.info(
            "embedded worker started: %s threads on %s",
            settings.EMBEDDED_WORKER_THREADS,
            type(broker).__name__,
        )
        return _worker


def _sweep_forever() -> None:
    from django.db import close_old_connections

    from studio.services.sweeper import generations_sweep

    stop = threading.Event()
    while True:
        try:
            generations_sweep()
        except Exception:  # keep sweeping; the next round may succeed
            logger.exception("sweep failed")
        finally:
            close_old_connections()
        stop.wait(SWEEP_EVERY)
