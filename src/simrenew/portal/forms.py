"""Portal forms. Rules stay in the services; forms turn their errors into field errors."""

from __future__ import annotations

from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from simrenew.customers.models import Locale
from simrenew.customers.services import create_customer_for_user
from simrenew.kit.errors import ValidationFailed

TIME_ZONE_CHOICES = [(zone, zone.replace("_", " ")) for zone in sorted(available_timezones()) if "/" in zone]


class SignupDetailsForm(forms.Form):
    """What allauth's sign-up asks beyond email and password."""

    name = forms.CharField(label=_("Your name"), max_length=200)
    locale = forms.ChoiceField(label=_("Language"), choices=Locale.choices, initial=Locale.EN)
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=TIME_ZONE_CHOICES, initial="America/New_York")

    def signup(self, request: HttpRequest, user: Any) -> None:
        try:
            create_customer_for_user(
                user,
                name=self.cleaned_data["name"],
                locale=self.cleaned_data["locale"],
                time_zone=self.cleaned_data["time_zone"],
            )
        except ValidationFailed as exc:  # the form already checked these; keep the message if not
            raise forms.ValidationError(exc.detail) from exc
