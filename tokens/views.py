"""Pages of the ledger: the dashboard (balance, plan, spending chart, ledger, usage).

Reads go through the same selectors as GET /tokens and GET /users/profile; the ledger's
filters are validated by the API's own FilterSerializer."""

from datetime import datetime, time, timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import profile_get
from core.pages import validate
from core.pagination import paginate
from organizations.selectors import month_start, organization_entries
from organizations.services import member_spent
from organizations.workspace import session_workspace
from studio.labels import operation_name
from studio.selectors import usage_totals
from tokens.apis import TokensApi
from tokens.charts import day_range, stacked_bars
from tokens.models import EntryKind, LedgerEntry
from tokens.selectors import entry_list, spending_by_day

CHART_DAYS = 30
PAGE_SIZE = 25
Filters = TokensApi.FilterSerializer


def subject_link(entry: LedgerEntry) -> str | None:
    """Where the work an entry paid for can be seen (a generation's page)."""
    if entry.content_type_id and entry.content_type.model == "generation" and entry.object_id:
        return reverse("gallery-detail", args=[entry.object_id])
    return None


def entry_text(entry: LedgerEntry) -> str:
    """What an entry was for, in words: a hold's entries name its operation (and model)
    when their memo is only the operation's code."""
    hold = entry.hold
    if hold is not None and hold.operation and entry.memo in ("", hold.operation):
        operation, _, model = hold.operation.partition(":")
        name = operation_name(operation)
        return f"{name} \N{MIDDLE DOT} {model}" if model else name
    return entry.memo


def ledger_page(request: HttpRequest, account, entries=entry_list) -> dict:
    """One page of the ledger, narrowed by kind; a bad filter is reported and left out.
    `entries(account=, kind=)`: the selector of the account's entries."""
    data = {key: request.GET[key] for key in ("kind", "page") if request.GET.get(key)}
    values, errors = validate(Filters, data)
    if errors:
        values, _ = validate(Filters, {k: v for k, v in data.items() if k not in errors})
    kind = values.get("kind", "")
    page = paginate(
        entries(account=account, kind=kind).select_related("hold"),
        page=values["page"],
        limit=PAGE_SIZE,
    )
    return {
        "kind": kind,
        "errors": errors,
        "page": page,
        "rows": [
            {"entry": entry, "text": entry_text(entry), "link": subject_link(entry)}
            for entry in page.items
        ],
        "query": f"kind={kind}" if kind else "",
    }


def _entries(workspace):
    """The selector of the workspace's ledger: an organization's names the member on each."""
    return organization_entries if workspace.organization else entry_list


def _limit(workspace) -> dict | None:
    """In an organization: what the member spent of it this month, and their limit (None:
    none)."""
    if not workspace.membership:
        return None
    spent = member_spent(membership=workspace.membership, since=month_start())
    return {"spent": spent, "limit": workspace.membership.monthly_limit}


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    workspace = session_workspace(request)
    account = workspace.account()
    today = timezone.localdate()
    first_day = today - timedelta(days=CHART_DAYS - 1)
    since = datetime.combine(first_day, time.min, tzinfo=timezone.get_current_timezone())
    chart = stacked_bars(
        spending_by_day(account=account, since=since),
        days=day_range(today, CHART_DAYS),
        name_of=operation_name,
    )
    return render(
        request,
        "tokens/dashboard.html",
        {
            "section": "dashboard",
            "account": account,
            "profile": profile_get(user=user),
            "chart": chart,
            "usage": usage_totals(user=user, since=since, workspace=workspace),
            "chart_days": CHART_DAYS,
            "kinds": EntryKind.choices,
            "ledger": ledger_page(request, account, _entries(workspace)),
            "organization": workspace.organization,
            "limit": _limit(workspace),
        },
    )
