"""GET /executions/<id>/events: an execution's progress as Server-Sent Events."""

from django.http import HttpResponse
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers

from core.schema import errors
from pipelines import streams
from pipelines.models import EXECUTION_ACTIVE
from pipelines.selectors import execution_get_for_user
from studio.apis.events import EventStreamApi, stream_response
from studio.streams import last_event_id


# The studio's stream has a ProgressEventOutput too: a component name of this one's own.
@extend_schema_serializer(component_name="ExecutionProgressEventOutput")
class ProgressEventOutput(serializers.Serializer):
    """`data` of a `progress` event. `execution`, `completed`, `failed` and `cancelled`
    carry the body of GET /executions/<id> instead."""

    number = serializers.IntegerField(min_value=1, help_text="The running step, from 1.")
    job = serializers.CharField(help_text="The step's studio job (GET /studio/generation/<id>).")
    status = serializers.ChoiceField(choices=["queued", "running"], help_text="The step's.")
    progress = serializers.IntegerField(min_value=0, max_value=100, help_text="The step's.")
    stage = serializers.CharField(help_text="queued, starting, generating, saving")
    label = serializers.CharField(help_text="The stage in words, for people.")
    estimated_remaining = serializers.IntegerField(help_text="Seconds, for this step.")


class ExecutionEventsApi(EventStreamApi):
    @extend_schema(
        operation_id="executions_events",
        tags=["templates"],
        parameters=[
            OpenApiParameter(
                "Last-Event-ID",
                location=OpenApiParameter.HEADER,
                required=False,
                description="Resume: the id of the last event received (EventSource sends it "
                "when it reconnects); only newer states are sent, and 204 when it was the "
                "final event.",
            )
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                ProgressEventOutput,
                description="`execution` (the execution's body) first and whenever a step "
                "finishes or a retry starts; `progress` events (this data) while a step "
                "runs; then one of `completed`, `failed`, `cancelled` with the body, and the "
                "stream ends. Ids grow: attempt * 1000000 + finished steps * 10000 + the "
                "step job's sequence; the final event's is attempt * 1000000 + 999999. A "
                "`: heartbeat` comment every 15 s. 204 (no stream) when Last-Event-ID is "
                "the final event's.",
            ),
            **errors(401, 404),
        },
        summary="Live progress of a template execution, as Server-Sent Events.",
    )
    def get(self, request, execution_id: str):
        execution = execution_get_for_user(user=request.user, execution_id=execution_id)
        last_seen = last_event_id(request)
        if execution.status not in EXECUTION_ACTIVE and last_seen >= streams.final_sequence(
            execution.attempt
        ):
            # The client has the final event: 204 tells EventSource to stop reconnecting.
            return HttpResponse(status=204)

        def body():
            return streams.execution_events(
                execution_id=execution.pk,
                user_id=request.user.pk,
                request=request._request,
                last_seen=last_seen,
            )

        return stream_response(request, body)
