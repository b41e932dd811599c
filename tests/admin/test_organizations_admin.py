"""Organizations in the admin: the list and the page (members, what each spent, invitations,
the shared ledger with the member on each entry), and the credit actions on an organization,
which move its account exactly as they move a user's."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from organizations.models import Membership, Role
from organizations.services import (
    account_for_organization,
    invitation_create,
    invitation_revoke,
    member_hold_create,
    organization_create,
)
from support.models import SupportAction
from tests.admin.support import (
    ACCOUNTS_URL,
    change_url,
    form_key,
    messages_of,
    numbers,
    start_action,
    submit_action,
)
from tests.factories import UserFactory
from tokens.audit import ledger_audit
from tokens.models import EntryKind, LedgerEntry, TokenAccount
from tokens.services import hold_capture, tokens_grant

pytestmark = pytest.mark.django_db

ORGANIZATIONS_URL = reverse("admin:organizations_organization_changelist")
KEY = "7b0c5a63-2f6a-4f0e-9b61-3f1d2b3c4d5e"


@pytest.fixture
def team():
    """Studio North: its owner, a member limited to 30 a month, a viewer; 100 credits."""
    owner = UserFactory(email="owner@example.com", credits=50)
    organization = organization_create(user=owner, name="Studio North", slug="studio-north")
    tokens_grant(
        account=account_for_organization(organization=organization), amount=100, memo="Team pack"
    )
    member = Membership.objects.create(
        organization=organization,
        user=UserFactory(email="mia@example.com"),
        role=Role.MEMBER,
        monthly_limit=30,
    )
    Membership.objects.create(
        organization=organization, user=UserFactory(email="vic@example.com"), role=Role.VIEWER
    )
    return organization, owner, member


def team_numbers(organization) -> tuple[int, int]:
    account = account_for_organization(organization=organization)
    return account.balance, account.held


def ledger_rows(html: str) -> list[list[str]]:
    """The cells of each row of the ledger table on an organization's page."""
    field = html.split('class="form-row field-ledger"', 1)[1].split("</table>", 1)[0]
    body = field.split("<tbody>", 1)[1]
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]


def section(html: str, element_id: str) -> str:
    """The part of the page from the element `element_id` on (a list, an inline group)."""
    return html.split(f'id="{element_id}"', 1)[1]


def cell(html: str, field: str, row_text: str) -> str:
    """The text of the `field` cell in the first table row that mentions `row_text`."""
    row = next(r for r in re.findall(r"<tr\b.*?</tr>", html, re.S) if row_text in r)
    found = re.search(rf'class="field-{field}[^"]*">(.*?)</t[dh]>', row, re.S)
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


# --- The list and the page -----------------------------------------------------------------


def test_the_list_shows_each_organization_with_its_members_and_credits(staff_client, team):
    _, _, member = team
    member_hold_create(membership=member, amount=10)
    organization_create(user=UserFactory(), name="Empty Co", slug="empty-co")

    html = staff_client.get(ORGANIZATIONS_URL).content.decode()

    assert "Studio North" in html and "Empty Co" in html
    assert cell(html, "slug", "Studio North") == "studio-north"
    assert cell(html, "members", "Studio North") == "3"
    assert cell(html, "balance", "Studio North") == "100"
    assert cell(html, "held", "Studio North") == "10"
    assert cell(html, "available", "Studio North") == "90"
    assert (cell(html, "members", "Empty Co"), cell(html, "balance", "Empty Co")) == ("1", "0")


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("studio-north", True),
        ("north", True),
        ("mia@example.com", True),
        ("example.com", True),  # matches all three members: still one row, still 3 members
        ("nobody@example.com", False),
    ],
)
def test_search_finds_an_organization_by_name_slug_or_member_email(staff_client, team, term, found):
    organization_create(user=UserFactory(email="other@elsewhere.org"), name="Elsewhere")

    response = staff_client.get(ORGANIZATIONS_URL, {"q": term})

    listed = list(response.context["cl"].result_list)
    assert [o.slug for o in listed] == (["studio-north"] if found else [])
    if found:
        assert cell(response.content.decode(), "members", "Studio North") == "3"


def test_the_page_shows_members_with_what_each_spent_this_month(staff_client, team):
    organization, _, member = team
    hold_capture(hold=member_hold_create(membership=member, amount=10), amount=8)
    member_hold_create(membership=member, amount=5)  # still open: it counts

    page = staff_client.get(change_url(organization)).content.decode()
    html = section(page, "memberships-group")

    assert cell(html, "role", "mia@example.com") == "Member"
    assert cell(html, "monthly_limit", "mia@example.com") == "30"
    assert cell(html, "spent", "mia@example.com") == "13"
    assert cell(html, "spent", "owner@example.com") == "0"
    assert cell(html, "role", "vic@example.com") == "Viewer"
    assert cell(html, "role", "owner@example.com") == "Owner"
    # 100 - 8 charged = 92, of which 5 held.
    for field, value in (("balance", 92), ("held", 5), ("available", 87)):
        assert re.search(rf'field-{field}.*?<div class="readonly">{value}</div>', page, re.S)


def test_the_page_shows_invitations_and_their_state_but_never_a_token(staff_client, team):
    organization, owner, _ = team
    by = organization.memberships.get(user=owner)
    pending, pending_token = invitation_create(by=by, email="new@example.com")
    revoked, revoked_token = invitation_create(by=by, email="gone@example.com", role=Role.ADMIN)
    invitation_revoke(by=by, invitation=revoked)

    page = staff_client.get(change_url(organization)).content.decode()
    html = section(page, "invitations-group")

    assert cell(html, "state", "new@example.com") == "pending"
    assert cell(html, "invited_by", "new@example.com") == "owner@example.com"
    assert cell(html, "role", "gone@example.com") == "Admin"
    assert cell(html, "state", "gone@example.com").startswith("revoked")
    for secret in (pending_token, revoked_token, pending.token_hash, revoked.token_hash):
        assert secret not in page
    invitations = staff_client.get(reverse("admin:organizations_invitation_changelist"))
    assert "new@example.com" in invitations.content.decode()
    assert pending.token_hash not in invitations.content.decode()
    assert staff_client.get(reverse("admin:organizations_invitation_add")).status_code == 403


def test_the_page_shows_the_ledger_with_the_member_on_each_capture(staff_client, team, staff):
    organization, _, member = team
    hold = member_hold_create(membership=member, amount=10, operation="raster_generation")
    hold_capture(hold=hold, amount=4)

    html = staff_client.get(change_url(organization)).content.decode()

    rows = ledger_rows(html)
    # Newest first: the release of what was not used, the capture, the hold, the team pack.
    assert [row[1] for row in rows] == ["release", "capture", "hold", "grant"]
    capture = rows[1]
    assert (capture[2], capture[3], capture[4]) == ("-4", "96", "mia@example.com")
    assert rows[0][4] == rows[2][4] == "mia@example.com"
    assert rows[3][4] == "-" and rows[3][6] == "Team pack"


def test_the_ledger_link_lists_exactly_the_organizations_entries(staff_client, team):
    organization, owner, member = team
    hold_capture(hold=member_hold_create(membership=member, amount=10))
    account = account_for_organization(organization=organization)

    html = staff_client.get(change_url(organization)).content.decode()
    link = re.search(r'href="(/admin/tokens/ledgerentry/\?[^"]+)">All ledger entries', html)
    listed = staff_client.get(link.group(1))

    entries = list(listed.context["cl"].result_list)
    assert {e.account_id for e in entries} == {account.pk}
    assert len(entries) == account.entries.count() == 3  # grant, hold, capture
    assert not any(e.account.user_id == owner.pk for e in entries)
    assert "mia@example.com" in listed.content.decode()  # the member column


def test_the_token_account_list_shows_and_finds_an_organization_as_the_owner(staff_client, team):
    organization, _, _ = team
    UserFactory(email="loner@example.com")

    found = staff_client.get(ACCOUNTS_URL, {"q": "studio-north"})
    only_teams = staff_client.get(ACCOUNTS_URL, {"owner": "organization"})

    assert [a.organization_id for a in found.context["cl"].result_list] == [organization.pk]
    assert cell(found.content.decode(), "owner", "Studio North") == "Studio North (studio-north)"
    assert [a.organization_id for a in only_teams.context["cl"].result_list] == [organization.pk]
    page = staff_client.get(change_url(account_for_organization(organization=organization)))
    assert change_url(organization) in page.content.decode()


def test_the_page_is_view_only(staff_client, team):
    organization, _, _ = team

    response = staff_client.get(change_url(organization))
    posted = staff_client.post(change_url(organization), {"name": "Renamed", "slug": "renamed"})

    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert posted.status_code == 403
    organization.refresh_from_db()
    assert (organization.name, organization.slug) == ("Studio North", "studio-north")
    assert staff_client.get(reverse("admin:organizations_organization_add")).status_code == 403


# --- Credit actions ------------------------------------------------------------------------


def test_grant_on_an_organization_moves_its_balance_with_the_staff_member_as_actor(
    staff_client, staff, team
):
    organization, owner, _ = team
    html = start_action(staff_client, ORGANIZATIONS_URL, "grant_credits", [organization.pk])
    assert "organization studio-north" in html and 'name="amount"' in html
    assert team_numbers(organization) == (100, 0)  # showing the form moves nothing

    response = submit_action(
        staff_client,
        ORGANIZATIONS_URL,
        "grant_credits",
        [organization.pk],
        amount=25,
        reason="Sorry for the outage",
        key=form_key(html),
    )

    assert response.status_code == 302
    assert team_numbers(organization) == (125, 0)
    assert numbers(owner) == (50, 0)  # the owner's own credits are not the team's
    entry = LedgerEntry.objects.get(
        account__organization=organization, kind=EntryKind.GRANT, actor__isnull=False
    )
    assert (entry.amount, entry.actor, entry.memo) == (25, staff, "Sorry for the outage")
    assert any(
        m == "Granted 25 credits: organization studio-north. Reason: Sorry for the outage"
        for m in messages_of(response)
    )
    record = SupportAction.objects.get()
    assert (record.action, record.target_type, record.target_id, record.customer) == (
        "grant",
        "organizations.organization",
        str(organization.pk),
        None,
    )
    assert ledger_audit() == []


def test_resubmitting_the_grant_form_on_an_organization_grants_nothing_more(staff_client, team):
    organization, _, _ = team
    pks = [organization.pk]
    key = form_key(start_action(staff_client, ORGANIZATIONS_URL, "grant_credits", pks))
    form = dict(amount=25, reason="Goodwill", key=key)
    submit_action(staff_client, ORGANIZATIONS_URL, "grant_credits", pks, **form)

    again = submit_action(staff_client, ORGANIZATIONS_URL, "grant_credits", pks, **form)

    assert team_numbers(organization) == (125, 0)
    assert any("already applied to organization studio-north" in m for m in messages_of(again))
    assert ledger_audit() == []


def test_adjust_on_an_organization_deducts_but_never_what_its_members_hold(
    staff_client, staff, team
):
    organization, _, member = team
    member_hold_create(membership=member, amount=30)  # 100 owned, 30 held: 70 may go
    pks = [organization.pk]
    key = form_key(start_action(staff_client, ORGANIZATIONS_URL, "adjust_credits", pks))

    refused = submit_action(
        staff_client,
        ORGANIZATIONS_URL,
        "adjust_credits",
        pks,
        amount=-80,
        reason="Correction",
        key=key,
    )
    assert team_numbers(organization) == (100, 30)
    assert any(
        "organization studio-north: cannot deduct 80 credits, only 70 available" in m
        for m in messages_of(refused)
    )

    key = form_key(start_action(staff_client, ORGANIZATIONS_URL, "adjust_credits", pks))
    done = submit_action(
        staff_client,
        ORGANIZATIONS_URL,
        "adjust_credits",
        pks,
        amount=-70,
        reason="Correction",
        key=key,
    )

    assert done.status_code == 302
    assert team_numbers(organization) == (30, 30)
    entry = LedgerEntry.objects.get(account__organization=organization, kind=EntryKind.ADJUST)
    assert (entry.amount, entry.actor, entry.memo) == (-70, staff, "Correction")
    assert ledger_audit() == []


def test_grant_on_an_organizations_account_from_the_token_account_list(staff_client, staff, team):
    organization, _, _ = team
    user = UserFactory(email="ada@example.com", credits=20)
    pks = [account_for_organization(organization=organization).pk, user.token_account.pk]
    html = start_action(staff_client, ACCOUNTS_URL, "grant_credits", pks)
    assert "organization studio-north" in html and "ada@example.com" in html

    submit_action(
        staff_client, ACCOUNTS_URL, "grant_credits", pks, amount=3, reason="r", key=form_key(html)
    )

    assert (team_numbers(organization), numbers(user)) == ((103, 0), (23, 0))
    assert LedgerEntry.objects.filter(actor=staff, kind=EntryKind.GRANT).count() == 2
    assert ledger_audit() == []


def test_a_support_member_can_grant_to_an_organization(desk, member, team):
    # The Support group sees organizations (support.groups); the credit actions come with
    # support.act, as on users.
    organization, _, _ = team
    key = form_key(start_action(desk, ORGANIZATIONS_URL, "grant_credits", [organization.pk]))

    submit_action(
        desk, ORGANIZATIONS_URL, "grant_credits", [organization.pk], amount=4, reason="r", key=key
    )

    assert team_numbers(organization) == (104, 0)
    assert LedgerEntry.objects.get(account__organization=organization, actor=member).amount == 4


def test_someone_who_is_not_staff_cannot_see_organizations_or_grant_to_one(client, team):
    organization, owner, _ = team
    client.force_login(owner)  # the organization's own owner, but not staff

    for url in (ORGANIZATIONS_URL, change_url(organization)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    response = submit_action(
        client,
        ORGANIZATIONS_URL,
        "grant_credits",
        [organization.pk],
        amount=1000,
        reason="free money",
        key=KEY,
    )

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert team_numbers(organization) == (100, 0)
    assert not LedgerEntry.objects.filter(actor__isnull=False).exists()


def test_a_grant_to_an_organization_whose_period_ended_moves_it_to_this_month(staff_client, team):
    organization, _, _ = team
    account = account_for_organization(organization=organization)
    last_month = account.period_start - timedelta(days=40)
    TokenAccount.objects.filter(pk=account.pk).update(
        period_start=last_month, period_end=last_month + timedelta(days=30)
    )
    pks = [organization.pk]
    key = form_key(start_action(staff_client, ORGANIZATIONS_URL, "grant_credits", pks))

    submit_action(
        staff_client, ORGANIZATIONS_URL, "grant_credits", pks, amount=5, reason="r", key=key
    )

    account.refresh_from_db()
    assert account.period_end > timezone.now()
    assert team_numbers(organization) == (105, 0)  # no plan of its own: nothing expired
    assert ledger_audit() == []
