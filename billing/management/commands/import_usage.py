import codecs
import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from billing.usage.ingest import Rejection, usage_record_batch
from ops.metrics import usage_events_count

MAX_LINE_BYTES = 64 * 1024  # an event is a few hundred bytes; a longer line is not one


class Command(BaseCommand):
    help = (
        "Import message status events from a JSON Lines file (one event per line, UTF-8, a byte order mark "
        "allowed). Valid lines are rated and debited; duplicates are skipped; rejected lines are reported by line "
        "number. The whole file is always read. Exits 1 if any line was rejected (the valid ones are still recorded)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--batch-size", type=int, default=settings.USAGE_MAX_BATCH)

    def handle(self, *args, file, batch_size, **options):
        if not 1 <= batch_size <= settings.USAGE_MAX_BATCH:
            raise CommandError(f"--batch-size must be between 1 and {settings.USAGE_MAX_BATCH}.")
        totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
        try:
            with open(file, "rb") as handle:
                batch: list[tuple[int, object]] = []
                for line_number, raw in enumerate(handle, start=1):
                    if line_number == 1 and raw.startswith(codecs.BOM_UTF8):
                        raw = raw[len(codecs.BOM_UTF8) :]
                    if not raw.strip():
                        continue
                    batch.append((line_number, self._decode(raw)))
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
    def _decode(raw: bytes) -> object:
        """The line's JSON value, or the Rejection saying why it has none. Whatever the bytes, this never raises."""
        if len(raw) > MAX_LINE_BYTES:
            return Rejection(-1, f"line is longer than {MAX_LINE_BYTES} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Rejection(-1, f"not valid UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1})")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            return Rejection(-1, f"not valid JSON ({exc.msg})")
        except ValueError as exc:  # an integer of more digits than Python converts (4,300)
            return Rejection(-1, f"not valid JSON ({exc})")
        except RecursionError:
            return Rejection(-1, "not valid JSON (nested too deeply)")

    def _import(self, batch: list[tuple[int, object]], totals: dict) -> None:
        rejected = [(line, event.reason) for line, event in batch if isinstance(event, Rejection)]
        lines = [(line, event) for line, event in batch if not isinstance(event, Rejection)]
        if rejected:  # lines that never reached the usage service (bad bytes, bad JSON) count as rejected events
            usage_events_count(accepted=0, duplicates=0, rejected=len(rejected))
        if lines:
            rejected += self._record(lines, totals)
        for line, reason in sorted(rejected):
            self.stderr.write(f"line {line}: {reason}")
        totals["rejected"] += len(rejected)

    def _record(self, lines: list[tuple[int, object]], totals: dict) -> list[tuple[int, str]]:
        """Record the lines as one batch and return the rejected (line, reason). Should the batch fail as a whole
        (nothing of it is written then), record them one by one, so that only a line that cannot be recorded is
        reported and every other line still is."""
        try:
            result = usage_record_batch(events=[event for _, event in lines])
        except (DatabaseError, ValueError, TypeError, ArithmeticError, RecursionError) as exc:
            if len(lines) > 1:
                return [rejection for one in lines for rejection in self._record([one], totals)]
            return [(lines[0][0], f"could not be recorded ({type(exc).__name__}: {exc})"[:300])]
        usage_events_count(accepted=result.accepted, duplicates=result.duplicates, rejected=len(result.rejected))
        totals["accepted"] += result.accepted
        totals["duplicates"] += result.duplicates
        return [(lines[r.index][0], r.reason) for r in result.rejected]
