"""The credit ledger: an account with a balance and a held part, append-only entries, holds.

`balance` is what the user owns; `held` is the part reserved for work in flight; what they
can spend is `balance - held`. Only tokens.services writes these rows.
"""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class TokenAccount(models.Model):
    """A user's account, or an organization's (its members spend from it): exactly one owner."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="token_account",
    )
    organization = models.OneToOneField(
        "organizations.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="token_account",
    )
    balance = models.BigIntegerField(default=0)
    held = models.BigIntegerField(default=0)
    # The current credit period; renewal (tokens.services.tokens_renew) moves it forward.
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    # Automatic refill (the shared demo account): below `refill_below` available credits,
    # the next use tops the account up to `refill_to`.
    refill_below = models.PositiveIntegerField(null=True, blank=True)
    refill_to = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(held__gte=0), name="account_held_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(balance__gte=models.F("held")),
                name="account_held_within_balance",
            ),
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, organization__isnull=True)
                | models.Q(user__isnull=True, organization__isnull=False),
                name="account_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner}: {self.balance} ({self.held} held)"

    @property
    def owner(self):
        """The user or the organization the credits belong to."""
        return self.user if self.user_id else self.organization

    @property
    def available(self) -> int:
        return self.balance - self.held


class EntryKind(models.TextChoices):
    GRANT = "grant"
    RENEWAL = "renewal"
    PURCHASE = "purchase"
    HOLD = "hold"
    CAPTURE = "capture"
    RELEASE = "release"
    REFUND = "refund"
    ADJUST = "adjust"
    EXPIRE = "expire"


class HoldStatus(models.TextChoices):
    OPEN = "open"
    CAPTURED = "captured"
    RELEASED = "released"


class Hold(models.Model):
    """Credits reserved for one piece of work until it is captured or released."""

    # No index of its own: the unique (account, idempotency_key) index leads with account.
    # Every index is written on the hot path of each paid request.
    account = models.ForeignKey(
        TokenAccount, on_delete=models.PROTECT, related_name="holds", db_index=False
    )
    amount = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=HoldStatus.choices, default=HoldStatus.OPEN)
    captured = models.PositiveIntegerField(default=0)
    refunded = models.PositiveIntegerField(default=0)
    operation = models.CharField(max_length=64, blank=True)
    # What the credits pay for (a generation…); its capture, release and refund entries name it.
    content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, null=True, blank=True, db_index=False
    )
    object_id = models.CharField(max_length=64, blank=True)
    # On an organization's account: the member who spent (their monthly limit counts it).
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    idempotency_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "idempotency_key"], name="hold_key_unique"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(captured__lte=models.F("amount")),
                name="hold_capture_within_amount",
            ),
            models.CheckConstraint(
                condition=models.Q(refunded__lte=models.F("captured")),
                name="hold_refund_within_capture",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"]),
            models.Index(
                fields=["account", "member", "created_at"],
                condition=models.Q(member__isnull=False),
                name="hold_member_spend",
            ),
        ]

    def __str__(self) -> str:
        return f"hold {self.pk} of {self.amount} ({self.status})"


class LedgerEntry(models.Model):
    """One movement of credits. Append-only: rows are never updated or deleted.

    `amount` is the change to the balance and `held_delta` the change to the held part, so
    an account's balance is the sum of its amounts and its held part the sum of held deltas.
    """

    # Indexes are few on purpose (each is written on every paid request): account is served
    # by the (account, -id) and (account, idempotency_key) indexes, the subject by
    # (content_type, object_id).
    account = models.ForeignKey(
        TokenAccount, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    kind = models.CharField(max_length=16, choices=EntryKind.choices)
    amount = models.BigIntegerField()
    held_delta = models.BigIntegerField(default=0)
    balance_after = models.BigIntegerField()
    held_after = models.BigIntegerField()
    memo = models.CharField(max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Staff member who made an adjustment or grant by hand.",
    )
    hold = models.ForeignKey(
        Hold, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, null=True, blank=True, db_index=False
    )
    object_id = models.CharField(max_length=64, blank=True)
    subject = GenericForeignKey("content_type", "object_id")
    idempotency_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["account", "idempotency_key"], name="entry_key_unique"),
        ]
        indexes = [
            models.Index(fields=["account", "-id"]),
            models.Index(fields=["kind", "created_at"]),
            models.Index(fields=["content_type", "object_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} -> {self.balance_after}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Ledger entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only")
