"""Development on one machine: debug on, embedded database, eager Celery."""

from helpdesk.env import env_bool, env_str

from .base import *  # noqa: F403

DEBUG = True
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production")
# Serve static files straight from the app folders, no collectstatic needed.
WHITENOISE_USE_FINDERS = True
# Nothing is collected outside production; serving from the app folders needs no root.
STATIC_ROOT = None
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DEMO_SEED_ALLOWED = env_bool("DEMO_SEED_ALLOWED", True)
WIDGET_IDENTITY_SECRET = env_str("WIDGET_IDENTITY_SECRET", "demo-widget-identity-secret")
# Follow-up emails are printed to the server's console unless a mail server is configured.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
