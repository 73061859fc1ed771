"""Settings shared by every environment; everything that differs comes from the environment."""

import datetime as dt
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.schedule import BEAT_SCHEDULE

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = env(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise ImproperlyConfigured(f"{name} must be a whole number of at least {minimum}, got {value!r}")
    return number


SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = [h.strip() for h in env("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h.strip()]

INSTALLED_APPS = [
    "billing.admin_site.BillingAdminConfig",  # django.contrib.admin, with the billing dashboard as its index
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "djmoney",
    "djmoney.contrib.exchange",
    "django_celery_beat",
    "partners",
    "clients",
    "hub",
    "billing",
    "portal",
    "api",
    "ops",
]

MIDDLEWARE = [
    # /healthz first: the load balancer's probe is answered before host checks, HTTPS redirect and sessions.
    "ops.health.HealthCheckMiddleware",
    # X-Request-ID in and out, the request id / hub id / invoice number on every log line, request counters.
    "ops.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "portal.middleware.PrivateNoStoreMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: the person's own language choice comes first (portal/middleware.py).
    "portal.middleware.PersonLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.UserTimezoneMiddleware",
    # Once the person is known (the 404 page is in their language); before any view queries with the input.
    "portal.middleware.NulByteMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "portal.context_processors.membership",
            ],
        },
    },
]

# The embedded default is SQLite; DATABASE_URL switches to PostgreSQL (production, CI, money tests).
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
        conn_max_age=int(env("DATABASE_CONN_MAX_AGE", "0")),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a sign-in while the username/IP pair is locked out.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Login throttling (django-axes): 5 wrong passwords for a username from one address lock that pair for 15 minutes.
AXES_FAILURE_LIMIT = int(env("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_RESET_ON_SUCCESS = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# Each language by its own name: the footer switch is read by someone who may not read English. Adding one:
# README, "Languages".
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("pt-br", "Português (Brasil)"), ("es", "Español")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("DJANGO_MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Money: only the two currencies a partner can be set up in.
CURRENCIES = ("EUR", "USD")
CURRENCY_CHOICES = [("EUR", "Euro"), ("USD", "US Dollar")]
BILLING_CURRENCIES = CURRENCIES

# Redis: the Celery broker and (later) the cache. Without REDIS_URL the embedded default uses kombu's
# filesystem transport so `make run` needs no services.
REDIS_URL = env("REDIS_URL")
CELERY_DATA_DIR = BASE_DIR / "var" / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
else:
    CELERY_BROKER_URL = "filesystem://"
    for folder in ("queue", "processed", "control"):
        (CELERY_DATA_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "queue"),
        "data_folder_out": str(CELERY_DATA_DIR / "queue"),
        "processed_folder": str(CELERY_DATA_DIR / "processed"),
        "control_folder": str(CELERY_DATA_DIR / "control"),
        "store_processed": False,
    }
# The cache: send-permission answers and API throttling counters. Redis when REDIS_URL is set (shared by every
# web process and worker); otherwise a folder under var/, which the runserver and the worker of `make run` share,
# so an answer the worker invalidates is gone for the web process too.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(BASE_DIR / "var" / "cache"),
        }
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = BEAT_SCHEDULE

EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", "billing@hub-portal.example")
# Seconds to wait on the mail server. Invoice delivery holds the invoice's row lock while it talks to it
# (billing/delivery.py), so a mail server that hangs must not hold it for ever: the task retries instead.
EMAIL_TIMEOUT = int(env("DJANGO_EMAIL_TIMEOUT", "30"))

STRIPE_API_KEY = env("STRIPE_API_KEY")
STRIPE_API_BASE = env("STRIPE_API_BASE")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY")
# Off-session charges are confirmed with off_session=true (Stripe's SCA exemptions for merchant-initiated payments).
# localstripe, the fake Stripe the tests run against, refuses that parameter on /confirm: its fixture turns it off.
STRIPE_CONFIRM_OFF_SESSION = env_bool("STRIPE_CONFIRM_OFF_SESSION", True)
STRIPE_MAX_NETWORK_RETRIES = 2

# Payments. Dunning: days after the failed automatic charge on which an unpaid invoice is charged again; the last
# retry that fails sends the final notice. Separate from suspension, which starts with the failure.
BILLING_DUNNING_DAYS = (1, 3, 5, 7)
# How long a PIX code and a Boleto voucher stay payable.
PIX_EXPIRES_AFTER_SECONDS = 24 * 60 * 60
BOLETO_EXPIRES_AFTER_DAYS = 3
# Staff keep the EUR→BRL and USD→BRL rates in admin (djmoney's exchange Rate rows); a changed rate applies to
# the next voucher at once, so djmoney must not cache it.
RATES_CACHE_TIMEOUT = 0

# The provider issuing invoices: the seller of every invoice, printed on every PDF and written into its e-invoice
# (EN 16931 BG-4 Seller, BG-6 Seller contact, BG-17 the account a manual transfer is paid to).
PROVIDER_NAME = env("PROVIDER_NAME", "Hub Portal GmbH")
PROVIDER_STREET = env("PROVIDER_STREET", "Friedrichstraße 1")
PROVIDER_POSTAL_CODE = env("PROVIDER_POSTAL_CODE", "10117")
PROVIDER_CITY = env("PROVIDER_CITY", "Berlin")
PROVIDER_COUNTRY = env("PROVIDER_COUNTRY", "DE")
PROVIDER_VAT_ID = env("PROVIDER_VAT_ID", "DE123456789")
PROVIDER_TAX_NUMBER = env("PROVIDER_TAX_NUMBER", "37/123/45678")  # Steuernummer (BT-32)
PROVIDER_REGISTRATION_ID = env("PROVIDER_REGISTRATION_ID", "HRB 123456 B, Amtsgericht Charlottenburg")  # BT-30
PROVIDER_CONTACT_NAME = env("PROVIDER_CONTACT_NAME", "Billing Team")
PROVIDER_CONTACT_PHONE = env("PROVIDER_CONTACT_PHONE", "+49 30 1234567")
PROVIDER_CONTACT_EMAIL = env("PROVIDER_CONTACT_EMAIL", "billing@hubportal.example")
PROVIDER_IBAN = env("PROVIDER_IBAN", "DE89370400440532013000")
PROVIDER_BIC = env("PROVIDER_BIC", "COBADEFFXXX")
PROVIDER_BANK_NAME = env("PROVIDER_BANK_NAME", "Commerzbank")

# The accountant's journal (manage.py journal_export, DATEV Buchungsstapel): the general-ledger accounts (SKR03 by
# default) each tax case is booked to, the customers' collective receivables account, and the DATEV consultant and
# client numbers of the EXTF header.
JOURNAL_ACCOUNTS = {
    "S": env("JOURNAL_ACCOUNT_S", "8400"),  # Erlöse 19 % USt
    "AE": env("JOURNAL_ACCOUNT_AE", "8336"),  # Erlöse § 13b UStG, sonstige Leistungen EU (reverse charge)
    "O": env("JOURNAL_ACCOUNT_O", "8338"),  # Erlöse im Drittland nicht steuerbar
}
JOURNAL_RECEIVABLES_ACCOUNT = env("JOURNAL_RECEIVABLES_ACCOUNT", "10000")
JOURNAL_DATEV_CONSULTANT = env("JOURNAL_DATEV_CONSULTANT", "1001")
JOURNAL_DATEV_CLIENT = env("JOURNAL_DATEV_CLIENT", "1")
JOURNAL_DATEV_ACCOUNT_LENGTH = 4

# Meta's WhatsApp Cloud API webhooks (/webhooks/meta/): the app secret signs each POST (X-Hub-Signature-256), the
# verify token answers Meta's subscription check. Without a secret every POST is refused (401).
META_APP_SECRET = env("META_APP_SECRET", "")
META_VERIFY_TOKEN = env("META_VERIFY_TOKEN", "")
# Received webhooks (MetaWebhookInbox) are kept this many days after they were rated, then deleted by the nightly
# purge (the usage rows, ledger entries and skips they produced stay); 0 keeps them for ever. At three status
# webhooks per message sent the inbox is the portal's largest table.
META_WEBHOOK_INBOX_RETENTION_DAYS = env_int("META_WEBHOOK_INBOX_RETENTION_DAYS", 90)
# Meta's Graph API, read daily for every WABA's pricing analytics (reconciliation): base URL with its version, and a
# system user's token with whatsapp_business_management. Network errors, 429 and 5xx are retried with back-off.
META_GRAPH_API_BASE = env("META_GRAPH_API_BASE", "https://graph.facebook.com/v23.0")
META_GRAPH_API_TOKEN = env("META_GRAPH_API_TOKEN", "")
META_GRAPH_RETRIES = 3
META_GRAPH_BACKOFF = 1.0  # seconds before the first retry, doubled for each next one
META_GRAPH_TIMEOUT = 30
META_GRAPH_MAX_PAGES = 100

# Usage ingestion: the largest batch a caller may hand the usage service at once.
USAGE_MAX_BATCH = 1000

# Stripe.js for card entry (Stripe Elements); the tests point it at localstripe's fake Stripe.js.
STRIPE_JS_URL = env("STRIPE_JS_URL", "https://js.stripe.com/v3/")

# Content-Security-Policy (django-csp) on every response: our own origin only, no inline script or style. The pages
# running Stripe Elements add Stripe's origins (portal.payment_pages.stripe_elements); the API docs load Swagger UI's
# bootstrap as a file (api.urls).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-src": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Pages and files of one party (and staff) are never kept by shared caches or the browser's history cache.
PRIVATE_PATH_PREFIXES = ("/client/", "/partner/", "/api/", "/account/", "/admin/")

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.ApiJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.parsers.JsonBodyNegotiation",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Per key, counted in the cache (Redis when REDIS_URL is set), by the key's kind.
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "client": env("API_RATE_CLIENT", "120/min"),
        "partner": env("API_RATE_PARTNER", "120/min"),
        "service": env("API_RATE_SERVICE", "600000/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hub Portal API",
    "DESCRIPTION": (
        "Billing data for clients and partners, and usage and send permission for the messaging platform.\n\n"
        "Authenticate with `Authorization: Bearer <key>`: a client key sees its own client's data, a partner key its "
        "own plan invoices and its clients' usage and billing status, the platform's service key usage events and "
        "send permission. Another party's ids answer 404. Every error has one shape: "
        '`{"error": {"code", "message", "fields"}}`. POSTs that move money honour an `Idempotency-Key` header.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "InvoiceStatusEnum": "billing.models.invoices.InvoiceStatus",
        "PhoneNumberStatusEnum": "hub.models.PhoneNumber.Status",
        "InvoiceKindEnum": "billing.models.invoices.InvoiceKind",
        "LedgerEntryKindEnum": "billing.models.ledger.EntryKind",
        "BillingStateEnum": "api.serializers.BILLING_STATES",
        "PaymentStateEnum": "api.serializers.PAYMENT_STATES",
    },
    # Swagger UI's files are served from the package (drf-spectacular-sidecar), not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# /metrics (Prometheus) answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, /metrics is 404.
METRICS_TOKEN = env("METRICS_TOKEN")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", "INFO")},
}

# Outbound webhooks (billing/outbound_webhooks.py). Endpoints the platform pushes to, by name:
# {"send-permission": {"url": "https://…", "secret": "…"}}. Plain http:// to the loopback is refused unless allowed
# (tests and a developer's machine only; partners' endpoints must be HTTPS on a public address).
# PLATFORM_WEBHOOK_URL / PLATFORM_WEBHOOK_SECRET: every change of a hub's send permission is POSTed there, signed
# with the secret (billing/send_permission_stream.py; README, "The send decision pushed to the platform").
OUTBOUND_WEBHOOKS: dict = {}
PLATFORM_WEBHOOK_URL = env("PLATFORM_WEBHOOK_URL")
if PLATFORM_WEBHOOK_URL:
    if len(env("PLATFORM_WEBHOOK_SECRET") or "") < 32:
        raise ImproperlyConfigured("PLATFORM_WEBHOOK_URL needs PLATFORM_WEBHOOK_SECRET (32 characters or more).")
    OUTBOUND_WEBHOOKS["send-permission"] = {"url": PLATFORM_WEBHOOK_URL, "secret": env("PLATFORM_WEBHOOK_SECRET")}
OUTBOUND_WEBHOOKS_ALLOW_LOOPBACK_HTTP = env("OUTBOUND_WEBHOOKS_ALLOW_LOOPBACK_HTTP", "0") == "1"
