"""The schema documents authentication, and Swagger UI serves it from our own static files."""

from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

from tests.core.schema.support import CONTRACT, DOCS_URL, NEEDS_TOKEN, OPERATIONS, SCHEMA_URL, op_id


def _bearer_schemes(schema) -> set[str]:
    schemes = schema.get("components", {}).get("securitySchemes", {})
    return {
        name
        for name, scheme in schemes.items()
        if scheme.get("type") == "http" and scheme.get("scheme") == "bearer"
    }


def test_a_jwt_bearer_security_scheme_is_declared(schema):
    schemes = schema.get("components", {}).get("securitySchemes", {})
    bearer = _bearer_schemes(schema)
    assert bearer, schemes
    assert all(schemes[name].get("bearerFormat") == "JWT" for name in bearer), schemes


@pytest.mark.parametrize("op", NEEDS_TOKEN, ids=op_id)
def test_operations_that_need_a_token_require_the_bearer_scheme(schema, op):
    security = schema["paths"][op[0]][op[1]].get("security", schema.get("security", []))
    offered = {name for requirement in security for name in requirement}
    assert offered & _bearer_schemes(schema), security
    assert {} not in security, "an authenticated operation must not be documented as anonymous"


@pytest.mark.parametrize("op", [op for op in OPERATIONS if not CONTRACT[op][3]], ids=op_id)
def test_public_operations_are_documented_as_anonymous(schema, op):
    security = schema["paths"][op[0]][op[1]].get("security", schema.get("security", []))
    assert security == [] or {} in security, security


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.urls.append(attributes["src"])
        if tag == "link" and attributes.get("href"):
            self.urls.append(attributes["href"])


def _docs_assets(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


def test_swagger_ui_is_served_as_html_and_loads_our_schema(client):
    response = client.get(DOCS_URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "<script>" not in html  # no inline script: the start-up script is a file (CSP)
    assert f'<script src="{DOCS_URL}?script="></script>' in html
    script = client.get(DOCS_URL, {"script": ""})
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert f'"{SCHEMA_URL}"' in script.content.decode()


def test_swagger_ui_loads_nothing_from_a_cdn(client):
    html = client.get(DOCS_URL).content.decode()
    for cdn in ("cdn.jsdelivr", "unpkg", "cdnjs", "googleapis"):
        assert cdn not in html
    assets = _docs_assets(html)
    assert assets, html[:500]
    sidecar = f"{settings.STATIC_URL}drf_spectacular_sidecar/swagger-ui-dist/"
    own_script = f"{DOCS_URL}?script="  # the split view's start-up script, from us
    assert all(url.startswith(sidecar) or url == own_script for url in assets), assets
    names = {url.rsplit("/", 1)[-1] for url in assets}
    assert {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"} <= names


def test_swagger_ui_assets_exist_in_our_static_files(client):
    for url in _docs_assets(client.get(DOCS_URL).content.decode()):
        response = client.get(url)
        if response.status_code == 200:  # served (collectstatic has run, or finders are on)
            continue
        # Tests run without collectstatic; the file must be where collectstatic will find it.
        found = finders.find(url.removeprefix(settings.STATIC_URL))
        assert found, f"{url}: not served ({response.status_code}) and not found by finders"
        with open(found, "rb") as asset:
            assert asset.read(1), f"{url} is empty"
