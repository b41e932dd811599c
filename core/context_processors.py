"""What every page's layout needs: the signed-in user's credits for the header."""

from django.conf import settings
from django.utils.functional import SimpleLazyObject


def site(request) -> dict:
    user = getattr(request, "user", None)
    context = {"demo_email": settings.DEMO_EMAIL}
    if user is not None and user.is_authenticated:
        from tokens.services import account_for_user

        # Lazily: a page that never shows the header (an error page) runs no query for it.
        context["header_account"] = SimpleLazyObject(lambda: account_for_user(user=user))
    return context
