from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from core.health import health_report


class HealthApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=["ok", "degraded"])
        checks = serializers.DictField(
            help_text="database, cache and broker: {ok, latency_ms, backend} or {ok: false, error}"
        )

    @extend_schema(
        operation_id="health",
        tags=["operations"],
        responses={
            200: OutputSerializer,
            503: OpenApiResponse(OutputSerializer, description="A part is down; see `checks`."),
        },
        summary="Database, cache and broker status.",
    )
    def get(self, request):
        healthy, report = health_report()
        return Response(report, status=200 if healthy else 503)
