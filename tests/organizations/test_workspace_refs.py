"""What work in a workspace may name by id: the workspace's own projects, styles and images,
whoever of its members made them; never a personal one in an organization's job, nor an
organization's in a personal job (404, as for a stranger's). And what such work makes (its
output assets, a style) belongs to the workspace it was made in."""

import pytest
from rest_framework.test import APIClient

from organizations.models import Membership, Role
from studio.models import Asset, Generation, Project, Style, new_id
from studio.services.execution import generation_run
from tests.conftest import assert_error, login
from tests.organizations.people import team
from tests.studio.test_generations import _fast_providers, submit  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

CUTOUT = "/api/v1/studio/remove-background"
ESTIMATE = "/api/v1/tokens/estimate"


@pytest.fixture
def studio():
    organization, people = team(credits=200)
    member, admin = people[Role.MEMBER].user, people[Role.ADMIN].user
    return organization, login(APIClient(), member), login(APIClient(), admin), member


def made(api, **fields) -> Generation:
    response = submit(api, **fields)
    assert response.status_code == 202, response.content
    generation_run(generation_id=response.json()["id"])
    return Generation.objects.get(pk=response.json()["id"])


def test_an_organization_jobs_outputs_are_the_organizations(studio):
    organization, member_api, _, member = studio
    generation = made(member_api, HTTP_X_ORGANIZATION=organization.slug)
    outputs = Asset.objects.filter(generation=generation)
    assert outputs.exists()
    assert {(a.user_id, a.organization_id) for a in outputs} == {(member.pk, organization.pk)}
    personal = made(member_api)
    assert not Asset.objects.filter(generation=personal, organization__isnull=False).exists()


def test_members_work_on_each_others_results_in_the_organization(studio):
    organization, member_api, admin_api, _ = studio
    picture = made(member_api, HTTP_X_ORGANIZATION=organization.slug)
    response = admin_api.post(
        CUTOUT, {"source": picture.pk}, format="json", HTTP_X_ORGANIZATION=organization.slug
    )
    assert response.status_code == 202, response.content
    asset = Asset.objects.filter(generation=picture).first()
    response = admin_api.post(
        CUTOUT, {"source": asset.pk}, format="json", HTTP_X_ORGANIZATION=organization.slug
    )
    assert response.status_code == 202, response.content


def test_an_organizations_result_is_not_a_source_for_personal_work(studio):
    organization, member_api, _, _ = studio
    picture = made(member_api, HTTP_X_ORGANIZATION=organization.slug)
    assert_error(member_api.post(CUTOUT, {"source": picture.pk}, format="json"), 404, "NOT_FOUND")


def test_personal_things_are_not_named_in_an_organizations_work(studio):
    organization, member_api, _, member = studio
    picture = made(member_api)
    asset = Asset.objects.filter(generation=picture).first()
    project = Project.objects.create(id=new_id("prj"), user=member, name="Mine")
    style = Style.objects.create(id=new_id("sty"), user=member, name="Mine", prompt_suffix="x")
    header = {"HTTP_X_ORGANIZATION": organization.slug}
    for body in ({"source": picture.pk}, {"source": asset.pk}):
        assert_error(member_api.post(CUTOUT, body, format="json", **header), 404, "NOT_FOUND")
    assert_error(submit(member_api, project=project.pk, **header), 404, "NOT_FOUND")
    assert_error(submit(member_api, style_id=style.pk, **header), 404, "NOT_FOUND")
    assert Generation.objects.filter(organization=organization).count() == 0


def test_an_organizations_project_and_style_are_named_by_any_member(studio):
    organization, _member_api, admin_api, member = studio
    project = Project.objects.create(
        id=new_id("prj"), user=member, organization=organization, name="Launch"
    )
    style = Style.objects.create(
        id=new_id("sty"), user=member, organization=organization, name="Ink", prompt_suffix="ink"
    )
    header = {"HTTP_X_ORGANIZATION": organization.slug}
    response = submit(admin_api, project=project.pk, style_id=style.pk, **header)
    assert response.status_code == 202, response.content
    generation_run(generation_id=response.json()["id"])
    outputs = Asset.objects.filter(generation_id=response.json()["id"])
    assert {(a.project_id, a.organization_id) for a in outputs} == {(project.pk, organization.pk)}
    # …but not in anyone's personal work.
    assert_error(submit(admin_api, project=project.pk), 404, "NOT_FOUND")


def test_the_estimate_is_of_what_the_member_may_spend_in_the_workspace(studio):
    organization, member_api, _, member = studio
    Membership.objects.filter(organization=organization, user=member).update(monthly_limit=10)
    body = {"operation": "image_generation", "model": "flux-pro", "quantity": 2}
    own = member_api.post(ESTIMATE, body, format="json").json()
    assert own["available"] == member.token_account.available
    ours = member_api.post(
        ESTIMATE, body, format="json", HTTP_X_ORGANIZATION=organization.slug
    ).json()
    assert (ours["cost"], ours["available"], ours["sufficient"]) == (8, 10, True)
    made(member_api, HTTP_X_ORGANIZATION=organization.slug)  # 4 of the 10 spent
    ours = member_api.post(
        ESTIMATE, {**body, "organization": organization.slug}, format="json"
    ).json()
    assert (ours["available"], ours["sufficient"]) == (6, False)
