from django.urls import path

from organizations import apis

urlpatterns = [
    path("users/organizations", apis.UserOrganizationsApi.as_view(), name="users-organizations"),
    path("organizations/<str:slug>", apis.OrganizationApi.as_view(), name="organization"),
    path(
        "organizations/<str:slug>/members",
        apis.MembersApi.as_view(),
        name="organization-members",
    ),
    path(
        "organizations/<str:slug>/members/<str:user_id>",
        apis.MemberApi.as_view(),
        name="organization-member",
    ),
    path(
        "organizations/<str:slug>/invitations",
        apis.InvitationsApi.as_view(),
        name="organization-invitations",
    ),
    path(
        "organizations/<str:slug>/invitations/<str:invitation_id>",
        apis.InvitationApi.as_view(),
        name="organization-invitation",
    ),
    path(
        "organizations/<str:slug>/tokens",
        apis.OrganizationTokensApi.as_view(),
        name="organization-tokens",
    ),
    path(
        "organizations/<str:slug>/usage",
        apis.OrganizationUsageApi.as_view(),
        name="organization-usage",
    ),
    path(
        "invitations/<str:token>/accept",
        apis.InvitationAcceptApi.as_view(),
        name="invitation-accept",
    ),
]
