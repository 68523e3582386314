"""Forms of the renewal and payment pages. They check shapes only: the rules
(which plan fits, which promotion applies, what a card must look like) stay in
the services, whose errors `add_service_errors` turns into field errors."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, cast

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from stdnum import luhn

from simrenew.kit import clock
from simrenew.kit.errors import SimrenewError
from simrenew.portal.presenters import service_message

WALLET_CHOICE = "wallet"

# Service field names → the form fields that show their errors.
SERVICE_FIELDS = {
    "plan_id": "plan",
    "payment_method_id": "payment_method",
    "promo_code": "promo_code",
    "amount_minor": "amount",
    "number": "number",
    "exp_month": "exp_month",
    "exp_year": "exp_year",
    "cvc": "cvc",
    "paypal_email": "paypal_email",
}


def add_service_errors(form: forms.Form, exc: SimrenewError) -> None:
    """Put a service's field errors on the fields that caused them (the rest above the form)."""
    placed = False
    for error in exc.errors:
        field = SERVICE_FIELDS.get(error.field)
        if field in form.fields:
            form.add_error(field, service_message(error.message))
            placed = True
    if not placed:
        form.add_error(None, service_message(exc.detail))


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


class RenewChoiceForm(forms.Form):
    """Step 3: which plan, and a promotion code. Sent by GET, so a reload is harmless."""

    plan = forms.TypedChoiceField(label=_("Plan"), coerce=int, widget=forms.RadioSelect)
    promo_code = forms.CharField(
        label=_("Promotion code (optional)"),
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )

    def __init__(self, *args: Any, plan_choices: list[tuple[int, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["plan"]).choices = plan_choices

    def clean_promo_code(self) -> str:
        return str(self.cleaned_data.get("promo_code") or "").strip()


class PayForm(forms.Form):
    """Step 4: how to pay. The idempotency key is made when the form is shown, so
    a double click or a reload sends the same key and never charges twice."""

    plan = forms.TypedChoiceField(coerce=int, widget=forms.HiddenInput)
    promo_code = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)
    payment_method = forms.ChoiceField(label=_("Pay with"), widget=forms.RadioSelect)
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(
        self,
        *args: Any,
        plan_choices: list[tuple[int, str]],
        method_choices: list[tuple[str, str]],
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["plan"]).choices = plan_choices
        cast(forms.ChoiceField, self.fields["payment_method"]).choices = method_choices

    def clean_promo_code(self) -> str:
        return str(self.cleaned_data.get("promo_code") or "").strip()


class NeverEchoedInput(forms.TextInput):
    """A text box that never puts the posted value back into the page."""

    def format_value(self, value: Any) -> str | None:
        return None


class HostedCardForm(forms.Form):
    """The gateway's hosted page. The card number and security code are never
    rendered back into a page: after a post they are only in the gateway's vault."""

    TYPE_CHOICES = [("card", _("Credit card")), ("debit", _("Debit card")), ("paypal", _("PayPal"))]

    type = forms.ChoiceField(choices=TYPE_CHOICES, widget=forms.HiddenInput)
    number = forms.CharField(
        label=_("Card number"),
        required=False,
        max_length=30,
        widget=NeverEchoedInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )
    exp_month = forms.IntegerField(
        label=_("Expiry month (MM)"),
        required=False,
        min_value=1,
        max_value=12,
        widget=forms.NumberInput(attrs={"autocomplete": "cc-exp-month", "inputmode": "numeric"}),
    )
    exp_year = forms.IntegerField(
        label=_("Expiry year (YYYY)"),
        required=False,
        min_value=2000,
        max_value=2200,
        widget=forms.NumberInput(attrs={"autocomplete": "cc-exp-year", "inputmode": "numeric"}),
    )
    cvc = forms.CharField(
        label=_("Security code (CVC)"),
        required=False,
        max_length=4,
        widget=NeverEchoedInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric"}),
    )
    paypal_email = forms.EmailField(
        label=_("PayPal email address"), required=False, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    make_default = forms.BooleanField(label=_("Use this as my default payment method"), required=False)
    # Room for a purchase's choices carried back (a long promotion code, URL-encoded twice).
    next = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # What to fill in depends on the kind; the gateway judges the values themselves.
        if data.get("type") == "paypal":
            if not data.get("paypal_email") and "paypal_email" not in self.errors:
                self.add_error("paypal_email", _("Enter the email address of your PayPal account."))
        else:
            for field in ("number", "exp_month", "exp_year", "cvc"):
                if data.get(field) in (None, "") and field not in self.errors:
                    self.add_error(field, _("This field is required for a card."))
            self.check_card_shapes(data)
        return data

    def check_card_shapes(self, data: dict[str, Any]) -> None:
        """Every wrong field at once, as a hosted card page checks before sending (the gateway
        itself stops at the first wrong field): the same words as the gateway's."""
        number = "".join(str(data.get("number") or "").split())
        if (
            number
            and "number" not in self.errors
            and not (number.isdigit() and 12 <= len(number) <= 19 and luhn.is_valid(number))
        ):
            self.add_error("number", _("The card number is not valid."))
        month, year = data.get("exp_month"), data.get("exp_year")
        if month and year and not {"exp_month", "exp_year"} & set(self.errors):
            today = clock.now().date()
            if (year, month) < (today.year, today.month) or year > today.year + 30:
                self.add_error("exp_year", _("The card's expiry date has passed or is not valid."))
        cvc = str(data.get("cvc") or "")
        if cvc and "cvc" not in self.errors and not (cvc.isdigit() and len(cvc) in (3, 4)):
            self.add_error("cvc", _("The security code must be 3 or 4 digits."))


class WalletTopUpForm(forms.Form):
    amount = forms.DecimalField(
        label=_("Amount to add"),
        max_digits=9,
        decimal_places=2,
        min_value=Decimal("0.01"),
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01", "aria-describedby": "amount-currency"}),
    )
    payment_method = forms.ChoiceField(label=_("Pay with"), widget=forms.RadioSelect)
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, method_choices: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["payment_method"]).choices = method_choices


AUTO_RENEW_OFF = "off"


class RemoveMethodForm(forms.Form):
    """Removing the method auto-renew uses: which method auto-renew pays with instead, or
    auto-renew off. Nothing is decided for the customer (a renewal must not quietly fail)."""

    then = forms.ChoiceField(label=_("Then auto-renew should"), widget=forms.RadioSelect)

    def __init__(self, *args: Any, method_choices: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        choices = [(value, gettext("Pay with %(method)s") % {"method": label}) for value, label in method_choices]
        choices.append((AUTO_RENEW_OFF, gettext("Stop: turn auto-renew off")))
        cast(forms.ChoiceField, self.fields["then"]).choices = choices
