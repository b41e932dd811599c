"""The seed's plans and rate limits (API reference, "Limits by User Type").

Plans are data that support staff edit in the admin; `plans_ensure` only creates missing
ones and never overwrites an edit. Used by the data migration and by `manage.py seed`.
"""

DEFAULT_PLANS = [
    dict(
        code="free",
        name="Free",
        credits_per_month=50,
        rollover_cap=0,
        images_per_minute=3,
        videos_per_minute=1,
        api_calls_per_minute=60,
        is_default=True,
        sort_order=1,
    ),
    dict(
        code="pro",
        name="Pro",
        credits_per_month=1000,
        rollover_cap=1000,
        images_per_minute=10,
        videos_per_minute=5,
        api_calls_per_minute=300,
        is_default=False,
        sort_order=2,
    ),
    dict(
        code="enterprise",
        name="Enterprise",
        credits_per_month=10000,
        rollover_cap=0,
        images_per_minute=None,
        videos_per_minute=None,
        api_calls_per_minute=1000,
        is_default=False,
        sort_order=3,
    ),
]


def plans_ensure(plan_model=None) -> None:
    """Create the default plans that do not exist yet (by code)."""
    if plan_model is None:
        from accounts.models import Plan as plan_model
    for values in DEFAULT_PLANS:
        fields = {k: v for k, v in values.items() if k != "code"}
        plan_model.objects.get_or_create(code=values["code"], defaults=fields)
