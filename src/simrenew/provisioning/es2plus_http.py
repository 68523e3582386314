"""ES2+ over HTTPS with mutual TLS: the real `SmdpClient` (SGP.22 v2.5 §6.5).

Every call is a POST of JSON to ``<base_url>/gsma/rsp2/es2plus/<function>`` with
``X-Admin-Protocol`` and a ``header`` naming us (functionRequesterIdentifier) and the call
(functionCallIdentifier, the caller's `call_id`). A function that did not execute still answers
HTTP 200, with status Failed or Expired and statusCodeData: that becomes `Es2FunctionFailed`.
Anything else that keeps us from a usable answer becomes `SmdpUnreachable`, with `reached`
telling the caller whether the SM-DP+ may have executed the function (so a reservation may exist
and must be cancelled) or certainly did not.

TLS: our client certificate (its file may also hold the key) and the CA that signs the SM-DP+'s
certificate come from the connection as file paths; httpx 0.28 takes them as one `ssl.SSLContext`.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from simrenew.esims.identifiers import canonical_iccid, validate_eid
from simrenew.kit.errors import ValidationFailed
from simrenew.provisioning.es2plus import (
    EXECUTION_STATUSES,
    EXPIRED,
    FAILED,
    JSON_CONTENT_TYPE,
    SUCCESS_STATUSES,
    X_ADMIN_PROTOCOL,
    X_ADMIN_PROTOCOL_FAMILY,
    Confirmed,
    Es2Function,
    Es2FunctionFailed,
    FinalProfileStatus,
    Ordered,
    SmdpUnreachable,
    StatusCodeData,
    request_header,
)

if TYPE_CHECKING:
    from simrenew.provisioning.models import SmdpConnection

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5.0

# OpenSSL's names for a peer refusing the handshake with an alert (no client certificate, one
# from a CA it does not trust, ...). Under TLS 1.3 the server checks our certificate after we
# think the handshake is done, so the refusal reaches us only when we read the answer; the
# request was never handed to the application, so the function did not run.
_HANDSHAKE_REFUSALS = (
    "ALERT_CERTIFICATE_REQUIRED",
    "ALERT_UNKNOWN_CA",
    "ALERT_BAD_CERTIFICATE",
    "ALERT_CERTIFICATE_UNKNOWN",
    "ALERT_UNSUPPORTED_CERTIFICATE",
    "ALERT_CERTIFICATE_REVOKED",
    "ALERT_CERTIFICATE_EXPIRED",
    "ALERT_ACCESS_DENIED",
    "ALERT_HANDSHAKE_FAILURE",
    "ALERT_DECRYPT_ERROR",
)


def tls_context(connection: SmdpConnection) -> ssl.SSLContext:
    """The client side of mutual TLS from the connection's files (raises OSError/SSLError when
    a file is missing or does not hold what it should)."""
    context = ssl.create_default_context(cafile=connection.ca_cert_path or None)
    if connection.client_cert_path:
        # One PEM may hold the key and the chain; then the key path is empty.
        context.load_cert_chain(connection.client_cert_path, connection.client_key_path or None)
    return context


def _handshake_refused(error: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError) and not isinstance(current, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            reason = str(getattr(current, "reason", "") or current)
            if any(alert in reason.upper() for alert in _HANDSHAKE_REFUSALS):
                return True
        current = current.__cause__ or current.__context__
    return False


def _unreachable(function: Es2Function, error: httpx.TransportError) -> SmdpUnreachable:
    detail = f"{type(error).__name__}: {error}"
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return SmdpUnreachable(function, reached=False, detail=detail)
    # A write that failed left the request incomplete: no server executes half a request.
    if isinstance(error, httpx.WriteError | httpx.WriteTimeout):
        return SmdpUnreachable(function, reached=False, detail=detail)
    if _handshake_refused(error):
        return SmdpUnreachable(function, reached=False, detail=f"TLS handshake refused: {error}")
    # ReadTimeout, RemoteProtocolError (closed with no answer), ReadError: it may have executed.
    return SmdpUnreachable(function, reached=True, detail=detail)


class HttpSmdpClient:
    """`SmdpClient` over HTTPS. One httpx client (its connection pool) per SmdpConnection."""

    def __init__(self, connection: SmdpConnection) -> None:
        self.requester_id = connection.requester_id
        self._connection = connection
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    def _client(self, function: Es2Function) -> httpx.Client:
        # Built on first use, so a certificate file that cannot be read is an unreachable SM-DP+
        # for this call (nothing was sent), not an error in whoever asked for the client.
        with self._lock:
            if self._http is None:
                connection = self._connection
                try:
                    context = tls_context(connection)
                except (OSError, ValueError) as error:
                    raise SmdpUnreachable(
                        function, reached=False, detail=f"cannot load the TLS files: {error}"
                    ) from error
                timeout = float(connection.timeout_seconds)
                self._http = httpx.Client(
                    base_url=connection.base_url.rstrip("/"),
                    verify=context,
                    timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
                    headers={"Content-Type": JSON_CONTENT_TYPE, "X-Admin-Protocol": X_ADMIN_PROTOCOL},
                    follow_redirects=False,
                )
            return self._http

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    # -- the functions -------------------------------------------------------------------------

    def download_order(self, *, call_id: str, profile_type: str, eid: str | None) -> Ordered:
        function = Es2Function.DOWNLOAD_ORDER
        body: dict[str, Any] = {"profileType": profile_type}
        if eid:
            body["eid"] = eid
        answer = self._call(function, call_id, body)
        iccid_wire = answer.get("iccid")
        if not isinstance(iccid_wire, str):
            raise SmdpUnreachable(function, reached=True, detail="the answer has no iccid")
        try:
            iccid = canonical_iccid(iccid_wire)
        except ValidationFailed as refused:
            raise SmdpUnreachable(
                function, reached=True, detail=f"the answer's iccid {iccid_wire!r} is invalid: {refused.detail}"
            ) from None
        return Ordered(iccid=iccid, iccid_wire=iccid_wire)

    def confirm_order(self, *, call_id: str, iccid_wire: str, eid: str | None, release: bool = True) -> Confirmed:
        function = Es2Function.CONFIRM_ORDER
        body: dict[str, Any] = {"iccid": iccid_wire, "releaseFlag": release}
        if eid:
            body["eid"] = eid
        answer = self._call(function, call_id, body)
        matching_id = answer.get("matchingId")
        if not isinstance(matching_id, str) or not matching_id:
            raise SmdpUnreachable(function, reached=True, detail="the answer has no matchingId")
        address = answer.get("smdpAddress")
        answered_eid = answer.get("eid")
        confirmed_eid: str | None = None
        if isinstance(answered_eid, str) and answered_eid:
            try:
                confirmed_eid = validate_eid(answered_eid)
            except ValidationFailed:
                # Not ours to refuse: the order holds the EID we sent, if any.
                logger.warning("ES2+ confirmOrder %s answered an invalid eid %r", call_id, answered_eid)
        return Confirmed(
            matching_id=matching_id,
            smdp_address=address if isinstance(address, str) and address else None,
            eid=confirmed_eid or eid,
        )

    def cancel_order(
        self,
        *,
        call_id: str,
        iccid_wire: str,
        eid: str | None,
        matching_id: str | None,
        final_status: FinalProfileStatus,
    ) -> None:
        body: dict[str, Any] = {"iccid": iccid_wire, "finalProfileStatusIndicator": final_status}
        if eid:
            body["eid"] = eid
        if matching_id:
            body["matchingId"] = matching_id
        self._call(Es2Function.CANCEL_ORDER, call_id, body)

    # -- one call ------------------------------------------------------------------------------

    def _call(self, function: Es2Function, call_id: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        payload = {"header": request_header(self.requester_id, call_id), **body}
        http = self._client(function)
        try:
            response = http.post(function.path, json=payload)
        except httpx.TransportError as error:
            raise _unreachable(function, error) from error
        return self._answer(function, call_id, response)

    def _answer(self, function: Es2Function, call_id: str, response: httpx.Response) -> Mapping[str, Any]:
        status = response.status_code
        if status >= 500:
            raise SmdpUnreachable(function, reached=True, detail=f"HTTP {status}", http_status=status)
        if status != 200:
            # Refused at the door (wrong path, proxy, authorisation): the function never ran.
            raise SmdpUnreachable(function, reached=False, detail=f"HTTP {status}", http_status=status)
        protocol = response.headers.get("X-Admin-Protocol", "")
        if not protocol.startswith(X_ADMIN_PROTOCOL_FAMILY):
            raise SmdpUnreachable(
                function, reached=True, detail=f"the answer's X-Admin-Protocol is {protocol!r}", http_status=status
            )
        try:
            answer = response.json()
        except ValueError:
            raise SmdpUnreachable(function, reached=True, detail="the answer is not JSON", http_status=status) from None
        execution = answer.get("header", {}).get("functionExecutionStatus") if isinstance(answer, dict) else None
        execution_status = execution.get("status") if isinstance(execution, dict) else None
        if execution_status not in EXECUTION_STATUSES:
            raise SmdpUnreachable(
                function, reached=True, detail="the answer has no functionExecutionStatus", http_status=status
            )
        assert isinstance(execution, dict) and isinstance(answer, dict)
        code = StatusCodeData.from_wire(execution.get("statusCodeData"))
        if execution_status in SUCCESS_STATUSES:
            if code is not None:
                logger.info("ES2+ %s %s executed with a warning: %s", function, call_id, code.describe())
            return answer
        raise Es2FunctionFailed(function, FAILED if execution_status == FAILED else EXPIRED, code)


_clients: dict[tuple[Any, Any], HttpSmdpClient] = {}
_clients_lock = threading.Lock()


def http_smdp_client(connection: SmdpConnection) -> HttpSmdpClient:
    """The client for a saved connection, kept while the connection is unchanged (its TLS
    context and pool are built once); an unsaved one gets a fresh client."""
    if connection.pk is None:
        return HttpSmdpClient(connection)
    # Keyed by everything the client is built from, not only updated_at: a row changed by a bare
    # UPDATE (or a test clock standing still) must not keep a client to the old address.
    key = (
        connection.pk,
        (
            connection.updated_at,
            connection.base_url,
            connection.requester_id,
            connection.ca_cert_path,
            connection.client_cert_path,
            connection.client_key_path,
            connection.timeout_seconds,
        ),
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            for stale in [k for k in _clients if k[0] == connection.pk]:
                _clients.pop(stale).close()
            client = _clients[key] = HttpSmdpClient(connection)
        return client
