import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from billing.usage.meta_volume_tiers import meta_volume_tiers_load
from billing.usage.rate_card import RateCardError


class Command(BaseCommand):
    help = (
        "Load Meta's volume tier file (Market,Category,Tier,Rate after 'Cost per message in <currency>'). All or none."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--effective-date", type=dt.date.fromisoformat, required=True)

    def handle(self, *args, file, effective_date, **options):
        try:
            with open(file, newline="", encoding="utf-8-sig") as handle:
                result = meta_volume_tiers_load(lines=handle, effective_date=effective_date, source=file)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        except RateCardError as exc:
            for line, reason in exc.problems:
                self.stderr.write(f"{file}:{line}: {reason}")
            raise CommandError(f"Tier file rejected ({len(exc.problems)} problem(s)); nothing was loaded.") from exc
        self.stdout.write(f"Loaded {result.created} new tier(s); {result.unchanged} already loaded unchanged.")
