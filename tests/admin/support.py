"""Helpers of the admin tests."""

import re

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import User
from tokens.models import EntryKind, LedgerEntry, TokenAccount

USERS_URL = reverse("admin:accounts_user_changelist")


ACCOUNTS_URL = reverse("admin:tokens_tokenaccount_changelist")


ENTRIES_URL = reverse("admin:tokens_ledgerentry_changelist")


HOLDS_URL = reverse("admin:tokens_hold_changelist")


PLANS_URL = reverse("admin:accounts_plan_changelist")


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
