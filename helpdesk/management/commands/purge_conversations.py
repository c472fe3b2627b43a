import re
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from helpdesk.services.retention import conversations_purge

UNITS = {"d": "days", "h": "hours"}


def duration_parse(value: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([dh])", value.strip())
    if match is None or int(match.group(1)) == 0:
        raise CommandError(f"--older-than takes a count of days or hours, like 90d or 36h; not {value!r}.")
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


class Command(BaseCommand):
    help = "Delete conversations with no activity for a while (default RETENTION_DAYS), except unfinished human work."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", help="e.g. 90d or 36h (default: RETENTION_DAYS)")
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args, older_than: str | None, dry_run: bool, **options):
        if older_than is None:
            if not settings.RETENTION_DAYS:
                self.stdout.write("RETENTION_DAYS is 0: nothing is purged. Give --older-than to purge anyway.")
                return
            older_than = f"{settings.RETENTION_DAYS}d"
        count = conversations_purge(older_than=duration_parse(older_than), dry_run=dry_run)
        verb = "Would purge" if dry_run else "Purged"
        self.stdout.write(f"{verb} {count} conversations inactive for more than {older_than}.")
