"""The customer's own settings: language, time zone, phone, how each kind of notice reaches them,
and what auto-renew may charge when the plan's own method is declined."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from simrenew.customers.models import Customer, Locale, NotificationKind
from simrenew.customers.services import Channels
from simrenew.kit.timezones import time_zone_choices

CHANNELS = ("email", "sms")


def channel_field_name(kind: str, channel: str) -> str:
    return f"notify_{kind}_{channel}"


class AccountSettingsForm(forms.Form):
    locale = forms.ChoiceField(label=_("Language"), choices=Locale.choices)
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        help_text=_("Expiry dates and reminders are shown in this time zone."),
        # time_zone.js offers the browser's zone when it differs (never changes it by itself here).
        widget=forms.Select(attrs={"data-time-zone": "suggest"}),
    )
    phone = forms.CharField(
        label=_("Mobile number for SMS"),
        required=False,
        max_length=32,
        help_text=_("With the country code, e.g. +1 212 555 0100. Leave empty for no SMS."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )

    renew_with_other_methods = forms.BooleanField(
        label=_("If my card is declined, try my other saved cards and PayPal"),
        required=False,
        help_text=_(
            "When an automatic renewal is declined, we always try your wallet balance first, if it covers the price."
        ),
    )

    def __init__(self, *args: Any, customer: Customer, preferences: dict[str, Channels], **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "locale": customer.locale,
                "time_zone": customer.time_zone,
                "phone": customer.phone,
                "renew_with_other_methods": customer.renew_with_other_methods,
                **{
                    channel_field_name(kind, channel): getattr(channels, channel)
                    for kind, channels in preferences.items()
                    for channel in CHANNELS
                },
            },
        )
        super().__init__(*args, **kwargs)
        # The customer's zone and the US zones first, named in the page's language (Babel).
        zone_field = cast(forms.ChoiceField, self.fields["time_zone"])
        zone_field.choices = time_zone_choices(get_language(), first=(customer.time_zone,))
        for kind in NotificationKind.values:
            # Shown inside a fieldset whose legend names the kind, so "Email" / "SMS" suffice.
            self.fields[channel_field_name(kind, "email")] = forms.BooleanField(label=_("Email"), required=False)
            self.fields[channel_field_name(kind, "sms")] = forms.BooleanField(label=_("SMS"), required=False)

    def notification_rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        """(kind label, email checkbox, SMS checkbox) per kind, for the preferences table."""
        return [
            (str(label), self[channel_field_name(kind, "email")], self[channel_field_name(kind, "sms")])
            for kind, label in NotificationKind.choices
        ]

    def channels(self) -> dict[str, Channels]:
        return {
            kind: Channels(
                email=self.cleaned_data[channel_field_name(kind, "email")],
                sms=self.cleaned_data[channel_field_name(kind, "sms")],
            )
            for kind in NotificationKind.values
        }


class DeleteAccountForm(forms.Form):
    """Deleting the account needs the customer's password (whoever found the phone unlocked must
    not be able to do it) and a tick that they read what happens."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    understood = forms.BooleanField(
        label=_("I understand that my account and my plans end now and that this cannot be undone.")
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = str(self.cleaned_data.get("password") or "")
        if not self.user.check_password(password):
            raise forms.ValidationError(_("That is not your password."), code="wrong_password")
        return password
