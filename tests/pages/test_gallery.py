"""The gallery pages with Django's test client: the grid with its filters, pagination and
empty states, a generation's page, and two compared; sign-in and ownership enforced."""

import re

import pytest
from rest_framework.test import APIClient

from studio.models import Generation
from studio.services.execution import generation_run
from tests.conftest import login
from tests.factories import UserFactory
from tokens import catalog

# Jobs write files, and storage refuses to write inside a transaction: no test-wide one.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("instant_studio")]

TILE = re.compile(r'<li class="tile gallery-tile[^"]*" data-generation="([^"]+)"')


@pytest.fixture
def user():
    return UserFactory(credits=500)


def submit(user_api, path="/api/v1/studio/generate-image", **fields) -> str:
    response = user_api.post(path, {"prompt": "A lighthouse at dawn", **fields}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def tiles(response) -> list[str]:
    assert response.status_code == 200
    return TILE.findall(response.content.decode())


# --- Sign-in and ownership -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/gallery/", "/gallery/img_1_abc/", "/gallery/compare/?a=x&b=y"])
def test_anonymous_visitors_are_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/gallery/")


def test_another_users_generation_is_a_404_page(client, user_api):
    mine = submit(user_api)
    client.force_login(UserFactory())
    response = client.get(f"/gallery/{mine}/")
    assert response.status_code == 404
    assert b"<title>" in response.content and mine.encode() not in response.content
    assert client.get("/gallery/img_0_doesnotexist/").status_code == 404


def test_compare_with_a_foreign_or_missing_id_is_404(client, user_api):
    mine, other = submit(user_api), submit(user_api, prompt="A second one")
    theirs = submit(login(APIClient(), stranger := UserFactory()))
    client.force_login(stranger)
    assert client.get(f"/gallery/compare/?a={mine}&b={theirs}").status_code == 404
    assert client.get(f"/gallery/compare/?a={theirs}&b={other}").status_code == 404
    assert client.get(f"/gallery/compare/?a={theirs}").status_code == 404
    assert client.get("/gallery/compare/").status_code == 404


def test_the_grid_shows_only_the_users_own_generations(page, user_api):
    mine = submit(user_api)
    submit(login(APIClient(), UserFactory()), prompt="Not yours")
    assert tiles(page.get("/gallery/")) == [mine]


# --- The grid --------------------------------------------------------------------------------


def test_the_grid_shows_thumbnails_lazily_with_badges_star_and_compare_box(page, user_api):
    done = submit(user_api, prompt="A red fox in snow")
    generation_run(generation_id=done)
    running = submit(user_api, prompt="Still waiting")
    user_api.patch(f"/api/v1/studio/generation/{done}", {"starred": True}, format="json")

    response = page.get("/gallery/")
    html = response.content.decode()
    assert tiles(response) == [running, done]
    thumbnail = Generation.objects.get(pk=done).outputs[0]["thumbnail_key"]
    original = Generation.objects.get(pk=done).outputs[0]["key"]
    assert thumbnail in html and original not in html  # thumbnails, not originals
    assert 'loading="lazy"' in html and 'width="256" height="256"' in html
    assert f'data-star="{done}" aria-pressed="true"' in html
    assert f'data-star="{running}" aria-pressed="false"' in html
    assert 'aria-label="Select “A red fox in snow” to compare"' in html
    assert "<progress" in html and "Queued" in html  # the running one shows its state
    assert "2 generations" in html


def test_filters_narrow_the_grid(page, user_api):
    fox = submit(user_api, prompt="A red fox in snow", model="sdxl")
    owl = submit(user_api, prompt="An owl at night")
    video = submit(user_api, "/api/v1/studio/generate-video", prompt="Waves", duration=3, fps=8)
    user_api.patch(f"/api/v1/studio/generation/{owl}", {"starred": True}, format="json")

    assert tiles(page.get("/gallery/?q=FOX")) == [fox]
    assert tiles(page.get("/gallery/?type=video")) == [video]
    assert tiles(page.get("/gallery/?starred=true")) == [owl]
    assert tiles(page.get("/gallery/?model=sdxl&type=image")) == [fox]
    assert set(tiles(page.get("/gallery/?starred=false&type=image"))) == {fox}
    # The form shows what is applied, and a way out.
    html = page.get("/gallery/?q=fox&type=image").content.decode()
    assert 'name="q" value="fox"' in html
    assert '<option value="image" selected>' in html
    assert 'href="/gallery/">' in html and "Clear" in html
    assert "1 match" in html


def test_project_filter_on_the_page_and_another_users_project_is_404(page, user_api):
    posters = user_api.post("/api/v1/projects", {"name": "Posters"}, format="json").json()["id"]
    filed = submit(user_api, project=posters)
    loose = submit(user_api)
    assert tiles(page.get(f"/gallery/?project={posters}")) == [filed]
    assert tiles(page.get("/gallery/?project=none")) == [loose]
    html = page.get("/gallery/").content.decode()
    assert f'<option value="{posters}">Posters</option>' in html

    stranger = login(APIClient(), UserFactory())
    theirs = stranger.post("/api/v1/projects", {"name": "Theirs"}, format="json").json()["id"]
    assert page.get(f"/gallery/?project={theirs}").status_code == 404


def test_twenty_a_page_with_the_filters_kept_in_the_page_links(page, user_api):
    made = [submit(user_api, prompt=f"Picture number {n}") for n in range(21)]
    first = page.get("/gallery/?type=image")
    assert tiles(first) == list(reversed(made))[:20]
    html = first.content.decode()
    assert 'href="?type=image&amp;page=2"' in html and "Page 1 of 2" in html
    second = page.get("/gallery/?type=image&page=2")
    assert tiles(second) == [made[0]]
    assert 'href="?type=image&amp;page=1"' in second.content.decode()
    past_the_end = page.get("/gallery/?page=9")
    assert tiles(past_the_end) == [] and b"past the end" in past_the_end.content


def test_an_empty_gallery_points_to_the_studio(page):
    html = page.get("/gallery/").content.decode()
    assert "Your gallery is empty" in html and 'href="/studio/"' in html
    assert "gallery-filters" not in html


def test_filters_that_match_nothing_offer_to_clear_them(page, user_api):
    submit(user_api)
    html = page.get("/gallery/?q=submarine").content.decode()
    assert "Nothing matches these filters" in html
    assert '<a class="btn btn-primary" href="/gallery/">Clear filters</a>' in html


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("type=gif", "type"),
        ("status=done", "status"),
        ("model=dall-e", "model"),
        ("starred=maybe", "starred"),
        ("q=" + "x" * 300, "q"),
        ("from=2025-99-01", "from"),
        ("to=yesterday", "to"),
        ("from=2025-03-05&to=2025-03-01", "to"),
        ("page=abc", "page"),
        ("page=-1", "page"),
    ],
)
def test_bad_query_values_show_a_message_not_a_500(page, user_api, query, field):
    fox = submit(user_api, prompt="A red fox")
    submit(user_api, "/api/v1/studio/generate-video", prompt="Waves", duration=3, fps=8)
    good = "q=fox" if field in ("type", "page") else "type=image"
    response = page.get(f"/gallery/?{query}&{good}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Some filters could not be used" in html
    if field != "page":
        assert f'id="f-{field}-error"></div>' not in html  # the message is next to it
        assert f'aria-describedby="f-{field}-error"' in html
    # The bad one is left out; the good one still applies.
    assert tiles(response) == [fox]


# --- One generation --------------------------------------------------------------------------


def test_the_detail_page_shows_the_result_every_setting_attempts_and_ledger(page, user_api):
    posters = user_api.post("/api/v1/projects", {"name": "Posters"}, format="json").json()["id"]
    done = submit(
        user_api,
        prompt="A red fox in snow",
        model="sdxl",
        size="1920x1080",
        steps=24,
        cfg_scale=6.5,
        seed=1234,
        category="anime",
        style="watercolour",
        negative_prompt="blurry",
        project=posters,
    )
    generation_run(generation_id=done)
    generation = Generation.objects.get(pk=done)

    html = page.get(f"/gallery/{done}/").content.decode()
    assert "<title>A red fox in snow · CraftFrame</title>" in html
    assert generation.outputs[0]["key"] in html  # the full image here, not only a thumbnail
    for text in ("sdxl", "1920 \u00d7 1080", "24", "6.5", "1234", "Anime", "watercolour", "blurry"):
        assert f">{text}" in html, text
    assert f'<a href="/projects/{posters}/">Posters</a>' in html
    # Provider attempts and the ledger entries the job caused.
    assert "<td>instant</td>" in html
    assert '<span class="badge">hold</span>' in html
    assert '<span class="badge">capture</span>' in html
    assert "\u22123" in html  # the capture: minus sdxl's 3 credits
    # Actions, and the operations with their prices from the catalog.
    assert f'href="/studio/?from={done}"' in html
    assert f'data-action="/api/v1/users/generation/{done}" data-method="DELETE"' in html
    assert 'data-success="redirect:/gallery/"' in html
    assert f'data-star="{done}"' in html and "Copy prompt" in html and "download" in html
    operations = re.findall(r'<span>([^<]+)</span><span class="cost">(\d+)<', html)
    assert operations == [
        ("Vectorize", str(catalog.cost_of("vectorization"))),
        ("Remove background", str(catalog.cost_of("background_removal"))),
        ("Upscale 2\u00d7", str(catalog.cost_of("clarity_upscale"))),
        ("Upscale 4\u00d7", str(catalog.cost_of("clarity_upscale"))),
        ("AI upscale 2\u00d7", str(catalog.cost_of("generative_upscale"))),
    ]
    assert "/retry" not in html  # only failed or cancelled ones


def test_a_cancelled_generation_offers_retry(page, user_api):
    cancelled = submit(user_api)
    user_api.post(f"/api/v1/studio/generation/{cancelled}/cancel")
    html = page.get(f"/gallery/{cancelled}/").content.decode()
    assert f'data-action="/api/v1/studio/generation/{cancelled}/retry"' in html
    assert "Cancelled before it finished" in html
    assert '<span class="badge">release</span>' in html
    assert "Vectorize" not in html  # no operations without a raster result


def test_a_running_generation_shows_its_progress(page, user_api):
    running = submit(user_api)
    html = page.get(f"/gallery/{running}/").content.decode()
    assert "data-progress-area" in html and "<progress" in html
    assert f'data-action="/api/v1/studio/generation/{running}/cancel"' in html


def test_an_operation_links_to_its_source(page, user_api):
    source = submit(user_api)
    generation_run(generation_id=source)
    vector = submit(user_api, "/api/v1/studio/vectorize", source=source)
    html = page.get(f"/gallery/{vector}/").content.decode()
    assert f'<a href="/gallery/{source}/">{source}</a>' in html
    assert "<title>Vectorize · CraftFrame</title>" in html
    assert "Use these settings" not in html


# --- Compare ---------------------------------------------------------------------------------


def test_compare_shows_both_with_differences_marked(page, user_api):
    a = submit(user_api, prompt="A red fox", model="sdxl", seed=1, steps=20)
    b = submit(user_api, prompt="A red fox", model="flux-dev", seed=2, steps=20)
    generation_run(generation_id=a)
    html = page.get(f"/gallery/compare/?a={a}&b={b}").content.decode()
    assert f'href="/gallery/{a}/"' in html and f'href="/gallery/{b}/"' in html
    differs = set(re.findall(r'<tr class="differs" data-row="([^"]+)"', html))
    same = set(re.findall(r'<tr class="" data-row="([^"]+)"', html))
    assert {"model", "seed", "status"} <= differs
    assert {"prompt", "steps", "size", "created"} <= same
