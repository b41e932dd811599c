"""Projects (boards) and assets: uploaded source images and every stored output."""

import secrets

from django.conf import settings
from django.db import models


def new_id(prefix: str) -> str:
    """`prj_…`, `ast_…`, `sty_…`: public ids with 96 unguessable bits."""
    return f"{prefix}_{secrets.token_hex(12)}"


class Project(models.Model):
    """A board the user files generations and assets into."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects"
    )
    # An organization's board (its members see it), or None: the user's own.
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="projects",
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["organization", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.name


class AssetKind(models.TextChoices):
    UPLOAD = "upload"
    GENERATED = "generated"


class Asset(models.Model):
    """One stored image (or video or SVG): uploaded by the user, or made by a job."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assets"
    )
    # In an organization's workspace (as its job or project is), or None: the user's own.
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assets",
    )
    project = models.ForeignKey(
        Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="assets"
    )
    kind = models.CharField(max_length=16, choices=AssetKind.choices)
    generation = models.ForeignKey(
        "studio.Generation",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="assets",
        help_text="The job that made it (generated assets).",
    )
    name = models.CharField(max_length=255, blank=True)
    key = models.CharField(max_length=500)
    thumbnail_key = models.CharField(max_length=500, blank=True)
    content_type = models.CharField(max_length=100)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["project", "-created_at"]),
            models.Index(fields=["organization", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.content_type})"

    @property
    def storage_prefix(self) -> str:
        return f"users/{self.user_id}/assets/{self.id}/"


class Style(models.Model):
    """A reusable look extracted from reference images by a style_creation job."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="styles"
    )
    # An organization's style (made by a job there), or None: the user's own.
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="styles",
    )
    name = models.CharField(max_length=100)
    palette = models.JSONField(default=list, help_text="[[r, g, b], …], dominant first.")
    descriptors = models.JSONField(default=dict, help_text="tone, contrast, saturation, texture…")
    prompt_suffix = models.CharField(max_length=300)
    references = models.ManyToManyField(Asset, related_name="styles", blank=True)
    generation = models.OneToOneField(
        "studio.Generation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="made_style",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name
