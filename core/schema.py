"""OpenAPI helpers: the documented error responses of an endpoint."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.utils import OpenApiResponse

from core.serializers import ErrorSerializer

_DESCRIPTIONS = {
    400: "INVALID_REQUEST: validation failed; `details` names each field and its messages.",
    401: "UNAUTHORIZED: missing, expired or tampered token, or wrong credentials.",
    403: "INSUFFICIENT_CREDITS (`details.required`, `details.available`) or FORBIDDEN.",
    404: "NOT_FOUND: no such object, or it belongs to someone else.",
    405: "METHOD_NOT_ALLOWED.",
    409: "A conflict: IDEMPOTENCY_CONFLICT, GENERATION_IN_PROGRESS, GENERATION_NOT_ACTIVE, "
    "GENERATION_NOT_COMPLETED, ASSET_BELONGS_TO_GENERATION, PROJECT_TOO_LARGE, HOLD_NOT_OPEN, "
    "EXPORT_IN_PROGRESS, SLUG_TAKEN, ALREADY_MEMBER, LAST_OWNER, INVITATION_INVALID "
    "(`details.reason`), CONFLICT.",
    413: "PAYLOAD_TOO_LARGE: the request body is over the size limit.",
    415: "UNSUPPORTED_MEDIA_TYPE: send `Content-Type: application/json`.",
    429: "RATE_LIMIT_EXCEEDED (`details.limit`, `details.window`, `details.retryAfter`); "
    "see the `Retry-After` and `X-RateLimit-*` headers.",
    503: "SERVICE_UNAVAILABLE.",
}

# Every JSON endpoint can answer these.
_ALWAYS = (400, 413, 415, 429)


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error responses for `extend_schema(responses=...)`, in the standard error format."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[status])
        for status in sorted({*statuses, *_ALWAYS})
    }


class AutoSchema(BaseAutoSchema):
    """Component names from the view: `LoginApi.InputSerializer` becomes `LoginInput`.

    Views nest their own InputSerializer/OutputSerializer (STYLE.md); without this, every
    nested `InputSerializer` would collide in one `InputRequest` component.
    """

    def get_serializer_name(self, serializer, direction):
        name = super().get_serializer_name(serializer, direction)
        owner = type(serializer).__qualname__.split(".")
        if len(owner) > 1:
            view = owner[-2].removesuffix("Api")
            name = view + name.removesuffix("Serializer")
        return name

    def get_request_serializer(self):
        # A DELETE has a body only when its view declares one (extend_schema(request=...),
        # whose override answers before this); guessing from a plain APIView only warns.
        if self.method == "DELETE":
            return None
        return super().get_request_serializer()

    def _get_request_body(self, direction="request"):
        # drf-spectacular documents bodies of PUT, PATCH and POST only. A DELETE that declares
        # one (deleting the account takes the password) is documented as a POST's would be.
        if self.method != "DELETE" or self.get_request_serializer() is None:
            return super()._get_request_body(direction)
        self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = "DELETE"


class JWTScheme(SimpleJWTScheme):
    """Documents our JWTAuthentication subclass as the bearer scheme it is."""

    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwtAuth"
