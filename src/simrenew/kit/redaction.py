"""Secrets out of the logs: the tokens that links carry in their path or query string.

A password reset link, an email confirmation link, a QR code link and a connection-check page all
carry a bearer token in their URL, and every log line that names the URL would hand it to whoever
reads the logs (gunicorn's access log, Django's "Not Found: …", a referer). `redact` replaces each
token with `[redacted]`, keeping the shape of the path (`/esims/qr/[redacted].svg`) so the line
still says what was asked.

Used twice from this one list: `RedactSecrets` is a logging filter (Django's handlers, settings.LOGGING),
and `kit.gunicorn_logging.GunicornLogger` puts the same filter on gunicorn's error and access logs
(`simrenew serve`; apart, so that other processes do not import gunicorn).
Every log line passes here, the API's hot path included, so a line that holds none of the prefixes
(the usual case) costs a few substring tests and no regular expression.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

# Path prefixes whose next segment is a secret token. A route added with a token in its path must be
# named here too: tests/kit/test_redaction.py fails on any URL pattern taking a token left out.
TOKEN_PATH_PREFIXES = (
    "/accounts/password/reset/key/",  # allauth: <uidb36>-<key>, then <uidb36>-set-password
    "/accounts/confirm-email/",  # allauth: the email confirmation key
    "/esims/qr/",  # esims.urls: <token>.svg and <token>.png
    "/connection-check/",  # portal: /subscriptions/<id>/connection-check/<token>/
)
# Query parameters whose value is a secret, whatever the path (case-insensitive).
SECRET_QUERY_PARAMETERS = (
    "token",
    "key",
    "code",
    "secret",
    "client_secret",
    "payment_intent_client_secret",
    "setup_intent_client_secret",
    "signature",
    "sig",
    "password",
    "api_key",
    "access_token",
)

# The segment after a prefix up to the next '/', '?', '#', '.', quote or space ('.' keeps a QR link's
# extension; no token here holds a dot). `done/` is allauth's page after a reset, not a key.
_PATH_TOKEN = re.compile(
    "(" + "|".join(re.escape(prefix) for prefix in TOKEN_PATH_PREFIXES) + r")(?!done/)[^/?#.\s\"']+"
)
_QUERY_TOKEN = re.compile(
    r"([?&;](?:" + "|".join(re.escape(name) for name in SECRET_QUERY_PARAMETERS) + r")=)[^&;#\s\"']+",
    re.IGNORECASE,
)
# What a line must hold for one of the patterns to match: checked first, with plain substring tests.
_PATH_HINTS = tuple({prefix.rstrip("/").rsplit("/", 1)[1] + "/" for prefix in TOKEN_PATH_PREFIXES})
_QUERY_HINT = "="


def redact(text: str) -> str:
    """`text` with every token a link carries replaced by `[redacted]`."""
    if any(hint in text for hint in _PATH_HINTS):
        text = _PATH_TOKEN.sub(rf"\1{REDACTED}", text)
    if _QUERY_HINT in text:
        text = _QUERY_TOKEN.sub(rf"\1{REDACTED}", text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites each record's message with its tokens redacted (never drops a record).

    The message is formatted here once and stored formatted, so the handler's formatter does not
    format it again."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True
