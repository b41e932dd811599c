"""Rate limits: django-ratelimit counters on the shared cache, rates chosen per plan.

A limit is a DRF throttle class, so it runs after authentication (JWT users are known) and
before the view. Every limit that applies leaves its usage on the request so the response
carries X-RateLimit-* headers (core.middleware), on success and on 429 alike.
"""

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django_ratelimit.core import get_usage
from rest_framework.throttling import BaseThrottle

from core.errors import RateLimitExceeded

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Usage:
    limit: int
    window: int
    count: int
    reset_at: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_at - int(time.time()))


def client_ip(request) -> str:
    header = settings.CLIENT_IP_HEADER
    if header:
        meta_key = "HTTP_" + header.upper().replace("-", "_")
        forwarded = request.META.get(meta_key, "").split(",")[0].strip()
        if forwarded:
            return forwarded[:64]
    return request.META.get("REMOTE_ADDR") or "unknown"


def user_key(group: str, request) -> str:
    user = request.user
    # Everyone who tries the demo shares one account; limit them per visitor, not together.
    if getattr(user, "is_demo", False):
        return f"demo:{client_ip(request)}"
    return f"user:{user.pk}"


class RateLimit(BaseThrottle):
    """One named limit; subclasses say which group, key and rate."""

    group = ""

    def rate(self, request) -> str | None:
        """`"<n>/<period>"`, or None when this request is not limited."""
        raise NotImplementedError

    def key(self, group: str, request) -> str:
        return user_key(group, request)

    def allow_request(self, request, view) -> bool:
        rate = self.rate(request)
        if rate is None:
            return True
        try:
            raw = get_usage(request, group=self.group, key=self.key, rate=rate, increment=True)
        except Exception:  # the cache is down: serve the request rather than fail it
            logger.warning("rate limit cache unavailable; %s not enforced", self.group)
            return True
        if raw is None or raw["time_left"] < 0:
            return True
        usage = Usage(
            limit=raw["limit"],
            window=_period_seconds(rate),
            count=raw["count"],
            reset_at=int(time.time()) + raw["time_left"],
        )
        # Headers are added by middleware, which sees the Django request under DRF's.
        django_request = getattr(request, "_request", request)
        usages = getattr(django_request, "ratelimit_usages", [])
        usages.append(usage)
        django_request.ratelimit_usages = usages
        if usage.exceeded:
            raise RateLimitExceeded(
                limit=usage.limit, window=usage.window, retry_after=usage.retry_after
            )
        return True


def _period_seconds(rate: str) -> int:
    _, _, period = rate.partition("/")
    unit = period[-1:] if period[-1:].isalpha() else "s"
    count = int(period[:-1] or 1) if period[-1:].isalpha() else int(period or 1)
    return count * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def _per_minute(limit: int | None) -> str | None:
    return None if limit is None else f"{limit}/m"


class PlanRateLimit(RateLimit):
    """A per-user limit whose rate comes from a field of the user's plan (None = unlimited)."""

    plan_field = ""

    def rate(self, request) -> str | None:
        user = request.user
        if not user or not user.is_authenticated:
            return None
        plan = user.plan
        return _per_minute(getattr(plan, self.plan_field)) if plan else None


class PlanApiThrottle(PlanRateLimit):
    """API calls per minute for the user's plan; applies to every authenticated API view."""

    group = "api"
    plan_field = "api_calls_per_minute"


class AuthIpThrottle(RateLimit):
    """Login, register and demo per client IP, against credential stuffing and sign-up spam."""

    group = "auth"

    def rate(self, request) -> str | None:
        return settings.AUTH_RATE_LIMIT

    def key(self, group: str, request) -> str:
        return f"ip:{client_ip(request)}"


class PlanImageThrottle(PlanRateLimit):
    """Image generations per minute for the user's plan (seed: free 3, pro 10)."""

    group = "images"
    plan_field = "images_per_minute"


class PlanVideoThrottle(PlanRateLimit):
    """Video generations per minute for the user's plan (seed: free 1, pro 5)."""

    group = "videos"
    plan_field = "videos_per_minute"
