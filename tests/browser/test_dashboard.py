"""The dashboard in a real browser, with a month of spending behind it: stats, the chart with
its legend, the ledger with its kind filter and pages; at desktop and phone width, light and
dark, with no horizontal scroll."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.support import (
    BROWSER,
    DESKTOP,
    PHONE,
    check_page,
    horizontal_overflow,
    screenshot,
    sign_in,
)
from tests.factories import UserFactory
from tokens.models import LedgerEntry
from tokens.services import account_for_user, hold_capture, hold_create, hold_release

pytestmark = BROWSER

# (days ago, operation, credits): a month of someone's work.
WORK = [
    (day, operation, cost)
    for day in range(28, -1, -2)  # oldest first, as they happened
    for operation, cost in (
        ("image_generation:flux-pro", 4 * (1 + day % 3)),
        ("vectorization", 4 if day % 4 == 0 else 0),
        ("video_generation:runway", 5 if day % 6 == 0 else 0),
        ("generative_upscale", 80 if day == 10 else 0),
    )
    if cost
]


@pytest.fixture
def busy_user():
    user = UserFactory(credits=1000)
    account = account_for_user(user=user)
    now = timezone.now()
    for days_ago, operation, cost in WORK:
        hold = hold_create(account=account, amount=cost, operation=operation)
        before = LedgerEntry.objects.order_by("-id").first().id
        hold_capture(hold=hold)
        # Back-dated, as if made that day (the ledger is append-only for the services only).
        LedgerEntry.objects.filter(id__gt=before - 1).update(
            created_at=now - timedelta(days=days_ago)
        )
    hold_release(hold=hold_create(account=account, amount=3, operation="vectorization"))
    return user


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_dashboard_shows_a_month_of_spending(new_page, site, busy_user, viewport, scheme):
    page = new_page(viewport=viewport, color_scheme=scheme)
    sign_in(page, site, busy_user)
    page.goto(site.url("/dashboard/"))
    spent = sum(cost for _, _, cost in WORK)
    expect(page.locator("[data-stat=available]")).to_have_text(f"{1000 - spent:,}")
    expect(page.locator("[data-stat=spent]")).to_have_text(f"{spent:,} credits")
    expect(page.locator(".legend > span")).to_have_count(4)
    expect(page.locator(".chart rect")).to_have_count(len(WORK))
    assert horizontal_overflow(page) == 0
    check_page(page)
    screenshot(page, "dashboard")

    page.get_by_label("Kind").select_option("release")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_have_attribute("data-kind", "release")
    page.get_by_label("Kind").select_option("")
    page.get_by_role("button", name="Show").click()
    page.get_by_role("link", name="Next").click()
    expect(page.locator(".pagination .current")).to_have_text("Page 2 of 3")
    assert horizontal_overflow(page) == 0
