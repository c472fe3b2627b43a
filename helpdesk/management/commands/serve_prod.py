from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from helpdesk.processes import ProcessSet, ProcessSetError


class Command(BaseCommand):
    help = (
        "Run the production process set on this machine: Redis (unless REDIS_URL is set), N daphne "
        "processes sharing one port, and Celery workers. See docs/operations.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--web", type=int, default=2, help="daphne processes (default 2)")
        parser.add_argument("--workers", type=int, default=1, help="Celery workers (default 1)")
        parser.add_argument("--redis-port", type=int, default=6379, help="local Redis port when REDIS_URL is unset")
        parser.add_argument("--skip-setup", action="store_true", help="no migrate or collectstatic first")

    def handle(self, *args, host, port, web, workers, redis_port, skip_setup, **options):
        if web < 1 or workers < 0:
            raise CommandError("--web must be at least 1 and --workers at least 0.")
        if not skip_setup:
            call_command("migrate", interactive=False, verbosity=0)
            if settings.STATIC_ROOT:
                call_command("collectstatic", interactive=False, verbosity=0)
        processes = ProcessSet(
            host=host,
            port=port,
            web=web,
            workers=workers,
            data_dir=Path(settings.DATA_DIR),
            redis_url=settings.REDIS_URL,
            redis_port=redis_port,
        )
        try:
            processes.start()
        except ProcessSetError as exc:
            processes.stop()
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            processes.stop()
            raise CommandError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        self.stdout.write(f"Serving on http://{host}:{port}/ with {web} daphne processes and {workers} Celery workers")
        raise SystemExit(processes.wait())
