"""GET /metrics: Prometheus text format; requests, jobs, providers, holds, webhooks and event
streams counted where they happen; a token or this machine only; off when disabled; values
of other processes exported in multiprocess mode.

Counters are process-wide and other tests move them too, so each test compares a scrape
before with a scrape after and asserts the exact difference its own actions made."""

import subprocess
import textwrap

import pytest
from django.test import Client
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from studio.models import Generation
from studio.services.execution import generation_run
from studio.services.webhooks import DeliveryFailed, delivery_attempt
from tests.conftest import assert_error, login
from tests.core.test_settings import GOOD, start
from tests.factories import UserFactory
from tests.fakes.processes import WorkerProcess, production_env
from tests.fakes.servers import GARBAGE, HF_TOKEN
from tests.studio.conftest import wait_until_finished
from tests.studio.events.support import EVENTS, AsgiGet

# An autouse fixture: the generation queues empty before and after each test (submissions
# enqueue messages nobody consumes here; the tests run the jobs themselves).
from tests.studio.lifecycle.conftest import broker  # noqa: F401
from tests.studio.lifecycle.support import IMAGE, cancel, submit
from tests.studio.webhooks.support import pending_delivery, receiver  # noqa: F401 (a fixture)

TOKEN = "metrics-token-0123456789abcdef"
FINISHED = "craftframe_jobs_finished_total"
DURATION = "craftframe_job_duration_seconds_count"
WAITED = "craftframe_job_queue_wait_seconds_count"
PROVIDER_ERRORS = "craftframe_provider_errors_total"
DELIVERIES = "craftframe_webhook_deliveries_total"
STREAMS = "craftframe_sse_streams_open"


@pytest.fixture(autouse=True)
def _metrics(settings, media_storage):
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = None
    settings.METRICS_MULTIPROC_DIR = None
    settings.RATELIMIT_ENABLE = False
    settings.IMAGE_PROVIDERS = ["instant"]
    settings.VIDEO_PROVIDERS = ["instant"]


class Scrape(dict):
    """One scrape of /metrics: {(sample name, labels): value}."""

    def __call__(self, name: str, **labels: str) -> float:
        return self.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client: Client | None = None, **headers) -> Scrape:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == CONTENT_TYPE_LATEST
    samples = Scrape()
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def moved(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after(name, **labels) - before(name, **labels)


# --- Jobs -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_three_jobs_move_their_counters_and_histograms_by_exactly_three(user_api):
    before = scrape()
    ids = [submit(user_api, model="flux-dev") for _ in range(3)]

    queued = scrape()
    assert moved(before, queued, "craftframe_jobs_active", type="image", status="queued") == 3
    assert moved(before, queued, "craftframe_holds_open") == 3
    costs = sum(Generation.objects.filter(pk__in=ids).values_list("cost", flat=True))
    assert costs > 0 and moved(before, queued, "craftframe_credits_held") == costs
    assert queued("craftframe_job_oldest_queued_age_seconds", type="image") > 0
    assert queued("craftframe_state_up") == 1
    route = {"route": "/api/v1/studio/generate-image", "method": "POST"}
    assert moved(before, queued, "craftframe_http_requests_total", status="202", **route) == 3
    assert moved(before, queued, "craftframe_http_request_duration_seconds_count", **route) == 3
    assert (
        moved(before, queued, FINISHED, type="image", status="completed", provider="instant") == 0
    )

    for generation_id in ids:
        generation_run(generation_id=generation_id)

    after = scrape()
    assert moved(before, after, FINISHED, type="image", status="completed", provider="instant") == 3
    assert moved(before, after, DURATION, type="image", status="completed") == 3
    assert moved(before, after, WAITED, type="image") == 3
    inf = {"type": "image", "status": "completed", "le": "+Inf"}
    assert moved(before, after, "craftframe_job_duration_seconds_bucket", **inf) == 3
    assert after("craftframe_job_duration_seconds_sum", type="image", status="completed") > 0
    # Done: nothing queued or held any more, and no provider failed.
    assert moved(before, after, "craftframe_jobs_active", type="image", status="queued") == 0
    assert moved(before, after, "craftframe_holds_open") == 0
    assert moved(before, after, "craftframe_credits_held") == 0
    assert moved(before, after, PROVIDER_ERRORS, type="image", provider="instant") == 0


@pytest.mark.django_db(transaction=True)
def test_provider_errors_failures_and_cancels_are_counted_by_provider_and_status(
    user_api, settings, fake_huggingface
):
    settings.HF_TOKEN, settings.HF_BASE_URL = HF_TOKEN, fake_huggingface.url
    settings.HF_TIMEOUT = 30
    settings.IMAGE_PROVIDERS = ["huggingface", "instant"]
    before = scrape()

    # Two jobs whose Hugging Face answer is garbage: instant makes them.
    fake_huggingface.fail_next(GARBAGE, GARBAGE)
    for generation_id in [submit(user_api, model="flux-dev") for _ in range(2)]:
        generation_run(generation_id=generation_id)
    # One with nothing to fall back on: it fails.
    settings.IMAGE_PROVIDERS = ["huggingface"]
    fake_huggingface.fail_next(GARBAGE)
    generation_run(generation_id=submit(user_api, model="flux-dev"))
    # One cancelled before any worker claimed it.
    cancel(user_api, submit(user_api, model="flux-dev"))

    after = scrape()
    assert moved(before, after, PROVIDER_ERRORS, type="image", provider="huggingface") == 3
    assert moved(before, after, PROVIDER_ERRORS, type="image", provider="instant") == 0
    finished = {
        ("completed", "instant"): 2,
        ("failed", "huggingface"): 1,
        ("cancelled", "none"): 1,
        ("completed", "huggingface"): 0,
    }
    for (status, provider), count in finished.items():
        assert moved(before, after, FINISHED, type="image", status=status, provider=provider) == (
            count
        ), (status, provider)
    assert moved(before, after, DURATION, type="image", status="completed") == 2
    assert moved(before, after, DURATION, type="image", status="failed") == 1
    # Never claimed: no run time, no queue wait.
    assert moved(before, after, DURATION, type="image", status="cancelled") == 0
    assert moved(before, after, WAITED, type="image") == 3
    assert moved(before, after, "craftframe_holds_open") == 0


# --- Requests ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_requests_are_labelled_by_route_pattern_never_by_path(user_api, user):
    before = scrape()
    for suffix in ("img_1_aaaaaaaaaaaaaaaa", "img_2_bbbbbbbbbbbbbbbb"):
        assert user_api.get(f"/api/v1/studio/generation/{suffix}").status_code == 404
    assert Client().get("/no/such/page/").status_code == 404

    after = scrape()
    route = "/api/v1/studio/generation/<str:generation_id>"
    labels = {"route": route, "method": "GET", "status": "404"}
    assert moved(before, after, "craftframe_http_requests_total", **labels) == 2
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert moved(before, after, "craftframe_http_requests_total", **unmatched) == 1
    routes = {dict(labels)["route"] for name, labels in after if "route" in dict(labels)}
    assert not any("img_" in r or "no/such" in r for r in routes), routes


@pytest.mark.django_db
def test_an_unknown_method_is_one_label_not_one_per_verb():
    before = scrape()
    for verb in ("BREW", "WHEN"):
        Client().generic(verb, "/no/such/page/")
    after = scrape()
    labels = {"route": "unmatched", "method": "other", "status": "404"}
    assert moved(before, after, "craftframe_http_requests_total", **labels) == 2
    assert not any(("method", "BREW") in labels for _, labels in after)


# --- Webhooks and event streams -----------------------------------------------------------------


@pytest.mark.django_db
def test_webhook_outcomes_are_counted_once_each(user, settings, receiver):  # noqa: F811
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    before = scrape()
    _, _, retried = pending_delivery(user, receiver.url)
    receiver.answer(500)
    with pytest.raises(DeliveryFailed):
        delivery_attempt(delivery_id=retried)
    delivery_attempt(delivery_id=retried)  # 200
    delivery_attempt(delivery_id=retried)  # a duplicate message: nothing left to do

    settings.WEBHOOK_MAX_ATTEMPTS = 1
    _, _, given_up = pending_delivery(UserFactory(), receiver.url)
    receiver.answer(500)
    delivery_attempt(delivery_id=given_up)

    after = scrape()
    assert moved(before, after, DELIVERIES, outcome="retrying") == 1
    assert moved(before, after, DELIVERIES, outcome="delivered") == 1
    assert moved(before, after, DELIVERIES, outcome="failed") == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("handoff", [True, False], ids=["handed-off", "streamed-by-django"])
def test_an_open_event_stream_is_counted_until_its_client_goes_away(settings, handoff):
    settings.EVENTS_URL = None  # the in-process hub
    owner = UserFactory(credits=100)
    client = login(APIClient(), owner)
    generation_id = submit(client)
    bearer = {"Authorization": client._credentials["HTTP_AUTHORIZATION"]}
    before = scrape()

    stream = AsgiGet(EVENTS.format(generation_id), bearer, handoff=handoff)
    assert stream.status_code == 200
    assert stream.next_frame().retry == 3000
    assert stream.next_event().data["status"] == "queued"  # the stream is waiting now
    assert moved(before, scrape(), STREAMS) == 1

    stream.disconnect()  # returns once the application has finished the request
    assert moved(before, scrape(), STREAMS) == 0


# --- Who may scrape -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_with_a_token_a_scrape_needs_it_and_anything_else_is_401(client, settings):
    settings.METRICS_TOKEN = TOKEN
    for authorization in (None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", "Bearer", TOKEN):
        headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
        response = client.get("/metrics", **headers)
        assert_error(response, 401, "UNAUTHORIZED")
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert b"craftframe_" not in response.content
    samples = scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert samples("craftframe_state_up") == 1


@pytest.mark.django_db
def test_without_a_token_only_this_machine_may_scrape(client, settings):
    assert scrape(client)("craftframe_state_up") == 1  # the test client is 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    # Through a proxy on this machine the connection is loopback, the client is not.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 404
    assert client.get("/metrics", HTTP_X_REAL_IP="203.0.113.9").status_code == 404
    settings.CLIENT_IP_HEADER = "X-Client-Address"
    assert client.get("/metrics", HTTP_X_CLIENT_ADDRESS="203.0.113.9").status_code == 404


@pytest.mark.django_db
def test_disabled_metrics_are_a_404_even_with_the_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ENABLED = False
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 404
    assert b"craftframe_" not in response.content


@pytest.mark.django_db
def test_metrics_answer_get_only(client):
    assert client.post("/metrics").status_code == 405


def _production(tmp_path, script: str, **env) -> subprocess.CompletedProcess:
    """`script` under config.settings (production settings) in a fresh interpreter."""
    return start(tmp_path, textwrap.dedent(script), **GOOD, **env)


# Requests that are refused touch no database: port 1 answers nothing.
_REFUSALS = """
    import django
    django.setup()
    from django.test import Client
    client = Client(HTTP_HOST="localhost")
    print(
        client.get("/metrics").status_code,
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token-at-all").status_code,
        client.get("/metrics", REMOTE_ADDR="198.51.100.7").status_code,
    )
"""
_NOWHERE = "postgres://craftframe@127.0.0.1:1/craftframe"


def test_production_settings_refuse_a_scrape_without_the_token_with_401(tmp_path):
    result = _production(
        tmp_path, _REFUSALS, DATABASE_URL=_NOWHERE, DATABASE_POOL_SIZE="0", METRICS_TOKEN=TOKEN
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["401", "401", "401"]


def test_production_settings_without_a_token_hide_metrics_from_other_machines(tmp_path):
    result = _production(tmp_path, _REFUSALS, DATABASE_URL=_NOWHERE, DATABASE_POOL_SIZE="0")
    assert result.returncode == 0, result.stderr
    # The first two come from 127.0.0.1 and reach the database, which is not there: the
    # scrape still answers, with craftframe_state_up 0.
    assert result.stdout.split() == ["200", "200", "404"]


def test_the_embedded_mode_has_no_metrics_unless_asked(tmp_path):
    result = _production(tmp_path, _REFUSALS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["404", "404", "404"]
    result = _production(tmp_path, _REFUSALS, METRICS_ENABLED="true")
    assert result.stdout.split() == ["200", "200", "404"], result.stderr


def test_a_short_metrics_token_stops_start_up(tmp_path):
    result = _production(tmp_path, "import django; django.setup()", METRICS_TOKEN="short")
    assert result.returncode != 0
    assert "METRICS_TOKEN must be at least 16 characters" in result.stderr


# --- Other processes ------------------------------------------------------------------------------

_WRITER = """
    from types import SimpleNamespace
    from core import metrics
    metrics.webhook_delivery("delivered")
    metrics.webhook_delivery("delivered")
    metrics.provider_errors("video", [SimpleNamespace(provider="huggingface", error="HTTP 503")])
"""


@pytest.mark.django_db
def test_multiprocess_mode_exports_what_other_processes_counted(tmp_path, settings):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    for _ in range(2):  # two processes, one after the other: their values add up
        result = start(tmp_path, textwrap.dedent(_WRITER), PROMETHEUS_MULTIPROC_DIR=str(directory))
        assert result.returncode == 0, result.stderr
    assert len(list(directory.glob("*.db"))) >= 2  # a file per process

    settings.METRICS_MULTIPROC_DIR = str(directory)
    samples = scrape()
    assert samples(DELIVERIES, outcome="delivered") == 4
    assert samples(PROVIDER_ERRORS, type="video", provider="huggingface") == 2
    assert samples("craftframe_state_up") == 1  # the database state is still read here
    # This process wrote no files: its own counts (the scrape's request) are not mixed in.
    assert not any(name == "craftframe_http_requests_total" for name, _ in samples)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.s3
@pytest.mark.django_db(transaction=True)
def test_jobs_run_by_a_worker_process_are_exported_by_the_web_process(
    api, tmp_path, settings, s3, s3_storage
):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    worker = WorkerProcess(
        production_env(s3, PROMETHEUS_MULTIPROC_DIR=str(directory), IMAGE_PROVIDERS="instant")
    )
    try:
        client = login(api, UserFactory(credits=50))
        ids = [submit(client, IMAGE, model="flux-dev") for _ in range(2)]
        for generation_id in ids:
            assert wait_until_finished(client, generation_id)["status"] == "completed"
    finally:
        worker.stop()  # SIGTERM: the worker finishes what it does, then exits

    settings.METRICS_MULTIPROC_DIR = str(directory)
    samples = scrape()
    labels = {"type": "image", "status": "completed", "provider": "instant"}
    assert samples(FINISHED, **labels) == 2
    assert samples(DURATION, type="image", status="completed") == 2
    assert samples(WAITED, type="image") == 2
