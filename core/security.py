"""Security headers every response carries: a strict Content-Security-Policy (no inline
script anywhere, no framing), next to Django's own X-Frame-Options and Referrer-Policy."""

from urllib.parse import urlsplit

from django.conf import settings

AWS_MEDIA = "https://*.amazonaws.com"
# Django's admin, the browsable API and Swagger UI put style attributes in their markup;
# our own pages never do. Scripts stay 'self' everywhere.
_INLINE_STYLE_PREFIXES = ("/admin/", "/api/")


def media_origins() -> list[str]:
    """Origins of signed media URLs: the S3 endpoint's, besides our own (local media)."""
    origins = list(settings.CSP_MEDIA_ORIGINS)
    default = settings.STORAGES["default"]
    if default["BACKEND"].endswith("S3Storage"):
        endpoint = default.get("OPTIONS", {}).get("endpoint_url")
        if endpoint:
            parts = urlsplit(endpoint)
            origins.append(f"{parts.scheme}://{parts.netloc}")
        else:
            origins.append(AWS_MEDIA)
    return origins


def content_security_policy(path: str) -> str:
    media = " ".join(media_origins())
    style = "'self' 'unsafe-inline'" if path.startswith(_INLINE_STYLE_PREFIXES) else "'self'"
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        f"style-src {style}",
        f"img-src 'self' data: blob: {media}".rstrip(),
        f"media-src 'self' blob: {media}".rstrip(),
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


class SecurityHeadersMiddleware:
    """Adds the CSP (unless the view set its own, as SVG media does) and a Permissions-Policy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy(request.path)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response
