from django.core.management.base import BaseCommand

from studio.services.sweeper import generations_sweep


class Command(BaseCommand):
    help = (
        "Re-enqueue jobs that lost their message or worker, and fail (and refund) jobs stuck "
        "past their time limit. Safe to run from cron every minute, and concurrently."
    )

    def handle(self, *args, **options):
        self.stdout.write(str(generations_sweep()))
