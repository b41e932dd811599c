"""Saved styles: made by style_creation jobs (studio.services.operations); read and deleted
here."""

from core.exceptions import NotFound
from studio.models import Style


def style_get(*, user, style_id: str) -> Style:
    style = Style.objects.filter(pk=style_id, user=user).prefetch_related("references").first()
    if style is None:
        raise NotFound("Style not found", id=style_id[:64])
    return style


def style_delete(*, user, style_id: str) -> None:
    """Delete a style; generations made with it keep their pictures (their link is cleared)."""
    style_get(user=user, style_id=style_id).delete()
