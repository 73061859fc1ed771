import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from billing.journal import JOURNAL_FORMATS, JournalError, journal_export, journal_rows


class Command(BaseCommand):
    help = (
        "Write the month's journal for the accountant: every invoice and credit note, one row per document and VAT "
        "rate: manage.py journal_export --month 2026-11 --output journal.csv [--format csv|datev]"
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM (documents issued in that UTC month).")
        parser.add_argument("--output", "-o", required=True, help="File to write.")
        parser.add_argument("--format", choices=JOURNAL_FORMATS, default="csv", dest="file_format",
                            help="csv (spreadsheet) or datev (DATEV Buchungsstapel, EXTF).")  # fmt: skip

    def handle(self, *args, month, output, file_format, **options):
        try:
            first = dt.datetime.strptime(month, "%Y-%m").date()  # noqa: DTZ007 (a calendar month, not a moment)
        except ValueError as exc:
            raise CommandError(f"--month must be YYYY-MM, got {month!r}.") from exc
        try:
            data = journal_export(month=first, file_format=file_format)
        except JournalError as exc:
            raise CommandError(str(exc)) from exc
        Path(output).write_bytes(data)
        count = len(journal_rows(month=first))
        self.stdout.write(f"Wrote {count} row(s) for {first:%Y-%m} as {file_format} to {output}.")
