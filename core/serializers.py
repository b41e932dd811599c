"""Shared serializer pieces for the API's shapes."""

from datetime import UTC, datetime

from rest_framework import serializers


def iso(moment: datetime | None) -> str | None:
    """`2024-01-15T10:30:00.000Z`, the seed's timestamp format."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class IsoDateTimeField(serializers.DateTimeField):
    def to_representation(self, value):
        return iso(value)


class ErrorSerializer(serializers.Serializer):
    """The error format of every endpoint."""

    error = serializers.CharField()
    code = serializers.CharField()
    details = serializers.DictField()
    timestamp = serializers.CharField()
    requestId = serializers.CharField()


class MessageSerializer(serializers.Serializer):
    message = serializers.CharField()
