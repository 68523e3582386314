"""Settings come from the environment; safe defaults exist only in sandbox mode."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from cryptography.fernet import Fernet

from simrenew.kit import config
from simrenew.kit.cache_url import cache_from_url
from simrenew.kit.logs import TEXT_FORMAT, log_format

PACKAGE_DIR = Path(__file__).resolve().parent
# Runtime files (SQLite database, screenshots, collected static) live under ./var
# of the directory the command runs in, so a checkout is self-contained.
VAR_DIR = Path(os.environ.get("SIMRENEW_VAR_DIR", Path.cwd() / "var")).resolve()


def _flag(name: str, default: str = "0") -> bool:
    return os.environ.get(name, default).strip().lower() in {"1", "true", "yes", "on"}


SIMRENEW_SANDBOX = _flag("SIMRENEW_SANDBOX")
# Live mode refuses to start without everything it needs (simrenew/kit/config.py lists it); the
# sandbox keeps its own random secret key in var/, made on first start.
if not SIMRENEW_SANDBOX:
    config.LiveConfig(config.live_problems(os.environ)).refuse_if_any()
# Every secret is read through config.env_value: NAME, or the file NAME_FILE names (container
# secrets, systemd credentials), never both.
SECRET_KEY = config.env_value("SIMRENEW_SECRET_KEY") or config.file_secret(
    VAR_DIR / "secret_key", config.new_secret_key
)
if (_key_problem := config.check_secret_key(SECRET_KEY)) is not None:
    raise config.ConfigurationRefused(_key_problem)

DEBUG = _flag("SIMRENEW_DEBUG")
# The address customers use: every absolute link (emails, QR codes, receipts, API answers) is built
# from it, never from a request's Host header.
SIMRENEW_PUBLIC_URL = os.environ.get("SIMRENEW_PUBLIC_URL", config.SANDBOX_PUBLIC_URL).rstrip("/")
# The hosts Django answers to: the public URL's, plus explicit extras (an internal name the load
# balancer probes by); the sandbox also answers to the machine's own names, and may allow '*'.
ALLOWED_HOSTS = [
    config.url_host(SIMRENEW_PUBLIC_URL),
    *(config.SANDBOX_LOCAL_HOSTS if SIMRENEW_SANDBOX else ()),
    *(h.strip() for h in os.environ.get("SIMRENEW_ALLOWED_HOSTS", "").split(",") if h.strip()),
]
# Outside the sandbox the site is served over TLS only: HSTS, a redirect from http (health checks
# excepted: load balancers probe over plain HTTP), secure cookies. Behind a proxy that terminates
# TLS (SIMRENEW_BEHIND_TLS_PROXY=1), its X-Forwarded-Proto says the request came over https.
SIMRENEW_BEHIND_TLS_PROXY = _flag("SIMRENEW_BEHIND_TLS_PROXY")
if SIMRENEW_BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many proxies in front append to X-Forwarded-For, so that sign-in limits per IP count the
# client's address, not the proxy's (0: trust no such header; 1 by default behind a TLS proxy).
ALLAUTH_TRUSTED_PROXY_COUNT = int(
    os.environ.get("SIMRENEW_TRUSTED_PROXY_COUNT", "1" if SIMRENEW_BEHIND_TLS_PROXY else "0")
)
if not SIMRENEW_SANDBOX:
    SECURE_SSL_REDIRECT = True
    # Probes and Prometheus reach each process directly over the private network, not through the TLS proxy.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("SIMRENEW_HSTS_SECONDS", str(365 * 24 * 3600)))
    # includeSubDomains and preload bind every host of the operator's domain, which one application
    # cannot promise: the operator opts in, and `check --deploy` does not nag about it meanwhile.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _flag("SIMRENEW_HSTS_INCLUDE_SUBDOMAINS")
    SECURE_HSTS_PRELOAD = _flag("SIMRENEW_HSTS_PRELOAD")
    SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
# Staff need a second factor (TOTP) to open the console: required by default outside the sandbox.
SIMRENEW_STAFF_MFA = os.environ.get("SIMRENEW_STAFF_MFA", "optional" if SIMRENEW_SANDBOX else "required")
# Keys (Fernet, comma-separated) that encrypt secrets at rest (TOTP seeds, webhook signing secrets):
# the first encrypts, every one decrypts, so a new key goes first and an old one leaves once
# `simrenew secrets rotate` has re-encrypted everything with the new. The sandbox makes its own.
SIMRENEW_ENCRYPTION_KEYS = [
    k.strip()
    for k in (
        config.env_value("SIMRENEW_ENCRYPTION_KEYS")
        or config.file_secret(VAR_DIR / "encryption_key", lambda: Fernet.generate_key().decode())
    ).split(",")
    if k.strip()
]
# `/bench/constant` (a bare view returning a constant), for `make bench-api`; off by default.
SIMRENEW_BENCH_ROUTES = _flag("SIMRENEW_BENCH_ROUTES")
# Prometheus metrics (kit.metrics): requests counted and timed unless SIMRENEW_METRICS=0; /metrics
# asks for `Authorization: Bearer <SIMRENEW_METRICS_TOKEN>` (unset: open in the sandbox only).
SIMRENEW_METRICS = _flag("SIMRENEW_METRICS", "1")
SIMRENEW_METRICS_TOKEN = config.env_value("SIMRENEW_METRICS_TOKEN")

INSTALLED_APPS = [
    "simrenew.console.admin_app.ConsoleAdminConfig",  # django.contrib.admin, opening on the console overview
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.forms",  # the widgets' own templates, for FORM_RENDERER below
    "ninja",  # serves the API docs' assets locally
    # Before allauth: the portal's templates override allauth's (layout, emails).
    "simrenew.portal",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "simrenew.kit",
    "simrenew.audit",
    "simrenew.catalog",
    "simrenew.customers",
    "simrenew.esims",
    "simrenew.payments",
    "simrenew.billing",
    "simrenew.subscriptions",
    "simrenew.usage",
    "simrenew.notifications",
    "simrenew.webhooks",
    "simrenew.api",
    "simrenew.provisioning",
    "simrenew.privacy",
    "simrenew.console",
    "simrenew.worker",  # its heartbeats: is a worker alive (console, /readyz)
    "simrenew",  # the `simrenew` CLI verbs in simrenew/management/commands
]

# The Page* and ContentSecurityPolicy middleware are Django's and django-csp's, skipped (or, for
# CSP, a constant strict policy) on the partner API's requests (simrenew.kit.middleware).
MIDDLEWARE = [
    # First, so that every log line of the request carries its id (tracing, when on, goes before it);
    # then the metrics, which time everything after them.
    "simrenew.kit.middleware.RequestIdMiddleware",
    *(["simrenew.kit.metrics.RequestMetricsMiddleware"] if SIMRENEW_METRICS else []),
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "simrenew.kit.middleware.RejectNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "simrenew.kit.middleware.PageLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "simrenew.kit.middleware.ActorMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "simrenew.portal.middleware.CustomerLocaleMiddleware",
    "simrenew.kit.middleware.ContentSecurityPolicyMiddleware",
    "simrenew.kit.middleware.PageMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "simrenew.urls"

# Sign-up, login, email verification, password reset, TOTP (django-allauth).
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
# Following the link from the sign-up email (in the same browser) signs the customer in.
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_ADAPTER = "simrenew.portal.accounts.AccountAdapter"
ACCOUNT_SIGNUP_FORM_CLASS = "simrenew.portal.forms.SignupDetailsForm"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if SIMRENEW_SANDBOX else "https"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "portal:dashboard"

# A Content-Security-Policy for the portal, the console (which adds one inline style of Django's
# admin, simrenew.kit.middleware) and the API docs (django-ninja's Swagger UI: local scripts and
# styles, its settings a JSON data block, so it needs no exception).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "style-src": ["'self'"],
        "script-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    },
}
# Usage batches of up to 10,000 records arrive in one body.
DATA_UPLOAD_MAX_MEMORY_SIZE = 16 * 1024 * 1024
WSGI_APPLICATION = "simrenew.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Overrides of Django admin's templates (admin/…): searched before the apps' folders,
        # where django.contrib.admin's own copies come first.
        "DIRS": [PACKAGE_DIR / "templates"],
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
# Widgets are drawn with the templates above, so the project's folder overrides admin widgets too
# (templates/admin/widgets/split_datetime.html labels the date and time boxes).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"


def _database(url: str) -> dict[str, Any]:
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        name = Path(config["NAME"])
        if str(name) != ":memory:":
            name.parent.mkdir(parents=True, exist_ok=True)
        config["CONN_MAX_AGE"] = 0 if str(name) == ":memory:" else 60
        config["OPTIONS"] = {
            # IMMEDIATE takes the write lock at BEGIN, so two writers queue
            # instead of deadlocking on a lock upgrade; WAL lets readers go on.
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000; "
                "PRAGMA cache_size=-65536; PRAGMA mmap_size=268435456; PRAGMA temp_store=MEMORY;"
            ),
        }
    return config


# Live mode names its database (kit/config.py refuses to start without): only the sandbox falls back
# on `make run`'s file.
DATABASE_URL = config.env_value("SIMRENEW_DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'simrenew.sqlite3'}")
DATABASES = {"default": _database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise serves from here (after `collectstatic`) and from the apps (finders).
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not (SIMRENEW_SANDBOX or DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# Django's cache, which the API's rate-limit counters live in: per process unless shared
# (db://TABLE, file:///DIR or redis://HOST:PORT/DB; see simrenew/kit/cache_url.py).
CACHES = {"default": cache_from_url(config.env_value("SIMRENEW_CACHE_URL"))}

# Outbound email: smtp://host:port; unset means the console, which only the sandbox may use.
EMAIL_URL = config.env_value("SIMRENEW_EMAIL_URL")
if EMAIL_URL:
    from urllib.parse import urlparse

    _email = urlparse(EMAIL_URL)
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _email.hostname or "127.0.0.1"
    EMAIL_PORT = _email.port or 25
    EMAIL_HOST_USER = _email.username or ""
    EMAIL_HOST_PASSWORD = _email.password or ""
    EMAIL_USE_TLS = _email.scheme == "smtp+tls"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("SIMRENEW_FROM_EMAIL", "simrenew <no-reply@simrenew.localhost>")
# Where customers write for help: shown on the help page, the error pages and in email footers
# (empty: those say nothing about writing to us).
SIMRENEW_SUPPORT_EMAIL = os.environ.get(
    "SIMRENEW_SUPPORT_EMAIL", "support@simrenew.localhost" if SIMRENEW_SANDBOX else ""
).strip()

# Who is told when something needs the operator (a webhook endpoint disabled after failing
# for days): SIMRENEW_OPERATOR_EMAIL (comma-separated), else Django's ADMINS.
SIMRENEW_OPERATOR_EMAIL = [a.strip() for a in os.environ.get("SIMRENEW_OPERATOR_EMAIL", "").split(",") if a.strip()]
# A webhook endpoint whose every attempt failed for this many days is disabled (Stripe's figure).
SIMRENEW_WEBHOOK_DISABLE_AFTER_DAYS = float(os.environ.get("SIMRENEW_WEBHOOK_DISABLE_AFTER_DAYS", "3"))

# Payment gateway: the sandbox unless a real one is configured.
SIMRENEW_PAYMENT_GATEWAY = os.environ.get("SIMRENEW_PAYMENT_GATEWAY", "sandbox")
SIMRENEW_SANDBOX_GATEWAY_LATENCY_MS = int(os.environ.get("SIMRENEW_SANDBOX_GATEWAY_LATENCY_MS", "0"))
# The share of sandbox charges whose answer is lost (timeouts, unknown outcomes), for fault tests.
SIMRENEW_SANDBOX_GATEWAY_FAULT_RATE = float(os.environ.get("SIMRENEW_SANDBOX_GATEWAY_FAULT_RATE", "0"))
# Stripe (SIMRENEW_PAYMENT_GATEWAY=stripe): the secret key for our servers' calls, the publishable
# key for Stripe.js on the card page, the signing secret of the /webhooks/stripe endpoint. API_BASE
# and JS_URL are Stripe's own unless a test points them at a local Stripe.
SIMRENEW_STRIPE_API_KEY = config.env_value("SIMRENEW_STRIPE_API_KEY")
SIMRENEW_STRIPE_PUBLISHABLE_KEY = os.environ.get("SIMRENEW_STRIPE_PUBLISHABLE_KEY", "")
SIMRENEW_STRIPE_WEBHOOK_SECRET = config.env_value("SIMRENEW_STRIPE_WEBHOOK_SECRET")
SIMRENEW_STRIPE_API_BASE = os.environ.get("SIMRENEW_STRIPE_API_BASE", "https://api.stripe.com").rstrip("/")
SIMRENEW_STRIPE_JS_URL = os.environ.get("SIMRENEW_STRIPE_JS_URL", "https://js.stripe.com/v3/")
# PayPal (on when SIMRENEW_PAYPAL_CLIENT_ID is set; cards and PayPal can be on together: a method's
# type picks its provider). The REST app's credentials, the id of the webhook registered for
# <SIMRENEW_PUBLIC_URL>/webhooks/paypal, and the environment: live (the default outside the sandbox)
# or sandbox; SIMRENEW_PAYPAL_API_BASE overrides the address (tests: a local PayPal).
SIMRENEW_PAYPAL_CLIENT_ID = os.environ.get("SIMRENEW_PAYPAL_CLIENT_ID", "")
SIMRENEW_PAYPAL_CLIENT_SECRET = config.env_value("SIMRENEW_PAYPAL_CLIENT_SECRET")
SIMRENEW_PAYPAL_WEBHOOK_ID = os.environ.get("SIMRENEW_PAYPAL_WEBHOOK_ID", "")
SIMRENEW_PAYPAL_ENVIRONMENT = os.environ.get("SIMRENEW_PAYPAL_ENVIRONMENT", "sandbox" if SIMRENEW_SANDBOX else "live")
SIMRENEW_PAYPAL_API_BASE = (
    os.environ.get("SIMRENEW_PAYPAL_API_BASE")
    or ("https://api-m.paypal.com" if SIMRENEW_PAYPAL_ENVIRONMENT == "live" else "https://api-m.sandbox.paypal.com")
).rstrip("/")
# A signed webhook older than this is refused as a replay (the SDK's default, Stripe's advice).
SIMRENEW_STRIPE_WEBHOOK_TOLERANCE_SECONDS = int(os.environ.get("SIMRENEW_STRIPE_WEBHOOK_TOLERANCE_SECONDS", "300"))

# The eSIM world (issue 16). An unreachable SM-DP+ answers 503 with this Retry-After. The sandbox twins
# (`sandbox:` SM-DP+ connections, carriers with no network connection) take latency and fault knobs
# like the sandbox gateway's.
SIMRENEW_SMDP_RETRY_AFTER_SECONDS = int(os.environ.get("SIMRENEW_SMDP_RETRY_AFTER_SECONDS", "30"))
SIMRENEW_SANDBOX_SMDP_LATENCY_MS = int(os.environ.get("SIMRENEW_SANDBOX_SMDP_LATENCY_MS", "0"))
SIMRENEW_SANDBOX_SMDP_FAULT_RATE = float(os.environ.get("SIMRENEW_SANDBOX_SMDP_FAULT_RATE", "0"))
# TMF641 requests in flight at once per worker and carrier: 200 ms answers at 500 orders/s need 200
# (each order is posted, then polled); 512 leaves room (`make bench`). Lower it for a carrier that
# limits connections. The first poll waits POLL_SECONDS, doubling to POLL_MAX_SECONDS.
SIMRENEW_NETWORK_CONCURRENCY = int(os.environ.get("SIMRENEW_NETWORK_CONCURRENCY", "512"))
SIMRENEW_NETWORK_POLL_SECONDS = float(os.environ.get("SIMRENEW_NETWORK_POLL_SECONDS", "2"))
SIMRENEW_NETWORK_POLL_MAX_SECONDS = float(os.environ.get("SIMRENEW_NETWORK_POLL_MAX_SECONDS", "300"))
SIMRENEW_NETWORK_CLAIM_SECONDS = int(os.environ.get("SIMRENEW_NETWORK_CLAIM_SECONDS", "120"))
SIMRENEW_NETWORK_TIMEOUT_SECONDS = float(os.environ.get("SIMRENEW_NETWORK_TIMEOUT_SECONDS", "10"))
SIMRENEW_SANDBOX_NETWORK_DELAY_SECONDS = int(os.environ.get("SIMRENEW_SANDBOX_NETWORK_DELAY_SECONDS", "5"))
SIMRENEW_SANDBOX_NETWORK_LATENCY_MS = int(os.environ.get("SIMRENEW_SANDBOX_NETWORK_LATENCY_MS", "0"))
SIMRENEW_SANDBOX_NETWORK_FAULT_RATE = float(os.environ.get("SIMRENEW_SANDBOX_NETWORK_FAULT_RATE", "0"))
# The TMF641 listener is a doorbell anyone can ring: events per client and minute (0: no limit).
SIMRENEW_TMF_LISTENER_EVENTS_PER_MINUTE = int(os.environ.get("SIMRENEW_TMF_LISTENER_EVENTS_PER_MINUTE", "600"))

# SMS notices: the sandbox provider records messages in the database; "twilio" sends them.
SIMRENEW_SMS_PROVIDER = os.environ.get("SIMRENEW_SMS_PROVIDER", "sandbox")
SIMRENEW_TWILIO_ACCOUNT_SID = os.environ.get("SIMRENEW_TWILIO_ACCOUNT_SID", "")
SIMRENEW_TWILIO_AUTH_TOKEN = config.env_value("SIMRENEW_TWILIO_AUTH_TOKEN")
SIMRENEW_TWILIO_FROM = os.environ.get("SIMRENEW_TWILIO_FROM", "")
SIMRENEW_TWILIO_API_URL = os.environ.get("SIMRENEW_TWILIO_API_URL", "https://api.twilio.com")

# The worker: auto-renew tries at these hours before expiry (the first is when charging starts),
# suspended subscriptions are terminated after the retention window, with a warning before.
SIMRENEW_RENEWAL_RETRY_HOURS = tuple(
    sorted((int(h) for h in os.environ.get("SIMRENEW_RENEWAL_RETRY_HOURS", "72,24,6,1").split(",")), reverse=True)
)
SIMRENEW_RETENTION_DAYS = int(os.environ.get("SIMRENEW_RETENTION_DAYS", "90"))
SIMRENEW_TERMINATION_WARNING_DAYS = int(os.environ.get("SIMRENEW_TERMINATION_WARNING_DAYS", "7"))
# What cancelling "now" pays back (subscriptions.cancellation.RefundPolicy, docs/RULES.md
# "Cancellation"): `none`; `unstarted` (periods paid ahead and not started, in full); `prorata`
# (those, and the unused part of the running period, rounded up to the minor unit). A misspelt
# policy would silently keep or give away money, so it refuses to start instead.
CANCEL_REFUND_POLICIES = ("none", "unstarted", "prorata")
SIMRENEW_CANCEL_REFUND_POLICY = (os.environ.get("SIMRENEW_CANCEL_REFUND_POLICY") or "unstarted").strip().lower()
if SIMRENEW_CANCEL_REFUND_POLICY not in CANCEL_REFUND_POLICIES:
    raise config.ConfigurationRefused(
        f"SIMRENEW_CANCEL_REFUND_POLICY is {os.environ['SIMRENEW_CANCEL_REFUND_POLICY']!r}; set it to one of "
        f"{', '.join(CANCEL_REFUND_POLICIES)} (unset: unstarted)."
    )
# Customers' data rights (privacy): an erased customer's invoices keep their billing details this
# many years from issue (the legal retention of invoices), then the worker pseudonymizes them.
_retention_years = (os.environ.get("SIMRENEW_INVOICE_RETENTION_YEARS") or "7").strip()
if not _retention_years.isdigit():
    raise config.ConfigurationRefused(
        f"SIMRENEW_INVOICE_RETENTION_YEARS is {_retention_years!r}; set it to a whole number of years (unset: 7)."
    )
SIMRENEW_INVOICE_RETENTION_YEARS = int(_retention_years)
SIMRENEW_WORKER_BATCH_SIZE = int(os.environ.get("SIMRENEW_WORKER_BATCH_SIZE", "500"))
# Gateway calls in flight at once per worker process.
SIMRENEW_WORKER_GATEWAY_CONCURRENCY = int(os.environ.get("SIMRENEW_WORKER_GATEWAY_CONCURRENCY", "500"))
# A claim not renewed within this many seconds is taken over by another worker.
SIMRENEW_WORKER_CLAIM_SECONDS = int(os.environ.get("SIMRENEW_WORKER_CLAIM_SECONDS", "120"))

# Partner API rate limits, per API key: requests per window (seconds), reads (GET) and writes
# counted apart (on average 100 reads and 50 writes a second, bursts allowed within the minute);
# 0 turns a limit off. Counted in CACHES["default"], per process unless SIMRENEW_CACHE_URL
# names a shared cache (see README, "Running at scale").
SIMRENEW_API_RATE_LIMIT_READS = int(os.environ.get("SIMRENEW_API_RATE_LIMIT_READS", "6000"))
SIMRENEW_API_RATE_LIMIT_WRITES = int(os.environ.get("SIMRENEW_API_RATE_LIMIT_WRITES", "3000"))
SIMRENEW_API_RATE_LIMIT_WINDOW = int(os.environ.get("SIMRENEW_API_RATE_LIMIT_WINDOW", "60"))

# One event per line: JSON (time, level, logger, message, request_id, trace_id, span_id, customer_id
# and the event's fields: kit.logs) outside the sandbox, text in it; SIMRENEW_LOG_FORMAT=json|text.
SIMRENEW_LOG_FORMAT = log_format()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"text": {"format": TEXT_FORMAT}, "json": {"()": "simrenew.kit.logs.JsonLines"}},
    # Tokens that links carry (password reset, email confirmation, QR codes) never reach the logs.
    "filters": {"redact_secrets": {"()": "simrenew.kit.redaction.RedactSecrets"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": SIMRENEW_LOG_FORMAT,
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("SIMRENEW_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own loggers (its default configuration gives them unfiltered handlers: a debug
        # console and the development server's access log) write through the filtered one.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        # One line per outbound request is noise at INFO (and a cost on hot paths).
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "stripe": {"level": "WARNING"},  # Stripe's SDK logs two INFO lines per call
    },
}

# --- secrets at rest (issue 13) ---
# TOTP and recovery-code seeds are stored encrypted with SIMRENEW_ENCRYPTION_KEYS (kit.crypto).
MFA_ADAPTER = "simrenew.portal.mfa.MFAAdapter"
# Promotion codes that did not apply, per customer and per client (portal: IP address; API:
# API key) per window of seconds; over it a code is refused unread (0 turns a limit off).
SIMRENEW_PROMO_FAILURES_PER_CUSTOMER = int(os.environ.get("SIMRENEW_PROMO_FAILURES_PER_CUSTOMER", "10"))
SIMRENEW_PROMO_FAILURES_PER_CLIENT = int(os.environ.get("SIMRENEW_PROMO_FAILURES_PER_CLIENT", "30"))
SIMRENEW_PROMO_ATTEMPT_WINDOW = int(os.environ.get("SIMRENEW_PROMO_ATTEMPT_WINDOW", "3600"))

# --- console sign-in (issue 13) ---
# Staff sign in through allauth like customers (/admin/login/ only redirects there), so these
# limits guard the console too. allauth's own defaults, written out: failed logins per client IP
# (10 a minute) and per account (5 in 5 minutes: the account stays locked until the oldest
# failure is 5 minutes old, whichever IP or Host header the guesses came from).
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "reauthenticate": "10/m/user",
    "signup": "20/m/ip",
}
# The reset-from-key page refuses staff accounts even with a valid key.
ACCOUNT_FORMS = {"user_token": "simrenew.portal.accounts.CustomerResetTokenForm"}
# Where staff MFA is required, staff set up an authenticator app only with an administrator's
# grant (`simrenew staff create|reset-password|allow-mfa-setup`): a password alone enrolls nothing.
MFA_FORMS = {"activate_totp": "simrenew.console.signin.StaffGrantedActivateTOTPForm"}
