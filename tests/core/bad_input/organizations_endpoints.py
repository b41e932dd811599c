"""The organization endpoints (issue 11) in the bad-input matrix (support.WITH_BODY and
AUTHENTICATED). The slug and ids in the paths name nothing: a body is checked before the
organization is looked up, so each broken field is still a 400 (and the rest a 404)."""

from tests.core.bad_input.support import Endpoint

ORG = "organizations/no-such-team"

ORGANIZATION_CREATE = Endpoint(
    "POST",
    "users/organizations",
    "user",
    {"name": "Studio North", "slug": "studio-north"},
    strings=("name", "slug"),
    required=("name",),
)
ORGANIZATION_UPDATE = Endpoint("PATCH", ORG, "user", {"name": "Renamed"}, strings=("name",))
MEMBER_UPDATE = Endpoint(
    "PATCH",
    f"{ORG}/members/00000000-0000-0000-0000-000000000000",
    "user",
    {"role": "viewer", "monthlyLimit": 50},
    strings=("role",),
    integers=("monthlyLimit",),
    nullable=("monthlyLimit",),
    zero_ok=("monthlyLimit",),
)
INVITE = Endpoint(
    "POST",
    f"{ORG}/invitations",
    "user",
    {"email": "newcomer@example.com", "role": "member"},
    strings=("email", "role"),
    required=("email",),
)

ORGANIZATIONS_WITH_BODY = [ORGANIZATION_CREATE, ORGANIZATION_UPDATE, MEMBER_UPDATE, INVITE]

ORGANIZATIONS_AUTHENTICATED = [
    *ORGANIZATIONS_WITH_BODY,
    Endpoint("GET", "users/organizations", "user", {}),
    Endpoint("GET", ORG, "user", {}),
    Endpoint("DELETE", ORG, "user", {}),
    Endpoint("GET", f"{ORG}/members", "user", {}),
    Endpoint("DELETE", f"{ORG}/members/00000000-0000-0000-0000-000000000000", "user", {}),
    Endpoint("GET", f"{ORG}/invitations", "user", {}),
    Endpoint("DELETE", f"{ORG}/invitations/1", "user", {}),
    Endpoint("GET", f"{ORG}/tokens", "user", {}),
    Endpoint("GET", f"{ORG}/usage", "user", {}),
    Endpoint("POST", "invitations/no-such-token/accept", "user", {}),
]
