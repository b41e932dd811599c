"""Deleting one's own account: running work is cancelled and refunded first, then the files and
every row of personal data go; the ledger stays for the books, on the user row, anonymised.

The row is kept (not deleted) because the ledger's entries belong to its token account,
which PROTECT keeps: it loses its email (a unique placeholder, so the address can register
again), its name and its password, and is marked inactive, so nothing can sign in as it.
"""

import contextlib
import logging
import uuid
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from accounts.models import DataExport, Subscription, User
from accounts.services import WrongPassword, tokens_revoke_all
from core.exceptions import DomainError, Forbidden
from pipelines.models import EXECUTION_ACTIVE, Execution, Rating, Template
from pipelines.services.executions import execution_cancel
from studio import storage
from studio.models import ACTIVE, Asset, Generation, Project, Style, Webhook
from studio.services.generations import generation_cancel
from tokens.exceptions import HoldNotOpen
from tokens.models import EntryKind, Hold, HoldStatus, LedgerEntry, TokenAccount
from tokens.services import hold_release

logger = logging.getLogger(__name__)

DELETED_DOMAIN = "deleted.invalid"  # .invalid is reserved (RFC 2606): never a real mailbox


@dataclass
class AccountDeletion:
    """What deleting an account did."""

    cancelled: dict[str, int] = field(default_factory=dict)
    released: int = 0  # credits that went back from the holds of cancelled work
    deleted: dict[str, int] = field(default_factory=dict)


def user_jobs_cancel(*, user: User, actor=None) -> dict[str, int]:
    """Cancel the user's queued and running executions and generations, each through its
    own cancel service (which gives the credits back). Returns how many of each."""
    cancelled = {"executions": 0, "generations": 0}
    # Ids read up front: an open cursor over the rows being cancelled would hold SQLite's
    # shared-cache table locks against the cancels' own writes.
    executions = Execution.objects.filter(user=user, status__in=EXECUTION_ACTIVE)
    for execution_id in list(executions.values_list("pk", flat=True)):
        with contextlib.suppress(DomainError):  # finished meanwhile
            execution_cancel(user=user, execution_id=execution_id, actor=actor, maker=True)
            cancelled["executions"] += 1
    # After the executions: their running steps are cancelled with them.
    generations = Generation.objects.filter(user=user, status__in=ACTIVE)
    for generation_id in list(generations.values_list("pk", flat=True)):
        with contextlib.suppress(DomainError):
            generation_cancel(user=user, generation_id=generation_id, actor=actor, maker=True)
            cancelled["generations"] += 1
    return cancelled


def account_delete(*, user: User, password: str) -> AccountDeletion:
    """Delete the user's account after checking their password (400 when wrong)."""
    if user.is_demo:
        raise Forbidden("The shared demo account cannot be deleted")
    if not password or not user.check_password(password):
        raise WrongPassword("Password is incorrect", password=["Password is incorrect"])
    result = AccountDeletion()
    account = TokenAccount.objects.filter(user=user).first()
    first_entry = _last_entry_id(account)
    result.cancelled = user_jobs_cancel(user=user)
    # Files before rows (storage I/O never inside a transaction): if storage is down this
    # stops with 503 and nothing else is gone yet, so asking again finishes the job.
    prefix = f"users/{user.pk}/"
    result.deleted["files"] = storage.delete_prefix(prefix)
    with transaction.atomic():
        result.deleted.update(_delete_rows(user))
        if account is not None:
            _release_open_holds(account)
        _anonymise(user)
        tokens_revoke_all(user=user)
    # A job that finished writing between the cancels and the rows' deletion left files no
    # row names; take them too (storage_sweep would, a day later).
    result.deleted["files"] += storage.delete_prefix(prefix)
    result.released = _released_since(account, first_entry)
    logger.info("account %s deleted: %s", user.pk, result)
    return result


def _delete_rows(user: User) -> dict[str, int]:
    # Executions before generations (their steps point at them), generations before assets
    # (a result's asset goes with its generation), assets before projects and styles.
    deleted = {"ratings": _ratings_withdraw(user)}
    for name, rows in (
        ("executions", Execution.objects.filter(user=user)),
        ("generations", Generation.objects.filter(user=user)),
        ("assets", Asset.objects.filter(user=user)),
        ("styles", Style.objects.filter(user=user)),
        ("projects", Project.objects.filter(user=user)),
        ("templates", Template.objects.filter(owner=user)),
        ("webhooks", Webhook.objects.filter(user=user)),
        ("exports", DataExport.objects.filter(user=user)),
    ):
        deleted[name] = rows.delete()[1].get(rows.model._meta.label, 0)
    # Without a subscription the monthly renewal grants the closed account nothing more.
    Subscription.objects.filter(user=user).delete()
    return deleted


def _ratings_withdraw(user: User) -> int:
    """Take the user's ratings off other people's templates, with their counts and sums (as
    pipelines.services.templates.template_rate moves them: under the template's lock)."""
    ratings = list(Rating.objects.filter(user=user).order_by("template_id"))
    for rating in ratings:
        Template.objects.select_for_update().filter(pk=rating.template_id).first()
        Template.objects.filter(pk=rating.template_id).update(
            rating_count=F("rating_count") - 1, rating_sum=F("rating_sum") - rating.score
        )
        rating.delete()
    return len(ratings)


def _release_open_holds(account: TokenAccount) -> None:
    """Holds still open belong to work that raced the cancels (submitted in the last moment);
    nothing will ever run it now, so its credits go back too."""
    for hold in Hold.objects.filter(account=account, status=HoldStatus.OPEN):
        with contextlib.suppress(HoldNotOpen):
            hold_release(hold=hold, reason="Account deleted")


def _anonymise(user: User) -> None:
    user.email = f"deleted-{uuid.uuid4().hex}@{DELETED_DOMAIN}"
    user.name = ""
    # An unusable password also changes the session hash: every signed-in browser is out.
    user.set_unusable_password()
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.last_login = None
    user.deleted_at = timezone.now()
    user.full_clean(exclude=["password"])
    user.save()
    user.groups.clear()
    user.user_permissions.clear()


def _last_entry_id(account: TokenAccount | None) -> int:
    if account is None:
        return 0
    last = LedgerEntry.objects.filter(account=account).order_by("-id").first()
    return last.pk if last else 0


def _released_since(account: TokenAccount | None, first_entry: int) -> int:
    if account is None:
        return 0
    releases = LedgerEntry.objects.filter(
        account=account, kind=EntryKind.RELEASE, pk__gt=first_entry
    ).aggregate(total=Sum("held_delta"))
    return -(releases["total"] or 0)
