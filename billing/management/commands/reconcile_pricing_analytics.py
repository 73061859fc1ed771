import json

from django.core.management.base import BaseCommand, CommandError

from billing.meta_analytics import pricing_analytics_points, pricing_analytics_reconcile
from billing.reconciliation import ReconciliationError
from hub.models import Waba


class Command(BaseCommand):
    help = "Reconcile a WABA's usage with Meta's pricing_analytics response (JSON as the Graph API returns it)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--waba", required=True, help="The WABA's Meta id (the response does not name it).")

    def handle(self, *args, file, waba, **options):
        found = Waba.objects.select_related("hub__credit_account").filter(meta_waba_id=waba).first()
        if found is None:
            raise CommandError(f"No WABA has the Meta id {waba}.")
        try:
            with open(file, encoding="utf-8") as handle:
                response = json.load(handle)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise CommandError(f"{file} is not JSON: {exc}") from exc
        try:
            results = pricing_analytics_reconcile(waba=found, points=list(pricing_analytics_points(response)))
        except ReconciliationError as exc:
            for position, reason in exc.problems:
                self.stderr.write(f"{file}: data point {position}: {reason}")
            raise CommandError(f"Rejected ({len(exc.problems)} problem(s)); nothing was posted.") from exc
        for r in results:
            self.stdout.write(
                f"{r.day} {found.meta_waba_id}: Meta {r.meta_cost} {r.currency}, rated {r.rated_cost}, "
                f"adjustment {r.adjustment} (posted {r.posted})"
            )
