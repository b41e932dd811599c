"""A job's log: a short, bounded record of what happened to it, for its owner and support."""

from django.db import models
from django.utils import timezone


class LogEvent(models.TextChoices):
    CLAIMED = "claimed", "Claimed by a worker"
    ATTEMPT = "attempt", "Provider attempt"
    STORED = "stored", "Result stored"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    DISCARDED = "discarded", "Late result discarded"
    REQUEUED = "requeued", "Sent again by the sweeper"


class JobLogEntry(models.Model):
    generation = models.ForeignKey(
        "studio.Generation", on_delete=models.CASCADE, related_name="log_entries"
    )
    at = models.DateTimeField(default=timezone.now)
    event = models.CharField(max_length=16, choices=LogEvent.choices)
    message = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["generation", "at"])]
        verbose_name_plural = "job log entries"

    def __str__(self) -> str:
        return f"{self.generation_id} {self.event}"
