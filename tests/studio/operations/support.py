"""Sources, requests and ledger checks shared by the operation tests."""

import io

import numpy as np
from PIL import Image

from studio import storage
from studio.models import Asset, Generation
from studio.services.assets import asset_upload
from studio.services.execution import generation_run
from tokens.models import EntryKind, LedgerEntry

RED = (220, 30, 40)


BACKDROP = (235, 235, 228)


def shape_png(width=160, height=120, colour=RED, backdrop=BACKDROP) -> bytes:
    """A coloured disc on a plain backdrop (what background removal is for)."""
    yy, xx = np.mgrid[0:height, 0:width]
    disc = (xx - width / 2) ** 2 + (yy - height / 2) ** 2 <= (min(width, height) / 3) ** 2
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = backdrop
    pixels[disc] = colour
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def upload(user, data=None, **kwargs) -> Asset:
    return asset_upload(user=user, data=data or shape_png(), filename="shape.png", **kwargs)


def submit(api, path, **body):
    return api.post(f"/api/v1/studio/{path}", body, format="json")


def run(job_id: str) -> Generation:
    generation_run(generation_id=job_id)
    return Generation.objects.get(pk=job_id)


def status_of(api, job_id: str) -> dict:
    response = api.get(f"/api/v1/studio/generation/{job_id}")
    assert response.status_code == 200, response.content
    return response.json()


def balance(user) -> tuple[int, int]:
    user.token_account.refresh_from_db()
    return user.token_account.balance, user.token_account.held


def entries(user) -> list[tuple[str, int, int]]:
    """(kind, balance change, held change) of the user's entries after the opening grant."""
    return list(
        LedgerEntry.objects.filter(account__user=user)
        .exclude(kind=EntryKind.GRANT)
        .order_by("pk")
        .values_list("kind", "amount", "held_delta")
    )


def charged(cost: int) -> list[tuple[str, int, int]]:
    return [(EntryKind.HOLD, 0, cost), (EntryKind.CAPTURE, -cost, -cost)]


def output_bytes(generation: Generation) -> bytes:
    return storage.read(generation.outputs[0]["key"])


def rgba(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "RGBA"
        return np.asarray(image)
