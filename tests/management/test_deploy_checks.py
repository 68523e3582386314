"""A live server starts only when it is safe to face customers: `simrenew check --deploy` names each
unsafe configuration and what fixes it, passes on a complete one, and `serve`/`worker` run it first.

The settings-level rules are checked on the rule itself (simrenew.kit.config.live_problems) for every
variable, and through the real command in a live-mode process for the whole picture."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from allauth.account import app_settings as allauth_settings
from allauth.account.models import EmailAddress
from cryptography.fernet import Fernet
from django.core import signing
from django.test import Client

from simrenew.kit.config import PUBLISHED_SECRET_KEYS, live_problems
from tests.factories import make_customer

SIMRENEW = str(Path(sys.executable).with_name("simrenew"))
PUBLISHED_KEY = next(iter(PUBLISHED_SECRET_KEYS))


def complete_live_env(folder: Path) -> dict[str, str]:
    """Everything live mode needs, pointing at a database of its own."""
    return {
        "SIMRENEW_SANDBOX": "0",
        "SIMRENEW_SECRET_KEY": secrets.token_urlsafe(50),
        "SIMRENEW_PUBLIC_URL": "https://esim.example.com",
        "SIMRENEW_DATABASE_URL": f"sqlite:///{folder / 'live.sqlite3'}",
        "SIMRENEW_EMAIL_URL": "smtp://127.0.0.1:2525",
        "SIMRENEW_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SIMRENEW_PAYMENT_GATEWAY": "stripe",
        "SIMRENEW_STRIPE_API_KEY": "sk_test_placeholder",
        "SIMRENEW_STRIPE_PUBLISHABLE_KEY": "pk_test_placeholder",
        "SIMRENEW_STRIPE_WEBHOOK_SECRET": "whsec_placeholder",
        "SIMRENEW_PAYPAL_CLIENT_ID": "paypal-client-placeholder",
        "SIMRENEW_PAYPAL_CLIENT_SECRET": "paypal-secret-placeholder",
        "SIMRENEW_PAYPAL_WEBHOOK_ID": "WH-PLACEHOLDER",
        "SIMRENEW_SMS_PROVIDER": "twilio",
        "SIMRENEW_CACHE_URL": "db://simrenew_cache",
        "SIMRENEW_VAR_DIR": str(folder / "var"),
    }


def simrenew(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIMRENEW_")}
    full = {**clean, "DJANGO_SETTINGS_MODULE": "simrenew.settings", **env}
    return subprocess.run([SIMRENEW, *args], env=full, capture_output=True, text=True, timeout=120)


UNSAFE = {
    "no secret key": ({"SIMRENEW_SECRET_KEY": ""}, "SIMRENEW_SECRET_KEY must be set"),
    "the published secret key": ({"SIMRENEW_SECRET_KEY": PUBLISHED_KEY}, "published in simrenew's source"),
    "a short secret key": ({"SIMRENEW_SECRET_KEY": "hunter2"}, "at least 32"),
    "no public URL": ({"SIMRENEW_PUBLIC_URL": ""}, "SIMRENEW_PUBLIC_URL"),
    "a plain-http public URL": ({"SIMRENEW_PUBLIC_URL": "http://esim.example.com"}, "https://"),
    "any host allowed": ({"SIMRENEW_ALLOWED_HOSTS": "internal.lb,*"}, "may not hold '*'"),
    "no database URL": ({"SIMRENEW_DATABASE_URL": ""}, "SIMRENEW_DATABASE_URL"),
    "no email URL": ({"SIMRENEW_EMAIL_URL": ""}, "SIMRENEW_EMAIL_URL"),
    "no encryption keys": ({"SIMRENEW_ENCRYPTION_KEYS": ""}, "SIMRENEW_ENCRYPTION_KEYS must hold"),
    "a malformed encryption key": ({"SIMRENEW_ENCRYPTION_KEYS": "not-a-fernet-key"}, "not a Fernet key"),
    "no shared cache": ({"SIMRENEW_CACHE_URL": ""}, "SIMRENEW_CACHE_URL"),
    "debug pages": ({"SIMRENEW_DEBUG": "1"}, "SIMRENEW_DEBUG must be off"),
    "the sandbox gateway": ({"SIMRENEW_PAYMENT_GATEWAY": "sandbox"}, "SIMRENEW_PAYMENT_GATEWAY"),
    "a gateway simrenew does not have": ({"SIMRENEW_PAYMENT_GATEWAY": "stripey"}, "not a gateway simrenew has"),
    "Stripe without its secret key": ({"SIMRENEW_STRIPE_API_KEY": ""}, "SIMRENEW_STRIPE_API_KEY"),
    "Stripe's publishable key as the secret": ({"SIMRENEW_STRIPE_API_KEY": "pk_live_x"}, "secret key"),
    "Stripe without its publishable key": ({"SIMRENEW_STRIPE_PUBLISHABLE_KEY": ""}, "PUBLISHABLE_KEY"),
    "Stripe without its webhook secret": ({"SIMRENEW_STRIPE_WEBHOOK_SECRET": ""}, "/webhooks/stripe"),
    "PayPal without its secret": ({"SIMRENEW_PAYPAL_CLIENT_SECRET": ""}, "SIMRENEW_PAYPAL_CLIENT_SECRET"),
    "PayPal without its webhook": ({"SIMRENEW_PAYPAL_WEBHOOK_ID": ""}, "/webhooks/paypal"),
    "PayPal's sandbox in production": ({"SIMRENEW_PAYPAL_ENVIRONMENT": "sandbox"}, "takes no real money"),
    "the sandbox SMS provider": ({"SIMRENEW_SMS_PROVIDER": "sandbox"}, "SIMRENEW_SMS_PROVIDER"),
    "a misspelt staff MFA policy": ({"SIMRENEW_STAFF_MFA": "sometimes"}, "SIMRENEW_STAFF_MFA"),
}


def test_a_complete_live_configuration_has_no_problem(tmp_path: Path) -> None:
    assert live_problems(complete_live_env(tmp_path)) == []


@pytest.mark.parametrize("case", list(UNSAFE))
def test_each_unsafe_live_configuration_is_named_with_its_fix(tmp_path: Path, case: str) -> None:
    change, says = UNSAFE[case]
    env = {k: v for k, v in {**complete_live_env(tmp_path), **change}.items() if v}

    problems = live_problems(env)

    assert len(problems) == 1, problems
    assert says in problems[0]


# What a complete configuration holds that is not a requirement: the mode itself, where `var/` is,
# and PayPal's client id (PayPal is optional; with it, its secret and webhook id are required).
NOT_REQUIRED = {"SIMRENEW_SANDBOX", "SIMRENEW_VAR_DIR", "SIMRENEW_PAYPAL_CLIENT_ID"}
REQUIRED = [name for name in complete_live_env(Path("/live")) if name not in NOT_REQUIRED]


@pytest.fixture(scope="module")
def live_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A complete live configuration on a migrated database of its own (shared by this module's
    command runs: `check --deploy` reads the database)."""
    env = complete_live_env(tmp_path_factory.mktemp("live"))
    migrated = simrenew("migrate", "-v0", env=env)
    assert migrated.returncode == 0, migrated.stderr
    return env


@pytest.mark.parametrize("name", REQUIRED)
def test_check_deploy_fails_naming_each_required_setting_left_out(live_env: dict[str, str], name: str) -> None:
    without = {k: v for k, v in live_env.items() if k != name}

    refused = simrenew("check", "--deploy", env=without)

    assert refused.returncode == 1
    assert "refuses to start in live mode" in refused.stderr
    assert f"  - {name}" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_check_deploy_passes_on_a_complete_live_configuration(live_env: dict[str, str]) -> None:
    complete = simrenew("check", "--deploy", env=live_env)

    assert complete.returncode == 0, complete.stderr
    assert "System check identified no issues" in complete.stdout


def test_check_deploy_names_an_unsafe_value_too(live_env: dict[str, str]) -> None:
    unsafe = simrenew("check", "--deploy", env={**live_env, "SIMRENEW_PUBLIC_URL": "http://esim.example.com"})

    assert unsafe.returncode == 1
    assert "SIMRENEW_PUBLIC_URL must be the https://" in unsafe.stderr
    assert "Traceback" not in unsafe.stderr


def test_a_live_server_will_not_start_while_the_demo_logins_and_key_are_open(tmp_path: Path) -> None:
    live = complete_live_env(tmp_path)
    # The database `make run` filled, then pointed at by a live configuration.
    sandbox = {**live, "SIMRENEW_SANDBOX": "1", "SIMRENEW_PAYMENT_GATEWAY": "sandbox", "SIMRENEW_SMS_PROVIDER": ""}
    assert simrenew("migrate", "-v0", env=sandbox).returncode == 0
    assert simrenew("demo", env=sandbox).returncode == 0

    refused_check = simrenew("check", "--deploy", env=live)
    refused_worker = simrenew("worker", "--once", env=live)
    refused_serve = simrenew("serve", "--port", "1", env=live)
    removed = simrenew("demo", "--remove", env=live)
    passed = simrenew("check", "--deploy", env=live)

    for refused in (refused_check, refused_worker, refused_serve):
        assert refused.returncode != 0
        assert "simrenew.E101" in refused.stderr and "demo@simrenew.test" in refused.stderr
        assert "simrenew.E102" in refused.stderr
        assert "simrenew demo --remove" in refused.stderr
    assert "Serving on" not in refused_serve.stdout
    assert removed.returncode == 0 and "login demo@simrenew.test" in removed.stdout
    assert passed.returncode == 0, passed.stderr


def test_the_published_secret_key_is_refused_even_in_the_sandbox(tmp_path: Path) -> None:
    sandbox = {"SIMRENEW_SANDBOX": "1", "SIMRENEW_VAR_DIR": str(tmp_path), "SIMRENEW_SECRET_KEY": PUBLISHED_KEY}

    refused = simrenew("check", env=sandbox)
    own_key = simrenew("check", env={k: v for k, v in sandbox.items() if k != "SIMRENEW_SECRET_KEY"})

    assert refused.returncode == 1 and "published in simrenew's source" in refused.stderr
    assert own_key.returncode == 0, own_key.stderr
    made = (tmp_path / "secret_key").read_text().strip()
    assert len(made) >= 50 and made != PUBLISHED_KEY
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0  # readable by its owner only


@pytest.mark.django_db
def test_an_email_confirmation_forged_with_the_published_key_verifies_nothing(client: Client) -> None:
    customer = make_customer(email="victim@example.com")
    address = EmailAddress.objects.create(user=customer.user, email="attacker@example.com", verified=False)
    forged = signing.dumps(obj=address.pk, salt=allauth_settings.SALT, key=PUBLISHED_KEY)

    client.post(f"/accounts/confirm-email/{forged}/")

    address.refresh_from_db()
    assert address.verified is False
    genuine = signing.dumps(obj=address.pk, salt=allauth_settings.SALT)  # signed with this server's key
    client.post(f"/accounts/confirm-email/{genuine}/")
    address.refresh_from_db()
    assert address.verified is True


def test_the_refund_policies_settings_lists_are_the_enums(settings):
    from simrenew.deploy_checks import refund_policies_agree

    assert refund_policies_agree() == []

    settings.CANCEL_REFUND_POLICIES = ("none", "unstarted", "prorata", "double")
    [error] = refund_policies_agree()

    assert error.id == "simrenew.E103"
    assert "RefundPolicy ['none', 'unstarted', 'prorata']" in error.msg
