from django.core.management.base import BaseCommand, CommandError

from billing.usage.rate_card import RateCardError, rate_card_load, rate_card_text


class Command(BaseCommand):
    help = (
        "Load Meta rates from a CSV file (effective_date,currency,market,category,rate; UTF-8, at most 2 MB). "
        "All lines or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        try:
            with open(file, "rb") as handle:
                result = rate_card_load(lines=rate_card_text(handle), source=file)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        except RateCardError as exc:
            for line, reason in exc.problems:
                self.stderr.write(f"{file}:{line}: {reason}")
            raise CommandError(f"Rate card rejected ({len(exc.problems)} problem(s)); nothing was loaded.") from exc
        self.stdout.write(f"Loaded {result.created} new rate(s); {result.unchanged} already loaded unchanged.")
