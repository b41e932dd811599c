"""Change notifications between processes: published from any thread of any process (a
worker reporting progress), received in the web server's event loop (an open event stream).

With `EVENTS_URL` (default: `REDIS_URL`) they travel over Redis pub/sub, so a worker on
another machine reaches every web process; without it (the embedded mode, where workers are
threads of the web process) they are handed over in-process. Delivery is best effort either
way: a notification says "look again", and a subscriber that may have missed some (its Redis
connection dropped) is told to resync from the database.
"""

import asyncio
import contextlib
import json
import logging
import threading
import weakref
from dataclasses import dataclass, field

from django.conf import settings

logger = logging.getLogger(__name__)

RESYNC = {"resync": True}  # what a subscriber gets when it may have missed messages
RECONNECT_DELAYS = (0.1, 0.5, 1, 2, 5)


def channel(name: str) -> str:
    """The deployment's channel for `name` (several deployments may share one Redis)."""
    return f"{settings.EVENTS_PREFIX}:{name}"


@dataclass(eq=False)
class Subscription:
    """Messages of one channel for one consumer (an event stream), in arrival order."""

    name: str
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    hub: object = None

    async def get(self, timeout: float) -> dict:
        """The next message; TimeoutError when none arrived within `timeout` seconds."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    def deliver(self, message: dict) -> None:
        """Thread-safe: queue a message for this subscriber's event loop."""
        with contextlib.suppress(RuntimeError):  # its loop is closed: the stream is gone
            self.loop.call_soon_threadsafe(self.queue.put_nowait, message)

    async def close(self) -> None:
        if self.hub is not None:
            await self.hub.unsubscribe(self)
            self.hub = None


class LocalHub:
    """In-process fan-out: publishers are threads of this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[Subscription]] = {}

    def publish(self, name: str, message: dict) -> None:
        with self._lock:
            targets = list(self._subscribers.get(name, ()))
        for subscription in targets:
            subscription.deliver(message)

    async def subscribe(self, name: str) -> Subscription:
        subscription = Subscription(name=name, loop=asyncio.get_running_loop(), hub=self)
        with self._lock:
            self._subscribers.setdefault(name, set()).add(subscription)
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            group = self._subscribers.get(subscription.name)
            if group is not None:
                group.discard(subscription)
                if not group:
                    del self._subscribers[subscription.name]

    def subscriber_count(self) -> int:
        with self._lock:
            return sum(len(group) for group in self._subscribers.values())


class _LoopListener:
    """One Redis pub/sub connection per event loop, shared by every subscription on it: a
    channel is subscribed while at least one stream wants it."""

    def __init__(self, url: str):
        import redis.asyncio as aioredis

        self._client = aioredis.Redis.from_url(url, health_check_interval=30)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._subscribers: dict[str, set[Subscription]] = {}
        self._reader: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    async def add(self, subscription: Subscription) -> None:
        key = channel(subscription.name)
        async with self._lock:
            group = self._subscribers.setdefault(key, set())
            first = not group
            group.add(subscription)
            if first:
                await self._pubsub.subscribe(key)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.get_running_loop().create_task(self._read())

    async def remove(self, subscription: Subscription) -> None:
        key = channel(subscription.name)
        async with self._lock:
            group = self._subscribers.get(key)
            if group is None:
                return
            group.discard(subscription)
            if not group:
                del self._subscribers[key]
                try:
                    await self._pubsub.unsubscribe(key)
                except Exception:  # the connection is down; resubscribing skips it anyway
                    logger.debug("unsubscribe of %s failed", key, exc_info=True)

    def count(self) -> int:
        return sum(len(group) for group in self._subscribers.values())

    async def _read(self) -> None:
        failures = 0
        while self._subscribers:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The connection dropped: messages may have been lost meanwhile. Reconnect,
                # subscribe again, and tell every stream to read the state afresh.
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                logger.warning("events: Redis pub/sub connection lost; retrying in %ss", delay)
                await asyncio.sleep(delay)
                try:
                    await self._resubscribe()
                except Exception:
                    continue
                for group in list(self._subscribers.values()):
                    for subscription in list(group):
                        subscription.queue.put_nowait(RESYNC)
                continue
            failures = 0
            if message is None or message.get("type") != "message":
                continue
            key = message["channel"].decode()
            try:
                data = json.loads(message["data"])
            except (ValueError, TypeError):
                logger.warning("events: unreadable message on %s", key)
                continue
            for subscription in list(self._subscribers.get(key, ())):
                subscription.queue.put_nowait(data)

    async def _resubscribe(self) -> None:
        await self._pubsub.aclose()
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        if self._subscribers:
            await self._pubsub.subscribe(*self._subscribers)


class RedisHub:
    """Redis pub/sub: PUBLISH from any process; each event loop listens on one connection."""

    def __init__(self, url: str):
        self.url = url
        self._publisher = None
        self._publisher_lock = threading.Lock()
        self._listeners: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _client(self):
        with self._publisher_lock:
            if self._publisher is None:
                import redis

                self._publisher = redis.Redis.from_url(
                    self.url, socket_timeout=2, socket_connect_timeout=2
                )
            return self._publisher

    def publish(self, name: str, message: dict) -> None:
        self._client().publish(channel(name), json.dumps(message, separators=(",", ":")))

    async def subscribe(self, name: str) -> Subscription:
        loop = asyncio.get_running_loop()
        listener = self._listeners.get(loop)
        if listener is None:
            listener = self._listeners[loop] = _LoopListener(self.url)
        subscription = Subscription(name=name, loop=loop, hub=self)
        await listener.add(subscription)
        return subscription

    async def unsubscribe(self, subscription: Subscription) -> None:
        listener = self._listeners.get(subscription.loop)
        if listener is not None:
            await listener.remove(subscription)

    def subscriber_count(self) -> int:
        return sum(listener.count() for listener in list(self._listeners.values()))


_hub = None
_hub_lock = threading.Lock()


def hub() -> LocalHub | RedisHub:
    global _hub
    with _hub_lock:
        if _hub is None or getattr(_hub, "url", None) != settings.EVENTS_URL:
            _hub = RedisHub(settings.EVENTS_URL) if settings.EVENTS_URL else LocalHub()
        return _hub


def publish(name: str, message: dict) -> None:
    """Tell subscribers of `name`; never raises (a lost notification only delays a stream
    until its next resync, while a raised one would fail the job that sent it)."""
    try:
        hub().publish(name, message)
    except Exception:
        logger.warning("events: could not publish on %s", name, exc_info=True)


async def subscribe(name: str) -> Subscription:
    return await hub().subscribe(name)
