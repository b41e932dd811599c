"""The dashboard with Django's test client: the balance as the ledger has it, the 30-day
spending chart (captures less refunds, by operation), usage totals, and the ledger table with
its filter, pagination, links and empty states; sign-in required, only your own entries."""

import re
from datetime import date, timedelta

import pytest

from studio.models import Generation, Status
from studio.services.execution import generation_run
from tests.factories import UserFactory
from tokens import catalog
from tokens.charts import MAX_SERIES, OTHER, day_range, nice_ceiling, stacked_bars
from tokens.models import EntryKind, LedgerEntry
from tokens.services import account_for_user, hold_capture, hold_create, hold_refund, tokens_grant

# Jobs write files, and storage refuses to write inside a transaction: no test-wide one.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("instant_studio")]

ROW = re.compile(r'<tr data-entry="(\d+)" data-kind="(\w+)">')


@pytest.fixture
def user():
    return UserFactory(credits=200)


def stat(html: str, name: str) -> str:
    return re.search(rf'data-stat="{name}">([^<]*)<', html).group(1)


def generate(user_api, path="/api/v1/studio/generate-image", **fields) -> Generation:
    response = user_api.post(path, {"prompt": "A lighthouse at dawn", **fields}, format="json")
    assert response.status_code == 202, response.content
    generation_id = response.json()["id"]
    generation_run(generation_id=generation_id)
    return Generation.objects.get(pk=generation_id)


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get("/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/dashboard/"


def test_a_new_account_shows_its_credits_and_empty_states(page, user):
    html = page.get("/dashboard/").content.decode()
    assert stat(html, "available") == "200"
    assert stat(html, "held") == "0"
    assert stat(html, "balance") == "200"
    assert stat(html, "monthly") == "50"  # the free plan
    assert "Nothing spent yet" in html and "<svg viewBox" not in html
    # The opening grant is the only entry.
    assert [kind for _, kind in ROW.findall(html)] == [EntryKind.GRANT]


def test_spending_shows_in_the_stats_chart_usage_and_ledger(page, user_api, user):
    image = generate(user_api, model="sdxl")
    assert image.status == Status.COMPLETED
    operation = generate(user_api, "/api/v1/studio/vectorize", source=image.id)
    assert operation.status == Status.COMPLETED
    spent = catalog.cost_of(catalog.IMAGE_GENERATION, "sdxl") + catalog.cost_of("vectorization")

    html = page.get("/dashboard/").content.decode()
    assert stat(html, "available") == str(200 - spent)
    assert stat(html, "spent") == f"{spent} credits"
    legend = re.findall(r'swatch series-\d+" aria-hidden="true"></span>([^<]+) <strong', html)
    assert sorted(legend) == ["Image generation", "Vectorize"]
    bars = re.findall(r'<rect class="series-\d" [^>]*><title>([^<]+)</title>', html)
    today = date.today()
    assert sorted(bars) == sorted(
        [
            f"{today:%b} {today.day}: Image generation, 3 credits",
            f"{today:%b} {today.day}: Vectorize, 4 credits",
        ]
    )
    assert re.search(r'data-usage="image">1<', html) and re.search(
        r'data-usage="operation">1<', html
    )
    # Each capture links to the job it paid for.
    for job in (image, operation):
        assert f'href="/gallery/{job.id}/"' in html


def test_refunds_are_taken_off_what_was_spent(page, user):
    account = account_for_user(user=user)
    hold = hold_create(account=account, amount=10, operation="image_generation:flux-pro")
    hold_capture(hold=hold)
    hold_refund(hold=hold, amount=4)
    html = page.get("/dashboard/").content.decode()
    assert stat(html, "spent") == "6 credits"
    assert stat(html, "available") == "194"


def test_cancelled_jobs_are_counted_and_cost_nothing(page, user_api, user):
    response = user_api.post("/api/v1/studio/generate-image", {"prompt": "A cat"}, format="json")
    generation_id = response.json()["id"]
    cancel = user_api.post(f"/api/v1/studio/generation/{generation_id}/cancel")
    assert cancel.status_code == 200, cancel.content
    html = page.get("/dashboard/").content.decode()
    assert re.search(r'data-usage="cancelled">1<', html)
    assert stat(html, "available") == "200" and stat(html, "held") == "0"
    assert "Nothing spent yet" in html
    assert {kind for _, kind in ROW.findall(html)} == {"grant", "hold", "release"}


def test_the_ledger_is_paginated_newest_first(page, user):
    account = account_for_user(user=user)
    for n in range(30):
        tokens_grant(account=account, amount=1, memo=f"gift {n}")
    first = page.get("/dashboard/").content.decode()
    second = page.get("/dashboard/?page=2").content.decode()
    first_ids = [int(i) for i, _ in ROW.findall(first)]
    second_ids = [int(i) for i, _ in ROW.findall(second)]
    assert len(first_ids) == 25 and len(second_ids) == 6
    assert first_ids == sorted(first_ids, reverse=True) and max(second_ids) < min(first_ids)
    assert "Page 1 of 2" in first and 'href="?page=2"' in first
    assert "gift 29" in first and "gift 0" in second


def test_the_kind_filter_keeps_one_kind_and_pages_keep_it(page, user):
    account = account_for_user(user=user)
    for _ in range(26):
        hold_create(account=account, amount=1, operation="vectorization")
    html = page.get("/dashboard/?kind=hold").content.decode()
    assert {kind for _, kind in ROW.findall(html)} == {EntryKind.HOLD}
    assert 'href="?kind=hold&amp;page=2"' in html
    assert '<option value="hold" selected>' in html


@pytest.mark.parametrize(
    "query, warning",
    [
        ("kind=bogus", "That kind of entry does not exist"),
        ("page=abc", "Showing the first page"),
        ("page=0", "Showing the first page"),
        ("kind=" + "x" * 5000, "That kind of entry does not exist"),
    ],
)
def test_bad_filters_are_reported_and_left_out(page, query, warning):
    response = page.get(f"/dashboard/?{query}")
    assert response.status_code == 200
    html = response.content.decode()
    assert warning in html
    assert ROW.findall(html)  # the grant, shown with the bad filter left out


def test_a_page_past_the_end_says_so(page):
    html = page.get("/dashboard/?page=40").content.decode()
    assert "This page is past the end" in html and not ROW.findall(html)


def test_a_kind_with_no_entries_has_its_own_empty_state(page):
    html = page.get("/dashboard/?kind=refund").content.decode()
    assert "No entries of this kind" in html


def test_only_your_own_ledger_is_shown(page, user):
    other = UserFactory(credits=999)
    tokens_grant(account=account_for_user(user=other), amount=5, memo="someone else's gift")
    html = page.get("/dashboard/").content.decode()
    assert "someone else" not in html and stat(html, "balance") == "200"
    mine = set(LedgerEntry.objects.filter(account__user=user).values_list("id", flat=True))
    assert {int(i) for i, _ in ROW.findall(html)} == mine


# --- The chart's geometry ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, ceiling",
    [(0, 4), (3, 4), (5, 8), (7, 8), (11, 20), (21, 40), (101, 200), (390, 400), (900, 1000)],
)
def test_the_axis_ends_on_a_round_number(value, ceiling):
    assert nice_ceiling(value) == ceiling


def test_bars_stack_by_series_and_scale_to_the_axis():
    days = day_range(date(2026, 12, 6), 30)
    rows = [(days[-1], "a", 6), (days[-1], "b", 4), (days[0], "a", 5)]
    chart = stacked_bars(rows, days=days)
    assert chart.total == 15 and [t["value"] for t in chart.ticks] == ["0", "5", "10", "15", "20"]
    last = [s for s in chart.segments if s.title.startswith("Dec 6")]
    assert [s.series for s in last] == [0, 1]  # "a" spent most: first series
    # Stacked: the second starts where the first ends; 10 of the axis's 20 is half the plot.
    assert last[1].y + last[1].height == pytest.approx(last[0].y, abs=0.2)
    assert last[0].height + last[1].height == pytest.approx((chart.bottom - chart.top) / 2, abs=0.2)
    assert [label["text"] for label in chart.labels] == [
        "Nov 8",
        "Nov 15",
        "Nov 22",
        "Nov 29",
        "Dec 6",
    ]
    assert chart.days[0]["total"] == 5 and sum(d["total"] for d in chart.days) == 15


def test_many_operations_fold_the_smallest_into_other():
    days = day_range(date(2026, 12, 6), 3)
    rows = [(days[0], f"op{n}", 10 + n) for n in range(MAX_SERIES + 2)]
    chart = stacked_bars(rows, days=days, name_of=str.upper)
    names = [item["name"] for item in chart.legend]
    assert len(names) == MAX_SERIES + 1 and names[-1] == OTHER
    assert names[0] == f"OP{MAX_SERIES + 1}"  # the biggest first
    assert chart.legend[-1]["total"] == 10 + 11  # op0 and op1
    assert sum(item["total"] for item in chart.legend) == chart.total


def test_days_outside_the_range_are_not_drawn():
    days = day_range(date(2026, 12, 6), 7)
    chart = stacked_bars([(days[0] - timedelta(days=1), "a", 9)], days=days)
    assert chart.segments == [] and chart.days[0]["total"] == 0
