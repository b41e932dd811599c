"""Helpers of the admin tests."""

import re

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote
from django.contrib.messages import get_messages
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from pipelines.models import Execution, Template
from pipelines.services.executions import execution_create
from studio.models import Generation
from studio.services.execution import generation_run
from support.models import SupportAction
from tests.pipelines.support import run_all
from tests.studio.lifecycle.support import submit
from tokens.models import EntryKind, LedgerEntry, TokenAccount

USERS_URL = reverse("admin:accounts_user_changelist")


ACCOUNTS_URL = reverse("admin:tokens_tokenaccount_changelist")


ENTRIES_URL = reverse("admin:tokens_ledgerentry_changelist")


HOLDS_URL = reverse("admin:tokens_hold_changelist")


PLANS_URL = reverse("admin:accounts_plan_changelist")


GENERATIONS_URL = reverse("admin:studio_generation_changelist")


EXECUTIONS_URL = reverse("admin:pipelines_execution_changelist")


def change_url(obj) -> str:
    """An object's admin page. Quoted as the admin quotes its own links: its unquote turns
    "_22" into '"', so a string id such as exe_22… would otherwise be someone else's page."""
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[quote(obj.pk)])


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


# --- A customer's jobs and credits, for the support tests --------------------------------------


def queued_generation(user) -> Generation:
    api = APIClient()
    api.force_authenticate(user)
    return Generation.objects.get(pk=submit(api))


def completed_generation(user) -> Generation:
    generation = queued_generation(user)
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == "completed"
    return generation


def started_execution(user) -> Execution:
    """A Logo kit run, held and queued (nothing run yet)."""
    logo = Template.objects.get(starter="logo-kit")
    execution, _ = execution_create(user=user, template_id=logo.pk, inputs={"brand": "Acme"})
    return execution


def completed_execution(user) -> Execution:
    execution = run_all(started_execution(user).pk)
    assert execution.status == "completed", execution.error
    return execution


def available(user) -> int:
    account = TokenAccount.objects.get(user=user)
    return account.balance - account.held


def refunds(user):
    return LedgerEntry.objects.filter(account__user=user, kind=EntryKind.REFUND)


def record(action: str, target) -> SupportAction:
    return SupportAction.objects.get(action=action, target_id=str(target.pk))
