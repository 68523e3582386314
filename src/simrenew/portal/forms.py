"""Portal forms. Rules stay in the services; forms turn their errors into field errors."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from simrenew.customers.models import Locale
from simrenew.customers.services import create_customer_for_user
from simrenew.kit.errors import ValidationFailed
from simrenew.kit.timezones import time_zone_choices


class SignupDetailsForm(forms.Form):
    """What allauth's sign-up asks beyond email and password."""

    name = forms.CharField(label=_("Your name"), max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    locale = forms.ChoiceField(
        label=_("Language"),
        choices=Locale.choices,
        initial=Locale.EN,
        help_text=_("Pages and emails (including the one confirming your address) use this language."),
    )
    # The US zones first, named in the page's language; time_zone.js picks the browser's zone.
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=lambda: time_zone_choices(get_language()),
        initial="America/New_York",
        widget=forms.Select(attrs={"data-time-zone": "detect"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A visitor who switched the pages to Chinese most likely wants Chinese emails too.
        if get_language() in Locale.values:
            self.fields["locale"].initial = get_language()

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
