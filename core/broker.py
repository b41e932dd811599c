"""Dramatiq's Redis broker, with idle consumers woken by new work instead of polling for it.

Dramatiq's Redis consumers poll: an idle consumer sleeps between fetches, backing off up to
the worker timeout (dramatiq_worker_timeout, 1 s by default). A job that arrives while its
consumer sleeps waits for the sleep to end: half the timeout on average, which is all of a
small job's platform time at the default and a busy-polling Redis at a low one.

Here every enqueue also pushes a token onto a per-queue wake list, and an idle consumer waits
on that list with BRPOP instead of sleeping: it wakes the moment work arrives and otherwise
blocks (no polling) until the timeout, when it fetches as before. Everything else (the
message format, fetch, ack, requeue, the maintenance of dead workers' messages) is
RedisBroker's own, so both kinds of broker can share a Redis and its queues.
"""

import contextlib
import time

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff, q_name
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message

# Tokens kept per queue: enough to wake every idle consumer of a burst; beyond that a
# consumer that wakes fetches a whole prefetch batch anyway.
WAKE_TOKENS_KEPT = 256
# How long a consumer whose prefetch is full waits before looking again: it only frees up
# when a message is acked, and acks are handled between two waits.
BUSY_WAIT = 0.005


class WakingRedisBroker(RedisBroker):
    """RedisBroker that wakes idle consumers when a message is enqueued."""

    @property
    def consumer_class(self):
        return _WakingConsumer

    def wake_key(self, queue_name: str) -> str:
        return f"{self.namespace}:{queue_name}.wake"

    def do_enqueue(self, queue_name: str, message_id: str, message_data: bytes):
        # RedisBroker makes its do_* commands up in __getattr__; this is its "enqueue".
        result = self._dispatch("enqueue")(queue_name, message_id, message_data)
        if q_name(queue_name) == queue_name:
            # Not a delay queue: delayed messages are enqueued again (and wake) when due.
            self.wake(queue_name)
        return result

    def wake(self, queue_name: str) -> None:
        key = self.wake_key(queue_name)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.lpush(key, 1)
            pipe.ltrim(key, 0, WAKE_TOKENS_KEPT - 1)
            pipe.execute()

    def wait_for_work(self, queue_name: str, seconds: float) -> None:
        """Block until a message for `queue_name` is enqueued, or `seconds` pass."""
        # A blocking read must end before the socket's own timeout (5 s in redis-py 8).
        limit = self.client.connection_pool.connection_kwargs.get("socket_timeout", 5)
        if limit:
            seconds = min(seconds, limit * 0.8)
        # A timeout is as if the wait had ended: the consumer fetches and waits again.
        with contextlib.suppress(redis.TimeoutError):
            self.client.brpop([self.wake_key(queue_name)], timeout=max(seconds, 0.001))


class _WakingConsumer(_RedisConsumer):
    def requeue(self, messages):
        # A stopping worker hands its prefetched messages back: wake whoever is idle.
        super().requeue(messages)
        if messages:
            self.broker.wake(self.queue_name)

    def __next__(self):
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:  # as RedisConsumer: skip, never crash on it
                        continue
                    self.misses = 0
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    return MessageProxy(message)
                if self.outstanding_message_count >= self.prefetch:
                    time.sleep(BUSY_WAIT)  # return to let the worker hand in its acks
                    return None
                self.message_cache = self.broker.do_fetch(
                    self.queue_name, self.prefetch - self.outstanding_message_count
                )
                if not self.message_cache:
                    self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
                    self.broker.wait_for_work(self.queue_name, backoff_ms / 1000)
                    return None
        except redis.ConnectionError as exc:
            raise ConnectionClosed(exc) from None
