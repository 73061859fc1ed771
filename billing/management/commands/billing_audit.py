from django.core.management.base import BaseCommand, CommandError

from billing.audit import ledger_audit
from billing.models import CreditAccount


class Command(BaseCommand):
    help = (
        "Check every credit account (cached balance == sum of entries, currencies, running balances, usage "
        "debits). Exits non-zero, naming each account, on any violation."
    )

    def handle(self, *args, **options):
        violations = ledger_audit()
        for violation in violations:
            self.stderr.write(f"VIOLATION {violation}")
        if violations:
            raise CommandError(f"{len(violations)} violation(s) found.")
        self.stdout.write(f"OK: {CreditAccount.objects.count()} credit account(s) audited, no violations.")
