"""Helpers of the tests of the user's own data: an account with some of everything in it,
made through the API and run by the workers, and downloads from signed URLs."""

import io
from dataclasses import dataclass, field

import requests

from studio.tasks import generate_image, generate_video
from tests.fakes.servers import closed_port_url
from tests.pipelines.support import create, two_steps
from tests.studio.operations.support import shape_png

EXPORT = "/api/v1/users/export"


@dataclass
class Filled:
    """The ids of what `fill` made."""

    upload: str = ""
    image: str = ""
    video: str = ""
    operation: str = ""
    style: str = ""  # the style_creation job
    project: str = ""
    template: str = ""
    webhook: str = ""
    jobs: list[str] = field(default_factory=list)


def accepted(response) -> dict:
    assert response.status_code in (201, 202), response.content
    return response.json()


def fill(api, run_worker) -> Filled:
    """An upload, an image, a video, an operation and a style (run to the end by the
    workers), a project, a template and a webhook, all through the API."""
    made = Filled()
    made.project = accepted(api.post("/api/v1/projects", {"name": "Board"}, format="json"))["id"]
    upload = api.post(
        "/api/v1/assets/upload",
        {"file": io.BytesIO(shape_png()), "name": "disc"},
        format="multipart",
    )
    made.upload = accepted(upload)["id"]
    made.webhook = accepted(
        api.post(
            "/api/v1/webhooks",
            {"url": f"{closed_port_url()}/hooks", "events": ["generation.completed"]},
            format="json",
        )
    )["id"]
    made.image = accepted(
        api.post(
            "/api/v1/studio/generate-image",
            {"prompt": "A lighthouse at dawn", "project": made.project},
            format="json",
        )
    )["id"]
    made.video = accepted(
        api.post(
            "/api/v1/studio/generate-video",
            {"prompt": "Waves at night", "model": "pika", "duration": 3, "fps": 8},
            format="json",
        )
    )["id"]
    made.operation = accepted(
        api.post("/api/v1/studio/vectorize", {"source": made.upload}, format="json")
    )["id"]
    made.style = accepted(
        api.post(
            "/api/v1/studio/styles",
            {"name": "Red disc", "references": [made.upload]},
            format="json",
        )
    )["id"]
    made.template = create(api, two_steps(visibility="private"))["id"]
    run_worker(generate_image.queue_name)  # images and operations share it
    run_worker(generate_video.queue_name)
    made.jobs = [made.image, made.video, made.operation, made.style]
    for job in made.jobs:
        assert api.get(f"/api/v1/studio/generation/{job}").json()["status"] == "completed"
    return made


def fetch(api, url: str) -> bytes:
    """What a signed URL serves: from S3 over HTTP, or the app's own media view."""
    if url.startswith("http://testserver/"):
        response = api.get(url)
        assert response.status_code == 200, response
        return b"".join(response.streaming_content)
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return response.content
