"""Webhooks: where to tell a user's systems that their jobs finished, and each delivery."""

from django.conf import settings
from django.db import models


class WebhookEvent(models.TextChoices):
    GENERATION_COMPLETED = "generation.completed"
    GENERATION_FAILED = "generation.failed"


class Webhook(models.Model):
    """Where to tell a user's systems that their generations finished."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks"
    )
    # An organization's endpoint (told about its jobs), or None: the user's own.
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="webhooks",
    )
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)
    # Standard Webhooks secret ("whsec_" + base64 key); shown to the user once, at creation.
    secret = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.id} -> {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookDelivery(models.Model):
    """One event for one webhook, delivered with retries; each try is a WebhookAttempt."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)  # webhook-id
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, choices=WebhookEvent.choices)
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} -> {self.webhook_id} ({self.status})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(
        max_length=500, blank=True, help_text="The first bytes of the receiver's answer."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.pk}: {self.status_code or self.error}"
