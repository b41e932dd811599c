import argparse

from django.core.management.base import BaseCommand, CommandError

from studio.services.storage_sweep import ROOTS, parse_grace, storage_sweep


def _grace(value: str):
    try:
        return parse_grace(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Command(BaseCommand):
    help = (
        "Find stored files no database row points to, older than the grace period, under "
        f"{' and '.join(ROOTS)}. A dry run by default (reports count, bytes and a few keys); "
        "--delete removes them. Safe to run from cron, e.g. daily."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--delete", action="store_true", help="Remove the orphans (default: only report)."
        )
        parser.add_argument(
            "--grace",
            type=_grace,
            default=None,
            help="Keep files younger than this: 24h, 90m, 2d, 3600s or a number of hours "
            "(default: the STORAGE_SWEEP_GRACE setting, else 24h).",
        )
        parser.add_argument(
            "--prefix",
            default=None,
            help=f"Only look under this folder, e.g. users/<id>/ (must lie under {ROOTS}).",
        )

    def handle(self, *args, **options):
        try:
            result = storage_sweep(
                grace=options["grace"], prefix=options["prefix"], delete=options["delete"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(str(result))
        if not options["delete"] and result.orphans:
            self.stdout.write("dry run: nothing deleted (use --delete)")
