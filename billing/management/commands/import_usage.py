import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing.usage.ingest import Rejection, usage_record_batch
from ops.metrics import usage_events_count


class Command(BaseCommand):
    help = (
        "Import message status events from a JSON Lines file (one event per line). Valid lines are rated and "
        "debited; duplicates are skipped; rejected lines are reported by line number. Exits 1 if any line was "
        "rejected (the valid ones are still recorded)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--batch-size", type=int, default=settings.USAGE_MAX_BATCH)

    def handle(self, *args, file, batch_size, **options):
        if not 1 <= batch_size <= settings.USAGE_MAX_BATCH:
            raise CommandError(f"--batch-size must be between 1 and {settings.USAGE_MAX_BATCH}.")
        totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
        try:
            with open(file, encoding="utf-8") as handle:
                batch: list[tuple[int, object]] = []
                for line_number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    batch.append((line_number, self._decode(line)))
                    if len(batch) == batch_size:
                        self._import(batch, totals)
                        batch = []
                if batch:
                    self._import(batch, totals)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        self.stdout.write(
            f"{totals['accepted']} accepted, {totals['duplicates']} duplicate, {totals['rejected']} rejected."
        )
        if totals["rejected"]:
            raise CommandError(f"{totals['rejected']} line(s) rejected; see above.", returncode=1)

    @staticmethod
    def _decode(line: str) -> object:
        try:
            return json.loads(line)
        except json.JSONDecodeError as exc:
            return Rejection(-1, f"not valid JSON ({exc.msg})")

    def _import(self, batch: list[tuple[int, object]], totals: dict) -> None:
        events = [event for _, event in batch if not isinstance(event, Rejection)]
        line_of = [line for line, event in batch if not isinstance(event, Rejection)]
        for line, event in batch:
            if isinstance(event, Rejection):
                self.stderr.write(f"line {line}: {event.reason}")
                totals["rejected"] += 1
        result = usage_record_batch(events=events)
        for rejection in result.rejected:
            self.stderr.write(f"line {line_of[rejection.index]}: {rejection.reason}")
        usage_events_count(accepted=result.accepted, duplicates=result.duplicates,
                           rejected=len(result.rejected) + len(batch) - len(events))  # fmt: skip
        totals["accepted"] += result.accepted
        totals["duplicates"] += result.duplicates
        totals["rejected"] += len(result.rejected)
