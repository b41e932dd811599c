"""Rate limits (seed: "Rate Limiting"): per client IP on login/register/demo, per plan on every
authenticated API call; 429 RATE_LIMIT_EXCEEDED with Retry-After and X-RateLimit-* headers."""

import time
import uuid
from types import SimpleNamespace

import django_ratelimit.core
import pytest
import redis
from django.conf import settings as django_settings

from accounts.models import Plan, User
from core.errors import RateLimitExceeded
from core.ratelimit import PlanRateLimit
from tests.conftest import login
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
DEMO = "/api/v1/auth/demo"
PROFILE = "/api/v1/users/profile"


@pytest.fixture(autouse=True)
def _frozen_window(monkeypatch):
    # django-ratelimit counts in fixed windows aligned to its clock; a test that happened to
    # straddle a window edge would see its count restart. Its clock stands still here.
    frozen = time.time()
    monkeypatch.setattr(django_ratelimit.core, "time", SimpleNamespace(time=lambda: frozen))


@pytest.fixture
def auth_limit_3(settings):
    settings.AUTH_RATE_LIMIT = "3/m"


def set_api_limit(plan_code: str, per_minute: int | None) -> None:
    Plan.objects.filter(code=plan_code).update(api_calls_per_minute=per_minute)


def log_in(api, user, password=PASSWORD, ip="127.0.0.1"):
    return api.post(
        LOGIN, {"email": user.email, "password": password}, format="json", REMOTE_ADDR=ip
    )


def assert_429(response, limit: int) -> dict:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["error"] == "Rate limit exceeded"
    assert body["code"] == "RATE_LIMIT_EXCEEDED"
    assert set(body["details"]) == {"limit", "window", "retryAfter"}
    assert body["details"]["limit"] == limit
    assert body["details"]["window"] == "60 seconds"
    retry_after = body["details"]["retryAfter"]
    assert 1 <= retry_after <= 60
    assert response["Retry-After"] == str(retry_after)
    assert response["X-RateLimit-Limit"] == str(limit)
    assert response["X-RateLimit-Remaining"] == "0"
    now = int(time.time())
    assert now - 1 <= int(response["X-RateLimit-Reset"]) <= now + 61
    assert body["requestId"] == response["X-Request-ID"]
    return body


# --- Per client IP: login, register, demo ---------------------------------------------------


def test_fourth_login_in_a_minute_from_one_ip_returns_429(api, user, auth_limit_3):
    for _ in range(3):
        assert log_in(api, user).status_code == 200
    user.refresh_from_db()
    last_login = user.last_login

    response = log_in(api, user)

    assert_429(response, limit=3)
    user.refresh_from_db()
    assert user.last_login == last_login  # the limited request did nothing


def test_successful_limited_responses_carry_headers_with_decreasing_remaining(
    api, user, auth_limit_3
):
    responses = [log_in(api, user) for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [r["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0"]
    assert {r["X-RateLimit-Limit"] for r in responses} == {"3"}
    assert {r["X-RateLimit-Window"] for r in responses} == {"60"}
    assert all(not r.has_header("Retry-After") for r in responses)
    # One window, so one reset time (give or take the wall clock ticking between requests).
    resets = [int(r["X-RateLimit-Reset"]) for r in responses]
    assert max(resets) - min(resets) <= 1
    assert int(time.time()) - 1 <= min(resets) <= int(time.time()) + 61


def test_failed_logins_count_against_the_limit(api, user, auth_limit_3):
    for _ in range(3):
        assert log_in(api, user, password="guess-guess-guess").status_code == 401

    response = log_in(api, user)

    assert_429(response, limit=3)


def test_different_ips_have_separate_login_counters(api, user, auth_limit_3):
    for _ in range(3):
        assert log_in(api, user, ip="10.0.0.1").status_code == 200
    assert_429(log_in(api, user, ip="10.0.0.1"), limit=3)

    response = log_in(api, user, ip="10.0.0.2")

    assert response.status_code == 200
    assert response["X-RateLimit-Remaining"] == "2"


def test_login_register_and_demo_share_the_per_ip_budget(api, user, auth_limit_3):
    assert log_in(api, user).status_code == 200
    assert api.post(DEMO, {}, format="json").status_code == 200
    assert log_in(api, user).status_code == 200

    response = api.post(
        REGISTER, {"email": "late@example.com", "password": PASSWORD}, format="json"
    )

    assert_429(response, limit=3)
    assert not User.objects.filter(email="late@example.com").exists()


def test_limit_follows_the_setting(api, user, settings):
    settings.AUTH_RATE_LIMIT = "1/m"

    assert log_in(api, user).status_code == 200

    assert_429(log_in(api, user), limit=1)


def test_login_is_served_when_the_rate_limit_cache_is_down(api, user, settings):
    settings.AUTH_RATE_LIMIT = "1/m"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }

    responses = [log_in(api, user) for _ in range(2)]

    assert [r.status_code for r in responses] == [200, 200]
    assert not responses[1].has_header("X-RateLimit-Limit")


# --- Per plan: API calls per minute ---------------------------------------------------------


def test_plans_carry_the_seed_limits():
    limits = {
        plan.code: (plan.images_per_minute, plan.videos_per_minute, plan.api_calls_per_minute)
        for plan in Plan.objects.filter(code__in=["free", "pro", "enterprise"])
    }

    assert limits == {
        "free": (3, 1, 60),
        "pro": (10, 5, 300),
        "enterprise": (None, None, 1000),
    }


def test_third_call_over_a_plan_limit_of_2_returns_429(user_api):
    set_api_limit("free", 2)

    first, second = user_api.get(PROFILE), user_api.get(PROFILE)
    third = user_api.get(PROFILE)

    assert (first.status_code, second.status_code) == (200, 200)
    assert (first["X-RateLimit-Remaining"], second["X-RateLimit-Remaining"]) == ("1", "0")
    assert first["X-RateLimit-Limit"] == "2"
    assert_429(third, limit=2)


def test_api_limit_applies_across_endpoints(user_api):
    set_api_limit("free", 2)

    assert user_api.get(PROFILE).status_code == 200
    assert user_api.get("/api/v1/tokens").status_code == 200

    estimate = user_api.post(
        "/api/v1/tokens/estimate", {"operation": "vectorization"}, format="json"
    )
    assert_429(estimate, limit=2)


def test_default_free_limit_is_60_per_minute(user_api):
    response = user_api.get(PROFILE)

    assert response["X-RateLimit-Limit"] == "60"
    assert response["X-RateLimit-Remaining"] == "59"


def test_pro_user_is_not_limited_by_another_users_usage(api, user_api):
    set_api_limit("free", 2)
    set_api_limit("pro", 2)
    for _ in range(2):
        user_api.get(PROFILE)
    assert user_api.get(PROFILE).status_code == 429
    pro = UserFactory(plan_code="pro")
    pro_api = login(type(api)(), pro)

    response = pro_api.get(PROFILE)

    assert response.status_code == 200
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("2", "1")


def test_another_user_on_the_same_plan_has_their_own_counter(api, user_api):
    set_api_limit("free", 2)
    for _ in range(3):
        user_api.get(PROFILE)
    other_api = login(type(api)(), UserFactory())

    response = other_api.get(PROFILE)

    assert response.status_code == 200
    assert response["X-RateLimit-Remaining"] == "1"


def test_pro_and_enterprise_users_get_their_plan_limits(api):
    pro_api = login(type(api)(), UserFactory(plan_code="pro"))
    enterprise_api = login(type(api)(), UserFactory(plan_code="enterprise"))

    assert pro_api.get(PROFILE)["X-RateLimit-Limit"] == "300"
    assert enterprise_api.get(PROFILE)["X-RateLimit-Limit"] == "1000"


def test_a_plan_without_an_api_limit_is_never_limited(api):
    set_api_limit("enterprise", None)
    enterprise_api = login(api, UserFactory(plan_code="enterprise"))

    responses = [enterprise_api.get(PROFILE) for _ in range(5)]

    assert {r.status_code for r in responses} == {200}
    assert not any(r.has_header("X-RateLimit-Limit") for r in responses)


class ImagesPerMinute(PlanRateLimit):
    group = "images"
    plan_field = "images_per_minute"


class VideosPerMinute(PlanRateLimit):
    group = "videos"
    plan_field = "videos_per_minute"


@pytest.mark.parametrize(
    ("plan_code", "images", "videos"),
    [("free", "3/m", "1/m"), ("pro", "10/m", "5/m"), ("enterprise", None, None)],
)
def test_plan_limits_for_images_and_videos_come_from_the_plan(plan_code, images, videos):
    request = SimpleNamespace(user=UserFactory(plan_code=plan_code))

    assert ImagesPerMinute().rate(request) == images
    assert VideosPerMinute().rate(request) == videos


def test_enterprise_images_are_unlimited(rf):
    request = rf.get("/")
    request.user = UserFactory(plan_code="enterprise")
    limit = ImagesPerMinute()

    assert all(limit.allow_request(request, view=None) for _ in range(50))
    assert not getattr(request, "ratelimit_usages", None)


def test_free_images_are_limited_to_3_per_minute(rf):
    request = rf.get("/")
    request.user = UserFactory(plan_code="free")
    limit = ImagesPerMinute()
    for _ in range(3):
        assert limit.allow_request(request, view=None)

    with pytest.raises(RateLimitExceeded) as raised:
        limit.allow_request(request, view=None)

    assert raised.value.extra["limit"] == 3


def test_demo_visitors_are_limited_per_ip_not_together(api):
    set_api_limit("free", 2)  # the demo account is on the default plan
    token = api.post(DEMO, {}, format="json").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for _ in range(2):
        assert api.get(PROFILE, REMOTE_ADDR="10.0.0.1").status_code == 200
    assert_429(api.get(PROFILE, REMOTE_ADDR="10.0.0.1"), limit=2)

    response = api.get(PROFILE, REMOTE_ADDR="10.0.0.2")

    assert response.status_code == 200
    assert response["X-RateLimit-Remaining"] == "1"


def test_endpoints_without_limits_send_no_ratelimit_headers(api):
    for path in ("/api/v1/health", "/api/v1/tokens/operations"):
        response = api.get(path)
        assert response.status_code == 200
        assert not response.has_header("X-RateLimit-Limit")


@pytest.mark.redis
def test_counters_live_in_redis_where_every_web_process_sees_them(api, user, settings):
    settings.AUTH_RATE_LIMIT = "3/m"
    # A prefix of its own, so keys of other test runs on the same Redis do not count.
    prefix = f"rl-test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": django_settings.REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    for _ in range(2):
        log_in(api, user)

    client = redis.Redis.from_url(django_settings.REDIS_URL)
    keys = client.keys(f"{prefix}:*")
    assert len(keys) == 1
    assert int(client.get(keys[0])) == 2
    assert client.ttl(keys[0]) > 0  # counters expire with their window
    client.delete(*keys)
