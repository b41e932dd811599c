"""Assets and projects in a real browser: upload a picture and a file that is not one (the
server's reason next to it, nothing stored), a project's whole life on the board (create,
upload into it, rename, duplicate, delete keeping or deleting what it holds), moving selected
assets into a project, an operation run from an asset's page to its result, and how the
pages look on a desktop and a phone, light and dark."""

import io
import re

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from studio.models import Asset, Generation, Kind, Project, Status
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
from tests.factories import UserFactory
from tokens import catalog
from tokens.audit import ledger_audit
from tokens.models import EntryKind, LedgerEntry

pytestmark = [*BROWSER, pytest.mark.django_db(transaction=True)]


def scene(seed: int, width: int = 480, height: int = 360) -> bytes:
    """A small landscape as a PNG (sky, sun, hills), different for each seed."""
    sky = [(70 + 30 * seed % 120, 120, 200), (250, 190 - 20 * seed % 80, 140)]
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / height
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(*sky, strict=True)),
        )
    sun = (width * (0.25 + 0.1 * (seed % 5)), height * 0.35)
    draw.ellipse([sun[0] - 40, sun[1] - 40, sun[0] + 40, sun[1] + 40], fill=(255, 236, 170))
    draw.polygon(
        [
            (0, height),
            (0, height * 0.7),
            (width * 0.4, height * 0.55),
            (width, height * 0.75),
            (width, height),
        ],
        fill=(40, 90 + 10 * seed % 60, 70),
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def user():
    return UserFactory(credits=200)


def test_upload_a_picture_and_a_file_that_is_not_one(page, site, user, s3, watch):
    watch.expect(400, r"/api/v1/assets/upload$")
    sign_in(page, site, user)
    page.goto(site.url("/assets/"))
    expect(page.get_by_role("heading", name="No assets yet")).to_be_visible()
    check_page(page)
    before = s3.keys()

    # A text file with a picture's name alone: refused, its reason beside it, nothing kept.
    page.locator("[data-upload-input]").set_input_files(
        {"name": "diary.png", "mimeType": "image/png", "buffer": b"Dear diary,\n" * 40}
    )
    failed = page.locator('.upload-item[data-state="failed"]')
    expect(failed).to_contain_text("diary.png")
    expect(failed).to_contain_text("Not a")
    expect(page.locator("#upload-error")).to_contain_text(
        re.compile(r"^“diary\.png” was not uploaded: Not a .+ Nothing was stored\.$")
    )
    assert Asset.objects.filter(user=user).count() == 0
    assert s3.keys() == before
    expect(page.get_by_role("heading", name="No assets yet")).to_be_visible()

    # Two at once, one good: the good one lands in the grid, the count says so.
    page.locator("[data-upload-input]").set_input_files(
        [
            {"name": "hills.png", "mimeType": "image/png", "buffer": scene(1)},
            {"name": "notes.png", "mimeType": "image/png", "buffer": b"just words"},
        ]
    )
    done = page.locator('.upload-item[data-state="done"]')
    expect(done).to_contain_text("480 \N{MULTIPLICATION SIGN} 360")
    expect(page.locator("#upload-error")).to_contain_text(
        "1 of 2 files were not uploaded (the reason is next to each)"
    )
    asset = Asset.objects.get(user=user)
    assert (asset.name, asset.width, asset.height) == ("hills.png", 480, 360)
    tile = page.locator(f'[data-asset="{asset.id}"]')
    expect(tile).to_be_visible()
    expect(tile.locator("img")).to_have_js_property("complete", True)
    assert tile.locator("img").evaluate("img => img.naturalWidth") > 0
    expect(page.locator("#item-count")).to_have_text("1 asset")
    expect(page.get_by_role("heading", name="No assets yet")).to_have_count(0)
    check_page(page)
    screenshot(page, "assets-uploaded")

    page.reload()  # what the server lists, not what the script drew
    expect(page.locator("[data-asset]")).to_have_count(1)
    expect(page.locator("#item-count")).to_have_text("1 asset")


def test_a_projects_life_create_upload_rename_duplicate_delete(page, site, user, watch):
    watch.expect(400, r"/api/v1/projects$")  # the form sent without a name
    sign_in(page, site, user)
    page.goto(site.url("/projects/"))
    expect(page.get_by_role("heading", name="No projects yet")).to_be_visible()
    check_page(page)

    page.get_by_role("button", name="Create your first project").click()
    dialog = page.locator("#project-dialog")
    expect(dialog.get_by_role("heading", name="New project")).to_be_visible()
    dialog.get_by_role("button", name="Create project").click()  # no name: told so, kept open
    expect(dialog.locator("#project-name-error")).not_to_be_empty()
    expect(dialog).to_be_visible()
    dialog.get_by_label("Name").fill("Posters")
    dialog.get_by_label("Description").fill("Prints for the spring show")
    dialog.get_by_role("button", name="Create project").click()
    page.wait_for_url(re.compile(r".*/projects/[^/]+/$"))
    posters = Project.objects.get(user=user)
    assert page.url.endswith(f"/projects/{posters.id}/")
    expect(page.locator(".toast")).to_contain_text("Project “Posters” created.")
    expect(page.get_by_role("heading", name="No assets in this project yet")).to_be_visible()
    check_page(page)

    # The project's own uploader files into it.
    page.locator("[data-upload-input]").set_input_files(
        {"name": "poster.png", "mimeType": "image/png", "buffer": scene(2)}
    )
    expect(page.locator('.upload-item[data-state="done"]')).to_be_visible()
    asset = Asset.objects.get(user=user)
    assert asset.project_id == posters.id
    expect(page.locator(f'[data-asset="{asset.id}"]')).to_be_visible()

    page.locator(".project-head").get_by_role("button", name="Rename").click()
    expect(dialog.get_by_label("Name")).to_have_value("Posters")
    dialog.get_by_label("Name").fill("Spring posters")
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Spring posters", level=1)).to_be_visible()
    expect(page.locator(".toast")).to_contain_text("Renamed to “Spring posters”.")
    assert Project.objects.get(pk=posters.pk).name == "Spring posters"

    # Duplicate from the board: a copy with a copy of its asset.
    page.goto(site.url("/projects/"))
    card = page.locator(f'[data-project="{posters.id}"]')
    expect(card).to_contain_text("1 asset")
    card.get_by_role("button", name="Duplicate “Spring posters”").click()
    expect(page.locator(".toast")).to_contain_text("with 1 asset.")
    expect(page.locator("[data-project]")).to_have_count(2)
    copy = Project.objects.exclude(pk=posters.pk).get(user=user)
    assert Asset.objects.filter(project=copy).count() == 1
    expect(page.locator("#item-count")).to_have_text("2 projects")

    # Delete the copy with what it holds; the original keeping what it holds.
    page.locator(f'[data-project="{copy.id}"]').get_by_role(
        "button", name=re.compile("^Delete")
    ).click()
    confirm = page.locator("#confirm-dialog")
    expect(confirm).to_contain_text("It holds 1 asset. What should happen to them?")
    confirm.get_by_role("radio", name=re.compile("Delete them too")).check()
    confirm.get_by_role("button", name="Delete project").click()
    expect(page.locator(".toast")).to_contain_text("1 item deleted with it.")
    expect(page.locator("[data-project]")).to_have_count(1)
    assert not Project.objects.filter(pk=copy.pk).exists()
    assert list(Asset.objects.filter(user=user)) == [asset]

    card.get_by_role("button", name="Delete “Spring posters”").click()
    expect(confirm.get_by_role("radio", name=re.compile("Keep them"))).to_be_checked()
    confirm.get_by_role("button", name="Delete project").click()
    expect(page.locator(".toast")).to_contain_text("1 item kept, in no project now.")
    expect(page.get_by_role("heading", name="No projects yet")).to_be_visible()
    asset.refresh_from_db()
    assert asset.project_id is None


def test_move_selected_assets_into_a_project_then_filter_by_it(page, site, user):
    api = SiteApi(site, user)
    posters = api.call("POST", "/projects", {"name": "Posters"}, status=201)["id"]
    ids = [api.upload(scene(seed), f"scene-{seed}.png")["id"] for seed in (3, 4, 5)]
    sign_in(page, site, user)
    page.goto(site.url("/assets/"))
    expect(page.locator("[data-asset]")).to_have_count(3)
    move = page.get_by_role("button", name="Move", exact=True)
    expect(move).to_be_disabled()

    page.get_by_label("Select “scene-3.png”").check()
    page.get_by_label("Select “scene-5.png”").check()
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    page.get_by_label("Move to").select_option(label="Posters")
    move.click()
    expect(page.locator(".toast")).to_contain_text("Moved 2 items to “Posters”.")
    filed = {a.id for a in Asset.objects.filter(project_id=posters)}
    assert filed == {ids[0], ids[2]}
    expect(page.locator(f'[data-asset="{ids[0]}"] [data-project-chip]')).to_contain_text("Posters")
    expect(page.locator(f'[data-asset="{ids[1]}"] [data-project-chip]')).to_contain_text(
        "No project"
    )

    page.get_by_label("Project", exact=True).select_option(label="Posters")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(rf".*project={posters}"))
    expect(page.locator("[data-asset]")).to_have_count(2)

    # From the project's page, take one out again: it leaves the grid.
    page.goto(site.url(f"/projects/{posters}/"))
    expect(page.locator("[data-asset]")).to_have_count(2)
    page.get_by_label("Select “scene-3.png”").check()
    page.get_by_label("Move to").select_option(label="No project (take out)")
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator(".toast")).to_contain_text("Took 1 item out of their project.")
    expect(page.locator("[data-asset]")).to_have_count(1)
    assert Asset.objects.get(pk=ids[0]).project_id is None


def test_remove_the_background_of_an_uploaded_picture(page, site, user):
    api = SiteApi(site, user)
    asset = api.upload(scene(6), "cat.png")
    cost = catalog.cost_of("background_removal")
    sign_in(page, site, user)
    page.goto(site.url(f"/assets/{asset['id']}/"))
    expect(page.get_by_role("heading", name="cat.png")).to_be_visible()
    check_page(page)

    page.get_by_role("button", name=f"Remove background {cost} credits").click()
    job = page.locator(".op-job").first
    expect(job).to_have_attribute("data-status", "completed", timeout=60_000)
    result = job.locator("img")
    expect(result).to_be_visible()
    assert result.evaluate("img => img.complete && img.naturalWidth") == 480
    seen = [int(p) for p in job.get_attribute("data-progress-log").split(",")]
    assert seen[-1] == 100 and seen == sorted(seen), seen
    screenshot(page, "asset-operation")

    operation = Generation.objects.get(user=user, kind=Kind.OPERATION)
    assert (operation.status, operation.operation) == (Status.COMPLETED, "background_removal")
    assert operation.params["source"] == asset["id"]
    assert operation.outputs[0]["content_type"] == "image/png"
    captured = LedgerEntry.objects.get(object_id=operation.id, kind=EntryKind.CAPTURE)
    assert captured.amount == -cost
    assert ledger_audit() == []
    expect(page.locator("[data-credits-value]")).to_have_text(str(200 - cost))


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_assets_and_projects_look_right(new_page, site, user, viewport, theme):
    api = SiteApi(site, user)
    posters = api.call(
        "POST",
        "/projects",
        {"name": "Spring posters", "description": "Prints for the show"},
        status=201,
    )["id"]
    api.call("POST", "/projects", {"name": "Brand kit"}, status=201)
    asset = api.upload(scene(7), "harbour-at-dusk.png", project=posters)
    for seed in (8, 9, 10):
        api.upload(scene(seed), f"study-{seed}.png", project=posters if seed % 2 else None)
    page = new_page(viewport=PHONE) if viewport == "phone" else new_page()
    sign_in(page, site, user)

    for path, name, ready in (
        ("/assets/", "assets", "[data-asset] img"),
        ("/projects/", "projects", ".project-cover img"),
        (f"/projects/{posters}/", "project", "[data-asset] img"),
        (f"/assets/{asset['id']}/", "asset-detail", "main img"),
    ):
        page.goto(site.url(path))
        if path == "/assets/":
            set_theme(page, theme)
        for image in page.locator(ready).all():
            image.scroll_into_view_if_needed()
            expect(image).to_have_js_property("complete", True)
        check_page(page)
        assert horizontal_overflow(page) == 0, path
        screenshot(page, name)
