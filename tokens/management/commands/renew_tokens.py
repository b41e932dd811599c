from django.core.management.base import BaseCommand
from django.utils import timezone

from tokens.models import TokenAccount
from tokens.services import holds_release_expired, tokens_renew


class Command(BaseCommand):
    help = (
        "Start the new monthly period of every account whose period has ended, and release "
        "expired holds. Idempotent per account and period: safe to run from cron every hour."
    )

    def handle(self, *args, **options):
        now = timezone.now()
        renewed = 0
        for account in TokenAccount.objects.filter(period_end__lte=now).iterator():
            tokens_renew(account=account, now=now)
            renewed += 1
        released = holds_release_expired(now=now)
        self.stdout.write(f"renewed {renewed} account(s); released {released} expired hold(s)")
