"""A local SM-DP+ for the ES2+ stories: HTTPS with mutual TLS (certificates from trustme), strict
about every request it receives, and scriptable the way a real one misbehaves.

- `smdp_pki(tmp_path)`: a CA, the server's certificate for 127.0.0.1, our client certificate
  written both as one key+chain PEM and as separate cert and key files, and a foreign CA's client
  certificate (a "wrong client cert").
- `Es2PlusServer`: validates each request (POST, one of the ES2+ paths, Content-Type,
  ``X-Admin-Protocol: gsma/rsp/v2.5.0``, body against `es2plus_schemas` with no unknown members,
  functionCallIdentifier never reused); a request failing any check is kept in `violations`,
  which tests assert empty. It answers like an SM-DP+ from profile pools per type and can be
  told to fail, warn, lose or garble its next answer to a function, or to stop.
- `Es2PlusServer.notify(url, ...)`: the SM-DP+'s HandleDownloadProgressInfo call to us.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import httpx
import trustme
from stdnum import luhn

from simrenew.esims.identifiers import canonical_iccid
from simrenew.provisioning.es2plus import (
    EXECUTED_SUCCESS,
    EXECUTED_WITH_WARNING,
    X_ADMIN_PROTOCOL,
    Es2Function,
    Es2Status,
    StatusCodeData,
    response_header,
)
from simrenew.provisioning.models import SmdpConnection
from tests.notifications.servers import free_port
from tests.provisioning.es2plus_schemas import request_errors

DEFAULT_PROFILE_TYPE = "test-profile"
SMDP_ADDRESS = "smdp.test.example"
SMDP_ID = "smdp-test"
REQUESTER_ID = "simrenew-test"
OPERATOR_FUNCTIONS = {
    Es2Function.DOWNLOAD_ORDER,
    Es2Function.CONFIRM_ORDER,
    Es2Function.CANCEL_ORDER,
    Es2Function.RELEASE_PROFILE,
}
_BY_PATH = {function.path: function for function in OPERATOR_FUNCTIONS}


# --- Certificates -------------------------------------------------------------------------------


@dataclass
class SmdpPki:
    ca: trustme.CA
    foreign_ca: trustme.CA
    server_cert: trustme.LeafCert
    ca_path: str  # trusted by our client: signs the SM-DP+'s certificate
    client_chain_path: str  # our key and certificate chain in one PEM
    client_cert_path: str  # our certificate alone...
    client_key_path: str  # ...and its key
    foreign_chain_path: str  # a client key+chain from a CA the SM-DP+ does not trust
    client_subject: str


def smdp_pki(tmp_path: Path) -> SmdpPki:
    ca = trustme.CA(organization_name="Test SM-DP+ CA")
    foreign_ca = trustme.CA(organization_name="Somebody Else's CA")
    server_cert = ca.issue_cert("127.0.0.1", "localhost", common_name="smdp.test.example")
    client = ca.issue_cert("simrenew.test", common_name="simrenew-test-operator")
    foreign = foreign_ca.issue_cert("simrenew.test", common_name="simrenew-test-operator")
    folder = tmp_path / "pki"
    folder.mkdir(exist_ok=True)
    paths = {
        "ca": folder / "smdp-ca.pem",
        "chain": folder / "client-key-and-chain.pem",
        "cert": folder / "client-cert.pem",
        "key": folder / "client-key.pem",
        "foreign": folder / "foreign-key-and-chain.pem",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(paths["chain"]))
    for index, pem in enumerate(client.cert_chain_pems):
        pem.write_to_path(str(paths["cert"]), append=index > 0)
    client.private_key_pem.write_to_path(str(paths["key"]))
    foreign.private_key_and_cert_chain_pem.write_to_path(str(paths["foreign"]))
    return SmdpPki(
        ca=ca,
        foreign_ca=foreign_ca,
        server_cert=server_cert,
        ca_path=str(paths["ca"]),
        client_chain_path=str(paths["chain"]),
        client_cert_path=str(paths["cert"]),
        client_key_path=str(paths["key"]),
        foreign_chain_path=str(paths["foreign"]),
        client_subject="CN=simrenew-test-operator",
    )


# --- The server ---------------------------------------------------------------------------------


@dataclass
class Es2Request:
    function: str
    headers: dict[str, str]
    body: Any
    client_subject: str | None


@dataclass
class Order:
    """A profile the SM-DP+ has handed out, keyed by the ICCID as it wrote it."""

    iccid: str
    iccid_wire: str
    profile_type: str
    eid: str | None
    state: Literal["allocated", "confirmed", "released", "cancelled", "unavailable"] = "allocated"
    matching_id: str | None = None


@dataclass
class Script:
    """How to answer the next call to one function instead of the usual way."""

    kind: Literal["fail", "warn", "lose", "raw"]
    code: StatusCodeData | None = None
    status: str = "Failed"
    executed: bool = False  # does the function take effect before the (odd) answer?
    http_status: int = 200
    body: bytes | None = None
    content_type: str = "application/json"
    admin_protocol: str | None = X_ADMIN_PROTOCOL


IccidStyle = Literal["padded", "digits"]


class Es2PlusServer:
    def __init__(
        self,
        pki: SmdpPki,
        *,
        iccid_style: IccidStyle = "padded",
        profiles: dict[str, int] | None = None,
        smdp_address: str = SMDP_ADDRESS,
        requester_id: str | None = REQUESTER_ID,
        admin_protocol: str = X_ADMIN_PROTOCOL,
    ) -> None:
        self.pki = pki
        self.iccid_style: IccidStyle = iccid_style
        self.smdp_address = smdp_address
        self.expected_requester = requester_id
        self.admin_protocol = admin_protocol
        self.requests: list[Es2Request] = []
        self.violations: list[str] = []
        self.handshake_failures: list[str] = []
        self._handshake_refused = threading.Event()
        self.orders: dict[str, Order] = {}
        self.pools: dict[str, list[str]] = {}
        self.call_ids: set[str] = set()
        self._scripts: dict[str, list[Script]] = {}
        self._serial = 0
        self._lock = threading.RLock()
        for profile_type, count in (profiles if profiles is not None else {DEFAULT_PROFILE_TYPE: 5}).items():
            self.add_profiles(profile_type, count)

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        pki.server_cert.configure_cert(context)
        pki.ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
        self.port = free_port()
        self.base_url = f"https://127.0.0.1:{self.port}"
        self._httpd = _TlsHttpServer(("127.0.0.1", self.port), _Handler, owner=self, context=context)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._running = False

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> Es2PlusServer:
        self._thread.start()
        self._running = True
        return self

    def stop(self) -> None:
        """Stop listening: from now on a connection is refused."""
        if self._running:
            self._running = False
            self._httpd.shutdown()
            self._httpd.server_close()

    # -- script ----------------------------------------------------------------------------------

    def add_profiles(self, profile_type: str, count: int) -> list[str]:
        """Put `count` new profiles of the type in the pool; returns their canonical ICCIDs."""
        with self._lock:
            pool = self.pools.setdefault(profile_type, [])
            made = [self._new_iccid() for _ in range(count)]
            pool.extend(made)
            return made

    def fail_next(
        self, function: str, subject: str, reason: str, *, status: str = "Failed", message: str | None = None
    ) -> None:
        code = StatusCodeData(subject, reason, None, message or f"scripted {subject}/{reason}")
        self._script(function, Script("fail", code=code, status=status))

    def warn_next(self, function: str, subject: str, reason: str, *, message: str | None = None) -> None:
        code = StatusCodeData(subject, reason, None, message or "scripted warning")
        self._script(function, Script("warn", code=code, status=EXECUTED_WITH_WARNING, executed=True))

    def lose_next(self, function: str, *, executed: bool = True) -> None:
        """Read the next request (and by default carry it out), then close with no answer."""
        self._script(function, Script("lose", executed=executed))

    def answer_next(
        self,
        function: str,
        *,
        http_status: int = 200,
        body: bytes | None = None,
        content_type: str = "application/json",
        admin_protocol: str | None = X_ADMIN_PROTOCOL,
        executed: bool = False,
    ) -> None:
        """Answer the next call with exactly this (body None: the usual JSON answer, if executed)."""
        self._script(
            function,
            Script(
                "raw",
                http_status=http_status,
                body=body,
                content_type=content_type,
                admin_protocol=admin_protocol,
                executed=executed,
            ),
        )

    def _script(self, function: str, script: Script) -> None:
        with self._lock:
            self._scripts.setdefault(str(Es2Function(function)), []).append(script)

    # -- what it saw ---------------------------------------------------------------------------

    def refused_handshakes(self, *, timeout: float = 5.0) -> list[str]:
        """The handshakes refused so far, waiting for the first one: the client reads our TLS alert
        as soon as it is sent, possibly before this server's thread has written it down."""
        self._handshake_refused.wait(timeout)
        with self._lock:
            return list(self.handshake_failures)

    def calls(self, function: str) -> list[Es2Request]:
        return [request for request in self.requests if request.function == str(Es2Function(function))]

    def order(self, iccid: str) -> Order:
        canonical = canonical_iccid(iccid)
        return next(order for order in self.orders.values() if order.iccid == canonical)

    # -- the SM-DP+'s side of each function ------------------------------------------------------

    def _new_iccid(self) -> str:
        self._serial += 1
        length = 18 if self.iccid_style == "padded" else 19
        body = f"8988999{self._serial:0{length - 7}d}"
        return body + luhn.calc_check_digit(body)

    def _wire(self, iccid: str) -> str:
        return iccid + "F" if len(iccid) == 19 else iccid

    def _failed(self, status: Es2Status, message: str, subject: str | None = None) -> dict[str, Any]:
        return {"header": response_header("Failed", status.data(subject_identifier=subject, message=message))}

    def _find(self, wire: str) -> Order | None:
        order = self.orders.get(wire)
        if order is None:
            try:
                canonical = canonical_iccid(wire)
            except Exception:
                return None
            order = next((o for o in self.orders.values() if o.iccid == canonical), None)
            if order is not None:
                self.violations.append(f"ICCID {wire!r} not echoed as the SM-DP+ wrote it ({order.iccid_wire!r})")
        return order

    def _execute(self, function: str, body: dict[str, Any]) -> dict[str, Any]:
        """Carry the function out; the JSON answer (Executed-Success or Failed)."""
        if function == Es2Function.DOWNLOAD_ORDER:
            profile_type = body.get("profileType", DEFAULT_PROFILE_TYPE)
            if profile_type not in self.pools:
                return self._failed(Es2Status.PROFILE_TYPE_UNKNOWN, "Unknown profile type", profile_type)
            pool = self.pools[profile_type]
            if not pool:
                return self._failed(
                    Es2Status.PROFILE_TYPE_UNAVAILABLE, "No more Profile available for this type", profile_type
                )
            iccid = pool.pop(0)
            wire = self._wire(iccid)
            self.orders[wire] = Order(iccid=iccid, iccid_wire=wire, profile_type=profile_type, eid=body.get("eid"))
            return {"header": response_header(), "iccid": wire}

        order = self._find(body["iccid"])
        if order is None:
            return self._failed(Es2Status.ICCID_UNKNOWN, "Unknown ICCID", body["iccid"])
        if function == Es2Function.CONFIRM_ORDER:
            if order.state != "allocated":
                return self._failed(Es2Status.ICCID_INVALID_TRANSITION, f"Profile is {order.state}", body["iccid"])
            eid = body.get("eid")
            if eid and order.eid and eid != order.eid:
                return self._failed(Es2Status.ICCID_OTHER_EID, "Different EID associated", body["iccid"])
            order.eid = eid or order.eid
            order.matching_id = body.get("matchingId") or f"TEST-{len(self.orders):04d}-{self._serial:05d}"
            order.state = "released" if body["releaseFlag"] else "confirmed"
            answer: dict[str, Any] = {
                "header": response_header(),
                "matchingId": order.matching_id,
                "smdpAddress": self.smdp_address,
            }
            if order.eid:
                answer["eid"] = order.eid
            return answer
        if function == Es2Function.CANCEL_ORDER:
            if order.state in ("cancelled", "unavailable"):
                return self._failed(Es2Status.ICCID_INVALID_TRANSITION, f"Profile is {order.state}", body["iccid"])
            if body["finalProfileStatusIndicator"] == "Available":
                order.state = "cancelled"
                self.pools.setdefault(order.profile_type, []).append(order.iccid)
            else:
                order.state = "unavailable"
            return {"header": response_header()}
        # releaseProfile
        if order.state != "confirmed":
            return self._failed(Es2Status.ICCID_INVALID_TRANSITION, f"Profile is {order.state}", body["iccid"])
        order.state = "released"
        return {"header": response_header()}

    def _receive(self, handler: _Handler, function: Es2Function | None, raw: bytes) -> Script | dict[str, Any] | None:
        """Check one request; what to answer (None: answer nothing at all)."""
        problems: list[str] = []
        headers = {key.lower(): value for key, value in handler.headers.items()}
        if function is None:
            problems.append(f"POST to {handler.path!r}, not an ES2+ operator function")
        content_type = headers.get("content-type", "")
        if content_type.split(";")[0].strip() != "application/json":
            problems.append(f"Content-Type {content_type!r}")
        if headers.get("x-admin-protocol") != X_ADMIN_PROTOCOL:
            problems.append(f"X-Admin-Protocol {headers.get('x-admin-protocol')!r}")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
            problems.append("body is not JSON")
        name = str(function) if function is not None else handler.path
        if function is not None and body is not None:
            problems.extend(request_errors(str(function), body))
        header = body.get("header") if isinstance(body, dict) else None
        if isinstance(header, dict):
            call_id = header.get("functionCallIdentifier")
            if call_id in self.call_ids:
                problems.append(f"functionCallIdentifier {call_id!r} reused")
            self.call_ids.add(str(call_id))
            requester = header.get("functionRequesterIdentifier")
            if self.expected_requester is not None and requester != self.expected_requester:
                problems.append(f"functionRequesterIdentifier {requester!r}")
        subject = _peer_subject(handler.connection)
        self.requests.append(Es2Request(name, headers, body, subject))
        self.violations.extend(f"{name}: {problem}" for problem in problems)
        if problems:
            return self._failed(Es2Status.INVALID_ELEMENT, "; ".join(problems))
        assert function is not None and isinstance(body, dict)
        scripts = self._scripts.get(str(function))
        script = scripts.pop(0) if scripts else None
        if script is None:
            return self._execute(function, body)
        if script.kind == "fail":
            assert script.code is not None
            return {"header": response_header(script.status, script.code)}
        answer = self._execute(function, body) if script.executed else None
        if script.kind == "warn" and answer is not None:
            if answer["header"]["functionExecutionStatus"]["status"] == EXECUTED_SUCCESS:
                answer["header"] = response_header(EXECUTED_WITH_WARNING, script.code)
            return answer
        if script.kind == "lose":
            return None
        if script.body is None and answer is not None:
            script.body = json.dumps(answer).encode()
        return script

    # -- the SM-DP+ calling us -------------------------------------------------------------------

    def notify(
        self,
        url: str,
        iccid: str,
        point: int,
        status: str = EXECUTED_SUCCESS,
        *,
        requester_id: str = SMDP_ID,
        call_id: str | None = None,
        profile_type: str | None = None,
        eid: str | None = None,
        code: StatusCodeData | None = None,
        timestamp: datetime | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a HandleDownloadProgressInfo to `url`. An ICCID this server handed out is written
        the way it wrote it (F-padded or not); others go as given."""
        with self._lock:
            try:
                order: Order | None = self.order(iccid)
            except (StopIteration, Exception):
                order = None
            self._serial += 1
            serial = self._serial
        point_status: dict[str, Any] = {"status": status}
        if code is not None:
            point_status["statusCodeData"] = code.as_wire()
        body: dict[str, Any] = {
            "header": {
                "functionRequesterIdentifier": requester_id,
                "functionCallIdentifier": call_id or f"smdp-call-{serial}",
            },
            "iccid": order.iccid_wire if order is not None else iccid,
            "profileType": profile_type or (order.profile_type if order is not None else DEFAULT_PROFILE_TYPE),
            "timestamp": (timestamp or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
            "notificationPointId": point,
            "notificationPointStatus": point_status,
        }
        if eid or (order is not None and order.eid):
            body["eid"] = eid or (order.eid if order is not None else None)
        problems = request_errors(str(Es2Function.HANDLE_DOWNLOAD_PROGRESS_INFO), body)
        assert not problems, problems  # the harness itself speaks ES2+ correctly
        sent_headers = {"Content-Type": "application/json", "X-Admin-Protocol": X_ADMIN_PROTOCOL, **(headers or {})}
        return httpx.post(url, content=json.dumps(body).encode(), headers=sent_headers, timeout=10)


def _peer_subject(connection: Any) -> str | None:
    try:
        peer = connection.getpeercert()
    except (AttributeError, ValueError, ssl.SSLError):
        return None
    if not peer:
        return None
    return ",".join(f"{key}={value}" for rdn in peer.get("subject", ()) for key, value in rdn)


class _TlsHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, *, owner: Es2PlusServer, context: ssl.SSLContext):
        self.owner = owner
        self.context = context
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs here, in the request's thread, so a client that stalls or is refused
        # never holds up the others.
        tls = self.context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            tls.settimeout(5)
            tls.do_handshake()
        except (ssl.SSLError, OSError) as error:
            with self.owner._lock:
                self.owner.handshake_failures.append(f"{type(error).__name__}: {error}")
            self.owner._handshake_refused.set()
            _drain(tls)
            tls.close()
            return
        try:
            _Handler(tls, client_address, self)
        finally:
            tls.close()


def _drain(tls: ssl.SSLSocket) -> None:
    """After refusing a handshake, read (raw) what the client still sends until it hangs up, so
    closing does not reset the connection before the client has read our alert."""
    try:
        while socket.socket.recv(tls, 65536):
            pass
    except OSError:
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _TlsHttpServer

    def _refuse_method(self) -> None:
        owner = self.server.owner
        with owner._lock:
            owner.violations.append(f"{self.command} {self.path}: ES2+ uses POST only")
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = do_DELETE = do_PATCH = _refuse_method  # noqa: N815

    def do_POST(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        with owner._lock:
            outcome = owner._receive(self, _BY_PATH.get(self.path), raw)
        if outcome is None:  # lost: the request was read, no answer ever comes
            self.close_connection = True
            return
        if isinstance(outcome, Script):
            body = outcome.body or b""
            self.send_response(outcome.http_status)
            self.send_header("Content-Type", outcome.content_type)
            if outcome.admin_protocol is not None:
                self.send_header("X-Admin-Protocol", outcome.admin_protocol)
        else:
            body = json.dumps(outcome).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Admin-Protocol", owner.admin_protocol)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def es2plus_server(pki: SmdpPki, **options: Any) -> Iterator[Es2PlusServer]:
    server = Es2PlusServer(pki, **options).start()
    try:
        yield server
    finally:
        server.stop()


def connection_for(
    server_or_url: Es2PlusServer | str,
    pki: SmdpPki,
    *,
    client: Literal["chain", "pair", "foreign", "none"] = "pair",
    **fields: Any,
) -> SmdpConnection:
    """An unsaved SmdpConnection to the server, with our client certificate in the chosen form."""
    base_url = server_or_url if isinstance(server_or_url, str) else server_or_url.base_url
    cert, key = {
        "chain": (pki.client_chain_path, ""),
        "pair": (pki.client_cert_path, pki.client_key_path),
        "foreign": (pki.foreign_chain_path, ""),
        "none": ("", ""),
    }[client]
    values: dict[str, Any] = {
        "base_url": base_url,
        "requester_id": REQUESTER_ID,
        "smdp_id": SMDP_ID,
        "profile_type": DEFAULT_PROFILE_TYPE,
        "ca_cert_path": pki.ca_path,
        "client_cert_path": cert,
        "client_key_path": key,
        "timeout_seconds": 5.0,
        **fields,
    }
    return SmdpConnection(**values)
