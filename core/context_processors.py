"""What every page's layout needs: the workspace the signed-in person works in (their own
account or an organization), its credits, and the workspaces they can switch to."""

from django.conf import settings
from django.utils.functional import SimpleLazyObject


def site(request) -> dict:
    user = getattr(request, "user", None)
    context = {"demo_email": settings.DEMO_EMAIL}
    if user is not None and user.is_authenticated:
        from organizations.selectors import membership_list_for_user
        from organizations.workspace import session_workspace

        # Lazily: a page that never shows the header (an error page) runs no query for it.
        workspace = SimpleLazyObject(lambda: session_workspace(request))
        context["workspace"] = workspace
        context["header_account"] = SimpleLazyObject(lambda: workspace.account())
        context["header_workspaces"] = SimpleLazyObject(
            lambda: list(membership_list_for_user(user=user))
        )
    return context
