"""Template executions end to end on the real parts: PostgreSQL, Redis (the broker), SeaweedFS
(S3) and a separate `rundramatiq` worker process; the test process plays the web tier. Each
step is an ordinary job that the worker picks up when the step before it commits."""

import itertools
import time

import pytest
import requests

from pipelines.models import Execution
from studio.models import Generation, Status
from studio.services.sweeper import generations_sweep
from tests.conftest import login
from tests.factories import UserFactory
from tests.fakes.huggingface import FakeHuggingFace
from tests.fakes.servers import HANG, HF_TOKEN
from tests.pipelines.support import BASE, create, entries, execute, starter
from tokens.audit import ledger_audit

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.s3,
    pytest.mark.django_db(transaction=True),
]

FINISHED = {"completed", "failed", "cancelled"}


def wait_for_execution(api, execution_id: str, timeout: float = 120) -> dict:
    """Poll the execution, as a client would, until it is finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"{BASE}/executions/{execution_id}").json()
        if body["status"] in FINISHED:
            return body
        time.sleep(0.2)  # a client polling work done in another process
    raise AssertionError(f"{execution_id} not finished after {timeout}s: {body}")


def fetch(url: str) -> requests.Response:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text[:200]
    return response


def test_logo_kit_runs_through_a_worker_to_an_svg_on_s3_charged_the_preview(
    api, worker_env, start_worker
):
    user = UserFactory(credits=50)
    client = login(api, user)
    start_worker(
        {**worker_env, "IMAGE_PROVIDERS": "local", "BACKGROUND_REMOVAL_PROVIDERS": "local"}
    )
    logo = starter("logo-kit")
    preview = client.post(
        f"{BASE}/templates/{logo.pk}/cost", {"inputs": {"brand": "Acme"}}, format="json"
    ).json()
    started = execute(client, logo.pk, {"brand": "Acme", "look": "geometric"})
    assert started.status_code == 202, started.content
    body = wait_for_execution(client, started.json()["id"])
    assert body["status"] == "completed", body
    files = []
    for step in body["steps"]:
        assert step["status"] == "completed" and step["charged"] == step["cost"]
        assert "X-Amz-Signature" in step["output"]["url"]  # stored in the bucket, served signed
        files.append(fetch(step["output"]["url"]))
    assert [f.headers["Content-Type"] for f in files] == ["image/png", "image/png", "image/svg+xml"]
    assert b"<svg" in files[2].content[:500]
    assert (
        fetch(body["steps"][2]["output"]["thumbnail_url"]).headers["Content-Type"] == "image/webp"
    )
    # Three jobs, chained: each started after the one before it finished.
    jobs = [Generation.objects.get(pk=s["job"]) for s in body["steps"]]
    for before, after in itertools.pairwise(jobs):
        assert after.created_at >= before.started_at and after.started_at >= before.finished_at
    charged = -sum(amount for kind, amount, _ in entries(user) if kind == "capture")
    assert charged == preview["total"] == 12 == body["credits"]["charged"]
    user.token_account.refresh_from_db()
    assert (user.token_account.balance, user.token_account.held) == (50 - 12, 0)
    assert ledger_audit() == []


def test_a_worker_killed_mid_execution_continues_at_that_step_and_charges_once(
    api, worker_env, start_worker, settings
):
    settings.GENERATION_LEASE = 2  # the sweeper (here) and the workers share the setting
    user = UserFactory(credits=50)
    client = login(api, user)
    template = create(
        client,
        {
            "name": "Cut-out",
            "inputs": [{"name": "subject", "type": "text", "default": "a red kite"}],
            "steps": [
                {"operation": "generate-image", "params": {"prompt": "{{inputs.subject}}"}},
                {"operation": "remove-background", "params": {"source": "{{steps.1.output}}"}},
                {"operation": "vectorize", "params": {"source": "{{steps.2.output}}"}},
            ],
        },
    )
    with FakeHuggingFace() as huggingface:
        env = {
            **worker_env,
            "IMAGE_PROVIDERS": "local",
            "BACKGROUND_REMOVAL_PROVIDERS": "huggingface,local",
            "HF_TOKEN": HF_TOKEN,
            "HF_BASE_URL": huggingface.url,
            "HF_TIMEOUT": "60",
            "GENERATION_LEASE": "2",
        }
        huggingface.fail_next(HANG)  # step 2's first call never answers: the worker is mid-step
        first = start_worker(env)
        execution_id = execute(client, template["id"]).json()["id"]
        assert huggingface.wait_for_requests(1, timeout=60), first.output()
        execution = Execution.objects.get(pk=execution_id)
        step_two = execution.steps.get(position=1).generation
        assert (step_two.status, step_two.attempts) == (Status.GENERATING, 1)
        assert execution.steps.get(position=0).charged == 4

        first.kill()
        huggingface.release.set()
        deadline = time.monotonic() + 30
        while generations_sweep().requeued == 0:
            assert time.monotonic() < deadline, "the dead worker's lease never ran out"
            time.sleep(0.2)  # waiting for the lease to expire, which is wall-clock time
        start_worker(env)
        body = wait_for_execution(client, execution_id)

    assert body["status"] == "completed", body
    step_two.refresh_from_db()
    assert step_two.attempts == 2 and step_two.status == Status.COMPLETED
    assert [s["charged"] for s in body["steps"]] == [4, 4, 4]
    assert Generation.objects.filter(user=user).count() == 3  # no step ran as a second job
    kinds = [kind for kind, _, _ in entries(user)]
    assert kinds == ["hold", "capture", "capture", "capture"]
    user.token_account.refresh_from_db()
    assert (user.token_account.balance, user.token_account.held) == (50 - 12, 0)
    assert ledger_audit() == []
