"""Image operations end to end on the real parts: an upload through the API into SeaweedFS,
each operation through Redis to a separate `rundramatiq` worker process, results read back
through their signed S3 URLs, and the ledger checked on PostgreSQL."""

import io
from xml.etree import ElementTree

import numpy as np
import pytest
import requests
from PIL import Image

from studio.models import Generation
from tests.conftest import login
from tests.factories import UserFactory
from tests.studio.conftest import wait_until_finished
from tests.studio.operations.support import shape_png
from tokens.audit import ledger_audit
from tokens.models import EntryKind

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.s3,
    pytest.mark.django_db(transaction=True),
]

WIDTH, HEIGHT = 240, 180


def fetch(url: str) -> requests.Response:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text[:200]
    return response


def test_each_operation_runs_through_the_worker_on_s3_and_is_charged_once(
    api, worker_env, start_worker
):
    user = UserFactory(credits=200)
    client = login(api, user)
    start_worker({**worker_env, "BACKGROUND_REMOVAL_PROVIDERS": "local"})

    uploaded = client.post(
        "/api/v1/assets/upload",
        {"file": io.BytesIO(shape_png(WIDTH, HEIGHT)), "name": "disc"},
        format="multipart",
    )
    assert uploaded.status_code == 201, uploaded.content
    source = uploaded.json()
    assert "X-Amz-Signature" in source["url"]  # stored in the bucket, served signed
    assert Image.open(io.BytesIO(fetch(source["url"]).content)).size == (WIDTH, HEIGHT)

    jobs = {}
    for path, body in (
        ("vectorize", {"source": source["id"], "mode": "color"}),
        ("remove-background", {"source": source["id"]}),
        ("upscale", {"source": source["id"], "scale": 2}),
        ("generative-upscale", {"source": source["id"], "scale": 4}),
        ("styles", {"name": "Red disc", "references": [source["id"]]}),
    ):
        accepted = client.post(f"/api/v1/studio/{path}", body, format="json")
        assert accepted.status_code == 202, accepted.content
        jobs[path] = accepted.json()["id"]

    done = {path: wait_until_finished(client, job_id) for path, job_id in jobs.items()}
    for path, body in done.items():
        assert body["status"] == "completed", (path, body)

    svg = fetch(done["vectorize"]["url"])
    assert svg.headers["Content-Type"] == "image/svg+xml"
    root = ElementTree.fromstring(svg.content)
    assert (root.get("width"), root.get("height")) == (str(WIDTH), str(HEIGHT))

    cutout = Image.open(io.BytesIO(fetch(done["remove-background"]["url"]).content))
    assert cutout.mode == "RGBA" and cutout.size == (WIDTH, HEIGHT)
    alpha = np.asarray(cutout)[:, :, 3]
    assert alpha[:10].mean() < 32 and alpha[HEIGHT // 2, WIDTH // 2] > 224

    larger = Image.open(io.BytesIO(fetch(done["upscale"]["url"]).content))
    assert larger.size == (2 * WIDTH, 2 * HEIGHT)
    # No generative model is configured: the clarity path, and the result says so.
    generative = done["generative-upscale"]
    assert Image.open(io.BytesIO(fetch(generative["url"]).content)).size == (4 * WIDTH, 4 * HEIGHT)
    assert "local fallback" in generative["metadata"]["method"]

    style = client.get(f"/api/v1/studio/styles/{done['styles']['metadata']['style_id']}").json()
    assert style["name"] == "Red disc" and style["references"] == [source["id"]]
    red = np.array([220, 30, 40])
    assert min(np.abs(np.array(colour) - red).sum() for colour in style["palette"]) < 40

    # Each job's result is an asset of its own, in the bucket.
    listed = client.get("/api/v1/assets", {"kind": "generated"}).json()["assets"]
    assert sorted(a["generation"] for a in listed) == sorted(jobs.values())

    for job_id in jobs.values():
        kinds = sorted(
            Generation.objects.get(pk=job_id).hold.entries.values_list("kind", flat=True)
        )
        assert kinds == [EntryKind.CAPTURE, EntryKind.HOLD]
    user.token_account.refresh_from_db()
    assert (user.token_account.balance, user.token_account.held) == (200 - 4 * 4 - 80, 0)
    assert ledger_audit() == []
