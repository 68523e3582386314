"""`simrenew demo`: seed the demo catalog, inventory, a demo customer with an
active plan, a demo API key and one console account per staff role. Running it
again changes nothing. `simrenew demo --remove` closes the demo's logins and key
(in any mode: a database that was a sandbox may become a live one)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from simrenew.api.keys import hash_key
from simrenew.api.models import ApiKey
from simrenew.catalog.models import Carrier, Plan
from simrenew.console.staff import create_staff
from simrenew.customers.models import Customer
from simrenew.customers.services import create_customer
from simrenew.demo_accounts import (
    DEMO_API_KEY,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_STAFF,
    DEMO_STAFF_PASSWORD,
    remove_demo_access,
)
from simrenew.esims.services import assign_profile
from simrenew.kit import clock
from simrenew.management.demo_catalog import seed_catalog
from simrenew.payments.charging import run_charge
from simrenew.payments.services import NewMethod, save_payment_method, tokenize
from simrenew.portal.accounts import verified_login
from simrenew.provisioning.models import SmdpConnection
from simrenew.provisioning.sandbox_smdp import SANDBOX_SMDP_ID
from simrenew.subscriptions.models import Subscription
from simrenew.subscriptions.renewals import begin_subscription

SANDBOX_SMDP_CARRIER = "verizon"


class Command(BaseCommand):
    help = "Seed the demo catalog, inventory, a demo customer with an active plan and an API key (sandbox only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--remove",
            action="store_true",
            help="Close the demo's logins and revoke its API key (their passwords and key are public).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["remove"]:
            with transaction.atomic():
                closed = remove_demo_access()
            self.stdout.write(f"Closed: {', '.join(closed)}." if closed else "No demo login or key is left open.")
            return
        if not settings.SIMRENEW_SANDBOX:
            raise CommandError("The demo seeds test cards and a known API key: run it with SIMRENEW_SANDBOX=1.")
        with transaction.atomic():
            created = seed_catalog()
            created["SM-DP+ connections"] = self._connect_sandbox_smdp()
            customer = Customer.objects.filter(email__iexact=DEMO_EMAIL).first()
            if customer is None:
                customer = create_customer(
                    email=DEMO_EMAIL,
                    name="Demo Customer",
                    locale="en",
                    time_zone="America/New_York",
                    phone="+12015550123",
                    password=DEMO_PASSWORD,
                )
            verified_login(customer.user)
            if not ApiKey.objects.filter(key_hash=hash_key(DEMO_API_KEY)).exists():
                ApiKey.objects.create(
                    name="demo",
                    prefix=DEMO_API_KEY[:12],
                    key_hash=hash_key(DEMO_API_KEY),
                    scopes=["admin"],
                    created_at=clock.system_now(),
                )
            self._give_demo_staff_logins()
        self._give_demo_customer_a_plan(customer)
        self.stdout.write(f"Demo data ready ({', '.join(f'{v} {k}' for k, v in created.items())} created).")
        self.stdout.write(f"  URL:        {settings.SIMRENEW_PUBLIC_URL}/")
        self.stdout.write(f"  API docs:   {settings.SIMRENEW_PUBLIC_URL}/api/v1/docs")
        self.stdout.write(f"  Demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}")
        self.stdout.write(f"  API key:    {DEMO_API_KEY}")
        self.stdout.write(f"  Console:    {settings.SIMRENEW_PUBLIC_URL}/admin/")
        for role, email in DEMO_STAFF.items():
            self.stdout.write(f"    {role:<8}  {email} / {DEMO_STAFF_PASSWORD}")

    def _connect_sandbox_smdp(self) -> int:
        """Verizon's eSIMs come from the sandbox SM-DP+ over ES2+ (the other carriers' from the CSV
        inventory), so `make run` shows both ways of supplying eSIMs."""
        now = clock.now()
        _, made = SmdpConnection.objects.get_or_create(
            carrier=Carrier.objects.get(code=SANDBOX_SMDP_CARRIER),
            defaults={
                "base_url": "sandbox:",
                "requester_id": "simrenew-demo",
                "smdp_id": SANDBOX_SMDP_ID,
                "profile_type": "verizon-consumer",
                "created_at": now,
                "updated_at": now,
            },
        )
        return int(made)

    def _give_demo_staff_logins(self) -> None:
        users = get_user_model()
        for role, email in DEMO_STAFF.items():
            if users.objects.filter(username__iexact=email).exists():
                continue
            user, _ = create_staff(email=email, role=role)
            user.set_password(DEMO_STAFF_PASSWORD)
            user.save(update_fields=["password"])

    def _give_demo_customer_a_plan(self, customer: Customer) -> None:
        if Subscription.objects.filter(customer=customer).exists():
            return
        card_token = tokenize(  # the gateway is called outside the transaction
            NewMethod(type="card", number="4242424242424242", exp_month=12, exp_year=2035, cvc="123")
        )
        with transaction.atomic():
            esim = assign_profile(customer=customer, carrier_code="att")
            card = save_payment_method(customer=customer, tokenized=card_token)
        plan = Plan.objects.get(code="att-1m", is_current=True)
        attempt = run_charge(
            lambda: begin_subscription(
                esim=esim,
                plan=plan,
                payment_method=card,
                auto_renew=True,
                promo_code=None,
                idempotency_key=f"demo-first-period-{customer.pk}",
            )
        )
        if attempt.status != "succeeded":
            raise CommandError(f"The demo plan could not be paid: {attempt.failure_message}")
