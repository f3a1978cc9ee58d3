"""Every setting, read from the environment in this one place.

DEBUG is off unless DEBUG=True is set (`make run` and the tests set it): with DEBUG off the
secrets below are required and the published development ones are refused, so a forgotten
variable fails loudly at start-up instead of running on a development key. With DEBUG=True
and nothing else set, the app runs on embedded defaults meant for trying it out: an SQLite
file, the local-memory cache, emails printed to the console and a Celery broker kept in
files under var/ (a real worker process consumes it; no Redis needed). Production sets the
variables documented in the README's settings table.
"""

import base64
import hashlib
import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

_DEV_SECRET_KEY = "dev-only-insecure-secret-key-set-SECRET_KEY-in-production"  # noqa: S105
# Keys anyone can read in this repository (or its history): never acceptable with DEBUG off.
_PUBLISHED_SECRET_KEYS = {
    _DEV_SECRET_KEY,
    "build-only-not-a-secret-0123456789-abcdefghijklmnopqrstuv",  # the Dockerfile's, once
}
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (DEBUG=True runs on development keys)."
        )
    SECRET_KEY = _DEV_SECRET_KEY
elif not DEBUG and SECRET_KEY in _PUBLISHED_SECRET_KEYS:
    raise ImproperlyConfigured(
        "SECRET_KEY is a published development key: set a secret one when DEBUG is off."
    )


def _derived_fernet_key(secret: str) -> str:
    # Development only: a stable key derived from SECRET_KEY, so a demo database stays
    # readable across restarts without asking a newcomer to generate a key.
    return base64.urlsafe_b64encode(hashlib.sha256(b"fernet:" + secret.encode()).digest()).decode()


# Keys this repository once carried in plain sight (the Dockerfile's and the test script's):
# anyone can read them, so they never protect a real deployment.
_PUBLISHED_FERNET_KEYS = {"kQbTg0mK3DduLQYQ1t4fIWSgmKxOSxZ6bq0o8Gw5eDs="}

# Encryption keys for credentials at rest (fernet_fields). The first key encrypts; all of
# them decrypt, which is what makes key rotation possible (see `manage.py reencrypt_secrets`).
FERNET_KEYS = env.list("FERNET_KEYS", default=[])
if not FERNET_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("FERNET_KEYS must be set when DEBUG is off.")
    FERNET_KEYS = [_derived_fernet_key(SECRET_KEY)]
elif not DEBUG and _derived_fernet_key(_DEV_SECRET_KEY) in FERNET_KEYS:
    # The development key is derived from a published SECRET_KEY, so anyone can compute it.
    raise ImproperlyConfigured(
        "FERNET_KEYS holds the development key derived from the published SECRET_KEY: "
        "generate a new key when DEBUG is off (see the README)."
    )
elif not DEBUG and _PUBLISHED_FERNET_KEYS & set(FERNET_KEYS):
    raise ImproperlyConfigured(
        "FERNET_KEYS holds a key published in this project's repository (the Dockerfile and "
        "test scripts once carried it): generate a new key when DEBUG is off (see the README)."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    # Staff API tokens, stored as hashes and expiring (before "bookings", whose admin
    # replaces knox's).
    "knox",
    "drf_spectacular",
    "axes",
    "csp",
    "calendars",
    "bookings",
]

MIDDLEWARE = [
    "scheduler_site.observability.RequestIdMiddleware",
    # Runs what a request deferred (sync log rows, cache fills) once its response is sent.
    "scheduler_site.afterresponse.AfterResponseMiddleware",
    # Before anything reads X-Forwarded-*: drops them unless a trusted proxy sent them.
    "scheduler_site.clientip.ForwardedHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before CommonMiddleware (Django's order): the visitor's Accept-Language
    # among LANGUAGES; then customer pages may switch to their page's language, and staff
    # pages stay English (bookings.languages).
    "django.middleware.locale.LocaleMiddleware",
    "bookings.languages.StaffInEnglishMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Inside XFrameOptionsMiddleware, so its exemption of the embeddable booking pages is
    # seen there (and by the CSP middleware, further out).
    "scheduler_site.framing.EmbedFramingMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "scheduler_site.urls"
WSGI_APPLICATION = "scheduler_site.wsgi.application"

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

VAR_DIR.mkdir(exist_ok=True)  # the embedded SQLite file and Celery queue live here
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite serialises writers; IMMEDIATE transactions take the write lock up front so two
    # bookings racing for one slot queue up instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "scheduler_site.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default=""),
        }
    }
else:
    # Without Redis the web process and the Celery worker must still share one cache: the
    # worker's busy-time warming and its invalidations (sync back from Exchange, cancellations)
    # have to reach the web process. Files under var/ do that with no service to run (a
    # process-local cache would not); SQLite's database cache would contend with bookings
    # for the database's single writer lock.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": env.str("CACHE_DIR", default=str(VAR_DIR / "cache")),
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default=""),
            "OPTIONS": {"MAX_ENTRIES": 5000},
        }
    }

# Celery. Without Redis the broker is kombu's filesystem transport: messages are files under
# var/celery, consumed by a real worker process, so the embedded setup behaves like
# production (tasks run out of band, survive a worker restart) without another service.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _celery_dir = Path(env.str("CELERY_FILESYSTEM_DIR", default=str(VAR_DIR / "celery")))
    for _sub in ("queue", "processed", "control"):
        (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        "store_processed": False,
        # Broadcast (remote control) messages; kombu would otherwise write ./control/.
        "control_folder": str(_celery_dir / "control"),
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A message taken by a worker that then died is handed out again after this long
    # (kombu's default is an hour). It must exceed every retry countdown we schedule (writes:
    # WRITE_MAX_BACKOFF_SECONDS; emails: 300 s), or a waiting retry would run twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=1200)
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only after it ran, so a worker killed mid-write leaves the message
# on the broker for the next worker: that is what "survives a worker restart" rests on.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "prune-sync-log": {"task": "calendars.tasks.prune_sync_log", "schedule": 6 * 3600},
    "verify-connections": {"task": "calendars.tasks.verify_connections", "schedule": 15 * 60},
    "warm-busy-cache": {"task": "calendars.tasks.warm_busy_cache", "schedule": 60},
    "retry-due-writes": {"task": "bookings.tasks.retry_due_writes", "schedule": 60},
    "sync-back": {"task": "bookings.tasks.sync_back", "schedule": 5 * 60},
    "send-due-reminders": {"task": "bookings.reminders.send_due_reminders", "schedule": 60},
    "retry-due-webhooks": {"task": "bookings.webhooks.retry_due_webhooks", "schedule": 60},
    "refresh-owner-working-hours": {
        "task": "bookings.tasks.refresh_owner_working_hours",
        "schedule": 3600,
    },
    "recheck-page-calendars": {
        "task": "bookings.tasks.recheck_page_calendars",
        "schedule": 30 * 60,
    },
    "warn-expiring-client-secrets": {
        "task": "calendars.tasks.warn_expiring_client_secrets",
        "schedule": 24 * 3600,
    },
}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Scheduler <scheduler@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
ADMINS = [("Admin", a) for a in env.list("ADMIN_EMAILS", default=[])]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes, staff login and Django admin): LOGIN_FAILURE_LIMIT failed
# attempts from one client address for one username lock that pair out for
# LOGIN_LOCKOUT_MINUTES; every attempt during the lockout starts it again. Attempts are kept
# in the database (axes' tables); `manage.py axes_reset` or the admin's "Access attempts"
# lift a lockout early.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out client early
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_CLIENT_IP_CALLABLE = "scheduler_site.clientip.axes_client_ip"
AXES_LOCKOUT_CALLABLE = "scheduler_site.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en"
# What customers can read the app in (public pages, the manage link, their emails): a page's
# own language (BookingPage.language) or the visitor's Accept-Language among these. Staff
# pages and staff emails are English (their strings are marked, but only English ships).
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
if DEBUG:
    # whitenoise warns about a missing root; in production collectstatic creates it.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Reverse proxies (CIDRs, comma-separated) whose X-Forwarded-For and X-Forwarded-Proto are
# believed; from anyone else those headers are dropped (scheduler_site/clientip.py). Empty:
# no proxy, the socket peer is the client. Behind nginx on the same host: 127.0.0.1/32,::1/128.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy.strip(), strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from exc

# Transport security. Defaults are the production ones whenever DEBUG is off, so that
# `manage.py check --deploy` passes with nothing more than the required secrets set.
# The header reaches Django only from TRUSTED_PROXIES (ForwardedHeadersMiddleware).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Preloading is close to irreversible for a whole domain, so it stays the deployer's explicit
# choice (SECURE_HSTS_PRELOAD=True) rather than a default that check --deploy nags about.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content-Security-Policy (django-csp): scripts and styles only from our own static files,
# never inline, so injected markup can't run. One dict, so a view can extend it
# (response._csp_update, as the connection page does for the Microsoft sign-in).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_IPV6 = re.compile(r"[0-9a-f:.]+")


def _embed_origin(value: str, *, allow_http: bool) -> str:
    """One EMBED_ALLOWED_ORIGINS entry as CSP frame-ancestors needs it: scheme://host[:port],
    nothing more (a path, a wildcard or a bare host would mean something else, or nothing)."""
    text = value.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ImproperlyConfigured(f"EMBED_ALLOWED_ORIGINS: {value!r}: {exc}") from exc
    schemes = ("https", "http") if allow_http else ("https",)
    host = parts.hostname or ""
    if (
        parts.scheme not in schemes
        or not host
        or "*" in host
        or parts.username is not None
        or parts.path
        or parts.query
        or parts.fragment
        or not (_HOST.fullmatch(host) or (":" in host and _IPV6.fullmatch(host)))
    ):
        http = " (http:// too, with DEBUG on)" if allow_http else " (http:// only with DEBUG on)"
        raise ImproperlyConfigured(
            f"EMBED_ALLOWED_ORIGINS: {value!r} is not an origin: write https://host[:port]{http}."
        )
    netloc = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{netloc}{f':{port}' if port is not None else ''}"


# The origins (websites) that may show the public booking pages in an <iframe> (the embed
# snippet on each page's settings): their frame-ancestors, instead of 'none', on the booking
# page, its form, the confirmation and the manage link only (scheduler_site/framing.py).
# Empty: nothing may frame any page.
EMBED_ALLOWED_ORIGINS = [
    _embed_origin(origin, allow_http=DEBUG)
    for origin in env.list("EMBED_ALLOWED_ORIGINS", default=[])
    if origin.strip()
]

# Exchange. See calendars/urlcheck.py for why staff-entered URLs are restricted.
EXCHANGE_ALLOW_HTTP = env.bool("EXCHANGE_ALLOW_HTTP", default=False)
EXCHANGE_ALLOW_PRIVATE_HOSTS = env.bool("EXCHANGE_ALLOW_PRIVATE_HOSTS", default=False)
EXCHANGE_INTERNAL_HOSTS = env.list("EXCHANGE_INTERNAL_HOSTS", default=[])
# Extra CA certificates to trust for Exchange and the OAuth authority (an internal CA).
EXCHANGE_CA_BUNDLE = env.str("EXCHANGE_CA_BUNDLE", default="")
EXCHANGE_TIMEOUT = env.int("EXCHANGE_TIMEOUT", default=30)
# Exchange answers free/busy for at most 42 days at a time unless its administrator raised
# the limit; longer ranges are read in windows of this many days, in parallel.
EXCHANGE_FREE_BUSY_MAX_DAYS = env.int("EXCHANGE_FREE_BUSY_MAX_DAYS", default=42)
# Autodiscover endpoints by email domain, tried before the standard DNS-based lookup.
# Format: "contoso.com=https://autodiscover.contoso.com/autodiscover/autodiscover.svc,..."
EXCHANGE_AUTODISCOVER_ENDPOINTS = env.dict("EXCHANGE_AUTODISCOVER_ENDPOINTS", default={})
SYNC_LOG_RETENTION_DAYS = env.int("SYNC_LOG_RETENTION_DAYS", default=30)
# How long a link mailed to prove a corporate member's mailbox stays valid (calendars.membership).
MEMBERSHIP_CONFIRM_HOURS = env.int("MEMBERSHIP_CONFIRM_HOURS", default=24)
# Busy time read from Exchange is cached this long (shared cache) and dropped whenever the app
# books or cancels. When Exchange can't be reached, a cached answer up to BUSY_CACHE_STALE_SECONDS
# old is served (and flagged as such); older than that, slots are reported unknown (503).
BUSY_CACHE_SECONDS = env.int("BUSY_CACHE_SECONDS", default=120)
# How long a process reuses a page's readiness check (main calendar permission, consent) for
# its slots answers; bookings always check afresh. 0: every request reads it.
READINESS_CACHE_SECONDS = env.int("READINESS_CACHE_SECONDS", default=5)
BUSY_CACHE_STALE_SECONDS = env.int("BUSY_CACHE_STALE_SECONDS", default=600)
# How long a webhook delivery is retried (with back-off) before it is given up.
WEBHOOK_RETRY_HOURS = env.int("WEBHOOK_RETRY_HOURS", default=24)
# Ranges requested within this many seconds are kept warm by a periodic task.
BUSY_WARM_FOR_SECONDS = env.int("BUSY_WARM_FOR_SECONDS", default=600)
# How old a page's copy of its owner's Outlook working hours may get before the periodic task
# reads it again (bookings/owner_hours.py); a failed read keeps the copy and retries hourly.
OWNER_HOURS_REFRESH_SECONDS = env.int("OWNER_HOURS_REFRESH_SECONDS", default=6 * 3600)

# Bookings.
BOOKING_UID_DOMAIN = env.str("BOOKING_UID_DOMAIN", default="scheduler.invalid")
# Per client IP: booking attempts allowed per window (POSTs to the API and the public form).
BOOKING_RATE_LIMIT = env.int("BOOKING_RATE_LIMIT", default=10)
BOOKING_RATE_WINDOW_SECONDS = env.int("BOOKING_RATE_WINDOW_SECONDS", default=60)
# The public slots API, per window: each uncached call costs Exchange round trips. Per client
# address, and per page from everyone together (a ceiling that protects Exchange).
SLOTS_RATE_LIMIT = env.int("SLOTS_RATE_LIMIT", default=60)
SLOTS_PAGE_RATE_LIMIT = env.int("SLOTS_PAGE_RATE_LIMIT", default=600)
SLOTS_RATE_WINDOW_SECONDS = env.int("SLOTS_RATE_WINDOW_SECONDS", default=60)
# A calendar write that has failed this many times in a row alerts the owner and the admins.
WRITE_ALERT_AFTER_ATTEMPTS = env.int("WRITE_ALERT_AFTER_ATTEMPTS", default=5)
# Longest pause between write retries (exponential back-off, or Exchange's BackOffMilliseconds).
WRITE_MAX_BACKOFF_SECONDS = env.int("WRITE_MAX_BACKOFF_SECONDS", default=900)

# "Connect with Microsoft" for personal Microsoft 365 accounts (OAuth authorization code).
MICROSOFT_CLIENT_ID = env.str("MICROSOFT_CLIENT_ID", default="")
MICROSOFT_CLIENT_SECRET = env.str("MICROSOFT_CLIENT_SECRET", default="")
MICROSOFT_TENANT = env.str("MICROSOFT_TENANT", default="organizations")
# Overrides https://login.microsoftonline.com/<tenant> (sovereign clouds, the simulator).
MICROSOFT_AUTHORITY = env.str("MICROSOFT_AUTHORITY", default="")
# Microsoft Graph's v1.0 endpoint (national clouds have their own; the demo points it at the
# simulator). Exchange Online connections read and write calendars here.
MICROSOFT_GRAPH_URL = env.str("MICROSOFT_GRAPH_URL", default="https://graph.microsoft.com/v1.0")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# Staff API tokens (django-rest-knox): only a hash is stored, every token expires, and the
# header stays "Authorization: Token <token>". Tokens are made with `manage.py
# api_token_create`; expiry is fixed at creation (no sliding renewal on use).
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=90)
if API_TOKEN_TTL_DAYS < 1:
    raise ImproperlyConfigured("API_TOKEN_TTL_DAYS must be at least 1: API tokens expire.")
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=API_TOKEN_TTL_DAYS),
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Exchange Scheduler API",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Error reports (mails to ADMINS) also mask passwords inside URLs (REDIS_URL and the like)
# and the locals of libraries that carry credentials; see scheduler_site/reporting.py.
DEFAULT_EXCEPTION_REPORTER_FILTER = "scheduler_site.reporting.ReportFilter"

LOG_FORMAT = env.str("LOG_FORMAT", default="text")  # text | json
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "scheduler_site.observability.RequestIdFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
        "not_503": {"()": "scheduler_site.observability.SkipServiceUnavailable"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {"()": "scheduler_site.observability.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        },
        "mail_admins": {
            "level": "ERROR",
            "class": "django.utils.log.AdminEmailHandler",
            "filters": ["require_debug_false", "not_503"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Replaces Django's default (which mails admins about every 5xx, 503s included).
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        # exchangelib logs whole SOAP envelopes at DEBUG, including Basic auth headers in
        # some paths; keep it at WARNING whatever the root level is.
        "exchangelib": {"level": "WARNING"},
        # msal logs token requests at DEBUG; same rule.
        "msal": {"level": "WARNING"},
    },
}
