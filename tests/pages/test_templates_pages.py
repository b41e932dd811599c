"""The template pages with Django's test client: the gallery (starters and yours, search, tags,
sort, "mine", pagination, empty states), a template's run form (a control per input type with
the API's limits, the steps priced by template_cost, rating, owner actions, "run again"), your
runs and one run's progress; sign-in and ownership enforced as on the API."""

import re

import pytest

from pipelines.models import Execution, Template
from pipelines.services.executions import execution_cancel, execution_create, template_cost
from pipelines.services.templates import template_create, template_rate
from pipelines.starters import starters_ensure
from studio.services.generations import SEED_MAX
from tests.factories import UserFactory
from tests.pipelines.support import run_all, run_next, starter
from tests.studio.assets.support import uploaded

# Runs write files, and storage refuses to write inside a transaction.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("instant_studio")]

CARD = re.compile(r'<li class="tpl-card" data-template="([^"]+)"')
RUN = re.compile(r'<li class="run-row" data-execution="([^"]+)" data-status="([^"]+)"')


@pytest.fixture(autouse=True)
def _starters(settings):
    # A transactional test starts from an empty database: the migration's starters are gone.
    settings.OPERATION_PROVIDERS = {
        "background_removal": ["local"],
        "generative_upscale": ["local"],
    }
    starters_ensure()


@pytest.fixture
def user():
    return UserFactory(credits=500)


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def cards(response) -> list[str]:
    return CARD.findall(html(response))


def document(**overrides) -> dict:
    body = {
        "name": "Kite cut-out",
        "description": "Draw a kite, then cut it out",
        "tags": ["kite"],
        "visibility": "public",
        "inputs": [{"name": "subject", "type": "text", "required": True, "default": "a red kite"}],
        "steps": [
            {"operation": "generate-image", "params": {"prompt": "{{inputs.subject}}, flat"}},
            {"operation": "remove-background", "params": {"source": "{{steps.1.output}}"}},
        ],
    }
    body.update(overrides)
    return body


def every_type() -> dict:
    """A template with one input of each type."""
    return document(
        name="Every input",
        visibility="private",
        inputs=[
            {"name": "title", "type": "text", "required": True, "help": "A few words."},
            {"name": "story", "type": "long_text", "default": "Once upon a time"},
            {"name": "steps", "type": "number", "min": 10, "max": 50, "step": 5, "default": 30},
            {
                "name": "look",
                "type": "choice",
                "options": ["anime", "abstract"],
                "default": "anime",
            },
            {
                "name": "size",
                "type": "choice",
                "options": ["1024x1024", "2048x2048", "1920x1080", "512x512", "768x768"],
                "default": "1024x1024",
            },
            {"name": "sharp", "type": "boolean", "default": True, "help": "Crisper edges."},
            {"name": "photo", "type": "image", "label": "Your photo"},
            {"name": "seed", "type": "seed"},
        ],
        steps=[
            {
                "operation": "generate-image",
                "params": {
                    "prompt": "{{inputs.title}} {{inputs.story}}",
                    "category": "{{inputs.look}}",
                    "steps": "{{inputs.steps}}",
                    "seed": "{{inputs.seed}}",
                },
            },
        ],
    )


def field_html(body: str, name: str) -> str:
    """The markup of one input of the run form, up to the next one."""
    at = body.index(f'data-input="{name}"')
    following = body.find('data-input="', at + 1)
    return body[body.rindex("<", 0, at) : following if following > 0 else None]


# --- Sign-in and ownership -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/templates/", "/templates/tpl_1/", "/executions/", "/executions/exe_1/"]
)
def test_anonymous_visitors_are_sent_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/login/?next={path}")


def test_another_users_private_template_and_run_are_404_pages(page, user):
    other = UserFactory()
    private = template_create(owner=other, document=document(name="Secret", visibility="private"))
    run, _ = execution_create(user=other, template_id=starter("sticker").pk, inputs={})
    for path in (f"/templates/{private.pk}/", f"/executions/{run.pk}/", "/templates/tpl_nope/"):
        response = page.get(path)
        assert response.status_code == 404, path
        assert b"<title>" in response.content and b"Secret" not in response.content
    assert private.pk not in cards(page.get("/templates/"))
    # Their run is not a source to fill the form from either.
    assert page.get(f"/templates/{starter('sticker').pk}/?from={run.pk}").status_code == 404
    assert run.pk not in html(page.get("/executions/"))


# --- The gallery -----------------------------------------------------------------------------


def test_the_gallery_shows_the_starters_and_yours_with_what_each_card_says(page, user):
    mine = template_create(owner=user, document=document(visibility="private"))
    template_rate(user=UserFactory(), template_id=starter("poster").pk, score=4)
    template_rate(user=UserFactory(), template_id=starter("poster").pk, score=5)
    body = html(page.get("/templates/"))
    shown = cards(page.get("/templates/"))
    assert set(shown) == {
        mine.pk,
        *Template.objects.exclude(starter="").values_list("pk", flat=True),
    }
    assert 'href="/templates/new/"' in body and "New template" in body
    card = body[body.index(f'data-template="{starter("poster").pk}"') :]
    card = card[: card.index("</li>\n")]
    assert "Poster" in card and "by CraftFrame" in card and "Starter" in card
    assert "4.5" in card and "(2)" in card and "2 steps" in card
    assert card.count('class="star on"') == 4 and card.count('class="star half"') == 1
    assert '<li class="tag">poster</li>' in card
    # No cover: the steps' icons on a colour of its own.
    assert re.search(r'class="tpl-cover hue-\d"', card)
    assert "Steps: Generate image, then Upscale" in card
    own = body[body.index(f'data-template="{mine.pk}"') :]
    assert "Private" in own[: own.index("</li>\n")]
    for tag in ("logo", "poster", "sticker", "kite"):
        assert f'href="?tag={tag}"' in body
    assert 'name="sort"' in body and 'value="mine"' in body and 'name="q"' in body


def test_search_tag_sort_and_mine_narrow_the_gallery(page, user):
    mine = template_create(owner=user, document=document())
    assert cards(page.get("/templates/?q=sticker")) == [starter("sticker").pk]
    assert set(cards(page.get("/templates/?tag=brand"))) == {
        starter("logo-kit").pk,
        starter("brand-moodboard").pk,
    }
    assert cards(page.get("/templates/?owner=mine")) == [mine.pk]
    assert mine.pk not in cards(page.get("/templates/?owner=public&tag=brand"))
    assert cards(page.get("/templates/?sort=newest"))[0] == mine.pk
    template_rate(user=UserFactory(), template_id=starter("logo-kit").pk, score=5)
    assert cards(page.get("/templates/?sort=rating"))[0] == starter("logo-kit").pk
    body = html(page.get("/templates/?tag=brand&sort=rating"))
    assert 'href="?sort=rating&amp;tag=logo"' in body  # a chip keeps the other choices
    assert '<option value="rating" selected>' in body


def test_a_bad_filter_is_reported_and_left_out(page, user):
    response = page.get("/templates/?sort=bogus&q=sticker")
    assert cards(response) == [starter("sticker").pk]
    assert "Some filters could not be used" in html(response)


def test_twelve_a_page_with_the_filters_kept_in_the_page_links(page, user):
    for n in range(10):
        template_create(owner=user, document=document(name=f"Mine {n}"))
    first, second = page.get("/templates/?sort=newest"), page.get("/templates/?sort=newest&page=2")
    assert len(cards(first)) == 12 and len(cards(second)) == 2
    assert set(cards(first)).isdisjoint(cards(second))
    assert 'href="?sort=newest&amp;page=2"' in html(first)
    assert "14 templates · page 1 of 2" in html(first)


def test_empty_states_of_the_gallery(page, user):
    body = html(page.get("/templates/?owner=mine"))
    assert "You have no templates yet" in body and 'href="/templates/new/"' in body
    body = html(page.get("/templates/?q=zeppelin"))
    assert "No template matches" in body and "Show all templates" in body
    body = html(page.get("/templates/?page=9"))
    assert "Nothing on this page" in body


# --- A template's run form -------------------------------------------------------------------


def test_the_run_form_has_a_control_per_input_type_with_the_api_limits(page, user, user_api):
    picture = uploaded(user_api, filename="me.png")
    template = template_create(owner=user, document=every_type())
    body = html(page.get(f"/templates/{template.pk}/"))

    title = field_html(body, "title")
    assert '<input class="input" id="in-title" name="title" maxlength="500"' in title
    assert "required" in title and 'class="req"' in title and "A few words." in title
    story = field_html(body, "story")
    assert (
        '<textarea class="textarea" id="in-story" name="story" rows="3" maxlength="2000"' in story
    )
    assert "Once upon a time</textarea>" in story
    steps = field_html(body, "steps")
    assert 'type="range" id="in-steps-range" min="10" max="50" step="5" value="30"' in steps
    assert 'type="number" id="in-steps" name="steps" min="10" max="50" step="5"' in steps
    look = field_html(body, "look")  # two short options: segmented buttons
    assert 'class="segmented run-segmented"' in look
    assert '<input type="radio" name="look" value="anime" checked>' in look
    size = field_html(body, "size")  # five: a select
    assert '<select class="select" id="in-size" name="size"' in size
    assert '<option value="1024x1024" selected>' in size
    sharp = field_html(body, "sharp")
    assert 'type="checkbox" role="switch" id="in-sharp" name="sharp" checked' in sharp
    photo = field_html(body, "photo")
    assert f'name="photo" value="{picture["id"]}"' in photo and "me.png" in photo
    assert 'value="" checked' in photo  # optional: "None" is chosen until a picture is
    assert 'href="/assets/"' in photo
    seed = field_html(body, "seed")
    assert f'type="number" id="in-seed" name="seed" min="0" max="{SEED_MAX}" step="1"' in seed
    assert 'data-dice="in-seed"' in seed and "Random" in seed


def test_an_image_input_without_pictures_points_to_the_assets_page(page, user):
    template = template_create(owner=user, document=every_type())
    photo = field_html(html(page.get(f"/templates/{template.pk}/")), "photo")
    assert "You have no pictures yet" in photo and 'href="/assets/"' in photo


def test_the_steps_are_a_chain_priced_as_the_cost_api_prices_them(page, user):
    sticker = starter("sticker")
    plan = template_cost(user=user, template_id=sticker.pk, inputs={})
    body = html(page.get(f"/templates/{sticker.pk}/"))
    for number, step in enumerate(plan.steps, start=1):
        item = body[body.index(f'<li class="chain-step" data-step="{number}">') :]
        assert f"<span data-step-cost>{step.cost}</span>" in item[: item.index("</li>")]
    assert f'id="cost-total" data-total>{plan.total} credits<' in body
    assert 'id="available">500<' in body
    assert "Draw it" in body and "Remove background" in body
    assert 'form="run-form"' in body and "Not enough credits" not in body


def test_too_few_credits_disable_run_with_a_reason(page, client):
    poor = UserFactory(credits=2)
    client.force_login(poor)
    body = html(client.get(f"/templates/{starter('sticker').pk}/"))
    assert re.search(r'id="run" disabled', body)
    assert "Not enough credits: this costs 8 and you have 2 available." in body


def test_someone_elses_template_can_be_rated_your_own_only_edited(page, user):
    other = UserFactory()
    theirs = template_create(owner=other, document=document(name="Theirs"))
    template_rate(user=user, template_id=theirs.pk, score=4)
    body = html(page.get(f"/templates/{theirs.pk}/"))
    assert f'data-rate="{theirs.pk}"' in body
    assert '<input type="radio" name="score" value="4" checked>' in body
    assert "You gave it 4 out of 5." in body and "4.0</span> out of 5 · 1 rating" in body
    assert "/edit/" not in body and 'data-method="DELETE"' not in body

    mine = template_create(owner=user, document=document(name="Mine"))
    body = html(page.get(f"/templates/{mine.pk}/"))
    assert "data-rate=" not in body and "you cannot rate your own" in body
    assert f'href="/templates/{mine.pk}/edit/"' in body
    assert f'data-action="/api/v1/templates/{mine.pk}" data-method="DELETE"' in body


def test_run_again_fills_the_form_with_the_inputs_a_run_used(page, user):
    sticker = starter("sticker")
    run, _ = execution_create(user=user, template_id=sticker.pk, inputs={"subject": "a blue owl"})
    body = html(page.get(f"/templates/{sticker.pk}/?from={run.pk}"))
    assert 'value="a blue owl"' in body and f'href="/executions/{run.pk}/"' in body
    recent = RUN.findall(body)
    assert recent == [(run.pk, "queued")]


# --- Your runs -------------------------------------------------------------------------------


def test_no_runs_yet_is_an_empty_state_pointing_to_the_templates(page):
    body = html(page.get("/executions/"))
    assert "No runs yet" in body and 'href="/templates/"' in body


def test_your_runs_newest_first_with_status_and_a_status_filter(page, user):
    sticker = starter("sticker")
    done, _ = execution_create(user=user, template_id=sticker.pk, inputs={})
    run_all(done.pk)
    stopped, _ = execution_create(user=user, template_id=sticker.pk, inputs={})
    execution_cancel(user=user, execution_id=stopped.pk)
    body = html(page.get("/executions/"))
    assert RUN.findall(body) == [(stopped.pk, "cancelled"), (done.pk, "completed")]
    assert "2 of 2 steps · 8 credits" in body and "Sticker" in body
    assert RUN.findall(html(page.get("/executions/?status=completed"))) == [(done.pk, "completed")]
    body = html(page.get("/executions/?status=failed"))
    assert "No runs with this status" in body


# --- One run ---------------------------------------------------------------------------------


def test_a_finished_run_shows_each_step_its_result_and_the_credits(page, user):
    run, _ = execution_create(user=user, template_id=starter("sticker").pk, inputs={})
    run_all(run.pk)
    execution = Execution.objects.get(pk=run.pk)
    jobs = list(execution.steps.order_by("position").values_list("generation_id", flat=True))
    body = html(page.get(f"/executions/{run.pk}/"))
    assert 'data-status="completed"' in body
    for number, job in enumerate(jobs, start=1):
        step = body[body.index(f'<li class="exec-step" data-step="{number}"') :]
        step = step[: step.index("</li>")]
        assert f'href="/gallery/{job}/"' in step and "<img" in step and "Charged 4 credits" in step
    assert 'data-credit="held">8<' in body and 'data-credit="charged">8<' in body
    assert 'data-credit="released">0<' in body
    result = body[body.index("data-result") :]
    assert "hidden" not in result[:20] and "<img" in result
    assert f'href="/templates/{starter("sticker").pk}/?from={run.pk}"' in body  # run again
    assert re.search(r'data-exec-action="cancel" hidden', body)
    assert re.search(r'data-exec-action="retry" hidden', body)


def test_a_running_run_offers_cancel_and_a_cancelled_one_retry_with_what_it_holds(page, user):
    run, _ = execution_create(user=user, template_id=starter("sticker").pk, inputs={})
    body = html(page.get(f"/executions/{run.pk}/"))
    assert re.search(r'data-exec-action="cancel">', body)
    assert "Step 1 of 2 running" in body and 'aria-live="polite"' in body
    run_next(run.pk)  # step 1 done, step 2 queued
    execution_cancel(user=user, execution_id=run.pk)
    body = html(page.get(f"/executions/{run.pk}/"))
    assert re.search(r'data-exec-action="cancel" hidden', body)
    assert "Retry from step 2 · holds 4 credits" in body
    assert 'data-credit="charged">4<' in body and 'data-credit="released">4<' in body
