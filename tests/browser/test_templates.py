"""Templates in a real browser: run the Sticker starter from its page (the live price is the
cost API's, both steps' progress arrives and their results show, the credits charged are the
price), rate someone else's template and see the average move, cancel a run and resume it,
and how the gallery, a run form and a run look on a desktop and a phone, light and dark."""

import re
import time

import pytest
from playwright.sync_api import expect

from pipelines.models import Execution, Rating
from pipelines.services.executions import execution_create
from pipelines.services.templates import template_create, template_rate
from pipelines.starters import starters_ensure
from tests.browser.support import (
    BROWSER,
    PHONE,
    SiteApi,
    check_page,
    horizontal_overflow,
    screenshot,
    set_theme,
    sign_in,
)
from tests.browser.test_assets import scene
from tests.factories import UserFactory
from tests.pipelines.support import starter
from tokens.audit import ledger_audit

pytestmark = [*BROWSER, pytest.mark.django_db(transaction=True)]

DESKTOP_1280 = {"width": 1280, "height": 900}
FINISHED = ("completed", "failed", "cancelled")


@pytest.fixture(autouse=True)
def _starters():
    starters_ensure()


@pytest.fixture
def user():
    return UserFactory(credits=500)


def finished_run(site, user, template_id: str, inputs: dict, timeout: float = 90) -> dict:
    """A run started through the site's API and run by its worker to the end."""
    api = SiteApi(site, user)
    run = api.call("POST", f"/templates/{template_id}/execute", {"inputs": inputs}, status=202)
    deadline = time.monotonic() + timeout
    while run["status"] not in FINISHED:
        assert time.monotonic() < deadline, run
        time.sleep(0.2)  # polling a run in another process, not synchronising the test
        run = api.call("GET", f"/executions/{run['id']}")
    assert run["status"] == "completed", run
    return run


def test_run_the_sticker_starter_and_watch_both_steps_arrive(page, site, user):
    sticker = starter("sticker")
    price = SiteApi(site, user).call("POST", f"/templates/{sticker.pk}/cost", {"inputs": {}})
    sign_in(page, site, user)
    page.get_by_role("link", name="Templates", exact=True).click()
    page.wait_for_url(re.compile(r".*/templates/$"))
    check_page(page)
    page.get_by_role("link", name="Sticker", exact=True).click()
    page.wait_for_url(re.compile(rf".*/templates/{sticker.pk}/$"))

    total = page.locator("#cost-total")
    expect(total).to_have_text(f"{price['total']} credits")
    for step in price["steps"]:
        expect(page.locator(f'[data-step="{step["number"]}"] [data-step-cost]')).to_have_text(
            str(step["cost"])
        )
    expect(page.locator("#available")).to_have_text("500")
    check_page(page)
    page.get_by_label("Subject").fill("a sleepy fox")
    expect(total).to_have_text(f"{price['total']} credits")  # the same price for any subject
    page.get_by_role("button", name="Run").click()
    page.wait_for_url(re.compile(r".*/executions/exe_\w+/$"))
    run_id = page.url.rstrip("/").rsplit("/", 1)[1]

    expect(page.locator("[data-exec-badge]")).to_have_text("Completed", timeout=90_000)
    steps = page.locator("[data-step]")
    expect(steps).to_have_count(2)
    execution = Execution.objects.get(pk=run_id)
    assert execution.inputs["subject"] == "a sleepy fox"
    jobs = list(execution.steps.order_by("position").values_list("generation_id", flat=True))
    for number, job in enumerate(jobs, start=1):
        card = page.locator(f'[data-step="{number}"]')
        expect(card).to_have_attribute("data-status", "completed")
        expect(card.locator("[data-step-badge]")).to_have_text("Completed")
        thumbnail = card.locator("[data-step-media] img")
        expect(thumbnail).to_be_visible()
        expect(card.locator("[data-step-media] a")).to_have_attribute("href", f"/gallery/{job}/")
        expect(card.locator("[data-step-charge]")).to_have_text("Charged 4 credits")
        seen = [int(p) for p in card.get_attribute("data-progress-log").split(",")]
        assert seen[-1] == 100 and seen == sorted(seen), seen
    # The events came over the run's stream, not by polling.
    assert page.locator('[data-step="2"]').get_attribute("data-via") == "sse"
    expect(page.locator('[data-credit="charged"]')).to_have_text(str(price["total"]))
    expect(page.locator('[data-credit="held"]')).to_have_text(str(price["total"]))
    expect(page.locator('[data-credit="outstanding"]')).to_have_text("0")
    result = page.locator("[data-result] [data-result-media] img")
    expect(result).to_be_visible()
    assert result.evaluate("img => img.naturalWidth") > 0
    expect(page.locator("[data-exec-progress]")).to_have_js_property("value", 100)
    expect(page.locator('[data-exec-action="cancel"]')).to_be_hidden()
    expect(page.locator("[data-credits-value]")).to_have_text(str(500 - price["total"]))
    check_page(page)
    screenshot(page, "template-run-finished")
    assert ledger_audit() == []

    # Run again: the same inputs, filled in.
    page.get_by_role("link", name="Run again").click()
    page.wait_for_url(re.compile(rf".*/templates/{sticker.pk}/\?from={run_id}$"))
    expect(page.get_by_label("Subject")).to_have_value("a sleepy fox")


def test_rate_someone_elses_template_and_see_the_average_move(page, site, user):
    author, critic = UserFactory(), UserFactory()
    theirs = template_create(
        owner=author,
        document={
            "name": "Neon badge",
            "description": "A glowing badge from a word",
            "tags": ["badge"],
            "visibility": "public",
            "inputs": [{"name": "word", "type": "text", "default": "NOVA"}],
            "steps": [
                {"operation": "generate-image", "params": {"prompt": "{{inputs.word}} neon"}}
            ],
        },
    )
    template_rate(user=critic, template_id=theirs.pk, score=2)
    sign_in(page, site, user)
    page.goto(site.url(f"/templates/{theirs.pk}/"))
    summary = page.locator("[data-rating-text]")
    expect(summary).to_have_text("2.0 out of 5 · 1 rating")
    check_page(page)
    page.get_by_role("radio", name="5 stars").check()
    expect(summary).to_have_text("3.5 out of 5 · 2 ratings")
    expect(page.locator("[data-my-rating]")).to_contain_text("You gave it 5 out of 5")
    assert Rating.objects.get(template=theirs, user=user).score == 5
    expect(page.locator("[data-rating-summary] .star.on")).to_have_count(3)
    expect(page.locator("[data-rating-summary] .star.half")).to_have_count(1)
    page.reload()
    expect(summary).to_have_text("3.5 out of 5 · 2 ratings")
    expect(page.locator('[data-rate] input[value="5"]')).to_be_checked()

    # Your own template: nothing to click, and its Edit and Delete instead.
    mine = template_create(owner=user, document={**template_document(theirs), "name": "My badge"})
    page.goto(site.url(f"/templates/{mine.pk}/"))
    expect(page.locator("[data-rate]")).to_have_count(0)
    expect(page.get_by_role("link", name="Edit", exact=True)).to_have_attribute(
        "href", f"/templates/{mine.pk}/edit/"
    )
    expect(page.get_by_role("button", name="Delete", exact=True)).to_be_visible()


def template_document(template) -> dict:
    from pipelines.services.templates import template_document as document

    body = document(template)
    return {k: v for k, v in body.items() if k not in ("format", "version")}


def test_cancel_a_waiting_run_then_resume_it(page, site, user):
    # Started here, its first job is queued where the site's worker does not listen: it waits.
    waiting, _ = execution_create(user=user, template_id=starter("sticker").pk, inputs={})
    sign_in(page, site, user)
    page.goto(site.url(f"/executions/{waiting.pk}/"))
    expect(page.locator('[data-step="1"] [data-step-label]')).to_have_text("Waiting for a worker")
    expect(page.locator("[data-exec-line]")).to_have_text("Step 1 of 2 running: Draw it")
    expect(page.locator('[data-credit="held"]')).to_have_text("8")
    # (Judged once it rests: a spinner's animation never finishes, see check_page.)
    page.get_by_role("button", name="Cancel", exact=True).click()
    page.get_by_role("button", name="Cancel the run").click()
    expect(page.locator("[data-exec-badge]")).to_have_text("Cancelled")
    expect(page.locator('[data-credit="released"]')).to_have_text("8")
    expect(page.locator('[data-credit="outstanding"]')).to_have_text("0")
    expect(page.locator('[data-step="2"] [data-step-badge]')).to_have_text("Skipped")
    retry = page.locator('[data-exec-action="retry"]')
    expect(retry).to_have_text("Retry from step 1 · holds 8 credits")
    expect(page.locator("[data-credits-value]")).to_have_text("500")
    assert Execution.objects.get(pk=waiting.pk).status == "cancelled"
    log = page.locator("[data-job-log] [data-log-rows]")
    expect(log).to_contain_text("Cancelled by its owner")  # the log follows the run
    check_page(page)

    # Resumed from the page, the site's worker takes it to the end.
    retry.click()
    expect(page.locator("[data-exec-badge]")).to_have_text("Completed", timeout=90_000)
    expect(page.locator("[data-exec-attempt]")).to_have_text("Attempt 2")
    expect(page.locator('[data-credit="charged"]')).to_have_text("8")
    expect(page.locator('[data-step="2"] [data-step-media] img')).to_be_visible()
    expect(page.locator("[data-credits-value]")).to_have_text("492")
    expect(log).to_contain_text("Retried (attempt 2): 8 credit(s) held for the steps left")
    expect(log).to_contain_text("Step 2 (remove-background): Completed in")
    expect(log).to_contain_text("Cancelled by its owner")  # the first attempt's job stays
    screenshot(page, "template-run-retried-log")
    assert ledger_audit() == []


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_templates_pages_look_right(new_page, site, user, viewport, theme):
    api = SiteApi(site, user)
    api.upload(scene(3), "harbour.png")
    api.upload(scene(6), "meadow.png")
    mine = template_create(
        owner=user,
        document={
            "name": "Poster series",
            "description": "A poster in a chosen look, its background cut out, traced as SVG.",
            "tags": ["poster", "vector"],
            "visibility": "private",
            "inputs": [
                {
                    "name": "subject",
                    "label": "Subject",
                    "type": "long_text",
                    "required": True,
                    "default": "a lighthouse at dusk",
                    "help": "One line is enough.",
                },
                {
                    "name": "look",
                    "type": "choice",
                    "options": ["painting", "anime", "abstract"],
                    "default": "painting",
                },
                {
                    "name": "steps",
                    "label": "Detail",
                    "type": "number",
                    "min": 10,
                    "max": 50,
                    "step": 5,
                    "default": 30,
                },
                {"name": "crisp", "label": "Crisp outline", "type": "boolean", "default": True},
                {"name": "reference", "label": "Reference", "type": "image"},
                {"name": "seed", "type": "seed"},
            ],
            "steps": [
                {
                    "operation": "generate-image",
                    "name": "Paint it",
                    "params": {
                        "prompt": "{{inputs.subject}}",
                        "category": "{{inputs.look}}",
                        "steps": "{{inputs.steps}}",
                        "seed": "{{inputs.seed}}",
                    },
                },
                {
                    "operation": "remove-background",
                    "name": "Cut it out",
                    "params": {"source": "{{steps.1.output}}"},
                },
                {
                    "operation": "vectorize",
                    "name": "Trace as SVG",
                    "params": {"source": "{{steps.2.output}}"},
                },
            ],
        },
    )
    template_rate(user=UserFactory(), template_id=starter("poster").pk, score=4)
    price = api.call("POST", f"/templates/{mine.pk}/cost", {"inputs": {}})["total"]
    run = finished_run(site, user, starter("logo-kit").pk, {"brand": "Northwind"})
    page = new_page(viewport=PHONE) if viewport == "phone" else new_page(viewport=DESKTOP_1280)
    sign_in(page, site, user)

    for path, name, ready in (
        ("/templates/", "templates", ".tpl-card"),
        (f"/templates/{mine.pk}/", "template-form", ".pick img"),
        (f"/executions/{run['id']}/", "execution", "img"),
        ("/executions/", "executions", ".run-row"),
    ):
        page.goto(site.url(path))
        if path == "/templates/":
            set_theme(page, theme)
        for image in page.locator(f"main {ready}").all():
            image.scroll_into_view_if_needed()
            if ready.endswith("img"):
                expect(image).to_have_js_property("complete", True)
        if name == "template-form":
            expect(page.locator("#cost-total")).to_have_text(f"{price} credits")
        check_page(page)
        assert horizontal_overflow(page) == 0, path
        screenshot(page, name)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_an_owner_sees_why_support_unpublished_their_template(new_page, site, user, viewport):
    from support.services import template_unpublish

    document = {**template_document(starter("poster")), "name": "Knock-off poster"}
    mine = template_create(owner=user, document={**document, "visibility": "public"})
    template_unpublish(
        actor=UserFactory(is_staff=True),
        template=mine,
        reason="It copies a film studio's trademarked poster.",
    )
    page = new_page(viewport=PHONE) if viewport == "phone" else new_page(viewport=DESKTOP_1280)
    sign_in(page, site, user)
    page.goto(site.url(f"/templates/{mine.pk}/"))

    notice = page.locator("[data-unpublished]")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Support made this template private")
    expect(notice).to_contain_text("trademarked poster")
    expect(page.get_by_text("Private: only you see it")).to_be_visible()
    check_page(page)
    assert horizontal_overflow(page) == 0
    screenshot(page, "template-unpublished")
