"""How staff get into the console: through allauth's login, like customers, so its rate limits,
lockout and second factor (TOTP) apply; Django's own admin login form is never used.

A console session must also have passed the second factor when staff MFA is required
(SIMRENEW_STAFF_MFA, "required" outside the sandbox) or when the staff member has an
authenticator app: a session signed in with the password alone (or made by force_login)
opens no console page. allauth writes down, in the session, each way the user proved who
they are; a TOTP (or recovery code) login leaves a record with method "mfa".

Where staff MFA is required, a staff member's authenticator app is set up only with an
administrator's grant (console.staff): allauth's setup asks only the password again, so without
it whoever stole a not-yet-enrolled staff password would enroll their own app. allauth's setup
form is StaffGrantedActivateTOTPForm (MFA_FORMS), so the rule holds whatever URL reaches it.
"""

from __future__ import annotations

from typing import Any

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.forms import ActivateTOTPForm
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext_lazy as _

from simrenew.console.staff import may_set_up_mfa, use_mfa_setup_grant
from simrenew.portal.accounts import is_staff_account

SECOND_FACTOR_METHOD = "mfa"
_CHECKED = "_console_second_factor_missing"


def staff_mfa_required() -> bool:
    # Anything but an explicit "optional" requires it: a typo must not open the door.
    return str(getattr(settings, "SIMRENEW_STAFF_MFA", "required")).strip().lower() != "optional"


def has_authenticator(user: Any) -> bool:
    """An authenticator app (TOTP) set up; recovery codes alone are not one."""
    return Authenticator.objects.filter(user_id=user.pk).exclude(type=Authenticator.Type.RECOVERY_CODES).exists()


def passed_second_factor(request: HttpRequest) -> bool:
    records = get_authentication_records(request, request.user)
    return any(record.get("method") == SECOND_FACTOR_METHOD for record in records)


def second_factor_missing(request: HttpRequest) -> bool:
    """True when this session must pass the second factor before any console page."""
    cached = getattr(request, _CHECKED, None)
    if cached is None:
        user = request.user
        needed = staff_mfa_required() or has_authenticator(user)
        cached = needed and not passed_second_factor(request)
        setattr(request, _CHECKED, cached)
    return bool(cached)


def setup_needs_grant(user: Any) -> bool:
    """Staff, where staff MFA is required, set up an authenticator app only with a grant."""
    return is_staff_account(user) and staff_mfa_required()


def may_set_up_authenticator(user: Any) -> bool:
    return not setup_needs_grant(user) or may_set_up_mfa(user)


SETUP_NOT_GRANTED = _(
    "Staff set up an authenticator app only after an administrator allows it. "
    "Ask one to run `simrenew staff allow-mfa-setup` for your account."
)


class StaffGrantedActivateTOTPForm(ActivateTOTPForm):
    """allauth's authenticator app setup, refused to staff without a valid grant where staff
    MFA is required, and using the grant up when it succeeds. Customers set one up freely."""

    def clean_code(self) -> str:
        if setup_needs_grant(self.user) and not may_set_up_mfa(self.user):
            raise ValidationError(SETUP_NOT_GRANTED, code="mfa_setup_not_granted")
        code: str = super().clean_code()
        # A grant is for one setup, even where it was not needed (it must not linger until
        # staff MFA becomes required). Used up in the same DELETE that checks it is still valid.
        if not use_mfa_setup_grant(self.user) and setup_needs_grant(self.user):
            raise ValidationError(SETUP_NOT_GRANTED, code="mfa_setup_not_granted")
        return code


def console_next(request: HttpRequest) -> str:
    """Where to go once signed in: the `next` asked for if it is a console page, else the overview."""
    wanted = request.GET.get("next", "")
    index = reverse("admin:index")
    if wanted.startswith(index) and url_has_allowed_host_and_scheme(wanted, allowed_hosts=None):
        return wanted
    return index


def allauth_login_url(next_url: str) -> str:
    return f"{reverse('account_login')}?{urlencode({'next': next_url})}"
