"""Which addresses webhooks may reach, and a transport that connects only to checked ones.

A partner gives a host name; if it led to an address inside our own network (loopback,
private ranges, the cloud metadata service at 169.254.169.254) a webhook would let the
partner make requests from our machines (SSRF). So outside sandbox mode:

- at registration the name is resolved and refused unless every address it has is
  global (`is_public`), and
- at each send it is resolved again, refused the same way, and the connection goes to
  the very address that was checked. A name that answered with a public address at
  registration and a private one later (DNS rebinding) cannot switch it: nothing
  resolves the name a second time between the check and the connect.

The transport keeps the URL's host for everything else: the Host header, and TLS's SNI
and certificate check (httpcore asks the network backend for a TCP stream to `host`,
then starts TLS on it with `server_hostname` from the URL), so only the TCP connect is
pinned.

Name resolution is injectable: `SIMRENEW_WEBHOOK_RESOLVER` (a callable `(host, port) ->
[address, …]`) or the `resolve` arguments; tests make a name resolve to 10.0.0.1
without touching the network.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx
from django.conf import settings

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# NAT64 (RFC 6052): the well-known prefix carries an IPv4 address in its last 32 bits.
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
# Local-use NAT64 (RFC 8215): where the IPv4 address sits depends on the operator's prefix
# length, so it cannot be unwrapped reliably; it is refused as a whole.
_NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
# IPv4-compatible addresses (deprecated, RFC 4291): ::a.b.c.d.
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class AddressRefused(Exception):
    """The host resolves to an address webhooks may not reach (a permanent refusal)."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} resolves to {address}, which is not a public address")
        self.host = host
        self.address = address


class Unresolvable(Exception):
    """The host name has no address (now)."""


def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the operating system's resolver gives for `host`, in its order, once each."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(f"{host} does not resolve: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def configured_resolver() -> Resolver:
    resolve: Resolver | None = getattr(settings, "SIMRENEW_WEBHOOK_RESOLVER", None)
    return resolve or system_resolve


def _unwrapped(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, IPv4-compatible, 6to4,
    Teredo), else the address itself: ::ffff:10.0.0.1 reaches 10.0.0.1."""
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64_WELL_KNOWN or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address
    return address


def is_public(text: str) -> bool:
    """Whether webhooks may connect to this address: global unicast, also once unwrapped."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id ("fe80::1%eth0")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address in _NAT64_LOCAL_USE:
        return False
    return all(candidate.is_global and not candidate.is_multicast for candidate in (address, _unwrapped(address)))


def checked_addresses(
    host: str, port: int, *, resolve: Resolver | None = None, allow_private: bool = False
) -> list[str]:
    """The addresses `host` resolves to, all of them public unless `allow_private` (sandbox).
    Raises `Unresolvable`, or `AddressRefused` if any one is not public: a name with one
    private address among public ones would reach inside on some connections."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        addresses = (resolve or configured_resolver())(host, port)
    else:
        addresses = [str(literal)]
    if not addresses:
        raise Unresolvable(f"{host} does not resolve to any address")
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise AddressRefused(host, address)
    return addresses


class PinnedBackend(httpcore.SyncBackend):
    """httpcore's network backend, connecting to the checked addresses of the host it is
    asked for instead of letting the socket layer resolve the name again."""

    def __init__(self, *, resolve: Resolver | None, allow_private: bool) -> None:
        self._resolve = resolve
        self._allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = checked_addresses(host, port, resolve=self._resolve, allow_private=self._allow_private)
        except Unresolvable as exc:
            # Maps to httpx.ConnectError: DNS trouble may pass, so the delivery is retried.
            raise httpcore.ConnectError(str(exc)) from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


class PinnedTransport(httpx.HTTPTransport):
    """An `httpx.HTTPTransport` whose connections go through `PinnedBackend`. httpx 0.28's
    transport takes no network backend, so its connection pool is replaced by one built
    the same way (TLS verified against the URL's host) with ours. No proxies: a proxy would
    resolve the name itself."""

    def __init__(self, *, resolve: Resolver | None = None, allow_private: bool = False) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=PinnedBackend(resolve=resolve, allow_private=allow_private),
        )
