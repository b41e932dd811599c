import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone


class Plan(models.Model):
    """A subscription plan: monthly credits, rollover and rate limits. Edited in the admin."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    credits_per_month = models.PositiveIntegerField()
    rollover_cap = models.PositiveIntegerField(
        default=0, help_text="Most unused credits carried into the next month (0 = none)."
    )
    images_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty = unlimited."
    )
    videos_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty = unlimited."
    )
    api_calls_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty = unlimited."
    )
    is_default = models.BooleanField(default=False, help_text="New accounts start on this plan.")
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_plan"
            )
        ]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        # The whole address is compared case-insensitively: two accounts for Ann@x and ann@x
        # would be a support nightmare, and no mail provider we care about distinguishes them.
        return (email or "").strip().lower()

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        user = self.model(email=self.normalize_email(email), **fields)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True, max_length=254)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    is_demo = models.BooleanField(default=False)
    # Set when the person deleted their account: the row stays, anonymised, because the
    # ledger's entries (kept for the books) belong to it.
    deleted_at = models.DateTimeField(null=True, blank=True)
    date_joined = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        ordering = ["-date_joined"]

    def __str__(self) -> str:
        return self.email

    @property
    def plan(self) -> Plan | None:
        subscription = getattr(self, "subscription", None)
        return subscription.plan if subscription else None


class Subscription(models.Model):
    """Which plan a user is on; the credit period itself lives on their token account."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="subscription")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    custom_credits_per_month = models.PositiveIntegerField(
        null=True, blank=True, help_text="Overrides the plan's allocation (enterprise deals)."
    )
    started_at = models.DateTimeField(default=timezone.now)
    pending_plan = models.ForeignKey(
        Plan,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Takes over from the plan at the next renewal (tokens_renew).",
    )

    def __str__(self) -> str:
        return f"{self.user} on {self.plan}"

    @property
    def credits_per_month(self) -> int:
        if self.custom_credits_per_month is not None:
            return self.custom_credits_per_month
        return self.plan.credits_per_month


class ExportStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


EXPORT_ACTIVE = (ExportStatus.QUEUED, ExportStatus.RUNNING)


class DataExport(models.Model):
    """A ZIP of everything a user has here, built by a job and downloadable for a day."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)  # exp_…
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="data_exports")
    status = models.CharField(
        max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    # Named when the row is made, before the file exists: manage.py storage_sweep keeps the
    # files rows point to, so the ZIP is never mistaken for an orphan while it is built.
    # Cleared when the export expires (the file goes with it).
    key = models.CharField(max_length=500, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    contents = models.JSONField(default=dict, blank=True, help_text="How many of each thing.")
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One export at a time per user, enforced where two requests cannot both win.
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_export_per_user",
            )
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["status", "expires_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def storage_prefix(self) -> str:
        return f"users/{self.user_id}/exports/{self.id}/"
