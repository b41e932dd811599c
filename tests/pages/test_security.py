"""Security headers on every page, and templates that a strict CSP can serve: no inline
script, no inline style attribute, no inline event handler anywhere in our own templates."""

import re
from pathlib import Path

import pytest

from core.security import AWS_MEDIA, content_security_policy

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
STATIC_JS = Path(__file__).resolve().parents[2] / "static" / "js"


def directives(policy: str) -> dict[str, str]:
    return {
        part.split()[0]: " ".join(part.split()[1:])
        for part in (p.strip() for p in policy.split(";"))
        if part
    }


@pytest.mark.parametrize("path", ["/", "/login/", "/register/", "/studio/", "/account/"])
def test_pages_send_a_strict_policy_and_no_framing(client, user, path):
    client.force_login(user)
    response = client.get(path, follow=True)
    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["base-uri"] == "'self'" and policy["form-action"] == "'self'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_api_and_admin_keep_scripts_strict_but_allow_their_style_attributes(client):
    for path in ("/api/v1/docs/", "/admin/login/"):
        policy = directives(client.get(path)["Content-Security-Policy"])
        assert policy["script-src"] == "'self'"
        assert policy["style-src"] == "'self' 'unsafe-inline'"


def test_signed_s3_media_is_allowed_from_the_storage_origin_only(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"endpoint_url": "https://media.example.com:9000/sub"},
        },
    }
    policy = directives(content_security_policy("/studio/"))
    assert policy["img-src"] == "'self' data: blob: https://media.example.com:9000"
    assert policy["media-src"] == "'self' blob: https://media.example.com:9000"
    settings.STORAGES["default"]["OPTIONS"]["endpoint_url"] = None
    assert AWS_MEDIA in directives(content_security_policy("/studio/"))["img-src"]


def test_svg_media_keeps_its_own_sandboxed_policy(client, media_storage):
    from studio import storage
    from studio.media_views import SVG_POLICY

    (media_storage / "users" / "x").mkdir(parents=True)
    (media_storage / "users" / "x" / "a.svg").write_text(
        "<svg xmlns='http://www.w3.org/2000/svg'/>"
    )
    response = client.get(storage.url_for("users/x/a.svg"))
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == SVG_POLICY


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
INLINE_STYLE = re.compile(r"\sstyle=\"")
INLINE_HANDLER = re.compile(r"\son[a-z]+=\"", re.IGNORECASE)


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES))
)
def test_no_template_has_inline_script_style_or_handlers(template):
    text = template.read_text()
    assert not INLINE_SCRIPT.search(text), "inline <script>"
    assert not INLINE_STYLE.search(text), "style attribute"
    assert not INLINE_HANDLER.search(text), "inline event handler"


@pytest.mark.parametrize("module", sorted(STATIC_JS.glob("*.js")), ids=lambda p: p.name)
def test_page_scripts_use_no_eval(module):
    text = module.read_text()
    assert "eval(" not in text and "new Function" not in text
    assert '.setAttribute("style"' not in text and "innerHTML = `<style" not in text


def csrf_client(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/studio/")  # sets the CSRF cookie, as the page does
    return client, client.cookies["csrftoken"].value


def test_a_page_script_call_without_the_csrf_token_is_refused_in_the_error_format(user):
    from studio.models import Generation
    from tests.conftest import assert_error

    client, token = csrf_client(user)
    body = {"prompt": "A forged request"}
    for headers in ({}, {"HTTP_X_CSRFTOKEN": "forged" + token[6:]}):
        response = client.post(
            "/api/v1/studio/generate-image", body, content_type="application/json", **headers
        )
        error = assert_error(response, 403, "FORBIDDEN")
        assert "CSRF" in error["error"]
    assert Generation.objects.count() == 0
    accepted = client.post(
        "/api/v1/studio/generate-image",
        body,
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert accepted.status_code == 202  # the page's own call, with the token, goes through


def test_another_users_ids_in_a_page_form_are_404_and_write_nothing(user):
    from studio.models import Generation, Project
    from studio.services.projects import project_create
    from tests.conftest import assert_error
    from tests.factories import UserFactory

    theirs = project_create(user=UserFactory(), name="Theirs")
    client, token = csrf_client(user)
    for path, body in (
        ("/api/v1/studio/generate-image", {"prompt": "Into their board", "project": theirs.id}),
        ("/api/v1/assets/move", {"ids": ["img_0_0"], "project": theirs.id}),
        ("/api/v1/studio/vectorize", {"source": "ast_" + "0" * 24}),
    ):
        response = client.post(path, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
        assert_error(response, 404, "NOT_FOUND")
    assert Generation.objects.count() == 0
    assert Project.objects.get().pk == theirs.pk
