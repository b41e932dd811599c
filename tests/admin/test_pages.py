"""The Django admin for support staff: pages load, users and plans, the read-only ledger
and studio rows."""

import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Plan, Subscription, User
from tests.admin.support import ACCOUNTS_URL, ENTRIES_URL, HOLDS_URL, PLANS_URL, USERS_URL, numbers
from tests.factories import UserFactory
from tokens.audit import ledger_audit
from tokens.models import Hold, HoldStatus, LedgerEntry, TokenAccount
from tokens.services import hold_capture, hold_create

pytestmark = pytest.mark.django_db


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
