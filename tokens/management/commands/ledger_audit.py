from django.core.management.base import BaseCommand, CommandError

from tokens.audit import ledger_audit
from tokens.models import TokenAccount


class Command(BaseCommand):
    help = (
        "Check every account: balance == sum of entries, held == sum of open holds, no hold "
        "resolved twice. Exits non-zero and names each account on any mismatch."
    )

    def handle(self, *args, **options):
        problems = ledger_audit()
        for problem in problems:
            self.stderr.write(str(problem))
        if problems:
            raise CommandError(f"ledger audit failed: {len(problems)} problem(s)")
        self.stdout.write(f"ledger audit clean: {TokenAccount.objects.count()} account(s)")
