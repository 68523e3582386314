"""What the environment must say before simrenew serves real customers, read by settings.py.

Nothing here reads Django's settings: settings.py calls it while they are being made.

Sandbox mode (`SIMRENEW_SANDBOX=1`, what `make run` and the tests use) may lean on defaults: it
keeps its own random secret key and encryption key in `var/`, made on first start. Live mode
(anything else) must be told everything that matters, and refuses to start otherwise, listing
every problem at once with what to set (`simrenew check --deploy` shows the same list).

Secrets (SECRET_VARIABLES) are read through `env_value` only, by settings.py and by the live checks
alike: NAME, or NAME_FILE naming a file that holds the value (container secrets, systemd credentials).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

# Published in the source of earlier versions: anyone could sign sessions, QR links and email
# confirmations with it. Refused everywhere, sandbox included.
PUBLISHED_SECRET_KEYS = frozenset({"simrenew-sandbox-only-secret-key-do-not-use-in-production"})
MIN_SECRET_KEY_LENGTH = 32
SANDBOX_PUBLIC_URL = "http://127.0.0.1:8000"
# Hosts a sandbox also answers to besides its public URL's (a laptop's own names).
SANDBOX_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


class ConfigurationRefused(ImproperlyConfigured):
    """Live mode was started with settings that are unsafe or missing; the message lists them all."""


# The variables that hold secrets. Each may instead be given as NAME_FILE, the path of a file holding
# the value (compose's secrets under /run/secrets/, systemd's credentials): a value in the
# environment shows in `docker inspect`, in /proc/PID/environ and in every child process's.
SECRET_VARIABLES = (
    "SIMRENEW_SECRET_KEY",
    "SIMRENEW_ENCRYPTION_KEYS",
    "SIMRENEW_DATABASE_URL",
    "SIMRENEW_EMAIL_URL",
    "SIMRENEW_CACHE_URL",
    "SIMRENEW_STRIPE_API_KEY",
    "SIMRENEW_STRIPE_WEBHOOK_SECRET",
    "SIMRENEW_PAYPAL_CLIENT_SECRET",
    "SIMRENEW_TWILIO_AUTH_TOKEN",
    "SIMRENEW_METRICS_TOKEN",
)


def env_value(name: str, env: Mapping[str, str] | None = None, default: str = "") -> str:
    """The secret `name` from the environment: NAME itself, else the content of the file NAME_FILE
    names (stripped: files end with a newline), else `default`. An empty variable counts as unset.

    Both set is refused rather than one silently winning: an operator moving a secret into a file
    must not keep serving with the old value. The error names the file, never its content."""
    if name not in SECRET_VARIABLES:
        raise ValueError(f"{name} is not in SECRET_VARIABLES: list it there to read it from a file too.")
    env = os.environ if env is None else env
    value, path = env.get(name, ""), env.get(f"{name}_FILE", "")
    if value and path:
        raise ConfigurationRefused(f"{name} and {name}_FILE are both set: keep one (the file, for a secret).")
    if not path:
        return value or default
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigurationRefused(f"{name}_FILE names {path}, which cannot be read: {why}.") from None
    if not text:
        raise ConfigurationRefused(f"{name}_FILE names {path}, which is empty: put the value of {name} in it.")
    return text


def file_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in `path`, made (readable by its owner only) when the file does not exist yet.

    Several processes may start at once on a fresh checkout: the first to create the file wins and
    the others read what it wrote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # the winner may not have written it yet
            value = path.read_text().strip()
            if value:
                return value
            time.sleep(0.02)
        raise ConfigurationRefused(f"{path} is empty: delete it and start again to make a new one.") from None
    value = make()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value + "\n")
    return value


def new_secret_key() -> str:
    return secrets.token_urlsafe(50)


def url_host(url: str) -> str:
    """The host part of an absolute URL as Django's ALLOWED_HOSTS spells it (IPv6 in brackets)."""
    host = urlsplit(url).hostname or ""
    return f"[{host}]" if ":" in host else host


@dataclass
class LiveConfig:
    """What live mode found wrong, each problem with the variable that fixes it."""

    problems: list[str] = field(default_factory=list)

    def require(self, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(problem)

    def refuse_if_any(self) -> None:
        if self.problems:
            listed = "\n".join(f"  - {problem}" for problem in self.problems)
            raise ConfigurationRefused(
                "simrenew refuses to start in live mode (SIMRENEW_SANDBOX is not 1):\n"
                f"{listed}\nSee README.md, 'Running in production'."
            )


def is_fernet_key(key: str) -> bool:
    try:
        Fernet(key.encode())
    except (ValueError, TypeError):
        return False
    return True


def check_secret_key(key: str) -> str | None:
    """Why `key` cannot sign anything, or None when it can."""
    if key in PUBLISHED_SECRET_KEYS:
        return "SIMRENEW_SECRET_KEY is the key published in simrenew's source; set a random one of your own."
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return f"SIMRENEW_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} random characters."
    return None


def live_problems(env: Mapping[str, str]) -> list[str]:
    """Everything live mode needs and `env` does not give (an empty list: ready to start)."""
    config = LiveConfig()

    def secret(name: str) -> str | None:
        """A secret, from NAME or NAME_FILE; None (and one more problem listed) when its file cannot
        be read, so that its own rules are not reported on top of that."""
        try:
            return env_value(name, env)
        except ConfigurationRefused as refused:
            config.problems.append(str(refused))
            return None

    secret_key = secret("SIMRENEW_SECRET_KEY")
    config.require(secret_key != "", "SIMRENEW_SECRET_KEY must be set (a long random string, kept secret).")
    if secret_key:
        problem = check_secret_key(secret_key)
        config.require(problem is None, problem or "")
    public_url = env.get("SIMRENEW_PUBLIC_URL", "")
    parts = urlsplit(public_url)
    config.require(
        parts.scheme == "https" and bool(parts.hostname),
        "SIMRENEW_PUBLIC_URL must be the https:// address customers use (every link in every email is built "
        "from it, never from a request's Host header).",
    )
    extra_hosts = [h.strip() for h in env.get("SIMRENEW_ALLOWED_HOSTS", "").split(",") if h.strip()]
    config.require(
        not any(h == "*" or h.startswith("*") for h in extra_hosts),
        "SIMRENEW_ALLOWED_HOSTS may not hold '*' outside the sandbox: name each extra host the servers answer to.",
    )
    config.require(
        secret("SIMRENEW_DATABASE_URL") != "",
        "SIMRENEW_DATABASE_URL must name the live database explicitly (the default file belongs to `make run`'s "
        "sandbox).",
    )
    config.require(
        secret("SIMRENEW_EMAIL_URL") != "",
        "SIMRENEW_EMAIL_URL must name the SMTP server (smtp://HOST:PORT): without it emails, reset links "
        "included, would be printed to the log.",
    )
    encryption_value = secret("SIMRENEW_ENCRYPTION_KEYS")
    encryption_keys = [k.strip() for k in (encryption_value or "").split(",") if k.strip()]
    config.require(
        encryption_value is None or bool(encryption_keys),
        "SIMRENEW_ENCRYPTION_KEYS must hold the key(s) that encrypt TOTP and webhook secrets at rest "
        "(make one with `simrenew secrets new-key`).",
    )
    config.require(
        all(is_fernet_key(key) for key in encryption_keys),
        "SIMRENEW_ENCRYPTION_KEYS holds a value that is not a Fernet key (32 url-safe base64-encoded bytes; "
        "make one with `simrenew secrets new-key`).",
    )
    config.require(
        secret("SIMRENEW_CACHE_URL") != "",
        "SIMRENEW_CACHE_URL must name a cache shared by every process (redis://HOST:PORT/DB or db://TABLE): "
        "sign-in lockouts and rate limits counted per process would let each process be guessed at apart.",
    )
    config.require(
        env.get("SIMRENEW_DEBUG", "0").strip().lower() not in {"1", "true", "yes", "on"},
        "SIMRENEW_DEBUG must be off outside the sandbox: debug pages show settings and tokens.",
    )
    gateway = env.get("SIMRENEW_PAYMENT_GATEWAY", "sandbox")
    config.require(
        gateway != "sandbox",
        "SIMRENEW_PAYMENT_GATEWAY must name a real gateway: the sandbox gateway runs only in sandbox mode.",
    )
    config.require(
        gateway in {"sandbox", "stripe"}, f"SIMRENEW_PAYMENT_GATEWAY={gateway!r} is not a gateway simrenew has: stripe."
    )
    if gateway == "stripe":
        api_key, webhook_secret = secret("SIMRENEW_STRIPE_API_KEY"), secret("SIMRENEW_STRIPE_WEBHOOK_SECRET")
        config.require(
            api_key is None or api_key.startswith(("sk_", "rk_")),
            "SIMRENEW_STRIPE_API_KEY must be the Stripe account's secret key (sk_live_…, or a restricted rk_live_…).",
        )
        config.require(
            env.get("SIMRENEW_STRIPE_PUBLISHABLE_KEY", "").startswith("pk_"),
            "SIMRENEW_STRIPE_PUBLISHABLE_KEY must be the Stripe account's publishable key (pk_live_…): the card "
            "page cannot take a card without it.",
        )
        config.require(
            webhook_secret is None or webhook_secret.startswith("whsec_"),
            "SIMRENEW_STRIPE_WEBHOOK_SECRET must be the signing secret (whsec_…) of the endpoint "
            "<SIMRENEW_PUBLIC_URL>/webhooks/stripe: without it no payment Stripe settles late reaches us.",
        )
    config.require(
        env.get("SIMRENEW_SMS_PROVIDER", "sandbox") != "sandbox",
        "SIMRENEW_SMS_PROVIDER must name a real provider: the sandbox provider runs only in sandbox mode.",
    )
    if env.get("SIMRENEW_PAYPAL_CLIENT_ID"):
        config.require(
            secret("SIMRENEW_PAYPAL_CLIENT_SECRET") != "",
            "SIMRENEW_PAYPAL_CLIENT_SECRET must be set with SIMRENEW_PAYPAL_CLIENT_ID (the PayPal REST app's secret).",
        )
        config.require(
            bool(env.get("SIMRENEW_PAYPAL_WEBHOOK_ID")),
            "SIMRENEW_PAYPAL_WEBHOOK_ID must be the id PayPal gave the webhook <SIMRENEW_PUBLIC_URL>/webhooks/paypal: "
            "without it no PayPal event (a late capture, an unlinked account) can be verified.",
        )
        config.require(
            env.get("SIMRENEW_PAYPAL_ENVIRONMENT", "live") == "live",
            "SIMRENEW_PAYPAL_ENVIRONMENT must be live outside the sandbox: PayPal's sandbox takes no real money.",
        )
    staff_mfa = env.get("SIMRENEW_STAFF_MFA", "required")
    config.require(
        staff_mfa in {"required", "optional"},
        "SIMRENEW_STAFF_MFA must be 'required' (the default outside the sandbox) or 'optional'.",
    )
    return config.problems
