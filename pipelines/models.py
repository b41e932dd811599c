"""Templates (a form of typed inputs over a pipeline of steps), their executions and ratings.

A step is one job of the catalog (studio.apis.job_types) whose parameters may refer to the
template's inputs and to earlier steps' results. An execution runs the steps one by one as
ordinary studio jobs, paid for by one hold on the account of its workspace (the user's own or
an organization's).
"""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


def new_id(prefix: str) -> str:
    """`tpl_…`, `pip_…`, `exe_…`: public ids with 96 unguessable bits."""
    return f"{prefix}_{secrets.token_hex(12)}"


class Visibility(models.TextChoices):
    PRIVATE = "private"
    PUBLIC = "public"


class InputType(models.TextChoices):
    TEXT = "text"
    LONG_TEXT = "long_text"
    NUMBER = "number"
    CHOICE = "choice"
    BOOLEAN = "boolean"
    IMAGE = "image"
    SEED = "seed"


class Template(models.Model):
    id = models.CharField(primary_key=True, max_length=40, editable=False)
    # No owner: a starter template, shipped with CraftFrame (public, edited by nobody).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="templates",
    )
    # An organization's template (private ones are seen by its members), or None.
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="templates",
    )
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, max_length=2000)
    cover = models.ForeignKey(
        "studio.Asset", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    tags = models.JSONField(default=list, blank=True)
    # ",logo,brand,": the tags in a form every database can filter on (JSON containment is
    # not portable to SQLite).
    tag_index = models.CharField(max_length=400, blank=True, db_index=True)
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    version = models.PositiveIntegerField(default=1)
    runs = models.PositiveIntegerField(default=0)
    rating_count = models.PositiveIntegerField(default=0)
    rating_sum = models.PositiveIntegerField(default=0)
    starter = models.CharField(max_length=40, blank=True, help_text="Key of a starter template.")
    featured = models.BooleanField(default=False, help_text="Shown first in the public list.")
    unpublished_reason = models.CharField(
        max_length=500, blank=True, help_text="Why support made it private; shown to its owner."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["visibility", "-created_at"]),
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["organization", "-created_at"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def rating(self) -> float | None:
        return round(self.rating_sum / self.rating_count, 2) if self.rating_count else None


class GlobalInput(models.Model):
    """One field of a template's form."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="inputs")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=40)
    label = models.CharField(max_length=80, blank=True)
    type = models.CharField(max_length=16, choices=InputType.choices)
    required = models.BooleanField(default=False)
    default = models.JSONField(null=True, blank=True)
    help = models.CharField(max_length=300, blank=True)
    options = models.JSONField(default=list, blank=True)  # choice
    min = models.FloatField(null=True, blank=True)  # number
    max = models.FloatField(null=True, blank=True)
    step = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["template", "name"], name="input_name_unique"),
            models.UniqueConstraint(fields=["template", "position"], name="input_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"


class Pipeline(models.Model):
    """The ordered steps of a template. A template runs its first pipeline unless told."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="pipelines")
    name = models.CharField(max_length=120, default="Main")
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "created_at"]

    def __str__(self) -> str:
        return f"{self.template_id}: {self.name}"


class Step(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()  # 0-based; shown (and referred to) as +1
    operation = models.CharField(max_length=32)
    name = models.CharField(max_length=80, blank=True)
    params = models.JSONField(default=dict)  # literals and "{{…}}" references

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "position"], name="step_position_unique"),
        ]

    def __str__(self) -> str:
        return f"step {self.position + 1}: {self.operation}"


class ExecutionStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepStatus(models.TextChoices):
    PENDING = "pending"  # not reached yet
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # an earlier step failed or the execution was cancelled


EXECUTION_ACTIVE = (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING)


class Execution(models.Model):
    """One run of a template's pipeline, with the version and inputs it ran with."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="executions"
    )
    # Run in an organization's workspace (its members see it, its account pays, its steps' jobs
    # are in its gallery), or None: the user's own. `user` is who started it either way.
    organization = models.ForeignKey(
        "organizations.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="executions",
    )
    template = models.ForeignKey(
        Template, on_delete=models.SET_NULL, null=True, blank=True, related_name="executions"
    )
    pipeline = models.ForeignKey(
        Pipeline, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    template_version = models.PositiveIntegerField()
    # What ran, as it was: the template's name, inputs and steps at the time (the document
    # export writes), so a later edit changes no past execution and "run again" reproduces it.
    snapshot = models.JSONField()
    inputs = models.JSONField(default=dict)  # resolved: defaults filled, seeds drawn
    project = models.ForeignKey(
        "studio.Project", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.QUEUED
    )
    current_step = models.PositiveSmallIntegerField(default=0)
    cost = models.PositiveIntegerField()  # the whole price, as previewed
    # The hold of the current run (a retry opens a new one for what is left).
    hold = models.ForeignKey(
        "tokens.Hold", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    error = models.TextField(blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)  # 1 + retries
    idempotency_key = models.CharField(max_length=200, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)
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
                name="execution_idempotency_key_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["organization", "-created_at"]),
            models.Index(fields=["template", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in EXECUTION_ACTIVE


class ExecutionStep(models.Model):
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    operation = models.CharField(max_length=32)
    name = models.CharField(max_length=80, blank=True)
    params = models.JSONField(default=dict)  # as in the snapshot: references unresolved
    cost = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    # The job that ran it (the latest attempt: a retry runs a failed step as a new job).
    generation = models.OneToOneField(
        "studio.Generation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="pipeline_step",
    )
    # The jobs of earlier attempts at this step (ids, oldest first), kept for the run's log.
    earlier_jobs = models.JSONField(default=list, blank=True)
    output = models.CharField(max_length=64, blank=True)  # an asset, generation or style id
    charged = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["execution", "position"], name="execution_step_position_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.execution_id} step {self.position + 1} ({self.status})"


class Rating(models.Model):
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="ratings")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="template_ratings"
    )
    score = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["template", "user"], name="rating_one_per_user"),
            models.CheckConstraint(
                condition=Q(score__gte=1) & Q(score__lte=5), name="rating_score_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} rated {self.template_id} {self.score}"
