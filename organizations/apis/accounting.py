"""An organization's credits: balance and history (the member on each entry), and usage
by member and by operation."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import PageQuerySerializer, PaginationSerializer
from core.schema import errors
from core.serializers import IsoDateTimeField
from organizations.apis.organizations import PersonOutput, person
from organizations.models import MANAGERS
from organizations.selectors import (
    USAGE_DAYS,
    membership_for,
    organization_account,
    organization_entries,
    usage,
)
from organizations.services import (
    require,
)
from tokens.apis import BalanceOutput, EntryOutput, balance_and_history
from tokens.models import EntryKind


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
