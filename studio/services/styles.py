"""Saved styles: made by style_creation jobs (studio.services.operations); read and deleted
here."""

from core.exceptions import NotFound
from organizations.workspace import require_change, visible_to
from studio.models import Style


def style_get(*, user, style_id: str, change: bool = False) -> Style:
    """A style the user can see (their own, or their organizations'), or NotFound; `change`:
    in an organization, for whoever made it and the managers (Forbidden for other members)."""
    style = (
        Style.objects.filter(visible_to(user), pk=style_id).prefetch_related("references").first()
    )
    if style is None:
        raise NotFound("Style not found", id=style_id[:64])
    return require_change(user, style) if change else style


def style_delete(*, user, style_id: str) -> None:
    """Delete a style; generations made with it keep their pictures (their link is cleared)."""
    style_get(user=user, style_id=style_id, change=True).delete()
