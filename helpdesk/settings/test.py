"""pytest settings: the same PostgreSQL (embedded unless DATABASE_URL), fast hashing, eager Celery."""

from helpdesk.env import env_str

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-only-secret-key"  # noqa: S105
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
WHITENOISE_USE_FINDERS = True
# Nothing is collected outside production; serving from the app folders needs no root.
STATIC_ROOT = None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
DEMO_SEED_ALLOWED = True
# Tests edit the taxonomy and expect the next turn to see it.
COPILOT_TAXONOMY_TTL = 0.0
# Separate names let several test runs share one server without dropping each other's database.
DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", "test_postgres")}  # noqa: F405
WIDGET_IDENTITY_SECRET = "test-widget-identity-secret"  # noqa: S105
# A shop site that embeds the widget: tests check it reaches the chat and nothing else.
WIDGET_ALLOWED_ORIGINS = ["https://shop.example"]
CORS_ALLOWED_ORIGINS = WIDGET_ALLOWED_ORIGINS

# Each test's rows live in a transaction only the test's own thread (and connection) sees.
DB_PARALLEL_CALLS = False
