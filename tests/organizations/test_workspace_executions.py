"""Template runs in an organization's workspace: named by the X-Organization header or the
`organization` field, held and charged on the organization's account with the member recorded
(their steps' jobs in its gallery), listed and shown to its members only, refused for viewers,
past a member's limit and for strangers; cancelled by whoever started it or a manager, and
retried on the organization's account."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient, APIRequestFactory

from organizations.models import Membership, Organization, Role
from pipelines import streams
from pipelines.models import Execution, ExecutionStatus, ExecutionStep, Template
from studio.models import Generation, Status
from tests.conftest import assert_error, login
from tests.factories import UserFactory
from tests.organizations import test_workspace_jobs
from tests.pipelines.support import BASE, balance, execute, run_all, starter
from tokens.audit import ledger_audit
from tokens.models import EntryKind, Hold, LedgerEntry

pytestmark = pytest.mark.django_db(transaction=True)

LIST = f"{BASE}/users/executions"
BRAND = {"brand": "Acme"}
COST = 12  # the logo kit: three steps of 4


# An organization with 100 credits and `join(role, **membership)` -> (user, logged-in client).
team = test_workspace_jobs.team


@pytest.fixture(autouse=True)
def _local_operations(settings, instant_studio):
    settings.OPERATION_PROVIDERS = {"background_removal": ["local"]}


def run_in(api, organization):
    """Run the logo kit in `organization`, named by the body's field."""
    return api.post(
        f"{BASE}/templates/{starter('logo-kit').pk}/execute",
        {"inputs": BRAND, "organization": organization.slug},
        format="json",
    )


def written() -> tuple[int, ...]:
    return (
        Execution.objects.count(),
        Generation.objects.count(),
        Hold.objects.count(),
        LedgerEntry.objects.count(),
        Template.objects.get(starter="logo-kit").runs,
    )


def test_a_members_run_is_paid_by_the_organization_and_names_the_member(team):
    organization, account, join = team
    member, api = join(Role.MEMBER)
    response = execute(api, starter("logo-kit").pk, BRAND, HTTP_X_ORGANIZATION=organization.slug)
    assert response.status_code == 202, response.content
    execution = Execution.objects.get(pk=response.json()["id"])
    assert execution.organization == organization and execution.user == member
    hold = Hold.objects.get(pk=execution.hold_id)
    assert (hold.account_id, hold.member_id, hold.amount) == (account.pk, member.pk, COST)
    assert run_all(execution.pk).status == ExecutionStatus.COMPLETED
    account.refresh_from_db()
    assert (account.balance, account.held) == (100 - COST, 0)
    assert balance(member) == (50, 0)  # their own credits are untouched
    captures = LedgerEntry.objects.filter(account=account, kind=EntryKind.CAPTURE)
    assert [(c.amount, c.hold.member_id) for c in captures] == [(-4, member.pk)] * 3
    assert ledger_audit() == []
    # Its steps' jobs are the organization's too: in its gallery, not the member's own.
    jobs = set(execution.steps.values_list("generation_id", flat=True))
    gallery = api.get(f"{BASE}/users/generations", {"organization": organization.slug})
    assert {g["id"] for g in gallery.json()["generations"]} == jobs
    assert api.get(f"{BASE}/users/generations").json()["generations"] == []
    # The body's field does the same as the header.
    again = run_in(api, organization)
    assert again.status_code == 202, again.content
    assert Execution.objects.get(pk=again.json()["id"]).organization == organization


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [(Role.VIEWER, 403, "FORBIDDEN"), (None, 404, "NOT_FOUND")],
    ids=["viewer", "stranger"],
)
def test_a_viewer_is_refused_a_stranger_gets_404_and_nothing_is_written(team, role, status, code):
    organization, _, join = team
    if role:
        user, api = join(role)
    else:
        user = UserFactory(credits=50)
        api = login(APIClient(), user)
    before = written()
    assert_error(run_in(api, organization), status, code)
    header = execute(api, starter("logo-kit").pk, BRAND, HTTP_X_ORGANIZATION=organization.slug)
    assert_error(header, status, code)
    assert written() == before and balance(user) == (50, 0)


def test_a_member_past_their_monthly_limit_is_refused_naming_the_limit(team):
    organization, account, join = team
    _, api = join(Role.MEMBER, monthly_limit=COST - 2)
    before = written()
    body = assert_error(run_in(api, organization), 403, "INSUFFICIENT_CREDITS")
    assert (body["details"]["limit"], body["details"]["spent"]) == (COST - 2, 0)
    assert written() == before
    account.refresh_from_db()
    assert (account.balance, account.held) == (100, 0)


def test_the_organizations_runs_are_listed_and_shown_to_its_members_only(team):
    organization, _, join = team
    _, member_api = join(Role.MEMBER)
    _, viewer_api = join(Role.VIEWER)
    made = run_in(member_api, organization).json()["id"]
    own = execute(member_api, starter("logo-kit").pk, BRAND).json()["id"]

    def listed(api, **headers):
        query = {} if headers else {"organization": organization.slug}
        response = api.get(LIST, query, **headers)
        assert response.status_code == 200, response.content
        return [e["id"] for e in response.json()["executions"]]

    assert listed(viewer_api) == [made]
    assert listed(viewer_api, HTTP_X_ORGANIZATION=organization.slug) == [made]
    assert listed(member_api) == [made]
    own_list = member_api.get(LIST).json()["executions"]  # their own workspace
    assert [e["id"] for e in own_list] == [own]
    for path in (f"executions/{made}", f"executions/{made}/logs"):
        assert viewer_api.get(f"{BASE}/{path}").status_code == 200
    assert_error(viewer_api.get(f"{BASE}/executions/{own}"), 404, "NOT_FOUND")
    stranger = login(APIClient(), UserFactory())
    assert_error(stranger.get(LIST, {"organization": organization.slug}), 404, "NOT_FOUND")
    assert_error(stranger.get(f"{BASE}/executions/{made}"), 404, "NOT_FOUND")
    assert_error(stranger.post(f"{BASE}/executions/{made}/cancel"), 404, "NOT_FOUND")


def test_a_removed_member_no_longer_sees_or_follows_their_run_there(team):
    organization, _, join = team
    member, api = join(Role.MEMBER)
    made = run_in(api, organization).json()["id"]
    request = APIRequestFactory().get(f"{BASE}/executions/{made}/events")
    assert streams.load(made, member.pk, request) is not None
    Membership.objects.filter(user=member).delete()
    for path in (f"executions/{made}", f"executions/{made}/logs"):
        assert_error(api.get(f"{BASE}/{path}"), 404, "NOT_FOUND")
    assert_error(api.post(f"{BASE}/executions/{made}/cancel"), 404, "NOT_FOUND")
    assert_error(api.get(LIST, {"organization": organization.slug}), 404, "NOT_FOUND")
    assert streams.load(made, member.pk, request) is None  # the live stream ends too
    assert Execution.objects.get(pk=made).status == ExecutionStatus.QUEUED


def test_only_whoever_started_it_and_the_managers_cancel_a_run_and_the_credits_go_back(team):
    organization, account, join = team
    _, maker = join(Role.MEMBER)
    _, colleague = join(Role.MEMBER)
    _, viewer = join(Role.VIEWER)
    _, admin = join(Role.ADMIN)
    made = run_in(maker, organization).json()["id"]
    cancel = f"{BASE}/executions/{made}/cancel"
    assert_error(colleague.post(cancel), 403, "FORBIDDEN")
    assert_error(viewer.post(cancel), 403, "FORBIDDEN")
    assert_error(colleague.post(f"{BASE}/executions/{made}/retry"), 403, "FORBIDDEN")
    account.refresh_from_db()
    assert (account.balance, account.held) == (100, COST)
    response = admin.post(cancel)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == ExecutionStatus.CANCELLED
    first_job = ExecutionStep.objects.get(execution_id=made, position=0).generation
    assert first_job.status == Status.CANCELLED  # the running step's job stopped with it
    account.refresh_from_db()
    assert (account.balance, account.held) == (100, 0)
    assert ledger_audit() == []


def test_a_retry_holds_on_the_organizations_account_while_the_member_belongs_there(team):
    organization, account, join = team
    member, api = join(Role.MEMBER)
    made = run_in(api, organization).json()["id"]
    assert api.post(f"{BASE}/executions/{made}/cancel").status_code == 200
    response = api.post(f"{BASE}/executions/{made}/retry")
    assert response.status_code == 202, response.content
    hold = Hold.objects.get(pk=Execution.objects.get(pk=made).hold_id)
    assert (hold.account_id, hold.member_id, hold.amount) == (account.pk, member.pk, COST)
    assert run_all(made).status == ExecutionStatus.COMPLETED
    account.refresh_from_db()
    assert (account.balance, account.held) == (100 - COST, 0)
    assert balance(member) == (50, 0) and ledger_audit() == []
    # A closed organization is no workspace any more: its run stays readable, not retried.
    stopped = run_in(api, organization).json()["id"]
    assert api.post(f"{BASE}/executions/{stopped}/cancel").status_code == 200
    Organization.objects.filter(pk=organization.pk).update(closed_at=timezone.now())
    holds = Hold.objects.count()
    assert_error(api.post(f"{BASE}/executions/{stopped}/retry"), 404, "NOT_FOUND")
    assert Hold.objects.count() == holds
    assert Execution.objects.get(pk=stopped).status == ExecutionStatus.CANCELLED


def test_an_idempotency_key_of_a_personal_run_is_not_replayed_in_the_organization(team):
    organization, account, join = team
    member, api = join(Role.MEMBER)
    logo, key = starter("logo-kit").pk, {"HTTP_IDEMPOTENCY_KEY": "run-1"}
    assert execute(api, logo, BRAND, **key).status_code == 202
    again = execute(api, logo, BRAND, HTTP_X_ORGANIZATION=organization.slug, **key)
    assert_error(again, 409, "IDEMPOTENCY_CONFLICT")
    account.refresh_from_db()
    assert account.held == 0 and balance(member) == (50, COST)
