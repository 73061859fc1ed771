from django.core.management.base import BaseCommand, CommandError

from billing.audit import audit_run_record


class Command(BaseCommand):
    help = (
        "Check every credit account (cached balance == sum of entries, currencies, running balances, usage "
        "debits). Exits non-zero, naming each account, on any violation."
    )

    def handle(self, *args, **options):
        run = audit_run_record()
        for v in run.violations:
            self.stderr.write(f"VIOLATION hub {v['hub_id']} (credit account {v['account_id']}): {v['problem']}")
        if run.violations:
            raise CommandError(f"{len(run.violations)} violation(s) found.")
        self.stdout.write(f"OK: {run.accounts} credit account(s) audited, no violations.")
