"""Change notifications (core/events.py): the in-process hub, and the Redis pub/sub hub on the
real Redis, whose event loops each listen on one connection.

Publishers are plain threads, as a worker's progress reports are; subscribers live in an
asyncio loop, as an event stream does. Nothing sleeps to let a message "arrive": a test waits
for it with a deadline, and proves a message was *not* delivered by sending a later one on
the right channel (Redis keeps a publisher's order) and finding only that one.
"""

import asyncio
import os
import threading
import uuid
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings as django_settings

from core import events
from tests.fakes.processes import free_port

WAIT = 10  # seconds: how long a test waits for anything before it fails


# --- Helpers ---------------------------------------------------------------------------------


def unique(label: str) -> str:
    """A channel name of this test only (several runs may share one Redis)."""
    return f"test-{label}-{uuid.uuid4().hex[:12]}"


def publish_from_thread(name: str, message: dict) -> None:
    """events.publish from a plain thread (no event loop), as a worker's job thread does."""
    thread = threading.Thread(target=events.publish, args=(name, message), name="publisher")
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive(), f"publishing on {name} took more than {WAIT}s"


async def until(check, what: str, timeout: float = WAIT) -> None:
    """Wait for `check()` to hold: Redis confirms (un)subscriptions only on the pub/sub
    connection, which the hub reads itself, so the test asks the server instead."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.01)


async def nothing_more(subscription: events.Subscription) -> None:
    assert subscription.queue.empty(), f"unexpected: {subscription.queue.get_nowait()}"


def named_url(url: str, client_name: str) -> str:
    """`url` with a client name: CLIENT LIST then tells this test's connections apart."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode({"client_name": client_name})]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


@pytest.fixture
def fresh_hub(monkeypatch):
    """hub() builds its hub afresh from the settings (and the previous one comes back)."""
    monkeypatch.setattr(events, "_hub", None)


@pytest.fixture
def local_hub(settings, fresh_hub) -> events.LocalHub:
    settings.EVENTS_URL = None  # the embedded mode
    hub = events.hub()
    assert type(hub) is events.LocalHub
    return hub


@pytest.fixture
def admin():
    """A plain Redis client of the test's own, to ask the server what it sees."""
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def client_name() -> str:
    return f"cf-events-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def redis_hub(settings, fresh_hub, client_name) -> events.RedisHub:
    """The Redis hub on this run's Redis, its connections named `client_name`."""
    settings.EVENTS_URL = named_url(django_settings.REDIS_URL, client_name)
    hub = events.hub()
    assert type(hub) is events.RedisHub and hub.url == settings.EVENTS_URL
    return hub


def numsub(admin, name: str) -> int:
    """How many connections Redis has subscribed to `name`'s channel."""
    [(_, count)] = admin.pubsub_numsub(events.channel(name))
    return count


def pubsub_clients(admin, client_name: str) -> list[dict]:
    return [c for c in admin.client_list(_type="pubsub") if c.get("name") == client_name]


# --- Which hub -------------------------------------------------------------------------------


def test_hub_follows_events_url(settings, fresh_hub):
    settings.EVENTS_URL = None
    local = events.hub()
    assert type(local) is events.LocalHub
    assert events.hub() is local, "the hub is built once, not per call"

    settings.EVENTS_URL = "redis://127.0.0.1:6379/5"
    remote = events.hub()
    assert type(remote) is events.RedisHub and remote.url == "redis://127.0.0.1:6379/5"
    assert events.hub() is remote

    settings.EVENTS_URL = "redis://127.0.0.1:6379/6"
    assert events.hub().url == "redis://127.0.0.1:6379/6", "a new URL gets a new hub"

    settings.EVENTS_URL = None
    assert type(events.hub()) is events.LocalHub


def test_channel_carries_the_deployment_prefix(settings):
    settings.EVENTS_PREFIX = "deployment-a"
    assert events.channel("job:g1") == "deployment-a:job:g1"
    settings.EVENTS_PREFIX = "deployment-b"
    assert events.channel("job:g1") == "deployment-b:job:g1"


# --- The in-process hub ----------------------------------------------------------------------


def test_local_hub_hands_a_threads_message_to_every_subscriber_of_its_channel(local_hub):
    name, other = unique("local"), unique("local-other")

    async def scenario():
        first = await events.subscribe(name)
        second = await events.subscribe(name)
        elsewhere = await events.subscribe(other)
        assert local_hub.subscriber_count() == 3

        publish_from_thread(name, {"progress": 40})
        assert await first.get(WAIT) == {"progress": 40}
        assert await second.get(WAIT) == {"progress": 40}

        publish_from_thread(other, {"progress": 7})
        assert await elsewhere.get(WAIT) == {"progress": 7}
        await nothing_more(first)
        await nothing_more(second)

        await first.close()
        assert local_hub.subscriber_count() == 2
        publish_from_thread(name, {"progress": 60})
        assert await second.get(WAIT) == {"progress": 60}
        await nothing_more(first)

        await second.close()
        await second.close()  # twice is harmless
        await elsewhere.close()
        assert local_hub.subscriber_count() == 0
        assert local_hub._subscribers == {}, "an empty channel is forgotten"

    asyncio.run(scenario())


def test_local_hub_publish_without_subscribers_is_a_no_op(local_hub):
    events.publish(unique("nobody"), {"progress": 1})
    assert local_hub.subscriber_count() == 0


def test_a_subscriber_whose_loop_closed_does_not_break_publishing(local_hub):
    """A stream's loop may be gone before it unsubscribed: the publisher (a job) goes on."""
    name = unique("closed-loop")
    subscription = asyncio.run(events.subscribe(name))  # its loop is closed at return
    publish_from_thread(name, {"progress": 5})  # would raise in the thread if not caught
    events.hub().publish(name, {"progress": 6})
    assert local_hub.subscriber_count() == 1
    asyncio.run(subscription.close())
    assert local_hub.subscriber_count() == 0


# --- The Redis hub ---------------------------------------------------------------------------


@pytest.mark.redis
def test_a_message_from_a_thread_reaches_an_asyncio_subscriber_over_redis(redis_hub, admin):
    name = unique("redis")

    async def scenario():
        subscription = await events.subscribe(name)
        await until(lambda: numsub(admin, name) == 1, "Redis has the subscription")
        publish_from_thread(name, {"status": "generating", "progress": 35, "attempts": 1})
        message = await subscription.get(WAIT)
        assert message == {"status": "generating", "progress": 35, "attempts": 1}
        await subscription.close()

    asyncio.run(scenario())
    assert redis_hub.subscriber_count() == 0


@pytest.mark.redis
def test_subscribers_of_one_loop_share_one_redis_subscription(redis_hub, admin):
    name = unique("shared")

    async def scenario():
        first = await events.subscribe(name)
        second = await events.subscribe(name)
        await until(lambda: numsub(admin, name) == 1, "Redis has the subscription")
        assert redis_hub.subscriber_count() == 2

        publish_from_thread(name, {"progress": 10})
        assert await first.get(WAIT) == {"progress": 10}
        assert await second.get(WAIT) == {"progress": 10}

        await first.close()
        assert redis_hub.subscriber_count() == 1
        publish_from_thread(name, {"progress": 20})
        assert await second.get(WAIT) == {"progress": 20}
        assert numsub(admin, name) == 1, "the channel stays while a subscriber wants it"
        await nothing_more(first)

        await second.close()
        assert redis_hub.subscriber_count() == 0
        await until(lambda: numsub(admin, name) == 0, "the last one unsubscribed the channel")

    asyncio.run(scenario())


@pytest.mark.redis
def test_each_event_loop_listens_on_a_connection_of_its_own(redis_hub, admin):
    """Two servers' worth of loops in one process: each gets the message on its own."""
    name = unique("loops")
    subscribed = threading.Barrier(3, timeout=WAIT)
    published = threading.Event()
    received: dict[str, dict] = {}
    errors: list[BaseException] = []

    def stream(label: str) -> None:
        async def scenario():
            subscription = await events.subscribe(name)
            subscribed.wait()
            assert await asyncio.to_thread(published.wait, WAIT)
            received[label] = await subscription.get(WAIT)
            await subscription.close()

        try:
            asyncio.run(scenario())
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)
            subscribed.abort()

    threads = [threading.Thread(target=stream, args=(label,)) for label in ("a", "b")]
    for thread in threads:
        thread.start()
    subscribed.wait()
    asyncio.run(until(lambda: numsub(admin, name) == 2, "one subscription per loop"))
    assert redis_hub.subscriber_count() == 2
    publish_from_thread(name, {"progress": 50})
    published.set()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()
    assert not errors, errors
    assert received == {"a": {"progress": 50}, "b": {"progress": 50}}
    assert redis_hub.subscriber_count() == 0
    asyncio.run(until(lambda: numsub(admin, name) == 0, "both loops unsubscribed"))


@pytest.mark.redis
def test_other_channels_and_other_deployments_are_not_delivered(redis_hub, admin, settings):
    name, other = unique("mine"), unique("other")

    async def scenario():
        mine = await events.subscribe(name)
        elsewhere = await events.subscribe(other)
        await until(lambda: numsub(admin, name) == numsub(admin, other) == 1, "subscribed")

        publish_from_thread(other, {"for": "other"})
        own_prefix = settings.EVENTS_PREFIX
        settings.EVENTS_PREFIX = f"{own_prefix}-another-deployment"
        publish_from_thread(name, {"for": "another deployment"})
        settings.EVENTS_PREFIX = own_prefix
        publish_from_thread(name, {"for": "mine"})

        # Published after the others: had they been delivered, they would come first.
        assert await mine.get(WAIT) == {"for": "mine"}
        assert await elsewhere.get(WAIT) == {"for": "other"}
        await nothing_more(mine)
        await nothing_more(elsewhere)
        await mine.close()
        await elsewhere.close()

    asyncio.run(scenario())
    assert redis_hub.subscriber_count() == 0


@pytest.mark.redis
def test_an_unreadable_message_is_skipped(redis_hub, admin):
    name = unique("garbled")

    async def scenario():
        subscription = await events.subscribe(name)
        await until(lambda: numsub(admin, name) == 1, "subscribed")
        admin.publish(events.channel(name), b"{not json")
        publish_from_thread(name, {"progress": 3})
        assert await subscription.get(WAIT) == {"progress": 3}
        await nothing_more(subscription)
        await subscription.close()

    asyncio.run(scenario())


@pytest.mark.redis
def test_a_dropped_connection_makes_subscribers_resync_then_delivery_resumes(
    redis_hub, admin, client_name
):
    first, second = unique("drop-a"), unique("drop-b")

    async def scenario():
        one = await events.subscribe(first)
        two = await events.subscribe(second)
        await until(lambda: numsub(admin, first) == numsub(admin, second) == 1, "subscribed")
        [listener] = pubsub_clients(admin, client_name)

        # Only this test's pub/sub connection: TYPE pubsub would cut other runs' too.
        assert admin.client_kill_filter(_id=listener["id"]) == 1
        assert numsub(admin, first) == numsub(admin, second) == 0

        assert await one.get(WAIT) == events.RESYNC
        assert await two.get(WAIT) == events.RESYNC
        await until(lambda: numsub(admin, first) == numsub(admin, second) == 1, "resubscribed")
        [again] = pubsub_clients(admin, client_name)
        assert again["id"] != listener["id"], "a new connection"

        publish_from_thread(first, {"progress": 70})
        publish_from_thread(second, {"progress": 80})
        assert await one.get(WAIT) == {"progress": 70}
        assert await two.get(WAIT) == {"progress": 80}
        await nothing_more(one)
        await nothing_more(two)
        await one.close()
        await two.close()
        await until(lambda: numsub(admin, first) == numsub(admin, second) == 0, "unsubscribed")

    asyncio.run(scenario())
    assert redis_hub.subscriber_count() == 0


def test_publish_never_raises_when_redis_is_unreachable(settings, fresh_hub, caplog):
    """A lost notification only delays a stream; a raised one would fail the job."""
    settings.EVENTS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with pytest.raises(redis.ConnectionError):
        events.hub().publish("job:x", {"progress": 1})  # the hub itself does raise
    publish_from_thread("job:x", {"progress": 1})
    events.publish("job:x", {"progress": 2})
    assert [r.levelname for r in caplog.records if "could not publish" in r.getMessage()] == [
        "WARNING",
        "WARNING",
    ]
