"""Production: secrets come from the environment, HTTPS hardening on, Redis required."""

from django.core.exceptions import ImproperlyConfigured

from helpdesk.env import env_bool, env_int, env_str

from .base import *  # noqa: F403
from .base import LOGGING, REDIS_URL, SECRET_KEY, WIDGET_IDENTITY_SECRET

DEBUG = False
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production.")
if not WIDGET_IDENTITY_SECRET:
    raise ImproperlyConfigured("WIDGET_IDENTITY_SECRET must be set in production (widget identity verification).")
if not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL must be set in production (channel layer and Celery broker).")

# Log aggregators parse JSON lines; `LOG_FORMAT=plain` keeps the human format.
LOG_FORMAT = env_str("LOG_FORMAT", "json")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# Turn off before the first deploy on a domain whose subdomains are not all HTTPS yet.
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
