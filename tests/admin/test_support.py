"""Support in the admin, as a member of the "Support" group: what they can look at, each
support action through the services (ledger audit clean, staff record with the reason), and
what they cannot do (edit a balance, a hold, a ledger entry or a status)."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Plan, Subscription
from pipelines.models import Execution, Template
from studio.models import Generation, Webhook, WebhookDelivery
from support.models import SupportAction
from tests.admin.support import (
    EXECUTIONS_URL,
    GENERATIONS_URL,
    available,
    change_url,
    completed_execution,
    completed_generation,
    messages_of,
    queued_generation,
    record,
    refunds,
    start_action,
    started_execution,
    submit_action,
)
from tests.factories import PASSWORD, UserFactory
from tests.pipelines.support import run_all
from tokens.audit import ledger_audit
from tokens.models import EntryKind, LedgerEntry, TokenAccount
from tokens.services import tokens_renew

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("support_studio")]

USERS = reverse("admin:accounts_user_changelist")
DELIVERIES = reverse("admin:studio_webhookdelivery_changelist")
TEMPLATES = reverse("admin:pipelines_template_changelist")


# --- What a support member can see and cannot touch ------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "accounts_user",
        "studio_generation",
        "pipelines_execution",
        "tokens_ledgerentry",
        "tokens_hold",
        "tokens_tokenaccount",
        "studio_webhookdelivery",
        "pipelines_template",
        "support_supportaction",
    ],
)
def test_a_support_member_sees_the_lists_support_needs(desk, name):
    assert desk.get(reverse(f"admin:{name}_changelist")).status_code == 200


def test_a_support_member_cannot_edit_a_balance_a_status_or_a_ledger_row(desk, customer):
    generation = completed_generation(customer)
    account = TokenAccount.objects.get(user=customer)
    entry = LedgerEntry.objects.filter(account=account).first()
    before = (account.balance, account.held, generation.status, entry.amount)

    posts = [
        (reverse("admin:tokens_tokenaccount_change", args=[account.pk]), {"balance": 10**6}),
        (reverse("admin:tokens_ledgerentry_change", args=[entry.pk]), {"amount": 10**6}),
        (reverse("admin:tokens_hold_change", args=[generation.hold_id]), {"status": "open"}),
        (change_url(generation), {"status": "queued"}),
        (reverse("admin:accounts_user_change", args=[customer.pk]), {"is_active": ""}),
        (reverse("admin:tokens_ledgerentry_add"), {"amount": 5}),
        (reverse("admin:tokens_ledgerentry_delete", args=[entry.pk]), {"post": "yes"}),
        (reverse("admin:support_supportaction_add"), {"reason": "x"}),
    ]
    for url, data in posts:
        assert desk.post(url, data).status_code == 403, url

    account.refresh_from_db()
    generation.refresh_from_db()
    entry.refresh_from_db()
    customer.refresh_from_db()
    assert (account.balance, account.held, generation.status, entry.amount) == before
    assert customer.is_active
    # A view-only page: no save button, and the actions are there instead.
    page = desk.get(reverse("admin:accounts_user_change", args=[customer.pk])).content.decode()
    assert 'name="_save"' not in page and "customer@example.com" in page


def test_staff_outside_the_support_group_get_no_support_actions(client, customer):
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(*Group.objects.get(name="Support").permissions.exclude(
        codename="act"))  # fmt: skip
    client.force_login(viewer)
    generation = completed_generation(customer)

    page = client.get(GENERATIONS_URL).content.decode()
    submit_action(client, GENERATIONS_URL, "refund", [generation.pk], reason="because")

    assert 'value="refund"' not in page
    assert not refunds(customer).exists() and not SupportAction.objects.exists()


def test_a_users_page_shows_plan_credits_recent_jobs_and_ledger_links(desk, customer):
    generation = completed_generation(customer)
    execution = completed_execution(customer)
    page = desk.get(reverse("admin:accounts_user_change", args=[customer.pk])).content.decode()
    assert generation.pk in page and execution.pk in page
    assert "Ledger entries" in page and "What support did here" in page
    filtered = desk.get(USERS, {"is_active__exact": "1", "q": "customer@"}).content.decode()
    assert "customer@example.com" in filtered


# --- Cancel and retry ------------------------------------------------------------------------


def test_cancel_a_running_job_and_retry_it(desk, member, customer):
    queued, _ = queued_generation(customer), None
    held = available(customer)

    submit_action(desk, GENERATIONS_URL, "cancel", [queued.pk], reason="Stuck at 0%")
    queued.refresh_from_db()
    assert queued.status == "cancelled" and available(customer) == held + queued.cost
    assert record("cancel", queued).reason == "Stuck at 0%"
    assert "support (helpdesk@example.com)" in queued.log_entries.last().message

    response = submit_action(desk, GENERATIONS_URL, "retry", [queued.pk], reason="Try again")
    again = Generation.objects.exclude(pk=queued.pk).get(user=customer)
    assert again.status == "queued" and again.params == queued.params
    assert f"running again as {again.pk}" in " ".join(messages_of(response))
    assert record("retry", queued).details["new"] == again.pk
    assert ledger_audit() == []


def test_cancel_and_retry_an_execution(desk, customer):
    execution = started_execution(customer)
    before = available(customer) + execution.cost

    submit_action(desk, EXECUTIONS_URL, "cancel", [execution.pk], reason="Customer asked")
    execution.refresh_from_db()
    assert execution.status == "cancelled" and available(customer) == before
    page = desk.get(change_url(execution))
    assert "Step 1 (generate-image): Cancelled by support" in page.content.decode()
    submit_action(desk, EXECUTIONS_URL, "retry", [execution.pk], reason="Customer asked again")
    execution.refresh_from_db()
    assert execution.status == "queued" and execution.attempt == 2
    assert run_all(execution.pk).status == "completed"
    assert [a.action for a in SupportAction.objects.order_by("pk")] == ["cancel", "retry"]
    # The run's log on its page: asked for, then each step's story (of its latest job).
    html = desk.get(change_url(execution))
    html = html.content.decode()
    assert "Asked for: 12 credit(s) held" in html
    assert "Step 3 (vectorize): Completed in" in html
    assert ledger_audit() == []


def test_cancelling_a_finished_job_is_refused_and_not_recorded(desk, customer):
    generation = completed_generation(customer)
    response = submit_action(desk, GENERATIONS_URL, "cancel", [generation.pk], reason="r")
    assert "only queued or running" in " ".join(messages_of(response))
    assert not SupportAction.objects.exists()


# --- Accounts ----------------------------------------------------------------------------------


def test_suspend_locks_the_account_and_cancels_its_work(desk, member, customer, client):
    api = APIClient()
    login = api.post(
        "/api/v1/auth/login", {"email": customer.email, "password": PASSWORD}, format="json"
    )
    refresh = login.json()["refresh"]
    queued, _ = queued_generation(customer), None
    execution = started_execution(customer)
    browser = APIClient()
    browser.force_login(customer)
    assert browser.get("/api/v1/users/profile").status_code == 200

    response = submit_action(desk, USERS, "suspend", [customer.pk], reason="Chargeback fraud")

    assert "2 running job(s) cancelled" in " ".join(messages_of(response))
    customer.refresh_from_db()
    assert not customer.is_active
    assert Generation.objects.get(pk=queued.pk).status == "cancelled"
    assert Execution.objects.get(pk=execution.pk).status == "cancelled"
    account = TokenAccount.objects.get(user=customer)
    assert (account.balance, account.held) == (100, 0)
    again = APIClient().post(
        "/api/v1/auth/login", {"email": customer.email, "password": PASSWORD}, format="json"
    )
    assert again.status_code == 401
    assert APIClient().post("/api/v1/auth/refresh", {"refresh": refresh}, format="json")\
        .status_code == 401  # fmt: skip
    assert browser.get("/api/v1/users/profile").status_code == 401  # the session is over
    assert record("suspend", customer).details["jobs_cancelled"] == 2

    submit_action(desk, USERS, "reactivate", [customer.pk], reason="Bank cleared it")
    customer.refresh_from_db()
    assert customer.is_active
    assert browser.get("/api/v1/users/profile").status_code == 401  # its session was deleted
    assert (
        APIClient()
        .post("/api/v1/auth/login", {"email": customer.email, "password": PASSWORD}, format="json")
        .status_code
        == 200
    )
    assert record("reactivate", customer).reason == "Bank cleared it"
    assert ledger_audit() == []


def test_support_cannot_suspend_themselves(desk, member):
    response = submit_action(desk, USERS, "suspend", [member.pk], reason="oops")
    assert "cannot suspend yourself" in " ".join(messages_of(response))
    member.refresh_from_db()
    assert member.is_active


def test_change_plan_now_and_at_the_next_renewal(desk, customer):
    pro = Plan.objects.get(code="pro")
    free = Subscription.objects.get(user=customer).plan
    form = start_action(desk, USERS, "change_plan", [customer.pk])
    assert 'name="plan"' in form and 'value="renewal"' in form

    submit_action(desk, USERS, "change_plan", [customer.pk], plan=pro.pk, when="now",
                  reason="Upgrade paid by invoice")  # fmt: skip
    assert Subscription.objects.get(user=customer).plan == pro
    submit_action(desk, USERS, "change_plan", [customer.pk], plan=free.pk, when="renewal",
                  reason="Downgrade asked for")  # fmt: skip
    subscription = Subscription.objects.get(user=customer)
    assert (subscription.plan, subscription.pending_plan) == (pro, free)
    page = desk.get(reverse("admin:accounts_user_change", args=[customer.pk])).content.decode()
    assert "at the next renewal" in page

    account = TokenAccount.objects.get(user=customer)
    tokens_renew(account=account, now=account.period_end + timedelta(days=1))
    subscription.refresh_from_db()
    assert (subscription.plan, subscription.pending_plan) == (free, None)
    renewal = LedgerEntry.objects.filter(account=account, kind=EntryKind.RENEWAL).get()
    assert renewal.amount == free.credits_per_month
    changes = SupportAction.objects.filter(action="change_plan").order_by("pk")
    assert [(c.details["before"], c.details["after"], c.details["when"]) for c in changes] == [
        (free.code, pro.code, "now"),
        (pro.code, free.code, "renewal"),
    ]
    assert ledger_audit() == []


# --- Webhooks and templates --------------------------------------------------------------------


def test_redeliver_a_webhook_event(desk, member, customer):
    webhook = Webhook.objects.create(
        id="wh_test", user=customer, url="https://hooks.example.com/x", secret="s" * 32,
        events=["generation.completed"],
    )  # fmt: skip
    original = WebhookDelivery.objects.create(
        id="msg_original", webhook=webhook, event="generation.completed", payload={"id": "gen_1"}
    )
    page = desk.get(change_url(original))
    assert "gen_1" in page.content.decode()  # the request body, readable

    submit_action(desk, DELIVERIES, "redeliver", [original.pk], reason="Their server was down")

    again = WebhookDelivery.objects.exclude(pk=original.pk).get()
    assert (again.webhook, again.event, again.payload) == (
        webhook,
        original.event,
        original.payload,
    )
    assert record("redeliver", original).details["new"] == again.pk


def test_feature_and_unpublish_a_template_whose_owner_sees_why(desk, customer):
    api = APIClient()
    api.force_authenticate(customer)
    created = api.post(
        "/api/v1/templates",
        {"name": "Knock-off", "visibility": "public", "inputs": [], "steps": [
            {"operation": "generate-image", "params": {"prompt": "a logo"}}]},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.content
    template = Template.objects.get(pk=created.json()["id"])

    submit_action(desk, TEMPLATES, "feature", [template.pk], reason="")
    assert Template.objects.get(pk=template.pk).featured
    first = APIClient().get("/api/v1/templates", {"sort": "popular"}).json()["templates"][0]
    assert first["id"] == template.pk and first["featured"] is True

    submit_action(desk, TEMPLATES, "unpublish", [template.pk], reason="Uses a trademark.")
    template.refresh_from_db()
    assert (template.visibility, template.featured) == ("private", False)
    assert APIClient().get(f"/api/v1/templates/{template.pk}").status_code in (401, 404)
    own = api.get(f"/api/v1/templates/{template.pk}").json()
    assert own["unpublishedReason"] == "Uses a trademark."
    republish = api.patch(f"/api/v1/templates/{template.pk}", {"visibility": "public"},
                          format="json")  # fmt: skip
    assert republish.status_code == 409 and "trademark" in republish.json()["error"]
    page = APIClient()
    page.force_login(customer)
    assert "Uses a trademark." in page.get(f"/templates/{template.pk}/").content.decode()
    assert [a.action for a in SupportAction.objects.order_by("pk")] == ["feature", "unpublish"]


def test_the_staff_record_is_read_only_and_filterable(desk, member, customer):
    generation = completed_generation(customer)
    submit_action(desk, GENERATIONS_URL, "refund", [generation.pk], reason="Blurry")
    kept = record("refund", generation)

    listing = desk.get(reverse("admin:support_supportaction_changelist"), {"action": "refund"})
    assert "Blurry" in listing.content.decode()
    url = reverse("admin:support_supportaction_change", args=[kept.pk])
    assert desk.post(url, {"reason": "changed"}).status_code == 403
    assert desk.post(reverse("admin:support_supportaction_delete", args=[kept.pk]),
                     {"post": "yes"}).status_code == 403  # fmt: skip
    kept.refresh_from_db()
    assert kept.reason == "Blurry" and kept.created_at <= timezone.now()


def test_links_to_jobs_whose_ids_need_the_admins_quoting_open_them(desk, customer):
    # The admin reads "_22" in a URL as '"': an id like img_22… must be linked quoted.
    queued = queued_generation(customer)
    Generation.objects.filter(pk=queued.pk).update(id="img_22_5F")
    page = desk.get(reverse("admin:accounts_user_change", args=[customer.pk])).content.decode()
    link = re.search(r'href="([^"]+)">img_22_5F</a>', page).group(1)
    opened = desk.get(link)
    assert opened.status_code == 200 and "img_22_5F" in opened.content.decode()
