import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from billing.usage.meta_rate_card import is_meta_rate_card, meta_rate_card_load
from billing.usage.rate_card import RateCardError, new_categories_checked, rate_card_load, rate_card_text


class Command(BaseCommand):
    help = (
        "Load Meta rates, all lines or nothing, from the portal's CSV (effective_date,currency,market,category,rate) "
        "or from Meta's downloadable rate card as published (then --effective-date is required); UTF-8, at most 2 MB."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument(
            "--effective-date",
            type=dt.date.fromisoformat,
            help="YYYY-MM-DD from which the rates of Meta's rate card file apply (that file carries no date).",
        )
        parser.add_argument(
            "--new-category",
            action="append",
            default=[],
            dest="new_categories",
            metavar="NAME",
            help="A category Meta introduced that the portal does not know yet, as Meta writes it in webhooks "
            "(e.g. marketing_carousel); its rates load and messages in it are rated by them. Repeat for several.",
        )

    def handle(self, *args, file, effective_date, new_categories, **options):
        try:
            new_categories = new_categories_checked(new_categories)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        try:
            with open(file, "rb") as handle:
                lines = list(rate_card_text(handle))  # UTF-8 (a BOM allowed), at most 2 MB, or a clear error
            meta_format = bool(lines) and is_meta_rate_card(lines[0])
            if meta_format and effective_date is None:
                raise CommandError(f"{file} is Meta's rate card, which carries no date: give --effective-date.")
            if not meta_format and effective_date is not None:
                raise CommandError(f"{file} has its effective dates on every line: drop --effective-date.")
            if meta_format:
                result = meta_rate_card_load(
                    lines=lines, effective_date=effective_date, source=file, new_categories=new_categories
                )
            else:
                result = rate_card_load(lines=lines, source=file, new_categories=new_categories)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        except RateCardError as exc:
            for line, reason in exc.problems:
                self.stderr.write(f"{file}:{line}: {reason}")
            raise CommandError(f"Rate card rejected ({len(exc.problems)} problem(s)); nothing was loaded.") from exc
        self.stdout.write(f"Loaded {result.created} new rate(s); {result.unchanged} already loaded unchanged.")
