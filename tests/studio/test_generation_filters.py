"""The history's filters (GET /users/generations: type, status, model, project, starred, q,
from, to) and starring a generation (PATCH /studio/generation/<id>)."""

from datetime import UTC, datetime

import pytest

from studio.models import Generation, Status
from studio.selectors import generation_list
from studio.services.execution import generation_run
from tests.conftest import assert_error

# Jobs write files, and storage refuses to write inside a transaction: no test-wide one.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("instant_studio")]

HISTORY = "/api/v1/users/generations"


def submit(api, path="/api/v1/studio/generate-image", **fields) -> str:
    response = api.post(path, {"prompt": "A lighthouse at dawn", **fields}, format="json")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def project(api, name="Posters") -> str:
    response = api.post("/api/v1/projects", {"name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def made_on(generation_id: str, day: str) -> None:
    """Pretend the job was made at noon UTC that day."""
    when = datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC)
    Generation.objects.filter(pk=generation_id).update(created_at=when)


def ids(api, query: str = "") -> list[str]:
    response = api.get(f"{HISTORY}?{query}")
    assert response.status_code == 200, response.content
    return [g["id"] for g in response.json()["generations"]]


@pytest.fixture
def history(user_api):
    """Five generations of different kinds, models, projects, days, prompts and states."""
    posters = project(user_api)
    made = {
        "lighthouse": submit(user_api, prompt="A Lighthouse in a storm", model="flux-pro"),
        "forest": submit(user_api, prompt="A misty forest", model="sdxl", project=posters),
        "cat": submit(user_api, prompt="A cat in a LIGHTHOUSE window", model="flux-dev"),
        "video": submit(
            user_api, "/api/v1/studio/generate-video", prompt="Waves", duration=3, fps=8
        ),
    }
    generation_run(generation_id=made["forest"])
    user_api.post(f"/api/v1/studio/generation/{made['cat']}/cancel")
    made["vector"] = submit(user_api, "/api/v1/studio/vectorize", source=made["forest"])
    made_on(made["lighthouse"], "2025-03-01")
    made_on(made["forest"], "2025-03-02")
    made_on(made["cat"], "2025-03-03")
    made_on(made["video"], "2025-03-04")
    made_on(made["vector"], "2025-03-05")
    made["posters"] = posters
    return made


# --- Each filter ---------------------------------------------------------------------------


def test_type_filter_keeps_one_kind(user_api, history):
    assert ids(user_api, "type=video") == [history["video"]]
    assert ids(user_api, "type=operation") == [history["vector"]]
    assert set(ids(user_api, "type=image")) == {
        history["lighthouse"],
        history["forest"],
        history["cat"],
    }


def test_status_filter_keeps_one_state(user_api, history):
    assert ids(user_api, "status=completed") == [history["forest"]]
    assert ids(user_api, "status=cancelled") == [history["cat"]]


def test_model_filter_keeps_what_one_model_made(user_api, history):
    assert ids(user_api, "model=sdxl") == [history["forest"]]
    assert ids(user_api, "model=flux-dev") == [history["cat"]]
    assert ids(user_api, "model=runway") == []


def test_project_filter_keeps_one_project_or_none(user_api, history):
    assert ids(user_api, f"project={history['posters']}") == [history["forest"]]
    unfiled = ids(user_api, "project=none")
    assert history["forest"] not in unfiled and len(unfiled) == 4


def test_starred_filter_follows_the_star(user_api, history):
    assert ids(user_api, "starred=true") == []
    user_api.patch(f"/api/v1/studio/generation/{history['cat']}", {"starred": True}, format="json")
    assert ids(user_api, "starred=true") == [history["cat"]]
    not_starred = ids(user_api, "starred=false")
    assert history["cat"] not in not_starred and len(not_starred) == 4


def test_search_finds_text_in_prompts_in_any_case(user_api, history):
    assert ids(user_api, "q=lighthouse") == [history["cat"], history["lighthouse"]]
    assert ids(user_api, "q=MISTY") == [history["forest"]]
    assert ids(user_api, "q=submarine") == []


def test_date_range_includes_both_days(user_api, history):
    assert ids(user_api, "from=2025-03-02&to=2025-03-04") == [
        history["video"],
        history["cat"],
        history["forest"],
    ]
    assert ids(user_api, "from=2025-03-05") == [history["vector"]]
    assert ids(user_api, "to=2025-03-01") == [history["lighthouse"]]
    assert ids(user_api, "from=2025-03-03&to=2025-03-03") == [history["cat"]]


def test_list_items_say_whether_they_are_starred(user_api, history):
    user_api.patch(
        f"/api/v1/studio/generation/{history['video']}", {"starred": True}, format="json"
    )
    items = {g["id"]: g for g in user_api.get(HISTORY).json()["generations"]}
    assert items[history["video"]]["starred"] is True
    assert items[history["lighthouse"]]["starred"] is False


# --- Combinations --------------------------------------------------------------------------


def test_filters_combine(user_api, history):
    assert ids(user_api, "type=image&q=lighthouse&status=queued") == [history["lighthouse"]]
    assert ids(user_api, "type=image&project=none&to=2025-03-02") == [history["lighthouse"]]
    assert ids(user_api, f"project={history['posters']}&status=queued") == []
    body = user_api.get(f"{HISTORY}?type=image&limit=2&page=2").json()
    assert body["pagination"]["total"] == 3 and len(body["generations"]) == 1


def test_the_selector_takes_the_same_filters(user, history):
    found = generation_list(user=user, kind="image", q="LIGHT", starred=False)
    assert {g.id for g in found} == {history["lighthouse"], history["cat"]}


def test_another_users_generations_never_show(user_api, stranger, history):
    submit(stranger, prompt="A lighthouse, someone else's")
    assert ids(stranger, "q=lighthouse") != []
    assert set(ids(user_api, "q=lighthouse")) == {history["lighthouse"], history["cat"]}


# --- Bad values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("type=gif", "type"),
        ("status=done", "status"),
        ("model=dall-e", "model"),
        ("starred=maybe", "starred"),
        ("q=" + "x" * 201, "q"),
        ("from=2025-13-01", "from"),
        ("to=01/03/2025", "to"),
        ("from=2025-03-05&to=2025-03-01", "to"),
        ("project=" + "p" * 41, "project"),
        ("page=0", "page"),
    ],
)
def test_bad_filter_values_are_400_naming_the_field(user_api, history, query, field):
    assert_error(user_api.get(f"{HISTORY}?{query}"), 400, "INVALID_REQUEST", field=field)


def test_another_users_project_is_404(user_api, stranger, history):
    theirs = project(stranger, "Theirs")
    assert_error(user_api.get(f"{HISTORY}?project={theirs}"), 404, "NOT_FOUND")
    assert_error(user_api.get(f"{HISTORY}?project=prj_missing"), 404, "NOT_FOUND")
    assert ids(stranger, f"project={theirs}") == []


def test_a_search_of_200_characters_is_accepted(user_api, history):
    assert ids(user_api, "q=" + "x" * 200) == []


# --- Starring ------------------------------------------------------------------------------


def test_star_and_unstar(user_api, history):
    path = f"/api/v1/studio/generation/{history['forest']}"
    response = user_api.patch(path, {"starred": True}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["starred"] is True and response.json()["id"] == history["forest"]
    assert Generation.objects.get(pk=history["forest"]).starred is True
    assert user_api.get(path).json()["starred"] is True

    response = user_api.patch(path, {"starred": False}, format="json")
    assert response.status_code == 200 and response.json()["starred"] is False
    assert Generation.objects.get(pk=history["forest"]).starred is False


def test_starring_changes_nothing_else(user_api, history):
    before = Generation.objects.get(pk=history["forest"])
    user_api.patch(
        f"/api/v1/studio/generation/{history['forest']}", {"starred": True}, format="json"
    )
    after = Generation.objects.get(pk=history["forest"])
    assert (after.status, after.prompt, after.outputs, after.cost) == (
        Status.COMPLETED,
        before.prompt,
        before.outputs,
        before.cost,
    )


def test_starring_another_users_generation_is_404_and_changes_nothing(stranger, history):
    response = stranger.patch(
        f"/api/v1/studio/generation/{history['forest']}", {"starred": True}, format="json"
    )
    assert_error(response, 404, "NOT_FOUND")
    assert Generation.objects.get(pk=history["forest"]).starred is False


def test_a_patch_with_nothing_to_change_is_400(user_api, history):
    path = f"/api/v1/studio/generation/{history['forest']}"
    assert_error(user_api.patch(path, {}, format="json"), 400, "INVALID_REQUEST", field="starred")
    response = user_api.patch(path, {"starred": "sometimes"}, format="json")
    assert_error(response, 400, "INVALID_REQUEST", field="starred")
    assert Generation.objects.get(pk=history["forest"]).starred is False


def test_history_needs_a_signed_in_client(api):
    assert_error(api.get(f"{HISTORY}?starred=true"), 401, "UNAUTHORIZED")
