"""A throw-away database for benchmarks, on the same PostgreSQL server as the app.

``scratch_django(name)`` creates database ``name`` (dropping a leftover one), points
Django at it through ``DATABASE_URL``, sets Django up and applies the migrations.
``scratch_attach(name)`` reuses one an earlier run kept, and ``scratch_drop(name)`` removes
it. The app's own database is never touched.
"""

import os
import sys
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import psycopg

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "eval-data"


def _server_url() -> str:
    """The URL of the server the app uses: DATABASE_URL, or the embedded one (started if needed)."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    sys.path.insert(0, str(ROOT))
    from helpdesk.embedded_pg import embedded_database

    data_dir = Path(os.environ.get("EMBEDDED_PG_DIR", ROOT / ".data" / "pg"))
    settings = embedded_database(data_dir=ROOT / data_dir)
    return f"postgres://postgres@/postgres?host={quote(settings['HOST'])}"


def _admin_conninfo(url: str) -> str:
    parsed = urlparse(url)
    host = parse_qs(parsed.query).get("host", [parsed.hostname or ""])[0]
    user = parsed.username or "postgres"
    password = parsed.password or ""
    port = parsed.port or 5432
    return f"host={host} port={port} user={user} password={password} dbname=postgres"


def scratch_django(name: str, *, settings_module: str = "helpdesk.settings.local") -> None:
    url = _server_url()
    with psycopg.connect(_admin_conninfo(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    parsed = urlparse(url)
    os.environ["DATABASE_URL"] = parsed._replace(path=f"/{name}").geturl()
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def scratch_attach(name: str, *, settings_module: str = "helpdesk.settings.local") -> None:
    """Point Django at a scratch database kept by an earlier run, without recreating it."""
    url = urlparse(_server_url())
    os.environ["DATABASE_URL"] = url._replace(path=f"/{name}").geturl()
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def scratch_drop(name: str) -> None:
    from django.db import connections

    connections.close_all()
    url = os.environ["DATABASE_URL"]
    with psycopg.connect(_admin_conninfo(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
