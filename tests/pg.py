"""Connections of a test's own to the test database, from outside Django (another backend)."""

import psycopg
from django.db import connection


def pg_params() -> dict:
    """Django's own parameters for the test database, less the options only its wrapper understands."""
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)
    return params


def pg_connect(*, autocommit: bool) -> psycopg.Connection:
    return psycopg.connect(**pg_params(), autocommit=autocommit)
