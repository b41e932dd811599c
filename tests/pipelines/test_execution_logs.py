"""A run's log (GET /executions/<id>/logs and the run's page): asked for, each retry, and every
step's job log in time order, the jobs of earlier attempts included; only for its owner."""

import pytest

from tests.conftest import assert_error
from tests.factories import UserFactory
from tests.pipelines.support import BASE, execute, run_all, run_next, starter

pytestmark = pytest.mark.django_db(transaction=True)


def cancelled_then_retried(api) -> str:
    """A Logo kit run cancelled at step 2, retried, and finished."""
    started = execute(api, starter("logo-kit").pk, {"brand": "Acme"}).json()
    run_next(started["id"])
    assert api.post(f"{BASE}/executions/{started['id']}/cancel").status_code == 200
    assert api.post(f"{BASE}/executions/{started['id']}/retry").status_code == 202
    assert run_all(started["id"]).status == "completed"
    return started["id"]


def test_the_log_tells_the_whole_run_the_cancelled_attempt_included(user_api):
    execution = cancelled_then_retried(user_api)
    response = user_api.get(f"{BASE}/executions/{execution}/logs")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["status"]) == (execution, "completed")
    entries = body["entries"]
    assert [entry["at"] for entry in entries] == sorted(entry["at"] for entry in entries)
    assert (entries[0]["event"], entries[0]["step"]) == ("queued", None)
    events = [(entry["step"], entry["event"]) for entry in entries]
    cancelled = events.index((2, "cancelled"))
    retried = events.index((None, "retried"))
    assert cancelled < retried < events.index((2, "completed")) < events.index((3, "completed"))
    assert entries[retried]["message"] == (
        "Retried (attempt 2): 8 credit(s) held for the steps left"
    )
    assert events.count((1, "completed")) == 1  # step 1 ran once: the retry reused it


def test_someone_elses_run_has_no_log_for_you(user_api, client):
    execution = cancelled_then_retried(user_api)
    client.force_login(UserFactory())
    assert_error(client.get(f"{BASE}/executions/{execution}/logs"), 404, "NOT_FOUND")


def test_the_runs_page_shows_its_log(user_api, user, client):
    execution = cancelled_then_retried(user_api)
    client.force_login(user)
    page = client.get(f"/executions/{execution}/").content.decode()
    assert "Run log" in page and f"{BASE}/executions/{execution}/logs" in page
    assert "Step 2 (remove-background): Cancelled by its owner" in page
