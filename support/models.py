"""The record of what support staff did: append-only, one row per action on one object."""

from django.conf import settings
from django.db import models


class Action(models.TextChoices):
    GRANT = "grant", "Grant credits"
    ADJUST = "adjust", "Adjust credits"
    REFUND = "refund", "Refund"
    CHANGE_PLAN = "change_plan", "Change plan"
    SUSPEND = "suspend", "Suspend"
    REACTIVATE = "reactivate", "Reactivate"
    CANCEL = "cancel", "Cancel"
    RETRY = "retry", "Retry"
    REDELIVER = "redeliver", "Redeliver webhook"
    FEATURE = "feature", "Feature template"
    UNFEATURE = "unfeature", "Unfeature template"
    UNPUBLISH = "unpublish", "Unpublish template"


class SupportAction(models.Model):
    """Who did what to which object, why, and when. Written by support.services only; the
    admin shows it read-only, and nothing updates or deletes a row."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="support_actions"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    # The object acted on, by its admin name ("studio.generation") and id: jobs, users,
    # templates and deliveries have string or UUID keys, so no generic foreign key.
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=64)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="support_history",
        help_text="The user whose account or work it was.",
    )
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]
        permissions = [("act", "Can run the support actions (through the services)")]

    def __str__(self) -> str:
        return f"{self.actor} · {self.get_action_display()} · {self.target_type} {self.target_id}"
