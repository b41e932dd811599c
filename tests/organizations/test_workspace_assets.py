"""Projects, assets and styles of an organization, as each role, a removed member and a
stranger: everyone in it reads them; makers (owner, admin, member) add to it, viewers get
403; whoever made a thing and the managers change or delete it; anyone outside gets 404, never
403. The cases are generated: each operation below, as every actor."""

import pytest
from rest_framework.test import APIClient

from organizations.models import MANAGERS, SPENDERS, Membership, Role
from studio.models import Asset, AssetKind, Project, Style, new_id
from tests.conftest import assert_error, login
from tests.factories import UserFactory
from tests.organizations.people import ACTORS, assert_access, team
from tests.studio.assets.support import png, upload

pytestmark = pytest.mark.django_db(transaction=True)

API = "/api/v1"
EVERYONE = tuple(Role)
MAKERS = SPENDERS  # add to the organization
CHANGERS = (*MANAGERS, Role.MEMBER)  # the member made the things; managers change anything

# (method, path, body, who may, success status)
OPERATIONS = [
    ("get", "/projects", None, EVERYONE, 200),
    ("post", "/projects", {"name": "Launch"}, MAKERS, 201),
    ("get", "/projects/{project}", None, EVERYONE, 200),
    ("put", "/projects/{project}", {"name": "Renamed"}, CHANGERS, 200),
    ("post", "/projects/{project}/duplicate", None, MAKERS, 201),
    ("delete", "/projects/{project}", None, CHANGERS, 200),
    ("get", "/assets", None, EVERYONE, 200),
    ("get", "/assets/{asset}", None, EVERYONE, 200),
    ("patch", "/assets/{asset}", {"name": "renamed.png"}, CHANGERS, 200),
    ("delete", "/assets/{asset}", None, CHANGERS, 200),
    ("post", "/assets/move", {"ids": ["{asset}"], "project": "{project}"}, MAKERS, 200),
    ("get", "/studio/styles", None, EVERYONE, 200),
    ("get", "/studio/styles/{style}", None, EVERYONE, 200),
    ("delete", "/studio/styles/{style}", None, CHANGERS, 200),
]


@pytest.fixture
def studio():
    """The team, and a project, an uploaded asset and a style its member made in it."""
    organization, people = team()
    member = people[Role.MEMBER].user
    made = {"user": member, "organization": organization}
    things = {
        "project": Project.objects.create(id=new_id("prj"), name="Board", **made).pk,
        "asset": Asset.objects.create(
            id=new_id("ast"),
            kind=AssetKind.UPLOAD,
            key="missing/original.png",
            content_type="image/png",
            size=10,
            **made,
        ).pk,
        "style": Style.objects.create(id=new_id("sty"), name="Ink", prompt_suffix="ink", **made).pk,
    }
    return organization, people, things


def fill(value, things):
    if isinstance(value, str):
        return value.format(**things)
    if isinstance(value, list):
        return [fill(v, things) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, things) for k, v in value.items()}
    return value


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize(
    ("method", "path", "body", "who", "success"),
    OPERATIONS,
    ids=[f"{m.upper()} {p}" for m, p, *_ in OPERATIONS],
)
def test_the_access_matrix(studio, method, path, body, who, success, actor):
    organization, people, things = studio
    api = login(APIClient(), people[actor].user)
    response = getattr(api, method)(
        API + fill(path, things),
        fill(body, things),
        format="json",
        HTTP_X_ORGANIZATION=organization.slug,
    )
    assert_access(response, actor, who, success)


def test_another_plain_member_reads_but_does_not_change_what_a_member_made(studio):
    organization, _people, things = studio
    other = UserFactory()
    Membership.objects.create(organization=organization, user=other, role=Role.MEMBER)
    api = login(APIClient(), other)
    assert api.get(f"{API}/assets/{things['asset']}").status_code == 200
    for method, path in (
        ("patch", f"/assets/{things['asset']}"),
        ("put", f"/projects/{things['project']}"),
        ("delete", f"/studio/styles/{things['style']}"),
    ):
        response = getattr(api, method)(API + path, {"name": "Mine now"}, format="json")
        assert_error(response, 403, "FORBIDDEN")
    assert Asset.objects.get(pk=things["asset"]).name == ""


def test_lists_are_of_the_workspace_asked_for(studio):
    organization, people, things = studio
    member = people[Role.MEMBER].user
    mine = Project.objects.create(id=new_id("prj"), user=member, name="Personal")
    api = login(APIClient(), member)
    ours = api.get(f"{API}/projects", HTTP_X_ORGANIZATION=organization.slug).json()["projects"]
    assert [p["id"] for p in ours] == [things["project"]]
    by_query = api.get(f"{API}/projects?organization={organization.slug}").json()["projects"]
    assert [p["id"] for p in by_query] == [things["project"]]
    own = api.get(f"{API}/projects").json()["projects"]
    assert [p["id"] for p in own] == [mine.pk]
    assert api.get(f"{API}/assets").json()["assets"] == []
    assert api.get(f"{API}/studio/styles").json()["styles"] == []


def test_an_upload_in_the_organization_is_the_organizations(studio, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    organization, people, things = studio
    api = login(APIClient(), people[Role.MEMBER].user)
    response = upload(api, png(), organization=organization.slug, project=things["project"])
    assert response.status_code == 201, response.content
    asset = Asset.objects.get(pk=response.json()["id"])
    assert (asset.organization_id, asset.project_id) == (organization.pk, things["project"])
    viewer = login(APIClient(), people[Role.VIEWER].user)
    assert_error(upload(viewer, png(), organization=organization.slug), 403, "FORBIDDEN")


def test_nothing_is_filed_across_workspaces(studio):
    organization, people, things = studio
    member = people[Role.MEMBER].user
    mine = Project.objects.create(id=new_id("prj"), user=member, name="Personal")
    api = login(APIClient(), member)
    # The organization's asset into a personal project, and a personal move of it: 404.
    response = api.patch(f"{API}/assets/{things['asset']}", {"project": mine.pk}, format="json")
    assert_error(response, 404, "NOT_FOUND")
    response = api.post(
        f"{API}/assets/move", {"ids": [things["asset"]], "project": mine.pk}, format="json"
    )
    assert_error(response, 404, "NOT_FOUND")
    assert Asset.objects.get(pk=things["asset"]).project_id is None
    # Into the organization's project, from the asset's own page: fine.
    response = api.patch(
        f"{API}/assets/{things['asset']}", {"project": things["project"]}, format="json"
    )
    assert response.status_code == 200, response.content
    copy = api.post(f"{API}/projects/{things['project']}/duplicate")
    assert copy.status_code == 201, copy.content
    assert Project.objects.get(pk=copy.json()["id"]).organization_id == organization.pk
