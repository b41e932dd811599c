"""Fixtures of the browser tests (helpers in support.py): Playwright for Python driving
Debian's Chromium against the site served by uvicorn (production settings) with a separate
`rundramatiq` worker, on this run's PostgreSQL, Redis and SeaweedFS, like the rest of the suite.

Every page a test opens is watched: a console error, an uncaught exception, a failed request
or an unexpected HTTP error fails the test at teardown (CSP violations show up as console
errors).
"""

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.browser.support import DESKTOP, PHONE
from tests.fakes.processes import ROOT, AsgiServer, WorkerProcess, production_env

CHROMIUM = "/usr/bin/chromium"
# The flags the machine's probe found Chromium needs here: no sandbox as root, and none of
# its background connections to Google (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

pytestmark = [pytest.mark.browser]


@pytest.hookimpl(trylast=True)  # after pytest-django has put db tests before transactional ones
def pytest_collection_modifyitems(config, items):
    """Browser tests get a transactional database with a serialized rollback, and run first
    among the transactional tests.

    The site's processes live for the whole session and cache content type ids. A serialized
    rollback restores the database as migrations left it, ids included, before each browser
    test; that holds only while no plain transactional test has flushed the database and
    re-created those rows with new ids before, hence the order."""
    browser = [item for item in items if "tests/browser/" in str(item.fspath)]
    if not browser:
        return
    for item in browser:
        item.add_marker(
            pytest.mark.django_db(transaction=True, serialized_rollback=True), append=False
        )
    rest = [item for item in items if "tests/browser/" not in str(item.fspath)]

    def transactional(item) -> bool:
        marker = item.get_closest_marker("django_db")
        named = marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
        return bool(named) or "transactional_db" in getattr(item, "fixturenames", ())

    first = next((i for i, item in enumerate(rest) if transactional(item)), len(rest))
    items[:] = rest[:first] + browser + rest[first:]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (make test installs Debian's chromium)"
        if _in_ci():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@dataclass
class Site:
    base: str
    server: AsgiServer
    worker: WorkerProcess
    env: dict

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="session")
def site(django_db_setup, django_db_blocker, s3, tmp_path_factory):
    """The site under uvicorn and a worker process, for the whole session."""
    from django.conf import settings

    if not settings.SERVICES["postgres"] or not settings.SERVICES["redis"]:
        pytest.skip("browser tests need PostgreSQL and Redis")
    static_root = tmp_path_factory.mktemp("static")
    with django_db_blocker.unblock():
        env = production_env(
            s3,
            # A queue namespace of its own: the site's worker must not take the jobs that
            # in-process tests enqueue for themselves.
            DRAMATIQ_NAMESPACE=os.environ["DRAMATIQ_NAMESPACE"] + "-site",
            STATIC_ROOT=str(static_root),
            IMAGE_PROVIDERS="local",
            VIDEO_PROVIDERS="local",
            AUTH_RATE_LIMIT="1000/m",
            RATELIMIT_ENABLE="false",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SSE_HEARTBEAT="15",
        )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    server = AsgiServer(env)
    worker = WorkerProcess(env, threads=4)
    try:
        yield Site(base=server.base, server=server, worker=worker, env=env)
    finally:
        worker.stop()
        server.stop()


class _Playwright:
    """Playwright and its Chromium, from the first browser test to the last one.

    Playwright's sync API keeps an event loop on the test's thread while it is open (driven
    through greenlets, never while the test itself runs). Django would take that loop for
    async code calling the ORM, and the tests after the browser tests could not asyncio.run:
    so it is stopped as soon as no browser test follows (`pytest_runtest_teardown`)."""

    def __init__(self):
        self._manager = None
        self._unsafe = None
        self.browser = None

    def start(self, chromium: str):
        if self.browser is not None:
            return self.browser
        from django.db import connections
        from playwright.sync_api import sync_playwright

        self._unsafe = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        # With that loop "running", Django's per-thread connections are looked up in a
        # context variable instead: new connection objects, without the snapshot the
        # serialized rollback restores (a flush would then re-create content types under new
        # ids, and the site's processes would go on using the old ones). The test thread
        # keeps its own connections.
        own = {alias: connections[alias] for alias in connections}
        self._manager = sync_playwright()
        playwright = self._manager.__enter__()
        for alias, connection in own.items():
            connections[alias] = connection
        self.browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        return self.browser

    def stop(self) -> None:
        if self.browser is None:
            return
        try:
            self.browser.close()
        finally:
            self.browser = None
            self._manager.__exit__(None, None, None)
            self._manager = None
            if self._unsafe is None:
                os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
            else:
                os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = self._unsafe


_PLAYWRIGHT = _Playwright()


@pytest.fixture
def browser(chromium, django_db_setup):
    return _PLAYWRIGHT.start(chromium)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After a browser test's own teardown: stop Playwright unless a browser test is next."""
    yield
    if nextitem is None or nextitem.get_closest_marker("browser") is None:
        _PLAYWRIGHT.stop()


@dataclass
class Watch:
    """What went wrong on a page while a test used it."""

    problems: list[str] = field(default_factory=list)
    # HTTP errors the test provokes on purpose (a refused upload), as (status, url regex).
    expected: list[tuple[int, str]] = field(default_factory=list)

    def report(self, site) -> str:
        """The problems, with the end of the server's and the worker's logs."""
        return "\n".join(
            [
                *self.problems,
                "--- server ---",
                site.server.output(),
                "--- worker ---",
                site.worker.output(),
            ]
        )

    def expect(self, status: int, url_pattern: str) -> None:
        self.expected.append((status, url_pattern))

    def _expected(self, status: int, url: str) -> bool:
        return any(s == status and re.search(p, url) for s, p in self.expected)

    def attach(self, page) -> None:
        def console(message):
            if message.type == "error":
                text = message.text
                # The browser logs every non-2xx fetch as a console error; those are judged
                # by the response handler below.
                if "Failed to load resource" in text:
                    return
                self.problems.append(f"console error: {text}")

        def response(resp):
            if resp.status >= 400 and not self._expected(resp.status, resp.url):
                self.problems.append(f"HTTP {resp.status} {resp.request.method} {resp.url}")

        def failed(request):
            failure = request.failure or ""
            # Navigating away aborts requests still in flight (event streams, images).
            if "ERR_ABORTED" in failure:
                return
            self.problems.append(f"request failed: {request.url} {failure}")

        page.on("console", console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("response", response)
        page.on("requestfailed", failed)


def _new_page(browser, watch: Watch, viewport: dict, color_scheme: str):
    context = browser.new_context(
        viewport=viewport,
        color_scheme=color_scheme,
        accept_downloads=True,
        device_scale_factor=1,
        is_mobile=viewport is PHONE,
        has_touch=viewport is PHONE,
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    watch.attach(page)
    return context, page


@pytest.fixture(autouse=True)
def _server_password_hashers(settings):
    # The site runs production settings, which do not know the suite's fast MD5 hasher:
    # users made here for it must have passwords it can check.
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(browser, site, watch):
    context, page = _new_page(browser, watch, DESKTOP, "light")
    yield page
    context.close()
    assert watch.problems == [], watch.report(site)


@pytest.fixture
def new_page(browser, site, watch):
    """Open more pages: new_page(viewport=PHONE, color_scheme="dark")."""
    contexts = []

    def make(viewport: dict = DESKTOP, color_scheme: str = "light"):
        context, page = _new_page(browser, watch, viewport, color_scheme)
        contexts.append(context)
        return page

    yield make
    for context in contexts:
        context.close()
    assert watch.problems == [], watch.report(site)


@pytest.fixture(autouse=True)
def _snapshot_in_reach(request):
    """Fail at once, not two tests later, when the serialized rollback cannot see its
    snapshot (see `browser`)."""
    from django.db import connections

    if "browser" in request.fixturenames:
        request.getfixturevalue("browser")
        assert hasattr(connections["default"], "_test_serialized_contents"), (
            "the browser tests' connection lacks the serialized rollback's snapshot"
        )
