"""Settings, all read from the environment with defaults that need nothing.

The defaults give the embedded setup a new user gets: a SQLite file in the
project, django-q2's ORM broker and the local Pinterest sandbox. Setting
DATABASE_URL, REDIS_URL and the PINTEREST_* variables moves the same code to
PostgreSQL, Redis and the real Pinterest API.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from project.env import env_bool, env_float, env_int

BASE_DIR = Path(__file__).resolve().parent.parent



DEBUG = env_bool("DEBUG", True)
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# --- Secrets and HTTPS (README, "Deploying to production") ---------------------------
# With DEBUG on (the local setup, the default) a built-in key lets a new
# checkout run at once. With DEBUG off the process refuses to start without
# its own SECRET_KEY and TOKEN_ENCRYPTION_KEYS: a public key would sign its
# sessions and, through the derived default, open every stored OAuth token.
DEVELOPMENT_SECRET_KEY = "dev-only-secret-key-change-me-in-production-0123456789"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not DEBUG and SECRET_KEY in ("", DEVELOPMENT_SECRET_KEY):
    raise ImproperlyConfigured(
        "SECRET_KEY is not set (DEBUG is off). Set it to a long random value, e.g. the output of "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
    )
SECRET_KEY = SECRET_KEY or DEVELOPMENT_SECRET_KEY

# HTTPS: production defaults when DEBUG is off, each overridable. Behind a
# proxy that terminates TLS, the proxy must set X-Forwarded-Proto (and drop
# any a client sent); set SECURE_PROXY_SSL_HEADER empty when clients reach
# this process directly.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
_proxy_ssl_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "" if DEBUG else "HTTP_X_FORWARDED_PROTO,https")
if _proxy_ssl_header.strip():
    _header, _, _value = _proxy_ssl_header.partition(",")
    if not _header.strip() or not _value.strip():
        raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER is HEADER,VALUE, e.g. HTTP_X_FORWARDED_PROTO,https.")
    SECURE_PROXY_SSL_HEADER = (_header.strip(), _value.strip())

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",  # one number format on the marketer's pages (intcomma)
    "allauth",
    "allauth.account",
    # A second factor: TOTP with recovery codes (README, "Two-factor authentication").
    "allauth.mfa",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "integrations",
    "audiences",
    # The partner API; an app of its own, with its table of each key's request counts (the rate limit).
    "audiences.api",
    # /healthz, /metrics and the structured logs' context (README, "Operating it").
    "ops",
]

MIDDLEWARE = [
    # First, so that every log line of a request carries its id (ops.logs).
    "ops.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # A Content-Security-Policy on every answer (CONTENT_SECURITY_POLICY below), built once (project.csp).
    "project.csp.CSPMiddleware",
    # Serves the admin's and the API docs' static files without a separate web server.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # A member of a workspace that requires a second factor sets one up before anything else.
    "integrations.mfa.RequireMFAMiddleware",
    # Who is behind a request, for the audit log (an API key, a signed-in user).
    "audiences.middleware.AuditActorMiddleware",
]

ROOT_URLCONF = "project.urls"

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

WSGI_APPLICATION = "project.wsgi.application"

# --- Database -----------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
# Connections are kept a minute and checked before reuse: after a database restart or
# failover a request opens a new connection instead of failing on the dead one.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, sender) write to one file. IMMEDIATE
    # transactions take the write lock up front, so concurrent writers queue
    # instead of failing with "database is locked" mid-transaction; WAL lets
    # readers go on while one process writes. Connections are kept like PostgreSQL's: opening one
    # (Django registers its SQL functions, the pragmas below run) cost a small API call a fifth of its CPU.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        # WAL itself is switched on once per database file (project.sqlite). secure_delete zeroes what a
        # DELETE removes, so an erased user's id is not left readable in the file's free space.
        "init_command": "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000; PRAGMA secure_delete=ON;",
    }
    DATABASES["default"].setdefault("TEST", {})
    DATABASES["default"]["TEST"]["NAME"] = os.environ.get("TEST_SQLITE_NAME", str(BASE_DIR / "test-db.sqlite3"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth (django-allauth for staff and marketer sign-in) -----------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
LOGIN_REDIRECT_URL = "/admin/"
LOGIN_URL = "/accounts/login/"

# Accounts are made by staff (the admin, `user_create_marketer`), never by
# sign-up; sign-in and password reset never tell whether an account exists.
ACCOUNT_ADAPTER = "integrations.accounts.StaffOnlyAccountAdapter"
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False  # no mail to addresses without an account (nor to whoever typed them)
# Two-factor authentication (allauth.mfa): an authenticator app (TOTP) and recovery codes,
# shown once when they are made. A workspace may require it of every member (integrations.mfa).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_RECOVERY_CODES_SHOW_ONCE = True
MFA_TOTP_ISSUER = "Pinterest Audience Sync"
MFA_ADAPTER = "integrations.mfa.EncryptingMFAAdapter"  # secrets encrypted at rest like Pinterest tokens
# allauth refuses an authenticator to an account with an unverified address, against someone who signs up
# with another's address and locks them out. There is no sign-up here (staff and workspace admins make the
# accounts, ACCOUNT_EMAIL_VERIFICATION is "none"), and allauth records every member's address as unverified
# when it makes their invitation link: without this, a member invited to a workspace that requires a second
# factor could never set one up.
MFA_ALLOW_UNVERIFIED_EMAIL = True

# Password-reset mail: printed on the console while developing, SMTP otherwise.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "webmaster@localhost")
# Where people open this service: the links in alert emails start with it.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Dates and times written one way everywhere, with their time zone (project/formats/en/formats.py).
FORMAT_MODULE_PATH = ["project.formats"]

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATIC_ROOT.mkdir(exist_ok=True)  # filled by `collectstatic` for DEBUG=0
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
WHITENOISE_USE_FINDERS = DEBUG  # no collectstatic needed while developing
WHITENOISE_AUTOREFRESH = DEBUG

# --- Pinterest ------------------------------------------------------------------
# Defaults point at the local sandbox (python manage.py pinterest_sandbox).
# Real values: https://api.pinterest.com/v5 and https://www.pinterest.com/oauth/
SANDBOX_PORT = env_int("SANDBOX_PORT", 8001)
PINTEREST_API_BASE_URL = os.environ.get("PINTEREST_API_BASE_URL", f"http://127.0.0.1:{SANDBOX_PORT}/v5")
PINTEREST_OAUTH_AUTHORIZE_URL = os.environ.get(
    "PINTEREST_OAUTH_AUTHORIZE_URL", f"http://127.0.0.1:{SANDBOX_PORT}/oauth/"
)
PINTEREST_CLIENT_ID = os.environ.get("PINTEREST_CLIENT_ID", "sandbox-client-id")
PINTEREST_CLIENT_SECRET = os.environ.get("PINTEREST_CLIENT_SECRET", "sandbox-client-secret")
PINTEREST_OAUTH_SCOPES = "ads:read,ads:write,user_accounts:read"
PINTEREST_HTTP_TIMEOUT = env_float("PINTEREST_HTTP_TIMEOUT", 30.0)

# Keys that encrypt OAuth tokens at rest: a comma-separated list of Fernet
# keys; the first encrypts, all decrypt (rotate with `rotate_token_key`).
# With DEBUG on the default is derived from SECRET_KEY so a new checkout works
# at once; with DEBUG off the process refuses to start without them.
TOKEN_ENCRYPTION_KEYS = [k.strip() for k in os.environ.get("TOKEN_ENCRYPTION_KEYS", "").split(",") if k.strip()]
if not DEBUG and not TOKEN_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "TOKEN_ENCRYPTION_KEYS is not set (DEBUG is off). Set it to a Fernet key, e.g. the output of "
        "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'."
    )
for _position, _key in enumerate(TOKEN_ENCRYPTION_KEYS, start=1):
    try:
        from cryptography.fernet import Fernet

        Fernet(_key.encode())
    except ValueError:
        # The key itself is never echoed.
        raise ImproperlyConfigured(
            f"TOKEN_ENCRYPTION_KEYS: key {_position} is not a Fernet key (32 url-safe base64-encoded bytes)."
        ) from None

# --- Task queue (django-q2) -----------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
Q_CLUSTER = {
    "name": "audience-sync",
    "workers": env_int("Q_WORKERS", 4),
    # A pump runs ~40 s, then lets its requests in flight finish (each bounded
    # by PINTEREST_HTTP_TIMEOUT): timeout above that, retry above the timeout so
    # the ORM broker never hands a running task to a second worker.
    "timeout": 90,
    "retry": 120,
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": 0.05,
    "bulk": 1,
    "label": "Task queue",
    # A worker that has run a pump (its threads, each with its batches and its
    # database connection) keeps that memory after the pump ends; past this
    # size (KiB, peak RSS) it is replaced by a fresh fork once its task ends,
    # so the cluster's memory stays at about one busy worker's.
    "max_rss": env_int("Q_MAX_RSS_KB", 100 * 1024),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    # django-q2's ORM broker, its empty-queue poll made cheap (20 a second while idle).
    Q_CLUSTER["broker_class"] = "project.task_broker.QuickPollORM"

# --- REST API ---------------------------------------------------------------------
# Partners authenticate with workspace API keys (`api_key_create`); every
# error is one JSON shape (audiences/api/errors.py).
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "audiences.api.schema.ApiAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["audiences.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [
        "audiences.api.permissions.HasWorkspaceKey",
        # 403 `forbidden` where the API key scope does not cover the operation.
        "audiences.api.permissions.KeyScopeAllows",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["audiences.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["audiences.api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "audiences.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
# Requests per API key ("N/s", "N/min", "N/hour" or "N/day"; empty turns the limit off), counted where
# every web process sees one count: Redis when REDIS_URL is set, else a table of the database
# (audiences.api.throttling). A per-process count would give a key its rate once per process.
API_THROTTLE_RATE = os.environ.get("API_THROTTLE_RATE", "600/min")
# The default cache is shared by every web process too: allauth counts sign-in attempts in it.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "audience-sync",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "api_cache",
            # Past MAX_ENTRIES the table drops a third of its rows, and with them their counts.
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }
SPECTACULAR_SETTINGS = {
    "TITLE": "Pinterest Audience Sync API",
    "DESCRIPTION": (
        "Keep Pinterest Ads audiences in step with customer journeys. Authenticate with a workspace API key "
        "(`Authorization: Bearer pas_…`). Every error is `{\"error\": {\"code\", \"message\", \"details\"}}`."
    ),
    "VERSION": "1.2.0",  # README, "API versioning and changelog"
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Swagger UI from drf-spectacular-sidecar's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Strict OpenAPI 3.0 forms and named components (audiences/api/schema.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "audiences.api.schema.postprocess"],
    "ENUM_NAME_OVERRIDES": {
        "AudienceSourceEnum": "audiences.models.Audience.Source",
        "AudienceStatusEnum": "audiences.models.Audience.Status",
        "CanvasStatusEnum": "audiences.models.Canvas.Status",
        "SyncRecordStateEnum": "audiences.models.SyncRecord.State",
    },
}
# The largest request body Django (and the API) reads. A call of 10,000 users
# with every identifier pre-hashed is about 3.5 MB; 10 MiB leaves room for long
# external ids and pretty-printed JSON. Bigger bodies get 413.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)

# --- Content-Security-Policy (django-csp) on every page ------------------------------
# Scripts only from this site (the admin's, the step editor's picker, the API docs' Swagger UI from
# drf-spectacular-sidecar): no inline script, no eval. A template that needs one inline gives it
# nonce="{{ request.csp_nonce }}". Inline styles stay allowed: the admin and Swagger UI set them.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    },
}

# --- Logging: never tokens or identifiers; our modules log ids and counts only.
# LOG_FORMAT=json: one JSON object a line with request_id, task_id and workspace (ops.logs); text otherwise.
LOG_FORMAT = (os.environ.get("LOG_FORMAT") or "text").strip().lower()
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured("LOG_FORMAT is text (the default) or json.")
from ops.logs import logging_config  # noqa: E402 - imports nothing of Django's

LOGGING = logging_config(log_format=LOG_FORMAT, level=os.environ.get("LOG_LEVEL", "INFO"))

# The service's own settings (the sender, retention, imports, segments, health and metrics), read the same way.
from project.settings_service import *  # noqa: E402,F401,F403
