"""The one settings module. Every value that differs between the embedded default (`make run`,
tests) and production comes from the environment; `.env.example` lists them all."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("KAZI_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    return default if not value else value.lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


# "embedded" needs nothing but Python; "production" refuses to start with insecure defaults.
KAZI_ENV = env("KAZI_ENV", "embedded")
PRODUCTION = KAZI_ENV == "production"


def required(name: str, embedded_default: str) -> str:
    value = env(name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when KAZI_ENV=production")
    return embedded_default


SECRET_KEY = required("DJANGO_SECRET_KEY", "embedded-default-insecure-key-never-use-in-production")
DEBUG = env_bool("DJANGO_DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver"
)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PRODUCTION

INSTALLED_APPS = [
    "kazi.admin_site.KaziAdminConfig",  # django.contrib.admin with the money picture
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "django_filters",
    "drf_spectacular",
    "accounts",
    "escrow",
    "jobs",
    "mpesa",  # money in: Pay Bill, STK push, reversals
    "payouts",  # money out: M-Pesa B2C, IntaSend, Intersend
    "notifications",
    "kazi",  # the project's own management commands (run_periodic)
    "django_htmx",  # request.htmx, and htmx itself as a static file (no CDN)
    "web",  # the pages for employers, workers and arbiters (sessions, CSRF, English and Kiswahili)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "web.middleware.GZipTextMiddleware",  # the pages' HTML, CSS and JS, compressed for 3G
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files (the admin's) under gunicorn
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "web.middleware.WebLanguageMiddleware",  # the pages' language: user.language, cookie, browser
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "kazi.urls"
WSGI_APPLICATION = "kazi.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": dj_database_url.parse(
        required("DATABASE_URL", f"sqlite:///{VAR_DIR / 'kazi.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Many threads (`make run` serves with gunicorn's threads) and the periodic runner share the
    # file. WAL: readers never wait for the writer nor the writer for readers. IMMEDIATE: a write
    # transaction takes the write lock at BEGIN, so writers queue there (up to the busy timeout)
    # instead of failing with "database is locked" halfway through. synchronous=FULL, not WAL's
    # usual NORMAL: Safaricom never resends a confirmation we accepted, so its commit must survive
    # a power cut, not only a crash of the process.
    _sqlite_busy_ms = 20_000
    DATABASES["default"]["OPTIONS"] = {
        "timeout": _sqlite_busy_ms / 1000,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
            f"PRAGMA busy_timeout={_sqlite_busy_ms}"
        ),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("sw", "Kiswahili")]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["kazi.formats"]
TIME_ZONE = "Africa/Nairobi"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Production serves what `collectstatic` gathered in STATIC_ROOT; the embedded default serves
# straight from the apps, with no collectstatic step.
WHITENOISE_USE_FINDERS = not PRODUCTION
# Hashed names and far-future caching for what collectstatic gathered (the manifest); plain names,
# served by the finders, for files it has not gathered (tests, `make dev` before collectstatic).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "web.storage.StaticStorage"},
}
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # else whitenoise warns that it is missing
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- The web pages (web/): sessions and CSRF, the language remembered in a cookie too ---
LOGIN_URL = "web:login"
CSRF_FAILURE_VIEW = "web.views.errors.csrf_failure"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = PRODUCTION

# --- Redis: Celery broker and shared cache (throttles). Absent: in-process tasks, local cache. ---
REDIS_URL = required("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task leaves the message for another
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_BEAT_SCHEDULE = {
    "announcement-sweep": {"task": "kazi.tasks.announcement_sweep", "schedule": 60.0},
    "ledger-sweep": {"task": "escrow.tasks.ledger_sweep", "schedule": 60.0},
    "payout-sweep": {"task": "payouts.tasks.payout_sweep", "schedule": 60.0},
    "mpesa-reconcile": {"task": "mpesa.tasks.mpesa_reconcile", "schedule": 60.0},
    "auto-release": {"task": "escrow.tasks.auto_release_sweep", "schedule": 60.0},
    "notification-sweep": {"task": "notifications.tasks.notification_sweep", "schedule": 60.0},
}
# Announcements (kazi/events.py) with a broker: the request sends no message; beat's relay task
# handles what was written every this many seconds (up to the batch per tick). 0: each is
# dispatched after its commit (the embedded default, where tasks run in-process).
ANNOUNCEMENT_RELAY_SECONDS = float(env("ANNOUNCEMENT_RELAY_SECONDS", "1" if REDIS_URL else "0"))
ANNOUNCEMENT_RELAY_BATCH = int(env("ANNOUNCEMENT_RELAY_BATCH", "1000"))
if ANNOUNCEMENT_RELAY_SECONDS:
    CELERY_BEAT_SCHEDULE["announcement-relay"] = {
        "task": "kazi.tasks.announcement_relay",
        "schedule": ANNOUNCEMENT_RELAY_SECONDS,
        "options": {"expires": ANNOUNCEMENT_RELAY_SECONDS},  # a late tick is the next one's work
    }
# After the worker delivers, the employer has this long to complete or dispute; then the escrow
# is released as if they had completed it (7 days; `AUTO_RELEASE_SECONDS=30 make run` to watch).
AUTO_RELEASE_AFTER = timedelta(seconds=int(env("AUTO_RELEASE_SECONDS", str(7 * 24 * 3600))))
# Without Celery beat (the embedded default), `manage.py run_periodic` runs the schedule above
# in-process, waking up this often to see what is due.
PERIODIC_TICK_SECONDS = float(env("PERIODIC_TICK_SECONDS", "10"))
# Rows waiting longer than this are considered stuck and are dispatched again by the sweep.
OUTBOUND_STUCK_AFTER = timedelta(seconds=int(env("OUTBOUND_STUCK_AFTER_SECONDS", "120")))

# --- Request bodies: every API and callback body, checked before it is parsed. ---
# Daraja's largest callback (a B2C result) is about 2 KB and nests 5 levels; our own inputs less.
MAX_BODY_BYTES = int(env("MAX_BODY_BYTES", str(64 * 1024)))
MAX_JSON_DEPTH = int(env("MAX_JSON_DEPTH", "32"))
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES

# --- REST API ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["kazi.bodies.LimitedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "kazi.errors.exception_handler",
    # Per client address (X-Forwarded-For only from TRUSTED_PROXIES), for views with a scope.
    "DEFAULT_THROTTLE_CLASSES": ["kazi.throttles.AddressRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "login": env("LOGIN_THROTTLE_RATE", "10/min"),
        "register": env("REGISTER_THROTTLE_RATE", "20/hour"),
    },
    "COERCE_DECIMAL_TO_STRING": True,
}
# Failed logins per account (phone number or email), from any address: this many within
# LOGIN_ACCOUNT_LOCK_SECONDS lock the account's login for that long (accounts/login_guard.py).
# 5 in 15 minutes leaves an attacker about 480 guesses a day at passwords the validators already
# keep off the common lists, and leaves a user who mistyped only a short wait; a longer lock
# would let anyone who knows a phone number keep its owner out for longer.
LOGIN_ACCOUNT_MAX_FAILURES = int(env("LOGIN_ACCOUNT_MAX_FAILURES", "5"))
LOGIN_ACCOUNT_LOCK_SECONDS = int(env("LOGIN_ACCOUNT_LOCK_SECONDS", "900"))
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=int(env("JWT_ACCESS_MINUTES", "30"))),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=int(env("JWT_REFRESH_DAYS", "7"))),
    "UPDATE_LAST_LOGIN": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kazi Trust API",
    "DESCRIPTION": "Escrow-backed jobs: M-Pesa deposits, Stellar escrow, mobile-money payouts.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Escrow ledger (the Stellar leg) ---
# The Stellar contract service (stellar_service/, the only holder of signing keys). Unset on the
# embedded default: its local backend runs in-process, keeping its state in LOCAL_LEDGER_PATH.
STELLAR_CONTRACT_SERVICE_URL = required("STELLAR_CONTRACT_SERVICE_URL", "")
STELLAR_CONTRACT_API_KEY = required("STELLAR_CONTRACT_API_KEY", "local-stellar-api-key")
STELLAR_SERVICE_TIMEOUT = float(env("STELLAR_SERVICE_TIMEOUT_SECONDS", "30"))
LOCAL_LEDGER_PATH = Path(env("LOCAL_LEDGER_PATH", str(VAR_DIR / "ledger.sqlite3")))
# The public proof page (/e/<reference>/) links each ledger transaction to an explorer of the
# network it is on: a URL with {tx_hash} in it (e.g. https://stellar.expert/explorer/testnet/tx/
# {tx_hash}); empty on the embedded default, whose local ledger no explorer knows.
STELLAR_EXPLORER_TX_URL = env("STELLAR_EXPLORER_TX_URL")
# Workers without their own Stellar account are paid to this account, muxed with their user id.
STELLAR_PAYOUT_ACCOUNT = required(
    "STELLAR_PAYOUT_ACCOUNT", "GALYZDDEHLRB75BE4ANTASKQJFUJNDU65ULVT7JFRSXYQUTO4WD2HESS"
)

# --- The sandbox: local stand-ins for Daraja and the payout providers (`python -m sandbox`) ---
# Its own process (`make run` starts it), at the real APIs' paths; the app reaches it through its
# real clients over HTTP, so only the base URL differs from production. Never used in production.
SANDBOX_PORT = int(env("SANDBOX_PORT", "8002"))
SANDBOX_URL = env("SANDBOX_URL", f"http://127.0.0.1:{SANDBOX_PORT}")

# --- M-Pesa (Daraja) ---
# "local": the sandbox's Daraja at SANDBOX_URL (the embedded default); "sandbox" or "production":
# Safaricom's. Production refuses "local".
MPESA_ENV = env("MPESA_ENV", "production" if PRODUCTION else "local")
if PRODUCTION and MPESA_ENV == "local":
    raise ImproperlyConfigured("MPESA_ENV=local (the sandbox) is refused when KAZI_ENV=production")
MPESA_SHORTCODE = required("MPESA_SHORTCODE", "600000")
MPESA_CONSUMER_KEY = required("MPESA_CONSUMER_KEY", "local-consumer-key")
MPESA_CONSUMER_SECRET = required("MPESA_CONSUMER_SECRET", "local-consumer-secret")
MPESA_PASSKEY = required("MPESA_PASSKEY", "local-passkey")
MPESA_INITIATOR_NAME = required("MPESA_INITIATOR_NAME", "kazi-initiator")
MPESA_SECURITY_CREDENTIAL = required("MPESA_SECURITY_CREDENTIAL", "local-security-credential")
# Where Safaricom reaches our callbacks, and an optional secret it must send back (?token=...).
# Daraja refuses URLs naming M-PESA, Safaricom, exe, exec, cmd, SQL or query, and in production
# any but public https ones (mpesa/daraja/callback_urls.py checks them all).
MPESA_CALLBACK_BASE_URL = required("MPESA_CALLBACK_BASE_URL", "http://127.0.0.1:8000")
MPESA_CALLBACK_TOKEN = env("MPESA_CALLBACK_TOKEN")
MPESA_C2B_RESPONSE_TYPE = env("MPESA_C2B_RESPONSE_TYPE", "Completed")
# An STK push with no callback after this long is resolved by the STK query API.
MPESA_STK_TIMEOUT = timedelta(seconds=int(env("MPESA_STK_TIMEOUT_SECONDS", "180")))
# Two reports of one payment that name it differently (an STK query has no receipt) are matched
# by escrow, amount, payer and time: a prompt lives about a minute on the handset, so its payment
# is stamped within minutes of the push; the window leaves room for clocks and queues.
MPESA_SAME_PAYMENT_WINDOW = timedelta(seconds=int(env("MPESA_SAME_PAYMENT_WINDOW_SECONDS", "600")))
MPESA_HTTP_TIMEOUT = float(env("MPESA_HTTP_TIMEOUT_SECONDS", "10"))
# Proxies (addresses or networks) whose X-Forwarded-For is believed, by the callbacks' source
# check and by the throttles (kazi/addresses.py); empty: none is.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
# Safaricom's published callback source addresses; loopback is added on the embedded default.
SAFARICOM_CALLBACK_IPS = (
    "196.201.214.200,196.201.214.206,196.201.213.114,196.201.214.207,196.201.214.208,"
    "196.201.213.44,196.201.212.127,196.201.212.138,196.201.212.129,196.201.212.136,"
    "196.201.212.74,196.201.212.69"
)
MPESA_CALLBACK_ALLOWED_IPS = env_list(
    "MPESA_CALLBACK_ALLOWED_IPS",
    SAFARICOM_CALLBACK_IPS + ("" if PRODUCTION else ",127.0.0.1,::1"),
)

# --- Email: the console on the embedded default, SMTP from the environment in production ---
EMAIL_HOST = env("EMAIL_HOST")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = int(env("EMAIL_PORT", "587"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Kazi Trust <no-reply@kazitrust.co.ke>")

# --- SMS and USSD ---
# console (the sandbox's: messages printed to the terminal) | africastalking
SMS_BACKEND = env("SMS_BACKEND", "africastalking" if PRODUCTION else "console")
if PRODUCTION and SMS_BACKEND == "console":
    raise ImproperlyConfigured(
        "SMS_BACKEND=console (the sandbox) is refused when KAZI_ENV=production"
    )
AFRICASTALKING_USERNAME = env("AFRICASTALKING_USERNAME", "sandbox")
AFRICASTALKING_API_KEY = env("AFRICASTALKING_API_KEY")
AFRICASTALKING_SENDER_ID = env("AFRICASTALKING_SENDER_ID")
# The key an external USSD gateway presents to POST /api/ussd/register-callback/ (X-API-Key).
USSD_GATEWAY_API_KEY = env("USSD_GATEWAY_API_KEY")
USSD_SERVICE_CODE = env("USSD_SERVICE_CODE", "*384*1234#")

# --- Payouts ---
# mpesa_b2c (the embedded default, through the sandbox's Daraja) | intersend | intasend
PAYOUT_PROVIDER = env("PAYOUT_PROVIDER", "mpesa_b2c")


def provider_required(name: str, provider: str, embedded_default: str) -> str:
    """A payout provider's setting: required in production when that provider is chosen."""
    chosen = provider == PAYOUT_PROVIDER
    return required(name, embedded_default) if chosen else env(name, embedded_default)


# The payout providers' APIs. On the embedded default they are the sandbox's stand-ins, at the
# real APIs' paths (Intersend under /intersend): only the base URL differs from production, which
# requires each chosen provider's settings and refuses a plain-http URL (the sandbox).
INTERSEND_API_URL = provider_required(
    "INTERSEND_API_URL", "intersend", f"{SANDBOX_URL.rstrip('/')}/intersend"
)
INTERSEND_API_KEY = provider_required("INTERSEND_API_KEY", "intersend", "local-intersend-key")
INTERSEND_API_SECRET = provider_required(
    "INTERSEND_API_SECRET", "intersend", "local-intersend-secret"
)
# The shortcode M-Pesa B2C payouts are paid from, usually not the Pay Bill employers pay into.
MPESA_B2C_SHORTCODE = provider_required("MPESA_B2C_SHORTCODE", "mpesa_b2c", MPESA_SHORTCODE)
# IntaSend send money: https://payment.intasend.com, or https://sandbox.intasend.com for theirs.
INTASEND_API_URL = provider_required("INTASEND_API_URL", "intasend", SANDBOX_URL.rstrip("/"))
INTASEND_SECRET_KEY = provider_required("INTASEND_SECRET_KEY", "intasend", "local-intasend-secret")
# The challenge set on the IntaSend dashboard's webhook; every event must carry it.
INTASEND_WEBHOOK_CHALLENGE = provider_required(
    "INTASEND_WEBHOOK_CHALLENGE", "intasend", "local-intasend-challenge"
)
_chosen_api_url = {"intersend": INTERSEND_API_URL, "intasend": INTASEND_API_URL}
if PRODUCTION and not _chosen_api_url.get(PAYOUT_PROVIDER, "https:").startswith("https:"):
    raise ImproperlyConfigured(
        f"{PAYOUT_PROVIDER.upper()}_API_URL must be https when KAZI_ENV=production: "
        "a local payout stand-in is refused"
    )
# An API device (IntaSend dashboard, API Devices: its id, and the private key of the public key
# given there) signs each approval's nonce. Unset: approvals carry the nonce unsigned. The key is
# a secret: from the environment only, a PEM whose line breaks may be written as \n.
INTASEND_DEVICE_ID = env("INTASEND_DEVICE_ID")
INTASEND_DEVICE_PRIVATE_KEY = env("INTASEND_DEVICE_PRIVATE_KEY").replace("\\n", "\n")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # One line per task run is noise; failures are still logged.
    "loggers": {"celery.app.trace": {"level": "WARNING"}},
}
