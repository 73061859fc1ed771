from collections import defaultdict
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from billing.management.progress import ProgressBar
from billing.reconciliation import (
    ReconciliationError,
    ReconciliationResult,
    reconciliation_parse,
    usage_reconcile,
    usage_reconcile_chunked,
)

ROW = "{waba:<15} {day:<10} {currency:<3} {rated:>14} {meta:>14} {before:>10} → {after:<10} {posted:>10}"


class Command(BaseCommand):
    help = (
        "Reconcile Meta's daily cost per WABA (CSV: date,waba_id,currency,cost) with the rated usage: post one "
        "RECONCILIATION entry per WABA and day for the change of its difference. The file is checked whole: one bad "
        "line rejects it and nothing is posted. Posting commits per 500 WABA days (progress on stderr); an import "
        "interrupted half way is completed by running it again (a day already reconciled posts nothing)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="Compute and print the adjustments; post nothing.")

    def handle(self, *args, file, dry_run, **options):
        try:
            with open(file, newline="", encoding="utf-8-sig") as handle:
                rows = reconciliation_parse(lines=handle)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        except ReconciliationError as exc:
            for line, reason in exc.problems:
                self.stderr.write(f"{file}:{line}: {reason}")
            raise CommandError(
                f"Reconciliation file rejected ({len(exc.problems)} problem(s)); nothing was posted."
            ) from exc
        if dry_run:
            with transaction.atomic():
                results = usage_reconcile(rows=rows)
                transaction.set_rollback(True)
        else:
            results = usage_reconcile_chunked(rows=rows, on_chunk=ProgressBar(self.stderr, "reconciled "))
        self._print(results)
        posted = sum(1 for result in results if result.posted)
        if dry_run:
            self.stdout.write(f"Dry run: {posted} entr(y/ies) would be posted; nothing was posted.")
        else:
            self.stdout.write(f"Posted {posted} RECONCILIATION entr(y/ies).")

    def _print(self, results: list[ReconciliationResult]) -> None:
        self.stdout.write(
            ROW.format(
                waba="WABA",
                day="Day",
                currency="Cur",
                rated="Rated",
                meta="Meta",
                before="Before",
                after="After",
                posted="Posted",
            )
        )
        totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for r in results:
            self.stdout.write(
                ROW.format(
                    waba=r.waba.meta_waba_id,
                    day=str(r.day),
                    currency=r.currency,
                    rated=r.rated_cost,
                    meta=r.meta_cost,
                    before=r.previous,
                    after=r.adjustment,
                    posted=r.posted if r.posted else "none",
                )
            )
            for name, value in (
                ("rated", r.rated_cost),
                ("meta", r.meta_cost),
                ("before", r.previous),
                ("after", r.adjustment),
                ("posted", r.posted),
            ):
                totals[r.currency][name] += value
        for currency, t in sorted(totals.items()):
            self.stdout.write(
                f"Total {currency}: rated {t['rated']}, Meta {t['meta']}, "
                f"adjustment {t['before']} → {t['after']}, posted {t['posted']}"
            )
