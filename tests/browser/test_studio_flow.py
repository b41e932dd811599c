"""The studio in a real browser: sign up, generate, watch the progress arrive over SSE, see
the picture, and find exactly its price gone from the balance."""

import re

from playwright.sync_api import expect

from accounts.models import User
from studio.models import Generation
from tests.browser.support import BROWSER, check_page, screenshot
from tokens.audit import ledger_audit

pytestmark = BROWSER


def test_register_generate_progress_from_sse_then_the_charge_on_the_dashboard(page, site):
    page.goto(site.url("/register/"))
    check_page(page)
    page.get_by_label("Name").fill("Ada")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("sunny-Meadow-42")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r".*/studio/$"))
    assert User.objects.filter(email="ada@example.com").exists()

    page.get_by_label("Prompt", exact=True).fill("A lighthouse on a cliff at sunset")
    page.get_by_label("Size").select_option("2048x2048")
    expect(page.locator("#cost")).to_contain_text("credit")
    shown_cost = int(page.locator("#cost").inner_text().split()[0])
    assert shown_cost == 4
    check_page(page)
    page.get_by_role("button", name="Generate").click()

    card = page.locator("[data-job]").first
    card.locator("img").first.wait_for()
    assert card.get_attribute("data-status") == "completed"
    assert card.get_attribute("data-via") == "sse"
    seen = [int(p) for p in card.get_attribute("data-progress-log").split(",")]
    assert seen[-1] == 100 and len(seen) >= 3, seen  # it moved on the way there
    assert seen == sorted(seen), seen
    generation = Generation.objects.get(user__email="ada@example.com")
    assert generation.status == "completed"
    assert card.locator("img").first.evaluate("img => img.naturalWidth") == 2048
    screenshot(page, "studio-result")

    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_url(re.compile(r".*/dashboard/$"))
    available = int(page.locator("[data-stat=available]").inner_text().replace(",", ""))
    assert available == 50 - shown_cost
    # The capture is on the ledger, linked to the picture it paid for, and in the chart.
    capture = page.locator("tr[data-kind=capture]")
    expect(capture.locator("[data-amount]")).to_have_attribute("data-amount", str(-shown_cost))
    expect(capture.get_by_role("link")).to_have_attribute("href", f"/gallery/{generation.id}/")
    expect(page.locator("[data-stat=spent]")).to_have_text(f"{shown_cost} credits")
    expect(page.locator(".chart rect")).to_have_count(1)
    check_page(page)
    screenshot(page, "dashboard-after-first-picture")
    assert ledger_audit() == []
