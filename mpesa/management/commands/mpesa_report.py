from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from mpesa.reconciliation import read_statement, reconcile


class Command(BaseCommand):
    help = (
        "Compare a day of the M-Pesa organisation statement (CSV export from the M-Pesa portal) "
        "with our deposits; prints every difference and exits 1 if there is any."
    )

    def add_arguments(self, parser: object) -> None:
        parser.add_argument("--date", required=True, help="YYYY-MM-DD")
        parser.add_argument("--statement", required=True, type=Path)

    def handle(self, *args: object, **options: object) -> None:
        try:
            day = date.fromisoformat(options["date"])
        except ValueError:
            raise CommandError(f"{options['date']!r} is not a date (YYYY-MM-DD)") from None
        if not options["statement"].is_file():
            raise CommandError(f"no statement at {options['statement']}")
        statement = read_statement(options["statement"], day)
        differences = reconcile(statement=statement, day=day)
        self.stdout.write(f"{day}: {len(statement)} credits on the statement")
        for difference in differences:
            self.stdout.write(f"  {difference.receipt}: {difference.problem}")
        if differences:
            raise CommandError(f"{len(differences)} difference(s)")
        self.stdout.write("  books and statement agree")
