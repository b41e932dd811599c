"""The user's organizations and one organization: list, create, read, rename, close.

Every `/organizations/<slug>/…` endpoint looks the organization up as the caller's membership
(404 for anyone outside it); what each role may do is checked by `require` in the services, or
here for reads, against the role sets of organizations.models.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import PageQuerySerializer, PaginationSerializer, page_params, paginate
from core.schema import errors
from core.serializers import MessageSerializer, iso
from organizations.models import Membership, Role
from organizations.selectors import (
    member_count,
    membership_for,
    membership_list_for_user,
)
from organizations.services import (
    organization_close,
    organization_create,
    organization_update,
)

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
