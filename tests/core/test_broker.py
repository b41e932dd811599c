"""The Redis broker's wake-ups (core/broker.py), on the real Redis: an enqueue leaves a token
for the queue's idle consumers, and an idle consumer blocked on it runs new work at once
instead of after its poll interval."""

import os
import threading
import time

import dramatiq
import pytest
import redis
from django.conf import settings
from dramatiq.middleware import AgeLimit, Retries, TimeLimit

from core.broker import WAKE_TOKENS_KEPT, WakingRedisBroker

pytestmark = pytest.mark.redis

IDLE_TIMEOUT_MS = 20_000  # far longer than any wait below: only a wake-up can beat it


@pytest.fixture
def broker():
    name = f"test-waking-{os.getpid()}-{time.monotonic_ns()}"
    broker = WakingRedisBroker(
        # Named connections: CLIENT LIST tells this broker's from other test runs'.
        # No socket timeout, so an idle consumer really blocks for the whole idle timeout.
        client=redis.Redis.from_url(settings.REDIS_URL, client_name=name, socket_timeout=None),
        namespace=name,
        middleware=[AgeLimit(), TimeLimit(), Retries(max_retries=0)],
    )
    yield broker
    keys = list(broker.client.scan_iter(match=f"{broker.namespace}:*"))
    if keys:
        broker.client.delete(*keys)
    broker.close()


def tokens(broker, queue: str) -> int:
    return broker.client.llen(broker.wake_key(queue))


def test_an_enqueue_leaves_one_wake_token_for_its_queue(broker):
    @dramatiq.actor(broker=broker, queue_name="wake-a")
    def task():
        pass

    task.send()
    task.send()

    assert tokens(broker, "wake-a") == 2
    assert tokens(broker, "wake-b") == 0


def test_a_delayed_message_wakes_no_one_until_it_is_due(broker):
    @dramatiq.actor(broker=broker, queue_name="wake-delayed")
    def task():
        pass

    task.send_with_options(delay=60_000)

    assert tokens(broker, "wake-delayed") == 0
    assert broker.client.llen(broker.wake_key("wake-delayed.DQ")) == 0


def test_messages_handed_back_by_a_stopping_worker_wake_the_others(broker):
    @dramatiq.actor(broker=broker, queue_name="wake-requeue")
    def task():
        pass

    task.send()
    consumer = broker.consume("wake-requeue", prefetch=1, timeout=1000)
    broker.wait_for_work("wake-requeue", 1.0)  # the enqueue's token, taken
    message = next(consumer)
    assert message is not None and tokens(broker, "wake-requeue") == 0

    consumer.requeue([message])

    assert tokens(broker, "wake-requeue") == 1
    assert broker.client.llen(f"{broker.namespace}:wake-requeue") == 1  # back in the queue


def test_tokens_are_capped(broker):
    for _ in range(WAKE_TOKENS_KEPT + 20):
        broker.wake("wake-capped")

    assert tokens(broker, "wake-capped") == WAKE_TOKENS_KEPT


def test_waiting_returns_at_once_when_work_was_announced_and_takes_the_token(broker):
    broker.wake("wake-c")
    started = time.monotonic()

    broker.wait_for_work("wake-c", 15.0)

    assert time.monotonic() - started < 5.0  # not the 15 s it would block for nothing
    assert tokens(broker, "wake-c") == 0


def blocked(broker, deadline: float = 30.0) -> bool:
    """Whether one of the broker's connections is blocked in BRPOP (asked of Redis)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        clients = broker.client.client_list()
        if any(c.get("name") == broker.namespace and c.get("cmd") == "brpop" for c in clients):
            return True
        time.sleep(0.05)  # polling Redis for a state, with a deadline
    return False


def test_an_idle_consumer_wakes_for_new_work_instead_of_waiting_out_its_timeout(broker):
    @dramatiq.actor(broker=broker, queue_name="wake-idle")
    def task():
        pass

    consumer = broker.consume("wake-idle", prefetch=1, timeout=IDLE_TIMEOUT_MS)
    consumer.misses = 100  # long idle: its next wait is the full timeout (10-20 s, jittered)
    woke = threading.Event()

    def idle() -> None:
        assert next(consumer) is None  # nothing to fetch: waits, then reports nothing
        woke.set()

    waiting = threading.Thread(target=idle, daemon=True)
    waiting.start()
    assert blocked(broker)  # in BRPOP on the wake list now
    task.send()
    assert woke.wait(5.0), "the consumer slept through the enqueue"
    message = next(consumer)
    assert message is not None and message.actor_name == "task"
    consumer.ack(message)
    waiting.join(5.0)
