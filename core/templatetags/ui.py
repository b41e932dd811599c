"""Template helpers of the pages: icons from the sprite, query strings, credit amounts."""

from django import template
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.http import urlencode

register = template.Library()


@register.simple_tag
def icon(name: str, size: str = "") -> str:
    """An icon from the vendored Lucide sprite; decorative (the text next to it says what)."""
    css = f"icon icon-{size}" if size else "icon"
    return format_html(
        '<svg class="{}" aria-hidden="true" focusable="false"><use href="{}#{}"></use></svg>',
        css,
        static("vendor/lucide/icons.svg"),
        name,
    )


@register.simple_tag(takes_context=True)
def query(context, **changes) -> str:
    """The current query string with some parameters changed (None or "" drops one); `page`
    is dropped unless given, so a new filter starts on the first page."""
    params = context["request"].GET.copy()
    params.pop("page", None)
    for key, value in changes.items():
        params.pop(key, None)
        if value not in (None, ""):
            params[key] = value
    return urlencode(sorted(params.items()))


@register.filter
def signed(amount: int) -> str:
    """+4 / -4 for ledger amounts, written with a real minus sign (U+2212)."""
    return f"+{amount}" if amount > 0 else f"\u2212{-amount}" if amount < 0 else "0"


@register.filter
def thousands(value) -> str:
    """1234 → 1,234 (as the pages' scripts write numbers too)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value
