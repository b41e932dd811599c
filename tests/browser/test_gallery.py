"""The gallery in a real browser: star one and filter by stars, select two and compare them,
vectorize from a generation's page and watch the new job arrive, and how the gallery and a
generation's page look on a desktop and a phone, light and dark."""

import re

import pytest
from playwright.sync_api import expect

from studio.models import Generation, Kind, Status
from tests.browser.support import (
    PHONE,
    SiteApi,
    check_page,
    horizontal_overflow,
    make,
    screenshot,
    set_theme,
    sign_in,
)
from tests.factories import UserFactory
from tokens.audit import ledger_audit
from tokens.models import EntryKind, LedgerEntry

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.s3,
    pytest.mark.django_db(transaction=True),
]


def tile(page, generation_id: str):
    return page.locator(f'[data-generation="{generation_id}"]')


@pytest.fixture
def user():
    return UserFactory(credits=200)


@pytest.fixture
def two(site, user):
    return make(
        site,
        user,
        {"prompt": "A lighthouse on a cliff at sunset", "seed": 11, "category": "painting"},
        {"prompt": "A quiet forest lake at dawn", "seed": 22, "model": "sdxl"},
    )


def test_star_one_of_two_then_the_starred_filter_shows_only_it(page, site, user, two):
    lighthouse, lake = two
    sign_in(page, site, user)
    page.goto(site.url("/gallery/"))
    expect(page.locator("[data-generation]")).to_have_count(2)
    expect(tile(page, lighthouse).locator("img")).to_be_visible()
    check_page(page)

    star = tile(page, lake).get_by_role("button", name="Star “A quiet forest lake at dawn”")
    expect(star).to_have_attribute("aria-pressed", "false")
    star.click()
    expect(star).to_have_attribute("aria-pressed", "true")
    assert Generation.objects.get(pk=lake).starred is True
    assert Generation.objects.get(pk=lighthouse).starred is False

    page.get_by_label("Starred", exact=True).select_option("true")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r".*starred=true"))
    expect(page.locator("[data-generation]")).to_have_count(1)
    expect(tile(page, lake)).to_be_visible()
    expect(page.locator("#result-count")).to_contain_text("1 match")

    # Unstarring it from the filtered grid, then reloading: nothing is starred any more.
    tile(page, lake).get_by_role("button", name=re.compile("^Star ")).click()
    expect(tile(page, lake).locator("[data-star]")).to_have_attribute("aria-pressed", "false")
    page.reload()
    expect(page.get_by_text("Nothing matches these filters")).to_be_visible()
    page.get_by_role("link", name="Clear filters").click()
    expect(page.locator("[data-generation]")).to_have_count(2)


def test_select_two_and_compare_them_side_by_side(page, new_page, site, user, two):
    lighthouse, lake = two
    sign_in(page, site, user)
    page.goto(site.url("/gallery/"))
    compare = page.locator("[data-compare-link]")
    expect(compare).to_have_attribute("aria-disabled", "true")

    page.get_by_label("Select “A lighthouse on a cliff at sunset” to compare").check()
    expect(page.locator("#compare-status")).to_contain_text("1 selected")
    expect(compare).to_have_attribute("aria-disabled", "true")
    page.get_by_label("Select “A quiet forest lake at dawn” to compare").check()
    expect(compare).to_have_attribute("href", f"/gallery/compare/?a={lighthouse}&b={lake}")
    compare.click()

    page.wait_for_url(re.compile(r".*/gallery/compare/\?a="))
    sides = page.locator(".compare-side")
    expect(sides).to_have_count(2)
    for side in range(2):
        image = sides.nth(side).locator("img")
        expect(image).to_be_visible()
        assert image.evaluate("img => img.complete && img.naturalWidth") == 1024
    expect(page.get_by_role("link", name="A lighthouse on a cliff at sunset")).to_be_visible()
    expect(page.get_by_role("link", name="A quiet forest lake at dawn")).to_be_visible()
    for row in ("prompt", "seed", "model", "category"):
        expect(page.locator(f'tr[data-row="{row}"]')).to_have_class("differs")
    expect(page.locator('tr[data-row="size"]')).not_to_have_class("differs")
    check_page(page)
    screenshot(page, "gallery-compare")

    phone = new_page(viewport=PHONE)
    sign_in(phone, site, user)
    phone.goto(page.url)
    expect(phone.locator(".compare-side img").first).to_be_visible()
    assert horizontal_overflow(phone) == 0
    screenshot(phone, "gallery-compare")


def test_vectorize_from_a_generations_page_runs_to_an_svg(page, site, user, two):
    lighthouse, _ = two
    sign_in(page, site, user)
    page.goto(site.url(f"/gallery/{lighthouse}/"))
    expect(page.get_by_role("heading", name="A lighthouse on a cliff at sunset")).to_be_visible()
    check_page(page)

    page.get_by_role("button", name="Vectorize 4 credits").click()
    job = page.locator(".op-job").first
    expect(job).to_have_attribute("data-status", "completed", timeout=60_000)
    result = job.locator('img[data-content-type="image/svg+xml"]')
    expect(result).to_be_visible()
    assert result.evaluate("img => img.complete && img.naturalWidth > 0")
    seen = [int(p) for p in job.get_attribute("data-progress-log").split(",")]
    assert seen[-1] == 100 and seen == sorted(seen), seen
    screenshot(page, "gallery-operation")

    operation = Generation.objects.get(user=user, kind=Kind.OPERATION)
    assert operation.status == Status.COMPLETED and operation.operation == "vectorization"
    assert operation.params["source"] == lighthouse
    assert operation.outputs[0]["content_type"] == "image/svg+xml"
    captured = LedgerEntry.objects.get(object_id=operation.id, kind=EntryKind.CAPTURE)
    assert captured.amount == -4
    assert ledger_audit() == []

    job.get_by_role("link", name="Open").click()
    page.wait_for_url(re.compile(rf".*/gallery/{operation.id}/$"))
    expect(page.locator('.detail-viewer img[data-content-type="image/svg+xml"]')).to_be_visible()
    expect(page.get_by_role("link", name=lighthouse)).to_be_visible()  # its source
    expect(page.locator("#ledger-title")).to_be_visible()


def test_star_move_and_delete_from_a_generations_page(page, site, user, two):
    lighthouse, lake = two
    posters = SiteApi(site, user).call("POST", "/projects", {"name": "Posters"}, status=201)["id"]
    sign_in(page, site, user)
    page.goto(site.url(f"/gallery/{lake}/"))

    star = page.get_by_role("button", name="Star", exact=True)
    star.click()
    expect(page.get_by_role("button", name="Starred")).to_have_attribute("aria-pressed", "true")
    assert Generation.objects.get(pk=lake).starred is True

    page.get_by_label("Project", exact=True).select_option(label="Posters")
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator('[data-param="project"]')).to_have_text("Posters")
    assert Generation.objects.get(pk=lake).project_id == posters

    page.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("Delete this image?")
    dialog.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r".*/gallery/$"))
    expect(page.locator("[data-generation]")).to_have_count(1)
    assert not Generation.objects.filter(pk=lake).exists()
    assert Generation.objects.filter(pk=lighthouse).exists()


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_gallery_and_detail_look_right(new_page, site, user, two, viewport, theme):
    lighthouse, lake = two
    make(site, user, {"prompt": "A neon city street in the rain, reflections", "seed": 3})
    SiteApi(site, user).call("PATCH", f"/studio/generation/{lake}", {"starred": True})
    page = new_page(viewport=PHONE) if viewport == "phone" else new_page()
    sign_in(page, site, user)
    page.goto(site.url("/gallery/"))
    set_theme(page, theme)
    expect(page.locator("[data-generation] img")).to_have_count(3)
    for image in page.locator("[data-generation] img").all():
        image.scroll_into_view_if_needed()
        expect(image).to_have_js_property("complete", True)
    check_page(page)
    assert horizontal_overflow(page) == 0
    page.evaluate("window.scrollTo(0, 0)")  # sticky bars where a person first sees them
    screenshot(page, "gallery")
    if viewport == "phone":  # the selects fold behind a button; the search stays
        expect(page.get_by_label("Type", exact=True)).to_be_hidden()
        page.get_by_role("button", name="Filters").click()
        expect(page.get_by_label("Type", exact=True)).to_be_visible()
        check_page(page)

    page.goto(site.url(f"/gallery/{lighthouse}/"))
    expect(page.locator(".detail-viewer img")).to_have_js_property("complete", True)
    check_page(page)
    assert horizontal_overflow(page) == 0
    screenshot(page, "gallery-detail")
