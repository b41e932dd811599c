"""The user's own data (issue 10) in the bad-input matrix (support.WITH_BODY and
AUTHENTICATED): account deletion's body, and the export endpoints."""

from tests.core.bad_input.support import Endpoint
from tests.factories import PASSWORD

# A well-formed body: each test breaks one part of it, and nothing may be deleted then.
ACCOUNT_DELETE = Endpoint(
    "DELETE",
    "users/profile",
    "user",
    {"password": PASSWORD},
    strings=("password",),
    required=("password",),
)
EXPORT_CREATE = Endpoint("POST", "users/export", "user", {})
EXPORT_GET = Endpoint("GET", "users/export/exp_000000000000000000000000", "user", {})
EXPORTS = Endpoint("GET", "users/exports", "user", {})

USERS_DATA_WITH_BODY = [ACCOUNT_DELETE]

USERS_DATA_AUTHENTICATED = [ACCOUNT_DELETE, EXPORT_CREATE, EXPORT_GET, EXPORTS]
