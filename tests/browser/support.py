"""Helpers of the browser tests: sign in, page checks (title, labels, axe-core), screenshots."""

import re
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from studio.models import Status
from tests.factories import PASSWORD
from tests.fakes.processes import ROOT

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ARTIFACTS = ROOT / "tests" / "artifacts"
# Every browser test module: `pytestmark = BROWSER`. (conftest.py gives each test a
# transactional database with a serialized rollback: the site's processes see its rows.)
BROWSER = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis, pytest.mark.s3]
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def sign_in(page, site, user, password: str = PASSWORD) -> None:
    """Through the login form, as a person would."""
    page.goto(site.url("/login/"))
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/studio/$"))


def sign_in_refused(page, watch, email: str, password: str) -> None:
    """On the login page: these credentials are refused, as a person sees it."""
    watch.expect(400, r"/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Invalid email or password")


def screenshot(page, name: str) -> Path:
    """tests/artifacts/<name>-<desktop|phone>-<light|dark>.png (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"]
    scheme = page.evaluate("document.documentElement.dataset.theme")
    path = ARTIFACTS / f"{name}-{'phone' if width <= 480 else 'desktop'}-{scheme}.png"
    page.evaluate("window.scrollTo(0, 0)")  # a sticky header belongs at the top of the shot
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page) -> list[dict]:
    """Serious and critical axe-core violations on the page as it is now. axe runs through
    the DevTools protocol, which the page's Content-Security-Policy does not apply to."""
    page.evaluate(AXE.read_text())
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"][:5]],
        }
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def unlabelled_controls(page) -> list[str]:
    """Form controls with no accessible name (label, aria-label, aria-labelledby)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
            .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                            && !el.getAttribute('aria-labelledby') && !el.title)
            .map((el) => el.outerHTML.slice(0, 120))"""
    )


def horizontal_overflow(page) -> int:
    """How many pixels the page is wider than the viewport (0: no horizontal scroll)."""
    return page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - "
        "document.documentElement.clientWidth"
    )


def check_page(page) -> None:
    """A title, labelled controls, and no serious or critical accessibility violations."""
    # Judged as it rests: a tile fading in is not yet at its final contrast.
    page.evaluate("Promise.all(document.getAnimations().map((a) => a.finished.catch(() => {})))")
    title = page.title()
    assert title and "CraftFrame" in title, title
    assert unlabelled_controls(page) == []
    violations = axe_violations(page)
    assert violations == [], violations


def set_theme(page, theme: str) -> None:
    page.evaluate(f"localStorage.setItem('cf-theme', '{theme}')")
    page.reload()
    page.wait_for_load_state("networkidle")


FINISHED = {Status.COMPLETED, Status.FAILED, Status.CANCELLED}


class SiteApi:
    """The site's own API over HTTP, as `user` with a JWT: jobs are queued by the server
    process, so the site's worker runs them whatever broker namespace it listens on."""

    def __init__(self, site, user):
        self.site = site
        self.base = site.url("/api/v1")
        self.http = requests.Session()
        response = self.http.post(
            f"{self.base}/auth/login", json={"email": user.email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        self.http.headers["Authorization"] = f"Bearer {response.json()['token']}"

    def call(self, method: str, path: str, body: dict | None = None, status: int = 200) -> dict:
        response = self.http.request(method, f"{self.base}{path}", json=body, timeout=30)
        assert response.status_code == status, f"{response.text}\n{self.site.server.output()}"
        return response.json()

    def upload(self, data: bytes, name: str, project: str | None = None) -> dict:
        """POST /assets/upload, as the page's uploader sends it."""
        response = self.http.post(
            f"{self.base}/assets/upload",
            files={"file": (name, data, "image/png")},
            data={"project": project} if project else {},
            timeout=30,
        )
        assert response.status_code == 201, f"{response.text}\n{self.site.server.output()}"
        return response.json()


def make(site, user, *requests_: dict, timeout: float = 90) -> list[str]:
    """Generations made through the API as `user`, run by the site's worker to the end."""
    api = SiteApi(site, user)
    ids = [api.call("POST", "/studio/generate-image", body, status=202)["id"] for body in requests_]
    deadline = time.monotonic() + timeout
    for generation_id in ids:
        while True:
            status = api.call("GET", f"/studio/generation/{generation_id}")["status"]
            if status in FINISHED:
                assert status == Status.COMPLETED, generation_id
                break
            assert time.monotonic() < deadline, f"{generation_id} still {status}"
            time.sleep(0.2)  # polling a job in another process, not synchronising the test
    return ids
