"""An organization's members: list, change role or monthly limit, remove (or leave)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import PageQuerySerializer, PaginationSerializer, paginate
from core.schema import errors
from core.serializers import MessageSerializer, iso
from organizations.apis.organizations import PersonOutput, person
from organizations.models import Membership, Role
from organizations.selectors import (
    member_get,
    member_list,
    membership_for,
    month_start,
)
from organizations.services import (
    member_remove,
    member_spent,
    member_update,
)


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
