"""Invitations: create (the token shown once), list, revoke, accept."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import PageQuerySerializer, PaginationSerializer, page_params, paginate
from core.schema import errors
from core.serializers import MessageSerializer, iso
from organizations.apis.organizations import (
    OrganizationOutput,
    PersonOutput,
    organization_data,
    person,
)
from organizations.models import MANAGERS, Invitation, Role
from organizations.selectors import (
    invitation_get,
    invitation_list,
    member_count,
    membership_for,
)
from organizations.services import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    require,
)


class InvitationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)
    invitedBy = PersonOutput(allow_null=True)
    createdAt = serializers.CharField()
    expiresAt = serializers.CharField()
    expired = serializers.BooleanField()


def invitation_data(invitation: Invitation) -> dict:
    return {
        "id": invitation.pk,
        "email": invitation.email,
        "role": invitation.role,
        "invitedBy": person(invitation.invited_by),
        "createdAt": iso(invitation.created_at),
        "expiresAt": iso(invitation.expires_at),
        "expired": invitation.is_expired,
    }


class InvitationCreatedOutput(InvitationOutput):
    token = serializers.CharField(help_text="Shown once: the invitee accepts with it.")
    acceptUrl = serializers.CharField(help_text="The page where the invitee accepts.")


class InvitationListOutput(serializers.Serializer):
    invitations = InvitationOutput(many=True)
    pagination = PaginationSerializer()


class InvitationsApi(APIView):
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)

    @extend_schema(
        operation_id="organization_invitations",
        tags=["organizations"],
        parameters=[PageQuerySerializer],
        responses={200: InvitationListOutput, **errors(401, 403, 404)},
        summary="Pending invitations, newest first (owners and admins).",
    )
    def get(self, request, slug: str):
        membership = membership_for(user=request.user, slug=slug)
        require(membership, MANAGERS, "Only the organization's owners and admins see invitations")
        invitations = invitation_list(organization=membership.organization)
        page = paginate(invitations, **page_params(request))
        return Response(
            {
                "invitations": [invitation_data(i) for i in page.items],
                "pagination": page.meta(),
            }
        )

    @extend_schema(
        operation_id="organization_invite",
        tags=["organizations"],
        request=InputSerializer,
        responses={201: InvitationCreatedOutput, **errors(401, 403, 404, 409)},
        summary="Invite someone by email (owners and admins; only an owner invites an owner). "
        "The link works for 7 days, once; inviting the same email again replaces it.",
    )
    def post(self, request, slug: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_for(user=request.user, slug=slug)
        invitation, token = invitation_create(by=membership, **data.validated_data)
        body = {
            **invitation_data(invitation),
            "token": token,
            "acceptUrl": request.build_absolute_uri(f"/invitations/{token}/"),
        }
        return Response(body, status=status.HTTP_201_CREATED)


class InvitationApi(APIView):
    @extend_schema(
        operation_id="organization_invitation_revoke",
        tags=["organizations"],
        responses={200: MessageSerializer, **errors(401, 403, 404, 409)},
        summary="Revoke a pending invitation (owners and admins).",
    )
    def delete(self, request, slug: str, invitation_id: str):
        membership = membership_for(user=request.user, slug=slug)
        invitation = invitation_get(
            organization=membership.organization, invitation_id=invitation_id
        )
        invitation_revoke(by=membership, invitation=invitation)
        return Response({"message": "Invitation revoked"})


class InvitationAcceptApi(APIView):
    @extend_schema(
        operation_id="invitation_accept",
        tags=["organizations"],
        request=None,
        responses={200: OrganizationOutput, **errors(401, 404, 409)},
        summary="Join the organization an invitation is for, signed in with the invited email. "
        "INVITATION_INVALID (`details.reason`: revoked, used, expired, wrong_email) otherwise.",
    )
    def post(self, request, token: str):
        joined = invitation_accept(user=request.user, token=token[:200])
        membership = membership_for(user=request.user, slug=joined.organization.slug)
        members = member_count(organization=membership.organization)
        return Response(organization_data(membership, members))


# --- Credits ---------------------------------------------------------------------------------
