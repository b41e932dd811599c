"""Organization endpoints: the user's organizations, one organization, its members and
invitations, its credits and what they went on.

Every `/organizations/<slug>/…` endpoint looks the organization up as the caller's membership
(404 for anyone outside it); what each role may do is checked by `require` in the services, or
here for reads, against the role sets of organizations.models.
"""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import PageQuerySerializer, PaginationSerializer, page_params, paginate
from core.schema import errors
from core.serializers import IsoDateTimeField, MessageSerializer, iso
from organizations.models import MANAGERS, Invitation, Membership, Role
from organizations.selectors import (
    USAGE_DAYS,
    invitation_get,
    invitation_list,
    member_count,
    member_get,
    member_list,
    membership_for,
    membership_list_for_user,
    month_start,
    organization_account,
    organization_entries,
    usage,
)
from organizations.services import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    member_remove,
    member_spent,
    member_update,
    organization_close,
    organization_create,
    organization_update,
    require,
)
from tokens.apis import BalanceOutput, EntryOutput, balance_and_history
from tokens.models import EntryKind

NAME_MAX = 80


class PersonOutput(serializers.Serializer):
    id = serializers.CharField()
    email = serializers.EmailField()
    name = serializers.CharField(allow_blank=True)


def person(user) -> dict | None:
    if user is None:
        return None
    return {"id": str(user.pk), "email": user.email, "name": user.name}


class OrganizationOutput(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices, help_text="Your role in it.")
    memberCount = serializers.IntegerField()
    createdAt = serializers.CharField()


def organization_data(membership: Membership, members: int) -> dict:
    organization = membership.organization
    return {
        "slug": organization.slug,
        "name": organization.name,
        "role": membership.role,
        "memberCount": members,
        "createdAt": iso(organization.created_at),
    }


class OrganizationListOutput(serializers.Serializer):
    organizations = OrganizationOutput(many=True)
    pagination = PaginationSerializer()


class UserOrganizationsApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(min_length=1, max_length=NAME_MAX)
        slug = serializers.SlugField(
            min_length=2,
            max_length=40,
            required=False,
            help_text="Its address in URLs; made from the name when left out.",
        )

    @extend_schema(
        operation_id="user_organizations",
        tags=["organizations"],
        parameters=[PageQuerySerializer],
        responses={200: OrganizationListOutput, **errors(401)},
        summary="The organizations you belong to, with your role in each.",
    )
    def get(self, request):
        page = paginate(membership_list_for_user(user=request.user), **page_params(request))
        return Response(
            {
                "organizations": [organization_data(m, m.member_count) for m in page.items],
                "pagination": page.meta(),
            }
        )

    @extend_schema(
        operation_id="user_organizations_create",
        tags=["organizations"],
        request=InputSerializer,
        responses={201: OrganizationOutput, **errors(401, 409)},
        summary="Create an organization, with you as its owner and an empty credit account.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = organization_create(user=request.user, **data.validated_data)
        membership = membership_for(user=request.user, slug=organization.slug)
        return Response(organization_data(membership, 1), status=status.HTTP_201_CREATED)


class OrganizationApi(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(min_length=1, max_length=NAME_MAX, required=False)

        def validate(self, attrs):
            if not attrs:
                raise serializers.ValidationError("Send the organization's new name.")
            return attrs

    @extend_schema(
        operation_id="organization",
        tags=["organizations"],
        responses={200: OrganizationOutput, **errors(401, 404)},
        summary="One of your organizations.",
    )
    def get(self, request, slug: str):
        membership = membership_for(user=request.user, slug=slug)
        members = member_count(organization=membership.organization)
        return Response(organization_data(membership, members))

    @extend_schema(
        operation_id="organization_update",
        tags=["organizations"],
        request=InputSerializer,
        responses={200: OrganizationOutput, **errors(401, 403, 404)},
        summary="Rename the organization (owners and admins).",
    )
    def patch(self, request, slug: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)  # the body first: a broken field is a 400 to all
        membership = membership_for(user=request.user, slug=slug)
        organization_update(by=membership, **data.validated_data)
        members = member_count(organization=membership.organization)
        return Response(organization_data(membership, members))

    @extend_schema(
        operation_id="organization_close",
        tags=["organizations"],
        responses={200: MessageSerializer, **errors(401, 403, 404, 409)},
        summary="Close the organization (owners): every membership ends; its ledger is kept. "
        "Refused while work it pays for is running.",
    )
    def delete(self, request, slug: str):
        organization_close(by=membership_for(user=request.user, slug=slug))
        return Response({"message": "Organization closed"})


# --- Members ---------------------------------------------------------------------------------


class MemberOutput(PersonOutput):
    role = serializers.ChoiceField(choices=Role.choices)
    monthlyLimit = serializers.IntegerField(
        allow_null=True, help_text="Credits this member may spend per month; null: no limit."
    )
    spentThisMonth = serializers.IntegerField()
    joinedAt = serializers.CharField()


def member_data(membership: Membership, since) -> dict:
    return {
        **person(membership.user),
        "role": membership.role,
        "monthlyLimit": membership.monthly_limit,
        "spentThisMonth": member_spent(membership=membership, since=since),
        "joinedAt": iso(membership.created_at),
    }


class MemberListOutput(serializers.Serializer):
    members = MemberOutput(many=True)
    pagination = PaginationSerializer()


class MembersApi(APIView):
    @extend_schema(
        operation_id="organization_members",
        tags=["organizations"],
        parameters=[PageQuerySerializer],
        responses={200: MemberListOutput, **errors(401, 404)},
        summary="The organization's members, their roles and limits, and what each spent "
        "this month.",
    )
    def get(self, request, slug: str):
        membership = membership_for(user=request.user, slug=slug)
        query = PageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = paginate(member_list(organization=membership.organization), **query.validated_data)
        since = month_start()
        return Response(
            {"members": [member_data(m, since) for m in page.items], "pagination": page.meta()}
        )


class MemberApi(APIView):
    class InputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=Role.choices, required=False)
        monthlyLimit = serializers.IntegerField(
            min_value=0, max_value=10_000_000, required=False, allow_null=True
        )

        def validate(self, attrs):
            if not attrs:
                raise serializers.ValidationError("Send at least one of: role, monthlyLimit.")
            return attrs

    @extend_schema(
        operation_id="organization_member_update",
        tags=["organizations"],
        request=InputSerializer,
        responses={200: MemberOutput, **errors(401, 403, 404, 409)},
        summary="Change a member's role and/or monthly limit (owners and admins; only an owner "
        "changes an owner).",
    )
    def patch(self, request, slug: str, user_id: str):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = membership_for(user=request.user, slug=slug)
        target = member_get(organization=membership.organization, user_id=user_id)
        values = data.validated_data
        changes = {"role": values.get("role")}
        if "monthlyLimit" in values:
            changes["monthly_limit"] = values["monthlyLimit"]
        updated = member_update(by=membership, target=target, **changes)
        return Response(member_data(updated, month_start()))

    @extend_schema(
        operation_id="organization_member_remove",
        tags=["organizations"],
        responses={200: MessageSerializer, **errors(401, 403, 404, 409)},
        summary="Remove a member (owners and admins), or leave (your own id). Their access "
        "ends at once; the organization always keeps an owner.",
    )
    def delete(self, request, slug: str, user_id: str):
        membership = membership_for(user=request.user, slug=slug)
        target = member_get(organization=membership.organization, user_id=user_id)
        member_remove(by=membership, target=target)
        left = target.pk == membership.pk
        return Response({"message": "You left the organization" if left else "Member removed"})


# --- Invitations -----------------------------------------------------------------------------


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


class OrganizationEntryOutput(EntryOutput):
    member = serializers.SerializerMethodField()
    actor = serializers.SerializerMethodField()

    @extend_schema_field(PersonOutput(allow_null=True))
    def get_member(self, entry) -> dict | None:
        return person(entry.hold.member if entry.hold_id else None)

    @extend_schema_field(PersonOutput(allow_null=True))
    def get_actor(self, entry) -> dict | None:
        return person(entry.actor)


class OrganizationTokensOutput(BalanceOutput):
    history = OrganizationEntryOutput(many=True)
    pagination = PaginationSerializer()


class OrganizationTokensApi(APIView):
    class FilterSerializer(PageQuerySerializer):
        kind = serializers.ChoiceField(choices=EntryKind.choices, required=False)

    @extend_schema(
        operation_id="organization_tokens",
        tags=["organizations"],
        parameters=[FilterSerializer],
        responses={200: OrganizationTokensOutput, **errors(401, 404)},
        summary="The organization's balance, held and available credits, and its ledger "
        "(newest first) with the member who spent on each entry.",
    )
    def get(self, request, slug: str):
        membership = membership_for(user=request.user, slug=slug)
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        account = organization_account(organization=membership.organization)
        entries = organization_entries(account=account, kind=query.validated_data.get("kind"))
        return Response(
            balance_and_history(account, entries, query.validated_data, OrganizationEntryOutput)
        )


class MemberUsageOutput(serializers.Serializer):
    member = PersonOutput(allow_null=True)
    credits = serializers.IntegerField()


class OperationUsageOutput(serializers.Serializer):
    operation = serializers.CharField()
    credits = serializers.IntegerField()


class UsageOutput(serializers.Serializer):
    since = IsoDateTimeField()
    until = IsoDateTimeField()
    total = serializers.IntegerField()
    byMember = MemberUsageOutput(many=True)
    byOperation = OperationUsageOutput(many=True)


class OrganizationUsageApi(APIView):
    @extend_schema(
        operation_id="organization_usage",
        tags=["organizations"],
        responses={200: UsageOutput, **errors(401, 403, 404)},
        summary=f"Credits spent in the last {USAGE_DAYS} days (captures less refunds), by member "
        "and by operation (owners and admins).",
    )
    def get(self, request, slug: str):
        membership = membership_for(user=request.user, slug=slug)
        require(membership, MANAGERS, "Only the organization's owners and admins see usage")
        spent = usage(account=organization_account(organization=membership.organization))
        by_member = [
            {"member": person(row["member"]), "credits": row["credits"]}
            for row in spent["by_member"]
        ]
        return Response(
            UsageOutput(
                {
                    "since": spent["since"],
                    "until": spent["until"],
                    "total": sum(row["credits"] for row in spent["by_operation"]),
                    "byMember": by_member,
                    "byOperation": spent["by_operation"],
                }
            ).data
        )
