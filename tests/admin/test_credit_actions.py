"""The admin's grant and adjust actions (credits move through tokens.services, with the staff
member as actor), who may use them, and the browsable API on the admin session."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from accounts.models import Plan, User
from support.models import SupportAction
from tests.admin.support import (
    ACCOUNTS_URL,
    ENTRIES_URL,
    USERS_URL,
    form_key,
    grant_entries,
    messages_of,
    numbers,
    start_action,
    submit_action,
)
from tests.factories import PASSWORD, UserFactory, staff_user
from tokens.audit import ledger_audit
from tokens.models import EntryKind, LedgerEntry
from tokens.services import hold_create

pytestmark = pytest.mark.django_db


def test_grant_action_shows_a_form_for_the_selected_users(staff_client):
    ada = UserFactory(email="ada@example.com", credits=20)
    grace = UserFactory(email="grace@example.com", credits=30)
    UserFactory(email="bystander@example.com")

    html = start_action(staff_client, USERS_URL, "grant_credits", [ada.pk, grace.pk])

    assert "Grant credits" in html
    assert "ada@example.com" in html and "grace@example.com" in html
    assert "bystander@example.com" not in html
    assert 'name="amount"' in html and 'name="reason"' in html
    assert form_key(html)
    # Showing the form moves nothing.
    assert (numbers(ada), numbers(grace)) == ((20, 0), (30, 0))
    assert not LedgerEntry.objects.filter(kind=EntryKind.GRANT, actor__isnull=False).exists()


def test_grant_action_adds_credits_to_every_selected_user_with_actor_and_reason(
    staff_client, staff
):
    ada = UserFactory(email="ada@example.com", credits=20)
    grace = UserFactory(email="grace@example.com", credits=30)
    bystander = UserFactory(email="bystander@example.com", credits=10)
    key = form_key(start_action(staff_client, USERS_URL, "grant_credits", [ada.pk, grace.pk]))

    response = submit_action(
        staff_client,
        USERS_URL,
        "grant_credits",
        [ada.pk, grace.pk],
        amount=25,
        reason="Sorry for the outage",
        key=key,
    )

    assert response.status_code == 302
    assert (numbers(ada), numbers(grace), numbers(bystander)) == ((45, 0), (55, 0), (10, 0))
    for user in (ada, grace):
        entry = grant_entries(user).get()
        assert (entry.amount, entry.actor, entry.memo) == (25, staff, "Sorry for the outage")
    assert not grant_entries(bystander).exists()
    assert any("Granted 25 credits" in m for m in messages_of(response))
    assert ledger_audit() == []


def test_resubmitting_the_same_grant_form_grants_nothing_more(staff_client):
    ada = UserFactory(email="ada@example.com", credits=20)
    key = form_key(start_action(staff_client, USERS_URL, "grant_credits", [ada.pk]))
    form = dict(amount=25, reason="Goodwill", key=key)
    submit_action(staff_client, USERS_URL, "grant_credits", [ada.pk], **form)
    assert numbers(ada) == (45, 0)

    again = submit_action(staff_client, USERS_URL, "grant_credits", [ada.pk], **form)

    assert again.status_code == 302
    assert numbers(ada) == (45, 0)
    assert grant_entries(ada).count() == 1
    assert any("already applied" in m for m in messages_of(again))
    assert ledger_audit() == []


def test_the_same_form_resubmitted_with_another_amount_is_refused(staff_client):
    ada = UserFactory(email="ada@example.com", credits=20)
    key = form_key(start_action(staff_client, USERS_URL, "grant_credits", [ada.pk]))
    submit_action(
        staff_client, USERS_URL, "grant_credits", [ada.pk], amount=25, reason="x", key=key
    )

    again = submit_action(
        staff_client, USERS_URL, "grant_credits", [ada.pk], amount=99, reason="x", key=key
    )

    assert numbers(ada) == (45, 0)
    assert any("different amount" in m for m in messages_of(again))
    assert ledger_audit() == []


def test_each_opening_of_the_action_gets_its_own_key(staff_client):
    ada = UserFactory(credits=20)
    first = form_key(start_action(staff_client, USERS_URL, "grant_credits", [ada.pk]))
    submit_action(
        staff_client, USERS_URL, "grant_credits", [ada.pk], amount=5, reason="a", key=first
    )
    second = form_key(start_action(staff_client, USERS_URL, "grant_credits", [ada.pk]))
    submit_action(
        staff_client, USERS_URL, "grant_credits", [ada.pk], amount=5, reason="b", key=second
    )

    assert first != second
    assert numbers(ada) == (30, 0)
    assert list(grant_entries(ada).order_by("id").values_list("memo", flat=True)) == ["a", "b"]
    assert ledger_audit() == []


def test_adjust_action_deducts_credits(staff_client, staff):
    ada = UserFactory(email="ada@example.com", credits=40)
    key = form_key(start_action(staff_client, USERS_URL, "adjust_credits", [ada.pk]))

    response = submit_action(
        staff_client,
        USERS_URL,
        "adjust_credits",
        [ada.pk],
        amount=-15,
        reason="Duplicate grant reversed",
        key=key,
    )

    assert response.status_code == 302
    assert numbers(ada) == (25, 0)
    entry = grant_entries(ada, EntryKind.ADJUST).get()
    assert (entry.amount, entry.actor, entry.memo) == (-15, staff, "Duplicate grant reversed")
    assert ledger_audit() == []


def test_adjust_below_what_is_held_fails_for_that_user_and_continues_with_the_others(
    staff_client,
):
    # 30 owned, 20 on hold: only 10 may be deducted.
    short = UserFactory(email="short@example.com", credits=30)
    hold_create(account=short.token_account, amount=20)
    rich = UserFactory(email="rich@example.com", credits=100)
    key = form_key(start_action(staff_client, USERS_URL, "adjust_credits", [short.pk, rich.pk]))

    response = submit_action(
        staff_client,
        USERS_URL,
        "adjust_credits",
        [short.pk, rich.pk],
        amount=-15,
        reason="Correction",
        key=key,
    )

    assert response.status_code == 302
    assert numbers(short) == (30, 20)
    assert not grant_entries(short, EntryKind.ADJUST).exists()
    assert numbers(rich) == (85, 0)
    notes = messages_of(response)
    assert any("short@example.com" in m and "only 10 available" in m for m in notes)
    assert any("rich@example.com" in m and "Adjusted" in m for m in notes)
    assert ledger_audit() == []


@pytest.mark.parametrize(
    ("action", "fields", "error_field"),
    [
        ("grant_credits", {"amount": 10, "reason": ""}, "reason"),
        ("grant_credits", {"amount": 10, "reason": "   "}, "reason"),
        ("grant_credits", {"amount": 0, "reason": "r"}, "amount"),
        ("grant_credits", {"amount": -5, "reason": "r"}, "amount"),
        ("grant_credits", {"amount": "", "reason": "r"}, "amount"),
        ("adjust_credits", {"amount": 0, "reason": "r"}, "amount"),
        ("adjust_credits", {"amount": -5, "reason": ""}, "reason"),
        ("adjust_credits", {"amount": 2_000_000, "reason": "r"}, "amount"),
    ],
)
def test_invalid_credit_form_is_shown_again_with_errors_and_changes_nothing(
    staff_client, action, fields, error_field
):
    ada = UserFactory(credits=20)
    key = form_key(start_action(staff_client, USERS_URL, action, [ada.pk]))
    entries_before = LedgerEntry.objects.count()

    response = submit_action(staff_client, USERS_URL, action, [ada.pk], key=key, **fields)

    assert response.status_code == 200
    assert list(response.context["form"].errors) == [error_field]
    # The same key comes back, so fixing the form and sending it is still one movement.
    assert form_key(response.content.decode()) == key
    assert numbers(ada) == (20, 0)
    assert LedgerEntry.objects.count() == entries_before
    assert ledger_audit() == []


def test_grant_to_a_user_without_an_account_opens_it_first(staff_client):
    # createsuperuser makes neither a subscription nor a token account.
    admin = User.objects.create_superuser("root@example.com", PASSWORD)
    key = form_key(start_action(staff_client, USERS_URL, "grant_credits", [admin.pk]))

    submit_action(
        staff_client, USERS_URL, "grant_credits", [admin.pk], amount=7, reason="x", key=key
    )

    free = Plan.objects.get(code="free")
    assert numbers(admin) == (free.credits_per_month + 7, 0)
    assert grant_entries(admin).get().amount == 7
    assert ledger_audit() == []


def test_grant_action_works_from_the_token_account_list(staff_client, staff):
    ada = UserFactory(email="ada@example.com", credits=20)
    grace = UserFactory(email="grace@example.com", credits=30)
    pks = [ada.token_account.pk, grace.token_account.pk]
    html = start_action(staff_client, ACCOUNTS_URL, "grant_credits", pks)
    assert "ada@example.com" in html and "grace@example.com" in html

    response = submit_action(
        staff_client, ACCOUNTS_URL, "grant_credits", pks, amount=3, reason="r", key=form_key(html)
    )

    assert response.status_code == 302
    assert response["Location"] == ACCOUNTS_URL
    assert (numbers(ada), numbers(grace)) == ((23, 0), (33, 0))
    assert grant_entries(grace).get().actor == staff
    assert ledger_audit() == []


def test_adjust_action_works_from_the_token_account_list(staff_client):
    ada = UserFactory(credits=20)
    pks = [ada.token_account.pk]
    key = form_key(start_action(staff_client, ACCOUNTS_URL, "adjust_credits", pks))

    submit_action(
        staff_client, ACCOUNTS_URL, "adjust_credits", pks, amount=-20, reason="r", key=key
    )

    assert numbers(ada) == (0, 0)
    assert ledger_audit() == []


def test_too_large_a_selection_is_refused_before_anything_moves(staff_client, monkeypatch):
    monkeypatch.setattr("tokens.admin.MAX_CREDIT_ACCOUNTS", 2)
    users = UserFactory.create_batch(3, credits=10)
    pks = [u.pk for u in users]

    response = staff_client.post(
        USERS_URL, {"action": "grant_credits", "index": 0, ACTION_CHECKBOX_NAME: pks}
    )
    submitted = submit_action(
        staff_client,
        USERS_URL,
        "grant_credits",
        pks,
        amount=5,
        reason="r",
        key="7b0c5a63-2f6a-4f0e-9b61-3f1d2b3c4d5e",
    )

    assert (response.status_code, submitted.status_code) == (302, 302)
    assert any("at most 2 users" in m for m in messages_of(response))
    assert [numbers(u) for u in users] == [(10, 0)] * 3
    assert ledger_audit() == []


def test_a_user_who_is_not_staff_cannot_reach_the_admin_or_grant(client):
    customer = UserFactory(credits=20)
    client.force_login(customer)

    for url in (reverse("admin:index"), USERS_URL, ENTRIES_URL):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    response = submit_action(
        client,
        USERS_URL,
        "grant_credits",
        [customer.pk],
        amount=1000,
        reason="free money",
        key="7b0c5a63-2f6a-4f0e-9b61-3f1d2b3c4d5e",
    )

    assert response.status_code == 302
    assert numbers(customer) == (20, 0)
    assert not grant_entries(customer).exists()


def test_staff_without_the_account_permission_cannot_grant(client):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    customer = UserFactory(credits=20)
    client.force_login(viewer)

    page = client.get(USERS_URL)
    response = submit_action(
        client,
        USERS_URL,
        "grant_credits",
        [customer.pk],
        amount=1000,
        reason="free money",
        key="7b0c5a63-2f6a-4f0e-9b61-3f1d2b3c4d5e",
    )

    assert page.status_code == 200
    assert "grant_credits" not in page.content.decode()
    # Without the action the post is just the list again, not the action's form.
    assert response.status_code == 200
    assert 'name="amount"' not in response.content.decode()
    assert numbers(customer) == (20, 0)
    assert not grant_entries(customer).exists()


def test_a_support_member_can_grant_and_it_is_in_the_staff_record(client):
    support = UserFactory(is_staff=True)
    support.groups.add(Group.objects.get(name="Support"))
    customer = UserFactory(credits=20)
    client.force_login(support)
    key = form_key(start_action(client, USERS_URL, "grant_credits", [customer.pk]))

    submit_action(client, USERS_URL, "grant_credits", [customer.pk], amount=4, reason="r", key=key)

    assert numbers(customer) == (24, 0)
    assert grant_entries(customer).get().actor == support
    assert ledger_audit() == []
    record = SupportAction.objects.get(customer=customer)
    assert (record.actor, record.action, record.reason) == (support, "grant", "r")
    assert record.details["credits"] == 4


def test_browsable_api_works_with_the_admin_session(client):
    staff = staff_user(credits=1234)
    UserFactory(credits=777)
    client.force_login(staff)

    response = client.get("/api/v1/tokens", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "&quot;balance&quot;: 1234" in html
    assert "777" not in html
