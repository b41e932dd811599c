"""Reads for accounts: the user and profile shapes the API returns."""

from accounts.models import User
from accounts.services import subscription_get
from studio.selectors import generation_count
from tokens.models import TokenAccount
from tokens.services import account_for_user


def user_summary(*, user: User, account: TokenAccount | None = None) -> dict:
    """`user` in auth responses: id, email, name, credits, createdAt, isDemo."""
    account = account or account_for_user(user=user)
    return {
        "id": user.pk,
        "email": user.email,
        "name": user.name,
        "credits": account.available,
        "createdAt": user.date_joined,
        "isDemo": user.is_demo,
    }


def profile_get(*, user: User) -> dict:
    account = account_for_user(user=user)
    subscription = subscription_get(user=user)
    return {
        **user_summary(user=user, account=account),
        "totalGenerations": generation_count(user=user),
        "lastLogin": user.last_login,
        "updatedAt": user.updated_at,
        "subscription": {
            "plan": subscription.plan.code,
            "credits_per_month": subscription.credits_per_month,
            "next_refill": account.period_end,
        },
    }
