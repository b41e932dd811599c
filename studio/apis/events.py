"""GET /studio/generation/<id>/events: the job's progress as Server-Sent Events."""

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from core import metrics
from core.asgi import hand_off
from core.schema import errors
from studio import streams
from studio.events import TERMINAL_SEQUENCE, sequence
from studio.services.generations import generation_get_for_user


class ProgressEventOutput(serializers.Serializer):
    """`data` of a `progress` event; `completed`, `failed` and `cancelled` carry the body of
    GET /studio/generation/<id> instead."""

    id = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.IntegerField(min_value=0, max_value=100)
    stage = serializers.CharField(help_text="queued, starting, generating, saving")
    label = serializers.CharField(help_text="The stage in words, for people.")
    estimated_remaining = serializers.IntegerField(help_text="Seconds.")


class EventStreamApi(APIView):
    """A GET that answers with a Server-Sent Events stream (a job's, an execution's)."""

    # Errors (404, 401) answer in the JSON error format whatever the Accept header asks for;
    # the stream itself is not a DRF response.
    renderer_classes = [JSONRenderer]

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)


def stream_response(request, body) -> HttpResponse:
    """The response that sends `body()` (an async iterator of SSE text) to the client."""
    content_type = "text/event-stream; charset=utf-8"
    body = metrics.counted_stream(body)
    if hand_off(request._request, body):
        # Sent once Django is done with the request: no thread, no connection held.
        response = HttpResponse(content_type=content_type)
    else:  # WSGI, the test client: the stream keeps the request (and its thread) open
        streams.release_connections()
        response = StreamingHttpResponse(body(), content_type=content_type)
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
    return response


class GenerationEventsApi(EventStreamApi):
    @extend_schema(
        operation_id="studio_generation_events",
        tags=["studio"],
        parameters=[
            OpenApiParameter(
                "Last-Event-ID",
                location=OpenApiParameter.HEADER,
                required=False,
                description="Resume: the id of the last event received (EventSource sends it "
                "when it reconnects); only newer states are sent.",
            )
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                ProgressEventOutput,
                description="`progress` events (this data), then one of `completed`, `failed`, "
                "`cancelled` with the generation's body; each has an `id:`. A `: heartbeat` "
                "comment every 15 s. The stream ends after the final event.",
            ),
            **errors(401, 404),
        },
        summary="Live progress of a generation or operation, as Server-Sent Events.",
    )
    def get(self, request, generation_id: str):
        generation = generation_get_for_user(user=request.user, generation_id=generation_id)
        last_seen = streams.last_event_id(request)
        current = sequence(generation.status, generation.attempts, generation.progress)
        if current == TERMINAL_SEQUENCE and last_seen >= TERMINAL_SEQUENCE:
            # The client has the final event: 204 tells EventSource to stop reconnecting.
            return HttpResponse(status=204)

        def body():
            return streams.job_events(
                generation_id=generation.pk,
                user_id=request.user.pk,
                request=request._request,
                last_seen=last_seen,
            )

        return stream_response(request, body)
