"""Organizations (issue 11) in the contract table (support.CONTRACT)."""

from core.serializers import MessageSerializer
from organizations import apis

ORG = "/api/v1/organizations/{slug}"

ORGANIZATIONS_CONTRACT = {
    ("/api/v1/users/organizations", "get"): (None, "200", apis.OrganizationListOutput, True),
    ("/api/v1/users/organizations", "post"): (
        apis.UserOrganizationsApi.InputSerializer,
        "201",
        apis.OrganizationOutput,
        True,
    ),
    (ORG, "get"): (None, "200", apis.OrganizationOutput, True),
    (ORG, "patch"): (apis.OrganizationApi.InputSerializer, "200", apis.OrganizationOutput, True),
    (ORG, "delete"): (None, "200", MessageSerializer, True),
    (f"{ORG}/members", "get"): (None, "200", apis.MemberListOutput, True),
    (f"{ORG}/members/{{user_id}}", "patch"): (
        apis.MemberApi.InputSerializer,
        "200",
        apis.MemberOutput,
        True,
    ),
    (f"{ORG}/members/{{user_id}}", "delete"): (None, "200", MessageSerializer, True),
    (f"{ORG}/invitations", "get"): (None, "200", apis.InvitationListOutput, True),
    (f"{ORG}/invitations", "post"): (
        apis.InvitationsApi.InputSerializer,
        "201",
        apis.InvitationCreatedOutput,
        True,
    ),
    (f"{ORG}/invitations/{{invitation_id}}", "delete"): (None, "200", MessageSerializer, True),
    (f"{ORG}/tokens", "get"): (None, "200", apis.OrganizationTokensOutput, True),
    (f"{ORG}/usage", "get"): (None, "200", apis.UsageOutput, True),
    ("/api/v1/invitations/{token}/accept", "post"): (None, "200", apis.OrganizationOutput, True),
}
