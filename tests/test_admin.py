"""The Django admin for support staff: users, plans, the read-only ledger, and the credit
actions that move credits through tokens.services."""

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Plan, Subscription, User
from tests.factories import PASSWORD, UserFactory, staff_user
from tokens.audit import ledger_audit
from tokens.models import EntryKind, Hold, HoldStatus, LedgerEntry, TokenAccount
from tokens.services import hold_capture, hold_create

pytestmark = pytest.mark.django_db

USERS_URL = reverse("admin:accounts_user_changelist")
ACCOUNTS_URL = reverse("admin:tokens_tokenaccount_changelist")
ENTRIES_URL = reverse("admin:tokens_ledgerentry_changelist")
HOLDS_URL = reverse("admin:tokens_hold_changelist")
PLANS_URL = reverse("admin:accounts_plan_changelist")


@pytest.fixture
def staff():
    return staff_user(email="support@example.com")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def numbers(user: User) -> tuple[int, int]:
    account = TokenAccount.objects.get(user=user)
    return account.balance, account.held


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def start_action(client, url: str, action: str, pks) -> str:
    """Pick `action` for `pks` in the changelist; returns the intermediate page's HTML."""
    response = client.post(
        url, {"action": action, "index": 0, ACTION_CHECKBOX_NAME: [str(pk) for pk in pks]}
    )
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def form_key(html: str) -> str:
    return re.search(r'name="key" value="([0-9a-f-]{36})"', html).group(1)


def submit_action(client, url: str, action: str, pks, **fields):
    data = {"action": action, "post": "yes", ACTION_CHECKBOX_NAME: [str(pk) for pk in pks]}
    data.update(fields)
    return client.post(url, data)


def grant_entries(user: User, kind: str = EntryKind.GRANT):
    return LedgerEntry.objects.filter(account__user=user, kind=kind, actor__isnull=False)


# --- Pages load -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [USERS_URL, PLANS_URL, ACCOUNTS_URL, ENTRIES_URL, HOLDS_URL])
def test_every_changelist_loads_for_a_superuser_and_lists_the_rows(staff_client, url):
    customer = UserFactory(email="customer@example.com", credits=40)
    hold = hold_create(
        account=customer.token_account, amount=7, operation="vectorization", subject=customer
    )
    hold_capture(hold=hold, amount=5)

    response = staff_client.get(url)

    assert response.status_code == 200
    html = response.content.decode()
    expected = "Free" if url == PLANS_URL else "customer@example.com"
    assert expected in html


@pytest.mark.parametrize(
    ("model", "row"), [("project", "prj_admin"), ("asset", "ast_admin"), ("style", "sty_admin")]
)
def test_studio_changelists_list_the_rows_and_are_read_only(staff_client, model, row):
    from studio.models import Asset, AssetKind, Project, Style

    customer = UserFactory(email="customer@example.com")
    project = Project.objects.create(id="prj_admin", user=customer, name="Board")
    Asset.objects.create(
        id="ast_admin",
        user=customer,
        project=project,
        kind=AssetKind.UPLOAD,
        name="logo.png",
        key="users/x/assets/ast_admin/original.png",
        content_type="image/png",
        size=10,
    )
    Style.objects.create(id="sty_admin", user=customer, name="Dusk", prompt_suffix="dusk")
    url = f"/admin/studio/{model}/"
    response = staff_client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "customer@example.com" in html and row in html
    assert staff_client.get(f"{url}add/").status_code == 403


def test_user_list_shows_plan_balance_and_available_credits(staff_client):
    customer = UserFactory(email="pro@example.com", plan_code="pro", credits=300)
    hold_create(account=customer.token_account, amount=45)

    response = staff_client.get(USERS_URL, {"q": "pro@example.com"})

    rows = response.content.decode().split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert rows.count("<tr>") == 1 and "pro@example.com" in rows
    cells = dict(re.findall(r'<td class="field-(\w+)[^"]*">(.*?)</td>', rows))
    assert (cells["plan"], cells["balance"], cells["available"]) == ("Pro", "300", "255")


def test_user_list_costs_the_same_queries_for_3_or_13_users(staff_client):
    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = staff_client.get(USERS_URL)
        assert response.status_code == 200
        return len(captured)

    UserFactory.create_batch(3)
    few = queries_for_list()
    UserFactory.create_batch(10, plan_code="pro")
    many = queries_for_list()

    assert User.objects.count() == 14
    assert many == few


def test_user_search_finds_by_email_and_by_name(staff_client):
    UserFactory(email="ada@example.com", name="Ada Lovelace")
    UserFactory(email="grace@example.com", name="Grace Hopper")

    by_email = staff_client.get(USERS_URL, {"q": "ada@"}).content.decode()
    by_name = staff_client.get(USERS_URL, {"q": "hopper"}).content.decode()

    assert "ada@example.com" in by_email and "grace@example.com" not in by_email
    assert "grace@example.com" in by_name and "ada@example.com" not in by_name


def test_ledger_is_searchable_by_email_and_filterable_by_kind_and_account(staff_client):
    ada = UserFactory(email="ada@example.com", credits=20)
    grace = UserFactory(email="grace@example.com", credits=30)
    hold_create(account=grace.token_account, amount=3)

    by_email = staff_client.get(ENTRIES_URL, {"q": "ada@"})
    holds_only = staff_client.get(ENTRIES_URL, {"kind__exact": "hold"})
    by_account = staff_client.get(ENTRIES_URL, {"account__id__exact": ada.token_account.pk})

    assert [e.pk for e in by_email.context["cl"].result_list] == [
        ada.token_account.entries.get().pk
    ]
    assert {e.kind for e in holds_only.context["cl"].result_list} == {"hold"}
    assert [e.account.user for e in by_account.context["cl"].result_list] == [ada]


def test_hold_list_filters_by_status(staff_client):
    customer = UserFactory(credits=50)
    open_hold = hold_create(account=customer.token_account, amount=4)
    hold_capture(hold=hold_create(account=customer.token_account, amount=6))

    response = staff_client.get(HOLDS_URL, {"status__exact": HoldStatus.OPEN})

    assert [h.pk for h in response.context["cl"].result_list] == [open_hold.pk]


# --- Users and plans --------------------------------------------------------------------------


def test_adding_a_user_takes_email_and_password_twice(staff_client):
    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "  New.Person@Example.COM ",
            "name": "New Person",
            "usable_password": "true",
            "password1": "a-Long-enough-pass-77",
            "password2": "a-Long-enough-pass-77",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="new.person@example.com")
    assert user.check_password("a-Long-enough-pass-77")
    assert (user.is_staff, user.is_superuser) == (False, False)
    assert response["Location"] == reverse("admin:accounts_user_change", args=[user.pk])
    # The change page it lands on works before the user has an account or a plan.
    assert not TokenAccount.objects.filter(user=user).exists()
    assert staff_client.get(response["Location"]).status_code == 200


def test_adding_a_user_with_mismatched_passwords_creates_nothing(staff_client):
    before = User.objects.count()
    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "new@example.com",
            "usable_password": "true",
            "password1": "a-Long-enough-pass-77",
            "password2": "another-Long-pass-77",
        },
    )

    assert response.status_code == 200
    assert "password2" in response.context["adminform"].form.errors
    assert User.objects.count() == before


def test_adding_a_user_whose_email_differs_only_in_case_is_refused(staff_client):
    UserFactory(email="taken@example.com")
    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "TAKEN@example.com",
            "usable_password": "true",
            "password1": "a-Long-enough-pass-77",
            "password2": "a-Long-enough-pass-77",
        },
    )

    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


def _change_form_data(user: User, **overrides) -> dict:
    """The user change form as a browser would post it, with the subscription inline."""
    subscription = user.subscription
    data = {
        "email": user.email,
        "name": user.name,
        "is_active": "on",
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "subscription-TOTAL_FORMS": "1",
        "subscription-INITIAL_FORMS": "1",
        "subscription-MIN_NUM_FORMS": "0",
        "subscription-MAX_NUM_FORMS": "1",
        "subscription-0-id": str(subscription.pk),
        "subscription-0-user": str(user.pk),
        "subscription-0-plan": str(subscription.plan_id),
        "subscription-0-custom_credits_per_month": "",
        "subscription-0-started_at_0": subscription.started_at.strftime("%Y-%m-%d"),
        "subscription-0-started_at_1": subscription.started_at.strftime("%H:%M:%S"),
    }
    data.update(overrides)
    return data


def test_plan_is_changed_through_the_subscription_inline_and_credits_are_untouched(
    staff_client,
):
    customer = UserFactory(email="upgrade@example.com", credits=50)
    pro = Plan.objects.get(code="pro")
    url = reverse("admin:accounts_user_change", args=[customer.pk])
    assert staff_client.get(url).status_code == 200

    response = staff_client.post(
        url,
        _change_form_data(
            customer,
            **{"subscription-0-plan": pro.pk, "subscription-0-custom_credits_per_month": 5},
        ),
    )

    assert response.status_code == 302, response.context["errors"]
    subscription = Subscription.objects.get(user=customer)
    assert (subscription.plan, subscription.credits_per_month) == (pro, 5)
    assert numbers(customer) == (50, 0)
    assert ledger_audit() == []


def test_user_change_page_shows_the_credits_read_only(staff_client):
    customer = UserFactory(credits=70)
    hold_create(account=customer.token_account, amount=20)

    response = staff_client.get(reverse("admin:accounts_user_change", args=[customer.pk]))

    html = response.content.decode()
    assert re.search(r'field-available.*?<div class="readonly">50</div>', html, re.S)
    assert 'name="balance"' not in html and 'name="held"' not in html


def test_user_page_links_to_that_users_ledger_entries_and_holds(staff_client):
    ada = UserFactory(credits=20)
    grace = UserFactory(credits=30)
    hold_create(account=ada.token_account, amount=2)
    hold_create(account=grace.token_account, amount=3)

    html = staff_client.get(reverse("admin:accounts_user_change", args=[ada.pk])).content.decode()

    links = re.findall(r'href="(/admin/tokens/(?:ledgerentry|hold)/\?[^"]+)"', html)
    assert len(links) == 2
    for link in links:
        listed = staff_client.get(link).context["cl"].result_list
        assert listed and {row.account_id for row in listed} == {ada.token_account.pk}


def test_a_user_with_a_ledger_cannot_be_deleted(staff_client):
    customer = UserFactory(credits=20)

    response = staff_client.post(
        reverse("admin:accounts_user_delete", args=[customer.pk]), {"post": "yes"}
    )

    assert response.status_code == 200
    assert response.context["title"] == "Cannot delete user"
    assert response.context["protected"]  # the token account (on_delete=PROTECT)
    assert User.objects.filter(pk=customer.pk).exists()
    assert numbers(customer) == (20, 0)


def test_plan_fields_are_editable(staff_client):
    free = Plan.objects.get(code="free")
    response = staff_client.post(
        reverse("admin:accounts_plan_change", args=[free.pk]),
        {
            "code": "free",
            "name": "Free forever",
            "credits_per_month": 60,
            "rollover_cap": 10,
            "images_per_minute": 4,
            "videos_per_minute": "",
            "api_calls_per_minute": 90,
            "is_default": "on",
            "sort_order": 1,
        },
    )

    assert response.status_code == 302
    free.refresh_from_db()
    assert (free.name, free.credits_per_month, free.rollover_cap) == ("Free forever", 60, 10)
    assert (free.images_per_minute, free.videos_per_minute, free.api_calls_per_minute) == (
        4,
        None,
        90,
    )


def test_a_second_default_plan_is_refused_with_a_clear_message(staff_client):
    pro = Plan.objects.get(code="pro")
    response = staff_client.post(
        reverse("admin:accounts_plan_change", args=[pro.pk]),
        {
            "code": "pro",
            "name": "Pro",
            "credits_per_month": 1000,
            "rollover_cap": 1000,
            "api_calls_per_minute": 300,
            "is_default": "on",
            "sort_order": 2,
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["is_default"] == [
        "“Free” is the default plan; untick it there first."
    ]
    assert list(Plan.objects.filter(is_default=True).values_list("code", flat=True)) == ["free"]


# --- The ledger is read-only ------------------------------------------------------------------


def _ledger_objects() -> dict[str, object]:
    customer = UserFactory(credits=30)
    hold = hold_create(account=customer.token_account, amount=5)
    return {
        "tokenaccount": customer.token_account,
        "ledgerentry": customer.token_account.entries.first(),
        "hold": hold,
    }


def _snapshot():
    return (
        list(TokenAccount.objects.order_by("pk").values_list("balance", "held")),
        list(LedgerEntry.objects.order_by("pk").values_list("pk", "amount", "memo")),
        list(Hold.objects.order_by("pk").values_list("pk", "amount", "status")),
    )


@pytest.mark.parametrize("model", ["tokenaccount", "ledgerentry", "hold"])
def test_ledger_models_cannot_be_added_changed_or_deleted(staff_client, model):
    obj = _ledger_objects()[model]
    before = _snapshot()
    add_url = reverse(f"admin:tokens_{model}_add")
    change_url = reverse(f"admin:tokens_{model}_change", args=[obj.pk])
    delete_url = reverse(f"admin:tokens_{model}_delete", args=[obj.pk])

    assert staff_client.get(add_url).status_code == 403
    assert staff_client.post(add_url, {"amount": 1, "balance": 1}).status_code == 403
    assert staff_client.post(change_url, {"amount": 999, "balance": 999}).status_code == 403
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 403
    changelist = staff_client.post(
        reverse(f"admin:tokens_{model}_changelist"),
        {"action": "delete_selected", "index": 0, ACTION_CHECKBOX_NAME: [obj.pk], "post": "yes"},
    )
    # No such action: the list is shown again (or, where other actions exist, "No action
    # selected" and a redirect); either way nothing is deleted.
    assert changelist.status_code in (200, 302)
    assert "delete_selected" not in changelist.content.decode()

    assert _snapshot() == before


@pytest.mark.parametrize("model", ["tokenaccount", "ledgerentry", "hold"])
def test_ledger_change_pages_are_view_only(staff_client, model):
    obj = _ledger_objects()[model]

    response = staff_client.get(reverse(f"admin:tokens_{model}_change", args=[obj.pk]))

    assert response.status_code == 200
    main = response.content.decode().split('id="content-main"', 1)[1]
    assert 'name="_save"' not in main
    controls = re.findall(r"<(?:input|select|textarea)\b[^>]*>", main)
    assert [c for c in controls if 'type="hidden"' not in c] == []
    assert response.context["has_change_permission"] is False
    assert response.context["has_delete_permission"] is False


# --- Grant and adjust actions -----------------------------------------------------------------


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
    monkeypatch.setattr("tokens.admin.MAX_CREDIT_USERS", 2)
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


# --- Who may do it ----------------------------------------------------------------------------


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


def test_staff_with_the_account_permission_can_grant(client):
    support = UserFactory(is_staff=True)
    support.user_permissions.add(
        Permission.objects.get(codename="view_user"),
        Permission.objects.get(codename="change_tokenaccount"),
    )
    customer = UserFactory(credits=20)
    client.force_login(support)
    key = form_key(start_action(client, USERS_URL, "grant_credits", [customer.pk]))

    submit_action(client, USERS_URL, "grant_credits", [customer.pk], amount=4, reason="r", key=key)

    assert numbers(customer) == (24, 0)
    assert grant_entries(customer).get().actor == support
    assert ledger_audit() == []


# --- The browsable API on the admin session ---------------------------------------------------


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
