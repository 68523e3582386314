"""Sign-up, email verification, login, logout, password reset and throttling, with every
email really sent over SMTP to a local aiosmtpd server and read back from it."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from simrenew.console.roles import Role
from simrenew.console.staff import create_staff
from simrenew.customers.models import Customer
from simrenew.customers.services import create_customer
from simrenew.portal.accounts import verified_login

PASSWORD = "Ti3-wide-river-lamp"
LINK = re.compile(r"https?://[^\s]+")


@dataclass
class MailInbox:
    """What the local SMTP server received, parsed. Django's SMTP send returns only after the
    server answered 250 to DATA, i.e. after the message is in `received`: no waiting needed."""

    received: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd hook)
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append(message)
        return "250 Message accepted"

    def only(self, *, to: str) -> EmailMessage:
        addressed = [message for message in self.received if to in message["To"]]
        assert len(addressed) == 1, [message["Subject"] for message in self.received]
        return addressed[0]


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def links_in(message: EmailMessage) -> list[str]:
    return LINK.findall(body_of(message))


def link_in(message: EmailMessage) -> str:
    """The email's link, as a path to follow with the test client: every link starts with the
    public address (SIMRENEW_PUBLIC_URL), whatever Host the request that sent it named."""
    found = links_in(message)
    assert found, body_of(message)
    assert found[0].startswith(f"{settings.SIMRENEW_PUBLIC_URL}/"), found[0]
    return found[0].removeprefix(settings.SIMRENEW_PUBLIC_URL)


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_inbox(settings: Any) -> Iterator[MailInbox]:
    """A real SMTP server on a free loopback port; Django sends its mail there."""
    inbox = MailInbox()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd narrates every SMTP command
    port = free_loopback_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 10
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """allauth counts attempts in the cache; each test starts with none."""
    cache.clear()
    yield
    cache.clear()


def make_login(*, email: str, locale: str = "en", password: str = PASSWORD) -> Customer:
    """A customer who signed up and verified their address: they can log in."""
    customer = create_customer(email=email, name="Mei Lin", locale=locale, time_zone="Asia/Shanghai", password=password)
    verified_login(customer.user)
    return customer


def sign_up(client: Client, *, email: str, locale: str, **extra: str) -> Any:
    return client.post(
        reverse("account_signup"),
        {
            "email": email,
            "password1": PASSWORD,
            "password2": PASSWORD,
            "name": "Mei Lin",
            "locale": locale,
            "time_zone": "Asia/Shanghai",
            **extra,
        },
    )


def log_in(client: Client, *, email: str, password: str = PASSWORD, **headers: str) -> Any:
    return client.post(reverse("account_login"), {"login": email, "password": password}, follow=True, **headers)


def test_signing_up_in_chinese_sends_a_chinese_email_whose_link_verifies_and_logs_in(clock, smtp_inbox):
    client = Client()

    response = sign_up(client, email="mei@example.com", locale="zh-hans")

    assert response.status_code == 302
    customer = Customer.objects.get(email="mei@example.com")
    assert (customer.locale, customer.time_zone, customer.name) == ("zh-hans", "Asia/Shanghai", "Mei Lin")
    mail = smtp_inbox.only(to="mei@example.com")
    assert mail["Subject"] == "simrenew：确认您的电子邮件地址"  # noqa: RUF001
    assert "要为您的 simrenew 账户确认此地址" in body_of(mail)
    assert not EmailAddress.objects.get(email="mei@example.com").verified
    assert client.get(reverse("portal:dashboard")).status_code == 302  # not logged in before verifying

    link = link_in(mail)
    page = client.get(link)
    assert page.status_code == 200
    confirmed = client.post(link, follow=True)

    assert EmailAddress.objects.get(email="mei@example.com").verified
    assert confirmed.redirect_chain[-1][0] == reverse("portal:dashboard")
    assert "我的 eSIM" in confirmed.content.decode()


def test_signing_up_in_english_sends_an_english_email_even_from_a_chinese_browser(clock, smtp_inbox):
    client = Client(headers={"accept-language": "zh-hans"})

    sign_up(client, email="sam@example.com", locale="en")

    mail = smtp_inbox.only(to="sam@example.com")
    assert mail["Subject"] == "simrenew: confirm your email address"
    assert "To confirm this address for your simrenew account, open this link:" in body_of(mail)


def test_signing_up_again_with_a_known_address_tells_its_owner_in_their_language_and_reveals_nothing(clock, smtp_inbox):
    make_login(email="mei@example.com", locale="zh-hans")

    response = sign_up(Client(), email="mei@example.com", locale="en")

    assert response.status_code == 302  # the same answer as for a new address
    assert Customer.objects.filter(email__iexact="mei@example.com").count() == 1
    assert smtp_inbox.only(to="mei@example.com")["Subject"] == "账户已经存在"


def test_the_sign_up_page_labels_every_input_and_refuses_mismatched_passwords_in_the_page(clock):
    client = Client()
    page = client.get(reverse("account_signup")).content.decode()
    for input_id in ("id_email", "id_password1", "id_password2", "id_name", "id_locale", "id_time_zone"):
        assert f'<label for="{input_id}">' in page, input_id
    assert ">Sign up</button>" in page

    response = sign_up(client, email="sam@example.com", locale="en", password2="something-else-entirely")

    assert response.status_code == 200
    assert "You must type the same password each time." in response.content.decode()
    assert not Customer.objects.exists()


def test_the_sign_up_page_defaults_the_language_to_the_one_the_visitor_reads(clock):
    page = Client(headers={"accept-language": "zh-hans"}).get(reverse("account_signup")).content.decode()

    assert "创建账户" in page
    assert '<option value="zh-hans" selected>' in page


def test_a_wrong_password_says_so_in_the_page_and_logs_nobody_in(clock):
    make_login(email="mei@example.com")
    client = Client()

    response = log_in(client, email="mei@example.com", password="not-my-password")

    assert response.status_code == 200
    assert "The email address and/or password you specified are not correct." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_wrong_password_is_explained_in_chinese_to_a_chinese_browser(clock):
    make_login(email="mei@example.com")

    response = log_in(Client(headers={"accept-language": "zh-hans"}), email="mei@example.com", password="nope-nope")

    assert "您提供的电子邮件地址和/或密码不正确。" in response.content.decode()


def test_logging_in_and_out(clock):
    make_login(email="mei@example.com", locale="en")
    client = Client()

    response = log_in(client, email="mei@example.com")
    assert response.redirect_chain[-1][0] == reverse("portal:dashboard")
    assert client.get(reverse("portal:dashboard")).status_code == 200

    # A link (GET) only asks; logging out takes a POST.
    assert client.get(reverse("account_logout")).status_code == 200
    assert client.get(reverse("portal:dashboard")).status_code == 200
    client.post(reverse("account_logout"))
    assert client.get(reverse("portal:dashboard")).status_code == 302


def test_a_customer_who_reads_chinese_is_greeted_in_chinese_after_logging_in_from_an_english_browser(clock):
    make_login(email="mei@example.com", locale="zh-hans")

    page = log_in(Client(headers={"accept-language": "en"}), email="mei@example.com").content.decode()

    assert "以 mei@example.com 成功登录。" in page
    assert "我的 eSIM" in page


def test_after_five_failed_logins_for_one_email_even_the_right_password_is_refused(clock):
    make_login(email="mei@example.com")
    client = Client()

    for _attempt in range(5):
        page = log_in(client, email="mei@example.com", password="guess-again").content.decode()
        assert "not correct" in page

    sixth = log_in(client, email="mei@example.com", password="still-guessing").content.decode()
    seventh = log_in(client, email="mei@example.com").content.decode()

    assert "Too many failed login attempts. Try again later." in sixth
    assert "Too many failed login attempts. Try again later." in seventh
    assert "_auth_user_id" not in client.session
    # Another account is not locked out by someone guessing at this one.
    make_login(email="other@example.com")
    assert log_in(Client(), email="other@example.com").redirect_chain[-1][0] == reverse("portal:dashboard")


def test_a_forgotten_password_is_reset_through_an_email_in_the_customers_language(clock, smtp_inbox):
    make_login(email="mei@example.com", locale="zh-hans")
    client = Client()  # an English browser: the email still follows the customer's choice

    response = client.post(reverse("account_reset_password"), {"email": "mei@example.com"})

    assert response.status_code == 302
    mail = smtp_inbox.only(to="mei@example.com")
    assert mail["Subject"] == "simrenew：重置您的密码"  # noqa: RUF001
    assert "要设置新密码，请打开此链接：" in body_of(mail)  # noqa: RUF001

    form_url = client.get(link_in(mail), follow=True).redirect_chain[-1][0]
    new_password = "Another-7-quiet-harbour"
    done = client.post(form_url, {"password1": new_password, "password2": new_password}, follow=True)

    assert done.status_code == 200
    assert "not correct" in log_in(Client(), email="mei@example.com", password=PASSWORD).content.decode()
    fresh = Client()
    assert log_in(fresh, email="mei@example.com", password=new_password).redirect_chain[-1][0] == reverse(
        "portal:dashboard"
    )


# ---------------------------------------------------------------- links in emails, and staff


EVIL = "evil.example"


@pytest.fixture
def any_host_allowed(settings: Any) -> None:
    """A server misconfigured to answer any Host (the sandbox may allow '*')."""
    settings.ALLOWED_HOSTS = ["*"]


def test_a_reset_asked_with_a_forged_host_still_links_to_the_public_address(clock, smtp_inbox, any_host_allowed):
    make_login(email="mei@example.com")
    client = Client(HTTP_HOST=EVIL)

    response = client.post(reverse("account_reset_password"), {"email": "mei@example.com"})

    assert response.status_code == 302
    mail = smtp_inbox.only(to="mei@example.com")
    assert EVIL not in mail.as_string()
    assert [link.split("/key/")[0] for link in links_in(mail)] == [
        f"{settings.SIMRENEW_PUBLIC_URL}/accounts/password/reset"
    ]
    # The link works (on the public address), and only there is the new password chosen.
    owner = Client()
    form_url = owner.get(link_in(mail), follow=True).redirect_chain[-1][0]
    new_password = "Another-7-quiet-harbour"
    owner.post(form_url, {"password1": new_password, "password2": new_password})
    assert log_in(Client(), email="mei@example.com", password=new_password).redirect_chain[-1][0] == reverse(
        "portal:dashboard"
    )


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.ADMIN])
def test_staff_cannot_reset_their_password_by_email_whatever_host_asks(clock, smtp_inbox, any_host_allowed, role):
    staff, password = create_staff(email="sue@simrenew.test", role=role)
    client = Client(HTTP_HOST=EVIL)

    staff_answer = client.post(reverse("account_reset_password"), {"email": "sue@simrenew.test"})
    unknown_answer = client.post(reverse("account_reset_password"), {"email": "nobody@simrenew.test"})

    # From outside, the same as for an address nobody has: the same page, one email.
    assert staff_answer.status_code == unknown_answer.status_code == 302
    assert staff_answer["Location"] == unknown_answer["Location"]
    mail = smtp_inbox.only(to="sue@simrenew.test")
    assert mail["Subject"] == "simrenew: staff passwords are reset by an administrator"
    assert "ask an administrator of the console to reset yours" in body_of(mail)
    assert EVIL not in mail.as_string() and "/password/reset/key/" not in mail.as_string()
    assert links_in(mail) == []
    unknown = smtp_inbox.only(to="nobody@simrenew.test")
    assert EVIL not in unknown.as_string()
    assert links_in(unknown) == [f"{settings.SIMRENEW_PUBLIC_URL}/accounts/signup/"]
    staff.refresh_from_db()
    assert staff.check_password(password)


def test_a_valid_reset_key_for_a_staff_account_changes_nothing(clock):
    staff, password = create_staff(email="sue@simrenew.test", role=Role.ADMIN)
    key = f"{user_pk_to_url_str(staff)}-{default_token_generator.make_token(staff)}"
    link = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"}).replace("UID-KEY", key)
    client = Client()

    page = client.get(link, follow=True)
    sent = client.post(link, {"password1": "Taken-over-9-times", "password2": "Taken-over-9-times"}, follow=True)

    for answer in (page, sent):
        assert answer.status_code == 200 and answer.context["token_fail"]
    staff.refresh_from_db()
    assert staff.check_password(password) and not staff.check_password("Taken-over-9-times")
    assert "_auth_user_id" not in client.session


def test_every_link_allauth_mails_starts_with_the_public_address(clock, smtp_inbox, any_host_allowed):
    make_login(email="mei@example.com")
    client = Client(HTTP_HOST=EVIL)

    sign_up(client, email="new@example.com", locale="en")  # the confirmation link
    sign_up(client, email="mei@example.com", locale="en")  # "already exists": links to reset and sign up

    for to in ("new@example.com", "mei@example.com"):
        mail = smtp_inbox.only(to=to)
        assert EVIL not in mail.as_string(), to
        assert links_in(mail) and all(
            link.startswith(f"{settings.SIMRENEW_PUBLIC_URL}/accounts/") for link in links_in(mail)
        ), links_in(mail)
    confirmed = Client().post(link_in(smtp_inbox.only(to="new@example.com")))
    assert confirmed.status_code == 302
    assert EmailAddress.objects.get(email="new@example.com").verified


def test_forms_refuse_posts_without_the_csrf_token(clock):
    make_login(email="mei@example.com")
    strict = Client(enforce_csrf_checks=True)

    assert strict.post(reverse("account_login"), {"login": "mei@example.com", "password": PASSWORD}).status_code == 403
    assert strict.post(reverse("account_signup"), {"email": "x@example.com"}).status_code == 403
    assert strict.post(reverse("portal:set_language"), {"language": "zh-hans"}).status_code == 403


def test_the_session_cookie_is_http_only_and_same_site_lax(clock):
    make_login(email="mei@example.com")
    client = Client()

    response = client.post(reverse("account_login"), {"login": "mei@example.com", "password": PASSWORD})

    session_cookie = response.cookies["sessionid"]
    assert session_cookie["httponly"]
    assert session_cookie["samesite"] == "Lax"


def test_the_page_asking_to_confirm_resends_the_link_and_the_new_link_signs_in(clock, smtp_inbox):
    client = Client()
    sign_up(client, email="sam@example.com", locale="en")
    asking = client.get(reverse("account_email_verification_sent")).content.decode()
    assert "Resend the confirmation email" in asking
    assert f'action="{reverse("portal:resend_confirmation")}"' in asking

    too_soon = client.post(reverse("portal:resend_confirmation"), follow=True)
    # allauth allows one confirmation email per address per 3 minutes: the page says to wait.
    assert "Please wait a few minutes" in too_soon.content.decode()
    assert len(smtp_inbox.received) == 1
    cache.clear()  # the cooldown has passed
    resent = client.post(reverse("portal:resend_confirmation"), follow=True)

    assert resent.redirect_chain[-1][0] == reverse("account_email_verification_sent")
    assert len(smtp_inbox.received) == 2
    link = link_in(smtp_inbox.received[-1])
    confirmed = client.post(link, follow=True)
    assert confirmed.redirect_chain[-1][0] == reverse("portal:dashboard")
    assert confirmed.context["user"].email == "sam@example.com"


def test_resending_without_a_sign_up_in_this_browser_sends_nothing_and_says_to_log_in(clock, smtp_inbox):
    sign_up(Client(), email="sam@example.com", locale="en")

    elsewhere = Client().post(reverse("portal:resend_confirmation"), follow=True)

    assert elsewhere.redirect_chain[-1][0] == reverse("account_login")
    assert "we send you a new link" in elsewhere.content.decode()
    assert len(smtp_inbox.received) == 1
    assert Client().get(reverse("portal:resend_confirmation")).status_code == 405


def test_a_confirmation_link_used_twice_says_the_address_is_confirmed(clock, smtp_inbox):
    client = Client()
    sign_up(client, email="sam@example.com", locale="en")
    link = link_in(smtp_inbox.only(to="sam@example.com"))
    client.post(link)

    again = client.get(link)

    html = again.content.decode()
    assert again.status_code == 200
    assert "Your address is already confirmed" in html
    assert f'href="{reverse("portal:dashboard")}"' in html
    # In another browser (signed out) the same link says what to do next.
    elsewhere = Client().get(link).content.decode()
    assert "This link cannot be used any more" in elsewhere
    assert "Log in anyway: we send you a new link." in elsewhere
    assert "issue a new email confirmation request" not in elsewhere  # allauth's page needs a login


def test_an_expired_or_mangled_link_gets_the_same_useful_page(clock):
    page = Client().get(reverse("account_confirm_email", args=["not-a-real-key"]))

    assert page.status_code == 200
    assert "This link cannot be used any more" in page.content.decode()
