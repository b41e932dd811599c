"""Credits: balance and history, the price list, estimates, and staff top-ups."""

import contextlib
import uuid

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from core.exceptions import NotFound
from core.pagination import PageQuerySerializer, PaginationSerializer, paginate
from core.schema import errors
from core.serializers import IsoDateTimeField
from organizations.workspace import WorkspaceFields, request_workspace
from tokens import catalog
from tokens.models import EntryKind
from tokens.selectors import entry_list
from tokens.services import account_for_user, tokens_adjust, tokens_grant


class EntryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=EntryKind.choices)
    amount = serializers.IntegerField(help_text="Change to the balance.")
    held_delta = serializers.IntegerField(help_text="Change to the held (reserved) part.")
    balance_after = serializers.IntegerField()
    held_after = serializers.IntegerField()
    memo = serializers.CharField()
    subject = serializers.SerializerMethodField()
    createdAt = IsoDateTimeField(source="created_at")

    def get_subject(self, entry) -> dict | None:
        if entry.content_type_id is None:
            return None
        return {"type": entry.content_type.model, "id": entry.object_id}


class BalanceOutput(serializers.Serializer):
    balance = serializers.IntegerField(help_text="Credits owned, including held ones.")
    held = serializers.IntegerField(help_text="Credits reserved for work in progress.")
    available = serializers.IntegerField(help_text="balance - held: what can be spent now.")
    period_start = IsoDateTimeField()
    next_refill = IsoDateTimeField(source="period_end")


class TokensOutput(BalanceOutput):
    history = EntryOutput(many=True)
    pagination = PaginationSerializer()


def balance_and_history(account, entries, query: dict, entry_output=EntryOutput) -> dict:
    """An account's balance with one page (`query`'s page and limit) of `entries`."""
    page = paginate(entries, page=query["page"], limit=query["limit"])
    return {
        **BalanceOutput(account).data,
        "history": entry_output(page.items, many=True).data,
        "pagination": page.meta(),
    }


class TokensApi(APIView):
    class FilterSerializer(PageQuerySerializer):
        kind = serializers.ChoiceField(choices=EntryKind.choices, required=False)

    class GrantInput(serializers.Serializer):
        user = serializers.CharField(max_length=254, help_text="The user's id or email.")
        amount = serializers.IntegerField(min_value=-1_000_000, max_value=1_000_000)
        kind = serializers.ChoiceField(
            choices=[EntryKind.GRANT, EntryKind.PURCHASE, EntryKind.ADJUST], default=EntryKind.GRANT
        )
        reason = serializers.CharField(max_length=500)
        idempotency_key = serializers.CharField(max_length=120, required=False)

        def validate(self, attrs):
            if attrs["amount"] == 0:
                raise serializers.ValidationError({"amount": "Must not be zero."})
            if attrs["kind"] != EntryKind.ADJUST and attrs["amount"] < 0:
                raise serializers.ValidationError(
                    {"amount": "Grants and purchases are positive; use kind=adjust to deduct."}
                )
            return attrs

    class GrantOutput(BalanceOutput):
        entry = EntryOutput()

    @extend_schema(
        operation_id="tokens_get",
        tags=["tokens"],
        parameters=[FilterSerializer],
        responses={200: TokensOutput, **errors(401)},
        summary="Balance, held and available credits, with the ledger history (newest first).",
    )
    def get(self, request):
        query = self.FilterSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        account = account_for_user(user=request.user)
        entries = entry_list(account=account, kind=query.validated_data.get("kind"))
        return Response(balance_and_history(account, entries, query.validated_data))

    def get_permissions(self):
        if self.request.method == "PUT":
            return [IsAdminUser()]
        return super().get_permissions()

    @extend_schema(
        operation_id="tokens_add",
        tags=["tokens"],
        request=GrantInput,
        responses={200: GrantOutput, **errors(401, 403, 404, 409)},
        summary="Staff only: grant, record a purchase of, or adjust a user's credits.",
    )
    def put(self, request):
        data = self.GrantInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        user = _user_by_id_or_email(values["user"])
        account = account_for_user(user=user)
        if values["kind"] == EntryKind.ADJUST:
            entry = tokens_adjust(
                account=account,
                amount=values["amount"],
                actor=request.user,
                memo=values["reason"],
                idempotency_key=values.get("idempotency_key"),
            )
        else:
            entry = tokens_grant(
                account=account,
                amount=values["amount"],
                kind=values["kind"],
                actor=request.user,
                memo=values["reason"],
                idempotency_key=values.get("idempotency_key"),
            )
        account.refresh_from_db()
        return Response({**BalanceOutput(account).data, "entry": EntryOutput(entry).data})


def _user_by_id_or_email(value: str) -> User:
    query = Q(email=User.objects.normalize_email(value))
    with contextlib.suppress(ValueError):
        query |= Q(pk=uuid.UUID(value))
    user = User.objects.filter(query).first()
    if user is None:
        raise NotFound("No such user", user=value)
    return user


class PriceOutput(serializers.Serializer):
    operation = serializers.CharField()
    model = serializers.CharField(allow_null=True)
    cost = serializers.IntegerField()
    unit = serializers.CharField()
    description = serializers.CharField()


class OperationsApi(APIView):
    authentication_classes = []  # a public price list: a stale token must not make it a 401
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        operations = PriceOutput(many=True)

    @extend_schema(
        operation_id="tokens_operations",
        tags=["tokens"],
        responses={200: OutputSerializer, **errors()},
        summary="What every model and operation costs, in credits.",
    )
    def get(self, request):
        return Response({"operations": PriceOutput(catalog.all_prices(), many=True).data})


class EstimateApi(APIView):
    class InputSerializer(WorkspaceFields):
        operation = serializers.CharField(
            max_length=64,
            help_text="image_generation, video_generation, or one of /tokens/operations.",
        )
        model = serializers.CharField(max_length=64, required=False, allow_null=True)
        quantity = serializers.IntegerField(
            min_value=1, max_value=4, default=1, help_text="Images per request (num_images)."
        )

    class OutputSerializer(serializers.Serializer):
        operation = serializers.CharField()
        model = serializers.CharField(allow_null=True)
        unit_cost = serializers.IntegerField()
        quantity = serializers.IntegerField()
        cost = serializers.IntegerField()
        available = serializers.IntegerField()
        sufficient = serializers.BooleanField()

    @extend_schema(
        operation_id="tokens_estimate",
        tags=["tokens"],
        request=InputSerializer,
        responses={200: OutputSerializer, **errors(401, 404)},
        summary="The cost of a request, and whether the workspace's credits (within your "
        "monthly limit in an organization) cover it; charges nothing.",
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        price = catalog.price_of(values["operation"], values.get("model"))
        cost = price.cost * values["quantity"]
        # In an organization: its credits, within what is left of the member's limit.
        available = request_workspace(request, values.get("organization")).spendable()
        return Response(
            {
                "operation": price.operation,
                "model": price.model,
                "unit_cost": price.cost,
                "quantity": values["quantity"],
                "cost": cost,
                "available": available,
                "sufficient": available >= cost,
            }
        )
