"""Pictures, requests and checks shared by the asset API tests."""

import errno
import io
import random
from pathlib import Path
from urllib.parse import urlsplit

from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from studio.models import Generation
from studio.services.execution import generation_run
from tests.fakes.images import encode
from tokens.models import LedgerEntry

UPLOAD = "/api/v1/assets/upload"


ASSETS = "/api/v1/assets"


MOVE = "/api/v1/assets/move"


IMAGE = "/api/v1/studio/generate-image"


class FlakyDisk(FileSystemStorage):
    """A disk whose writes fail for names containing `fail_on`: an outage half-way through."""

    def __init__(self, *, fail_on: str, **options):
        super().__init__(**options)
        self.fail_on = fail_on

    def _save(self, name, content):
        if self.fail_on in name:
            raise OSError(errno.EIO, "Input/output error", name)
        return super()._save(name, content)


def make_disk_flaky(settings, root: Path, fail_on: str) -> None:
    """From now on, writes of names containing `fail_on` fail (and are not retried)."""
    settings.STORAGE_RETRIES = 0
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": f"{__name__}.FlakyDisk",
            "OPTIONS": {"location": str(root), "base_url": "/media/", "fail_on": fail_on},
        },
    }


def picture(width: int = 64, height: int = 48) -> Image.Image:
    """Left half red, right half blue: where the red ends up shows how it was turned."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width // 2, height))
    return image


def png(width: int = 64, height: int = 48) -> bytes:
    return encode(picture(width, height), "PNG")


def noisy_png(width: int = 64, height: int = 48) -> bytes:
    """A PNG whose pixel data fills most of the file (so cutting it cuts pixels)."""
    pixels = random.Random(width * height).randbytes(width * height * 3)
    return encode(Image.frombytes("RGB", (width, height), pixels), "PNG")


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def upload(api, data: bytes, filename: str = "photo.png", content_type: str = "image/png", **form):
    """POST a multipart upload; `form` holds the other fields (project, name)."""
    file = SimpleUploadedFile(filename, data, content_type=content_type)
    return api.post(UPLOAD, {"file": file, **form}, format="multipart")


def uploaded(api, data: bytes | None = None, filename: str = "photo.png", **form) -> dict:
    """Upload and insist it worked; the asset as the API shows it."""
    response = upload(api, png() if data is None else data, filename, **form)
    assert response.status_code == 201, response.content
    return response.json()


def stored(root: Path) -> list[str]:
    """Every file under the media root, as storage keys."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def money(user) -> tuple[int, int, int]:
    """Balance, held, and how many ledger entries the user's account has."""
    account = user.token_account
    account.refresh_from_db()
    return account.balance, account.held, LedgerEntry.objects.filter(account=account).count()


def fetch(url: str) -> bytes:
    """The bytes a signed local media URL serves (no credentials needed)."""
    response = APIClient().get(url)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content)


def key_of(url: str) -> str:
    """The storage key a local media URL points at."""
    return urlsplit(url).path.removeprefix("/media/")


def submit(api, **fields) -> str:
    """Queue an image generation; its id."""
    response = api.post(IMAGE, {"prompt": "A lighthouse at dawn", **fields}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def completed(api, **fields) -> str:
    """A generation run to completion (its output is then an asset too)."""
    generation_id = submit(api, **fields)
    generation_run(generation_id=generation_id)
    assert Generation.objects.get(pk=generation_id).status == "completed"
    return generation_id


def project(api, name: str = "Brand refresh") -> str:
    response = api.post("/api/v1/projects", {"name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]
