from django.core.management.base import BaseCommand, CommandError

from helpdesk.demo import ADMIN, AGENT_PASSWORD, AGENTS, demo_seed, demo_seed_allowed
from helpdesk.demo_history import demo_history_seed


class Command(BaseCommand):
    help = "Create or refresh the demo shop (idempotent): customers, orders, agents, articles, conversations."

    def add_arguments(self, parser):
        parser.add_argument(
            "--history-days",
            type=int,
            default=30,
            help="days of past conversations through the real copilot, for the analytics page (0: none)",
        )

    def handle(self, *args, history_days: int, **options):
        if not demo_seed_allowed():
            raise CommandError(
                "seed_demo creates accounts with known passwords; it runs only with DEBUG or DEMO_SEED_ALLOWED=1."
            )
        counts = demo_seed()
        if history_days > 0:
            counts["past conversations"] = demo_history_seed(days=history_days)
        self.stdout.write(self.style.SUCCESS("Demo shop ready: " + ", ".join(f"{v} {k}" for k, v in counts.items())))
        self.stdout.write("Development-only logins (never use in production):")
        self.stdout.write(f"  admin  {ADMIN['username']} / {ADMIN['password']}")
        for username, name, _ in AGENTS:
            self.stdout.write(f"  agent  {username} / {AGENT_PASSWORD}  ({name})")
