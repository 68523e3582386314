"""Forms of the manage, top-up and add-an-eSIM pages. They check shapes and
ownership (every choice is one of the customer's own); the rules stay in the services."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from simrenew.catalog.models import Plan, TopUpPack
from simrenew.customers.models import Customer
from simrenew.kit import clock
from simrenew.payments.models import PaymentMethod
from simrenew.portal.presenters import local_datetime, plan_summary
from simrenew.portal.presenters_manage import method_label, pack_label
from simrenew.provisioning.porting import valid_account_number, valid_pin
from simrenew.subscriptions.models import Subscription, SubscriptionState
from simrenew.subscriptions.status import in_service_q


def saved_methods(customer: Customer) -> Any:
    return PaymentMethod.objects.filter(customer=customer, removed_at__isnull=True).order_by("-is_default", "id")


class MethodChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return method_label(obj)


class IdempotentForm(forms.Form):
    """Carries a key made when the page was drawn: a double click or a reload of
    the same form can never make a second charge."""

    key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("initial", {}).setdefault("key", uuid.uuid4())
        super().__init__(*args, **kwargs)

    def fresh_key(self) -> None:
        """After a failed payment the next try is a new payment: give it a new key."""
        data = dict(self.data.items())
        data["key"] = str(uuid.uuid4())
        self.data = data


class AutoRenewForm(forms.Form):
    auto_renew = forms.ChoiceField(choices=[("on", _("On")), ("off", _("Off"))], widget=forms.HiddenInput)
    payment_method = MethodChoiceField(
        label=_("Pay renewals with"), queryset=PaymentMethod.objects.none(), required=False, empty_label=None
    )

    def __init__(
        self,
        *args: Any,
        customer: Customer,
        subscription: Subscription,
        chosen: str | None = None,
        avoid: int | None = None,
        **kwargs: Any,
    ):
        """`chosen`: a method id to show selected (a card just added on the gateway's page
        comes back with it); one that is not among the customer's matches no option.
        `avoid`: the method auto-renew just failed to charge: another is offered first."""
        super().__init__(*args, **kwargs)
        field = self.fields["payment_method"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = saved_methods(customer)
        method = subscription.payment_method
        if chosen and chosen.isdigit():
            field.initial = int(chosen)
        elif method is not None and method.removed_at is None:
            field.initial = method.pk
        if avoid is not None and field.initial == avoid:
            field.initial = field.queryset.exclude(pk=avoid).values_list("pk", flat=True).first() or avoid

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("auto_renew") == "on" and cleaned.get("payment_method") is None:
            self.add_error("payment_method", _("Choose how to pay for renewals, or add a payment method first."))
        return cleaned


class CancelForm(forms.Form):
    when = forms.ChoiceField(
        label=_("When should the plan end?"),
        choices=[("period_end", _("At the end of the period")), ("now", _("Now"))],
        widget=forms.RadioSelect,
    )


class TopUpForm(IdempotentForm):
    pack = forms.TypedChoiceField(label=_("Data pack"), coerce=int, widget=forms.RadioSelect)
    payment_method = MethodChoiceField(label=_("Pay with"), queryset=PaymentMethod.objects.none(), empty_label=None)

    def __init__(self, *args: Any, customer: Customer, packs: list[TopUpPack], **kwargs: Any):
        super().__init__(*args, **kwargs)
        pack_field = self.fields["pack"]
        assert isinstance(pack_field, forms.TypedChoiceField)
        pack_field.choices = [(pack.pk, pack_label(pack, customer)) for pack in packs]
        method_field = self.fields["payment_method"]
        assert isinstance(method_field, forms.ModelChoiceField)
        method_field.queryset = saved_methods(customer)


def moveable_subscriptions(customer: Customer) -> Any:
    """Plans the customer may set to end at their period end when moving carrier."""
    return (
        Subscription.objects.filter(in_service_q(clock.now()), customer=customer, state=SubscriptionState.LIVE)
        .select_related("esim__carrier", "plan__carrier")
        .order_by("id")
    )


class SubscriptionChoiceField(forms.ModelChoiceField):
    def __init__(self, *args: Any, customer: Customer, **kwargs: Any):
        self.customer = customer
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: Any) -> str:
        return gettext("%(carrier)s %(number)s · %(plan)s, paid until %(until)s") % {
            "carrier": obj.esim.carrier.name,
            "number": obj.esim.msisdn,
            "plan": obj.plan.display_name,
            "until": local_datetime(obj.paid_through, self.customer),
        }


class PlanChoiceField(forms.ModelChoiceField):
    customer: Customer

    def label_from_instance(self, obj: Any) -> str:
        return plan_summary(obj, self.customer)


class RenewalPlanForm(forms.Form):
    """The plan auto-renew and "Renew" buy: the carrier's plans on sale, and the one held (kept even
    when no longer sold). Choosing here is the one way a customer changes it besides the pay page's box."""

    plan = PlanChoiceField(label=_("Plan that auto-renew buys"), queryset=Plan.objects.none(), empty_label=None)

    def __init__(self, *args: Any, customer: Customer, subscription: Subscription, **kwargs: Any):
        kwargs.setdefault("initial", {}).setdefault("plan", subscription.plan_id)
        super().__init__(*args, **kwargs)
        field = self.fields["plan"]
        assert isinstance(field, PlanChoiceField)
        field.queryset = (
            Plan.objects.filter(
                Q(carrier_id=subscription.esim.carrier_id, is_current=True) | Q(pk=subscription.plan_id)
            )
            .select_related("carrier")
            .order_by("period_unit", "period_count", "price_minor", "id")
        )
        field.customer = customer


NEW_NUMBER = "new"


def keep_label(msisdn: str) -> str:
    return gettext("Keep my number (%(number)s)") % {"number": msisdn}


class AddEsimForm(IdempotentForm):
    portable: dict[str, Subscription]

    plan = PlanChoiceField(label=_("Plan"), queryset=Plan.objects.none(), widget=forms.RadioSelect, empty_label=None)
    payment_method = MethodChoiceField(label=_("Pay with"), queryset=PaymentMethod.objects.none(), empty_label=None)
    auto_renew = forms.BooleanField(label=_("Renew automatically before the plan ends"), required=False, initial=True)
    promo_code = forms.CharField(label=_("Promotion code (optional)"), required=False, max_length=40)

    def __init__(self, *args: Any, customer: Customer, **kwargs: Any):
        super().__init__(*args, **kwargs)
        plan_field = self.fields["plan"]
        assert isinstance(plan_field, PlanChoiceField)
        plan_field.queryset = Plan.objects.filter(is_current=True).select_related("carrier")
        plan_field.customer = customer
        method_field = self.fields["payment_method"]
        assert isinstance(method_field, forms.ModelChoiceField)
        method_field.queryset = saved_methods(customer)
        self.portable = {}
        moveable = moveable_subscriptions(customer)
        if moveable.exists():
            self.fields["end_subscription"] = SubscriptionChoiceField(
                customer=customer,
                label=_("Plan to end at its period end"),
                queryset=moveable,
                required=False,
                empty_label=str(_("No, keep all my current plans")),
            )
            self._add_port_fields(list(moveable))

    # --- Keeping the number when moving from one of the customer's plans (number porting) ---

    def _add_port_fields(self, moveable: list[Subscription]) -> None:
        """A choice per number the customer could keep, or a new number; and what the current
        carrier needs to let the number go. Shown only when there is a plan to move from."""
        self.portable = {str(sub.pk): sub for sub in moveable if sub.esim.msisdn}
        choices = [(NEW_NUMBER, _("Take a new number"))] + [
            (pk, keep_label(sub.esim.msisdn)) for pk, sub in self.portable.items()
        ]
        self.fields["number"] = forms.ChoiceField(
            label=_("Phone number"), choices=choices, required=False, initial=NEW_NUMBER, widget=forms.RadioSelect
        )
        self.fields["port_account"] = forms.CharField(
            label=_("Account number at your current carrier"),
            help_text=_("On your current carrier's bill or in its app."),
            required=False,
            max_length=40,
            widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
        )
        self.fields["port_pin"] = forms.CharField(
            label=_("Port-out PIN"),
            help_text=_("4 to 10 digits. Ask your current carrier for a number transfer PIN."),
            required=False,
            max_length=10,
            widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["port_from"] = None
        chosen = cleaned.get("number") or NEW_NUMBER
        if "number" not in self.fields or chosen == NEW_NUMBER:
            return cleaned
        kept = self.portable.get(chosen)
        if kept is None:  # RadioSelect already refuses unknown values; kept for the type checker
            self.add_error("number", _("Choose one of your numbers, or a new number."))
            return cleaned
        plan = cleaned.get("plan")
        if plan is not None and plan.carrier_id == kept.esim.carrier_id:
            self.add_error(
                "number",
                gettext("Your number is already with %(carrier)s: to keep it, choose a plan of another carrier.")
                % {"carrier": kept.esim.carrier.name},
            )
        account = (cleaned.get("port_account") or "").strip()
        pin = (cleaned.get("port_pin") or "").strip()
        if not valid_account_number(account):
            self.add_error(
                "port_account",
                _("Enter the account number of your current carrier: 1 to 40 letters, digits or dashes."),
            )
        if not valid_pin(pin):
            self.add_error("port_pin", _("Enter the port-out PIN: 4 to 10 digits."))
        ending = cleaned.get("end_subscription")
        if ending is not None and ending.pk != kept.pk:
            self.add_error(
                "end_subscription",
                gettext("To keep %(number)s, end the plan that has it.") % {"number": kept.esim.msisdn},
            )
        if not self.errors:
            # Keeping a number means leaving the plan that has it: it ends as "Plan to end" says.
            cleaned["end_subscription"] = kept
            cleaned["port_from"] = kept
            cleaned["port_account"], cleaned["port_pin"] = account, pin
        return cleaned

    def plans_by_carrier(self) -> list[tuple[str, list[Any]]]:
        """The plan radios grouped by carrier, for one fieldset per carrier."""
        groups: dict[str, list[Any]] = {}
        plans = {str(plan.pk): plan for plan in self.fields["plan"].queryset}  # type: ignore[attr-defined]
        for radio in self["plan"]:
            plan = plans.get(str(radio.data["value"]))
            if plan is not None:
                groups.setdefault(plan.carrier.name, []).append(radio)
        return sorted(groups.items())
