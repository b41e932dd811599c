"""Generations: one row per job, from submission to its stored result."""

import secrets
import time

from django.conf import settings
from django.db import models
from django.db.models import Q


class Kind(models.TextChoices):
    IMAGE = "image"
    VIDEO = "video"
    OPERATION = "operation"  # an image operation on a source (vectorize, upscale…)


class Status(models.TextChoices):
    QUEUED = "queued"
    GENERATING = "generating"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (Status.QUEUED, Status.GENERATING)
FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
ID_PREFIX = {Kind.IMAGE: "img", Kind.VIDEO: "vid", Kind.OPERATION: "op"}


def new_generation_id(kind: str) -> str:
    """`img_1704067200_9f2c4e1ab37d5c60`: the seed's shape, with 64 unguessable bits."""
    return f"{ID_PREFIX[kind]}_{int(time.time())}_{secrets.token_hex(8)}"


class Generation(models.Model):
    id = models.CharField(primary_key=True, max_length=48, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations"
    )
    # Made in an organization's workspace (its members see it; its account paid), or None:
    # the user's own. `user` is who asked for it either way.
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="generations",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)

    # What was asked for. `params` holds the kind's settings (size, steps, cfg_scale,
    # num_images, duration, fps…), exactly as validated.
    prompt = models.TextField()
    enhanced_prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    model = models.CharField(max_length=32)
    category = models.CharField(max_length=32, blank=True)
    style = models.CharField(max_length=200, blank=True)
    seed = models.BigIntegerField()
    params = models.JSONField(default=dict)
    # Image operations (kind "operation"), and generations that run one afterwards
    # (vector_generation): which operation, on what source, with which saved style.
    operation = models.CharField(max_length=32, blank=True)
    source_asset = models.ForeignKey(
        "studio.Asset", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    style_ref = models.ForeignKey(
        "studio.Style", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    project = models.ForeignKey(
        "studio.Project",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="generations",
    )

    # Money: the price, and the hold that reserves it until capture or release.
    cost = models.PositiveIntegerField()
    hold = models.OneToOneField(
        "tokens.Hold", on_delete=models.PROTECT, null=True, blank=True, related_name="generation"
    )
    idempotency_key = models.CharField(max_length=200, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)
    retry_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries"
    )

    # Execution. `attempts` counts claims on the row, because a message redelivered after
    # its worker was SIGKILLed comes back without Dramatiq's own retry count. A claim holds
    # a lease: `worker` owns the job until `lease_until`, renewed at each progress report.
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    provider_attempts = models.JSONField(default=list, blank=True)

    # The result: stored files (storage keys) and what they are.
    source = models.CharField(max_length=32, blank=True)  # the provider that made it
    outputs = models.JSONField(default=list, blank=True)
    metadata_key = models.CharField(max_length=300, blank=True)
    generation_time = models.FloatField(null=True, blank=True)  # seconds in the provider
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    starred = models.BooleanField(default=False, help_text="Marked by its owner as a favourite.")

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="generation_idempotency_key_unique",
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="generation_progress_pct"),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def storage_prefix(self) -> str:
        return f"users/{self.user_id}/generations/{self.id}/"
