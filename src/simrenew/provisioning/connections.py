"""A carrier's two outside systems, as an operator configures them: its SM-DP+ (ES2+) and its
network's TMF641 Service Ordering API.

One set of rules, used by `simrenew smdp|network connect`, the console's forms and
`check --deploy` (STYLE §16): `checked_smdp_config` / `checked_network_config` name every problem
at once (as `ValidationFailed` with one `FieldError` per model field) and change nothing;
`save_*` / `connect_*` / `disconnect_*` write the row and its audit entry inside the caller's
transaction. Secrets of an SM-DP+ connection stay files on the server (only their paths are
stored); a network's bearer token is stored encrypted (kit.crypto) and never shown again.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, Final
from urllib.parse import urlsplit

from cryptography import x509
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models

from simrenew.catalog.models import Carrier
from simrenew.kit import clock, crypto
from simrenew.kit.audit import record_change, snapshot
from simrenew.kit.errors import FieldError, NotFound, ValidationFailed
from simrenew.provisioning.es2plus import SANDBOX_SCHEME
from simrenew.provisioning.models import NetworkConnection, PortRequest, SmdpConnection

TMF641_BASE_PATH: Final = "/tmf-api/serviceOrdering/v4"
DEFAULT_TIMEOUT_SECONDS: Final = 10.0
# An SM-DP+ that takes longer than this to answer one function is down, whatever it says later.
MAX_TIMEOUT_SECONDS: Final = 120.0
IDENTIFIER_MAX_LENGTH: Final = 64
PATH_MAX_LENGTH: Final = 500  # SmdpConnection's *_path columns
# RFC 6750 §2.1 b64token: what may follow "Bearer " in an Authorization header.
_BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LOOPBACK_NAMES = frozenset({"localhost"})


class _KeyHasPassphrase(Exception):
    """Raised from the passphrase callback: OpenSSL would otherwise ask on the terminal."""


@dataclass(frozen=True, slots=True)
class SmdpConfig:
    """What an operator gives for a carrier's SM-DP+ (the fields of `SmdpConnection`)."""

    base_url: str
    requester_id: str
    smdp_id: str
    profile_type: str
    ca_cert_path: str = ""
    client_cert_path: str = ""
    client_key_path: str = ""
    client_subject: str = ""
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    enabled: bool = True

    @classmethod
    def of(cls, connection: SmdpConnection) -> SmdpConfig:
        return cls(
            base_url=connection.base_url,
            requester_id=connection.requester_id,
            smdp_id=connection.smdp_id,
            profile_type=connection.profile_type,
            ca_cert_path=connection.ca_cert_path,
            client_cert_path=connection.client_cert_path,
            client_key_path=connection.client_key_path,
            client_subject=connection.client_subject,
            timeout_seconds=connection.timeout_seconds,
            enabled=connection.enabled,
        )


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """What an operator gives for a carrier's TMF641 API. `token`: None keeps the stored one,
    "" removes it, anything else replaces it (plaintext here; stored encrypted)."""

    base_url: str
    token: str | None = None
    enabled: bool = True


# ------------------------------------------------------------------------------------ checks


def _max_length(model: type[models.Model], field: str) -> int:
    return int(getattr(model._meta.get_field(field), "max_length", 0) or 0)


def sandbox_mode() -> bool:
    return bool(settings.SIMRENEW_SANDBOX)


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_problem(url: str, *, sandbox: bool, http_anywhere_in_sandbox: bool) -> str | None:
    """Why `url` (already stripped, no trailing slash) cannot be an outside system's base, or None."""
    if len(url) > _max_length(SmdpConnection, "base_url"):
        return f"The URL is too long (at most {_max_length(SmdpConnection, 'base_url')} characters)."
    try:
        URLValidator(schemes=["https", "http"])(url)
    except ValidationError:
        return "Give a full https:// address, e.g. https://smdp.example.com/es2plus."
    parts = urlsplit(url)
    if parts.username or parts.password:
        return "The URL may not carry a user name or password."
    if parts.query or parts.fragment:
        return "The URL may not have a query (?…) or fragment (#…): paths are appended to it."
    if parts.scheme == "https":
        return None
    host = (parts.hostname or "").lower()
    if not sandbox:
        return "The URL must use https:// (plain http is refused outside sandbox mode)."
    if http_anywhere_in_sandbox or _is_loopback(host):
        return None
    return "The URL must use https:// (in sandbox mode plain http is allowed to this machine, 127.0.0.1, only)."


def _identifier_problem(value: str, what: str) -> str | None:
    if not value:
        return f"Give the {what}."
    if len(value) > IDENTIFIER_MAX_LENGTH:
        return f"The {what} may be at most {IDENTIFIER_MAX_LENGTH} characters (it has {len(value)})."
    if _CONTROL.search(value):
        return f"The {what} may not hold control characters (tabs, line breaks)."
    return None


def _file_problem(path: str, what: str) -> str | None:
    """Why the server cannot read the file at `path`, or None."""
    if not os.path.isabs(path):
        return f"Give the {what}'s full path (starting with /): the server reads it from wherever it runs."
    if len(path) > PATH_MAX_LENGTH:
        return f"The {what}'s path may be at most {PATH_MAX_LENGTH} characters (it has {len(path)})."
    try:
        with open(path, "rb") as file:
            file.read(1)
    except IsADirectoryError:
        return f"The {what} {path} is a folder, not a file."
    except OSError as exc:
        return f"The {what} {path} cannot be read by the server: {exc.strerror or exc}."
    return None


def _ca_problem(path: str) -> str | None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError, ValueError) as exc:
        return f"The CA file {path} holds no PEM certificate that TLS can use ({_ssl_reason(exc)})."
    return None


def _ssl_reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc)


def _refuse_passphrase() -> bytes:
    raise _KeyHasPassphrase


def _client_cert_problems(cert_path: str, key_path: str) -> list[FieldError]:
    """The client certificate (and its key, in the same file or `key_path`) must load exactly as the
    ES2+ client loads them (`ssl.SSLContext.load_cert_chain`)."""
    with open(cert_path, "rb") as file:
        data = file.read()
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        return [FieldError("client_cert_path", f"The client certificate file {cert_path} holds no PEM certificate.")]
    if not key_path and b"PRIVATE KEY-----" not in data:
        return [
            FieldError(
                "client_key_path",
                f"The client certificate file {cert_path} holds no private key: give the key's file too, "
                "or put the key in the certificate file.",
            )
        ]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    key_field = "client_key_path" if key_path else "client_cert_path"
    key_where = key_path or cert_path
    try:
        context.load_cert_chain(cert_path, key_path or None, password=_refuse_passphrase)
    except _KeyHasPassphrase:
        return [
            FieldError(
                key_field,
                f"The private key in {key_where} is protected by a passphrase, which the server cannot type: "
                "store it unencrypted, readable by the server's user only.",
            )
        ]
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            message = f"The private key in {key_where} does not belong to the certificate in {cert_path}."
        else:
            message = f"The private key in {key_where} cannot be loaded ({_ssl_reason(exc)}); it must be PEM."
        return [FieldError(key_field, message)]
    except OSError as exc:
        return [FieldError(key_field, f"{key_where} cannot be read: {exc.strerror or exc}.")]
    return []


def checked_smdp_config(config: SmdpConfig, *, sandbox: bool | None = None) -> SmdpConfig:
    """`config` tidied (spaces trimmed, no trailing slash), or `ValidationFailed` naming every problem.

    The URL is https (a `sandbox:` URL, or plain http to 127.0.0.1, only in sandbox mode); each
    file given is readable by the server; the CA file loads as trust anchors and the client
    certificate with its key (in its own file or the certificate's) as TLS loads them."""
    sandbox = sandbox_mode() if sandbox is None else sandbox
    tidy = replace(
        config,
        base_url=config.base_url.strip().rstrip("/"),
        requester_id=config.requester_id.strip(),
        smdp_id=config.smdp_id.strip(),
        profile_type=config.profile_type.strip(),
        ca_cert_path=config.ca_cert_path.strip(),
        client_cert_path=config.client_cert_path.strip(),
        client_key_path=config.client_key_path.strip(),
        client_subject=config.client_subject.strip(),
    )
    errors: list[FieldError] = []

    def problem(field: str, message: str | None) -> None:
        if message:
            errors.append(FieldError(field, message))

    if tidy.base_url.startswith(SANDBOX_SCHEME):
        if not sandbox:
            problem(
                "base_url", "A sandbox: URL (the sandbox SM-DP+) works only in sandbox mode; give the https:// URL."
            )
    elif not tidy.base_url:
        problem("base_url", "Give the SM-DP+'s ES2+ base URL (https://…).")
    else:
        problem("base_url", _url_problem(tidy.base_url, sandbox=sandbox, http_anywhere_in_sandbox=False))
    problem("requester_id", _identifier_problem(tidy.requester_id, "requester id (our functionRequesterIdentifier)"))
    problem("smdp_id", _identifier_problem(tidy.smdp_id, "SM-DP+ id (the identifier it uses when it calls us)"))
    problem("profile_type", _identifier_problem(tidy.profile_type, "profile type"))
    if len(tidy.client_subject) > _max_length(SmdpConnection, "client_subject"):
        problem(
            "client_subject",
            f"The client subject may be at most {_max_length(SmdpConnection, 'client_subject')} characters.",
        )
    elif _CONTROL.search(tidy.client_subject):
        problem("client_subject", "The client subject may not hold control characters (tabs, line breaks).")
    if not 0 < tidy.timeout_seconds <= MAX_TIMEOUT_SECONDS:
        problem("timeout_seconds", f"The timeout is more than 0 and at most {MAX_TIMEOUT_SECONDS:g} seconds.")

    if tidy.ca_cert_path:
        problem("ca_cert_path", _file_problem(tidy.ca_cert_path, "CA file") or _ca_problem(tidy.ca_cert_path))
    cert_problem = _file_problem(tidy.client_cert_path, "client certificate file") if tidy.client_cert_path else None
    key_problem = _file_problem(tidy.client_key_path, "client key file") if tidy.client_key_path else None
    problem("client_cert_path", cert_problem)
    problem("client_key_path", key_problem)
    if tidy.client_key_path and not tidy.client_cert_path:
        problem("client_key_path", "A client key is used with its certificate: give the certificate's file too.")
    elif tidy.client_cert_path and not cert_problem and not key_problem:
        errors.extend(_client_cert_problems(tidy.client_cert_path, tidy.client_key_path))

    if errors:
        raise ValidationFailed(" ".join(error.message for error in errors), errors=errors)
    return tidy


def network_url_problem(url: str, *, sandbox: bool) -> str | None:
    if not url:
        return f"Give the carrier's TMF641 base URL (https://…{TMF641_BASE_PATH})."
    found = _url_problem(url, sandbox=sandbox, http_anywhere_in_sandbox=True)
    if found:
        return found
    if not urlsplit(url).path.endswith(TMF641_BASE_PATH):
        return f"The URL must end in {TMF641_BASE_PATH} (TMF641 Service Ordering v4), e.g. https://api.example.com{TMF641_BASE_PATH}."
    return None


def _token_problem(token: str) -> str | None:
    if not _BEARER_TOKEN.fullmatch(token):
        return (
            "The token may hold only letters, digits and - . _ ~ + / (then = signs), as an OAuth bearer token "
            "does; give the token alone, without 'Bearer '."
        )
    if len(crypto.encrypt(token)) > _max_length(NetworkConnection, "token"):
        return f"The token is too long to be stored ({len(token)} characters)."
    return None


def checked_network_config(config: NetworkConfig, *, sandbox: bool | None = None) -> NetworkConfig:
    """`config` tidied (no trailing slash), or `ValidationFailed` naming every problem: the URL ends in
    /tmf-api/serviceOrdering/v4 and is https outside sandbox mode; the token is a bearer token."""
    sandbox = sandbox_mode() if sandbox is None else sandbox
    tidy = replace(
        config,
        base_url=config.base_url.strip().rstrip("/"),
        token=None if config.token is None else config.token.strip(),
    )
    errors: list[FieldError] = []
    url_problem = network_url_problem(tidy.base_url, sandbox=sandbox)
    if url_problem:
        errors.append(FieldError("base_url", url_problem))
    token_problem = _token_problem(tidy.token) if tidy.token else None
    if token_problem:
        errors.append(FieldError("token", token_problem))
    if errors:
        raise ValidationFailed(" ".join(error.message for error in errors), errors=errors)
    return tidy


def smdp_live_problems(connection: SmdpConnection) -> list[str]:
    """What keeps a stored SM-DP+ connection from working on a live server (`check --deploy`): the
    same rules as when it was made, judged outside sandbox mode and against the files as they are now."""
    try:
        checked_smdp_config(SmdpConfig.of(connection), sandbox=False)
    except ValidationFailed as exc:
        return [error.message for error in exc.errors]
    return []


def network_live_problems(connection: NetworkConnection) -> list[str]:
    problem = network_url_problem(connection.base_url, sandbox=False)
    return [problem] if problem else []


# ------------------------------------------------------------------------------------ changes


def find_carrier(code: str) -> Carrier:
    carrier = Carrier.objects.filter(code=code.strip()).first()
    if carrier is None:
        known = ", ".join(Carrier.objects.order_by("code").values_list("code", flat=True)) or "none yet"
        raise NotFound(f"No carrier has the code {code.strip()!r} (carriers: {known}).")
    return carrier


def _smdp_picture(connection: SmdpConnection) -> dict[str, Any]:
    return {key: value for key, value in snapshot(connection).items() if key not in ("created_at", "updated_at")}


def save_smdp(connection: SmdpConnection, config: SmdpConfig) -> bool:
    """Check `config`, write it onto `connection` (new or stored) and save it, with an audit entry.
    Returns False when the stored connection already had exactly these settings (nothing written)."""
    checked = checked_smdp_config(config)
    stored = SmdpConnection.objects.filter(pk=connection.pk).first() if connection.pk else None
    before = _smdp_picture(stored) if stored is not None else {}
    for field in fields(SmdpConfig):
        setattr(connection, field.name, getattr(checked, field.name))
    after = _smdp_picture(connection) if connection.pk else {}
    if stored is not None and before == after:
        return False
    now = clock.now()
    connection.updated_at = now
    if stored is None:
        connection.created_at = now
    connection.save()
    _audit(connection, before, _smdp_picture(connection), added=stored is None)
    return True


def connect_smdp(carrier: Carrier, config: SmdpConfig) -> tuple[SmdpConnection, str]:
    """Connect `carrier` to an SM-DP+, or replace its connection's settings: the connection and
    "added", "changed" or "unchanged"."""
    connection = SmdpConnection.objects.select_for_update().filter(carrier=carrier).first()
    added = connection is None
    connection = connection or SmdpConnection(carrier=carrier)
    changed = save_smdp(connection, config)
    return connection, "added" if added else ("changed" if changed else "unchanged")


def disconnect_smdp(carrier: Carrier) -> SmdpConnection:
    """Remove the carrier's SM-DP+ connection (its settings stay in the audit trail); its new eSIMs
    then come from inventory again. The eSIMs already ordered keep their profiles."""
    connection = SmdpConnection.objects.select_for_update().filter(carrier=carrier).first()
    if connection is None:
        raise NotFound(f"{carrier.code} has no SM-DP+ connection; nothing was changed.")
    record_change(action="delete", target=connection, before=snapshot(connection))
    connection.delete()
    return connection


def _network_picture(connection: NetworkConnection) -> dict[str, Any]:
    # `snapshot` leaves the token out (kit.audit.HIDDEN_FIELDS); the trail says only whether one is set.
    found = {key: value for key, value in snapshot(connection).items() if key not in ("created_at", "updated_at")}
    return {**found, "token": "set" if connection.token else "not set"}


def save_network(connection: NetworkConnection, config: NetworkConfig) -> bool:
    """Check `config`, write it onto `connection` (new or stored, its token encrypted) and save it,
    with an audit entry. Returns False when nothing would change."""
    checked = checked_network_config(config)
    stored = NetworkConnection.objects.filter(pk=connection.pk).first() if connection.pk else None
    before = _network_picture(stored) if stored is not None else {}
    connection.base_url = checked.base_url
    connection.enabled = checked.enabled
    replaced = False
    if checked.token is not None:
        current = _readable_token(stored.token) if stored is not None else ""
        if checked.token != current:
            connection.token = crypto.encrypt(checked.token) if checked.token else ""
            replaced = bool(stored is not None and stored.token and checked.token)
    elif stored is not None:
        connection.token = stored.token
    after = _network_picture(connection)
    if replaced:
        after["token"] = "replaced"
    if stored is not None and before == after:
        return False
    now = clock.now()
    connection.updated_at = now
    if stored is None:
        connection.created_at = now
    connection.save()
    _audit(connection, before, after, added=stored is None)
    return True


def _readable_token(stored: str) -> str | None:
    """The stored token in clear, "" when none; None when no configured key opens it (a new token
    then simply replaces it)."""
    try:
        return crypto.decrypt(stored) if stored else ""
    except crypto.SecretUnreadable:
        return None


def connect_network(carrier: Carrier, config: NetworkConfig) -> tuple[NetworkConnection, str]:
    """Connect `carrier`'s lines to its TMF641 API, or change the connection: the connection and
    "added", "changed" or "unchanged"."""
    connection = NetworkConnection.objects.select_for_update().filter(carrier=carrier).first()
    added = connection is None
    connection = connection or NetworkConnection(carrier=carrier)
    changed = save_network(connection, config)
    return connection, "added" if added else ("changed" if changed else "unchanged")


def disconnect_network(carrier: Carrier) -> NetworkConnection:
    """Remove the carrier's network connection: its lines' later changes go to the sandbox network."""
    connection = NetworkConnection.objects.select_for_update().filter(carrier=carrier).first()
    if connection is None:
        raise NotFound(f"{carrier.code} has no network connection; nothing was changed.")
    record_change(action="delete", target=connection, before=_network_picture(connection))
    connection.delete()
    return connection


def _audit(target: Any, before: dict[str, Any], after: dict[str, Any], *, added: bool) -> None:
    if added:
        record_change(action="add", target=target, after=after)
        return
    keys = [key for key in after if before.get(key) != after.get(key)]
    record_change(
        action="change",
        target=target,
        before={key: before.get(key) for key in keys},
        after={key: after[key] for key in keys},
    )


# ------------------------------------------------------------------------------------ secrets


def _reencrypt_rows(rows: Any, fields: tuple[str, ...], seal: Callable[[str], str]) -> int:
    count = 0
    for row in rows:
        changed = [field for field in fields if getattr(row, field)]
        if not changed:
            continue
        for field in changed:
            setattr(row, field, seal(getattr(row, field)))
        row.save(update_fields=changed)
        count += 1
    return count


def reencrypt_network_tokens() -> int:
    """Every network connection's token encrypted again with the first of SIMRENEW_ENCRYPTION_KEYS
    (`simrenew secrets rotate`), rows locked; returns how many were rewritten."""
    rows = NetworkConnection.objects.select_for_update().exclude(token="").order_by("pk")
    return _reencrypt_rows(rows, ("token",), crypto.reencrypt)


def reencrypt_port_secrets() -> int:
    """Every pending port's old-carrier account number and PIN encrypted again with the first key
    (`simrenew secrets rotate`); finished ports hold none. Returns how many ports were rewritten."""
    rows = PortRequest.objects.select_for_update().exclude(account_number="", pin="").order_by("pk")
    return _reencrypt_rows(rows, ("account_number", "pin"), crypto.reencrypt)
