"""Writes for accounts: sign-up, login bookkeeping, profile, password, plans, the demo user."""

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import Plan, Subscription, User
from core.exceptions import DomainError, Forbidden
from tokens.models import TokenAccount
from tokens.services import account_open, account_refill_if_low


class EmailAlreadyExists(DomainError):
    code = "INVALID_REQUEST"
    http_status = 400
    message = "Email already exists"


class InvalidCredentials(DomainError):
    code = "UNAUTHORIZED"
    http_status = 401
    message = "Invalid email or password"


class WrongPassword(DomainError):
    code = "INVALID_REQUEST"
    http_status = 400
    message = "Current password is incorrect"


class WeakPassword(DomainError):
    code = "INVALID_REQUEST"
    http_status = 400
    message = "Password is too weak"


def plan_default() -> Plan:
    plan = (
        Plan.objects.filter(is_default=True).first() or Plan.objects.order_by("sort_order").first()
    )
    if plan is None:  # a database nobody seeded: make the free plan rather than fail sign-up
        plan, _ = Plan.objects.get_or_create(
            code="free",
            defaults={
                "name": "Free",
                "credits_per_month": 50,
                "images_per_minute": 3,
                "videos_per_minute": 1,
                "api_calls_per_minute": 60,
                "is_default": True,
            },
        )
    return plan


def subscription_get(*, user: User) -> Subscription:
    """The user's subscription, on the default plan if they never had one."""
    subscription = Subscription.objects.filter(user=user).select_related("plan").first()
    if subscription is None:
        subscription, _ = Subscription.objects.get_or_create(
            user=user, defaults={"plan": plan_default()}
        )
    return subscription


def subscription_change(*, user: User, plan: Plan, at_renewal: bool = False) -> Subscription:
    """Put the user on `plan`: now (its rate limits apply at once; the credits of the current
    period stay as they are, the next renewal brings the new plan's), or at the next renewal
    (the plan waits in `pending_plan` until tokens_renew starts the new period)."""
    subscription = subscription_get(user=user)
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if at_renewal:
            subscription.pending_plan = None if plan.pk == subscription.plan_id else plan
        else:
            subscription.plan, subscription.pending_plan = plan, None
        subscription.save(update_fields=["plan", "pending_plan"])
    return subscription


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise WeakPassword(
            "Password is too weak: " + " ".join(exc.messages), password=list(exc.messages)
        ) from None


def _email_taken(email: str, *, by_other_than: User | None = None) -> bool:
    # The demo address is reserved even before the demo account exists: whoever held it would
    # be handed to every demo visitor.
    if email == User.objects.normalize_email(settings.DEMO_EMAIL):
        return by_other_than is None or not by_other_than.is_demo
    others = User.objects.filter(email=email)
    if by_other_than is not None:
        others = others.exclude(pk=by_other_than.pk)
    return others.exists()


def user_register(*, email: str, password: str, name: str) -> User:
    """A new user on the default plan, with a token account holding the plan's first month."""
    email = User.objects.normalize_email(email)
    candidate = User(email=email, name=name)
    _check_password(password, candidate)
    if _email_taken(email):
        raise EmailAlreadyExists(email="Email already exists")
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email, password=password, name=name, last_login=timezone.now()
            )
            subscription = Subscription.objects.create(user=user, plan=plan_default())
            account_open(user=user, initial_credits=subscription.credits_per_month)
    except IntegrityError:  # a concurrent sign-up with the same address won
        raise EmailAlreadyExists(email="Email already exists") from None
    return user


def user_login(*, email: str, password: str, request=None) -> User:
    """The user for these credentials; the same error whether the email exists or not."""
    user = authenticate(request, email=User.objects.normalize_email(email), password=password)
    if user is None or user.is_demo:
        raise InvalidCredentials()
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    return user


def tokens_issue(*, user: User) -> dict:
    """A fresh refresh/access token pair for `user`."""
    refresh = RefreshToken.for_user(user)
    return {"token": str(refresh.access_token), "refresh": str(refresh)}


def token_revoke(*, refresh: str) -> None:
    """Blacklist a refresh token (logout). Raises TokenError when it is not a valid one."""
    RefreshToken(refresh).blacklist()


def tokens_revoke_all(*, user: User) -> None:
    """Blacklist every outstanding refresh token of the user (after a password change)."""
    for token in OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now()):
        BlacklistedToken.objects.get_or_create(token=token)


def sessions_end(*, user: User) -> int:
    """Sign the user out of every browser: delete their sessions (database sessions, the
    default engine). Reads the live sessions once; for support actions, not hot paths."""
    from django.contrib.auth import SESSION_KEY
    from django.contrib.sessions.models import Session

    theirs = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get(SESSION_KEY) == str(user.pk)
    ]
    Session.objects.filter(pk__in=theirs).delete()
    return len(theirs)


class DemoUnavailable(DomainError):
    code = "SERVICE_UNAVAILABLE"
    http_status = 503
    message = "The demo account is not available"


def demo_user_get() -> User:
    """The shared demo user, created on first use with its auto-refilling account."""
    email = User.objects.normalize_email(settings.DEMO_EMAIL)
    user = User.objects.filter(email=email).first()
    if user is not None and not user.is_demo:
        # An ordinary account holds the address (made before the reservation existed): never
        # hand someone's account to demo visitors.
        raise DemoUnavailable()
    if user is None:
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    email=email, password=None, name="Demo User", is_demo=True
                )
                Subscription.objects.create(user=user, plan=plan_default())
                account_open(
                    user=user,
                    initial_credits=settings.DEMO_CREDITS,
                    memo="Demo credits",
                    refill_below=settings.DEMO_REFILL_BELOW,
                    refill_to=settings.DEMO_CREDITS,
                )
        except IntegrityError:  # created concurrently
            user = User.objects.get(email=email, is_demo=True)
    account_refill_if_low(account=TokenAccount.objects.get(user=user))
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    return user


def profile_update(*, user: User, name: str | None = None, email: str | None = None) -> User:
    if user.is_demo:
        raise Forbidden("The shared demo account cannot be changed")
    fields = []
    if name is not None:
        user.name = name
        fields.append("name")
    if email is not None:
        email = User.objects.normalize_email(email)
        if email != user.email:
            if _email_taken(email, by_other_than=user):
                raise EmailAlreadyExists(email="Email already exists")
            user.email = email
            fields.append("email")
    if fields:
        user.full_clean(exclude=["password"], validate_unique=False)
        try:
            with transaction.atomic():
                user.save(update_fields=[*fields, "updated_at"])
        except IntegrityError:
            raise EmailAlreadyExists(email="Email already exists") from None
    return user


def password_change(*, user: User, current_password: str, new_password: str) -> None:
    if user.is_demo:
        raise Forbidden("The demo account has no password")
    if not user.check_password(current_password):
        raise WrongPassword(current_password=["Current password is incorrect"])
    _check_password(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    tokens_revoke_all(user=user)
