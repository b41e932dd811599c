"""Organization endpoints: the user's organizations, one organization, its members and
invitations, its credits and what they went on."""

from organizations.apis.accounting import (
    MemberUsageOutput,
    OperationUsageOutput,
    OrganizationEntryOutput,
    OrganizationTokensApi,
    OrganizationTokensOutput,
    OrganizationUsageApi,
    UsageOutput,
)
from organizations.apis.invitations import (
    InvitationAcceptApi,
    InvitationApi,
    InvitationCreatedOutput,
    InvitationListOutput,
    InvitationOutput,
    InvitationsApi,
)
from organizations.apis.members import MemberApi, MemberListOutput, MemberOutput, MembersApi
from organizations.apis.organizations import (
    OrganizationApi,
    OrganizationListOutput,
    OrganizationOutput,
    PersonOutput,
    UserOrganizationsApi,
)

__all__ = [
    "InvitationAcceptApi",
    "InvitationApi",
    "InvitationCreatedOutput",
    "InvitationListOutput",
    "InvitationOutput",
    "InvitationsApi",
    "MemberApi",
    "MemberListOutput",
    "MemberOutput",
    "MemberUsageOutput",
    "MembersApi",
    "OperationUsageOutput",
    "OrganizationApi",
    "OrganizationEntryOutput",
    "OrganizationListOutput",
    "OrganizationOutput",
    "OrganizationTokensApi",
    "OrganizationTokensOutput",
    "OrganizationUsageApi",
    "PersonOutput",
    "UsageOutput",
    "UserOrganizationsApi",
]
