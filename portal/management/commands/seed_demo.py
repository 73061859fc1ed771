from django.core.management.base import BaseCommand

from portal.demo import demo_seed


class Command(BaseCommand):
    help = "Create the demo partners, clients, hubs, numbers, users, funds and two months of usage (idempotent)."

    def handle(self, *args, **options):
        logins = demo_seed()
        self.stdout.write("Demo logins (password for all: shown per line):")
        for login in logins:
            self.stdout.write(f"  {login.username:<22} {login.password:<16} {login.role:<10} {login.party}")
