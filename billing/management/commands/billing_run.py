import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from billing.invoicing.calendar import billing_run
from billing.management.progress import ProgressBar
from core import clock


class Command(BaseCommand):
    help = "Run every billing job due on a date (as Celery beat does that day) and list what was issued. Re-runnable."

    def add_arguments(self, parser):
        parser.add_argument("--date", help="YYYY-MM-DD (default: today, UTC)")
        parser.add_argument("--dry-run", action="store_true", help="show what would be issued; change nothing")

    def handle(self, *args, date=None, dry_run=False, **options):
        try:
            day = dt.date.fromisoformat(date) if date else clock.now().date()
        except ValueError as exc:
            raise CommandError(f"--date must be YYYY-MM-DD, got {date!r}") from exc
        report = billing_run(day=day, dry_run=dry_run, on_step=ProgressBar(self.stderr, "billing run "))
        verb = "Would issue" if dry_run else "Issued"
        self.stdout.write(f"Billing run for {day} ({', '.join(report.jobs)}){' — dry run' if dry_run else ''}")
        if report.deleted_numbers:
            self.stdout.write(f"  {report.deleted_numbers} number(s) deleted at the start of the month")
        for invoice in report.issued:
            party = invoice.billed_company.get("hub_id") or invoice.billed_company.get("company_name")
            self.stdout.write(
                f"  {invoice.number:<16} {invoice.kind:<20} {party:<14} {invoice.period_key:<10} "
                f"{invoice.total:>10} {invoice.currency} {invoice.status}"
            )
        self.stdout.write(f"{verb} {len(report.issued)} invoice(s).")
